//! Baselines: what the harness costs with no hand-off at all, and the
//! fastest possible round trip (two bare atomics).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use crossbeam_utils::CachePadded;

use super::{Event, Finish, PatientSpin, Peer, Pipe, RoundTrip, Shape, Tally, Tx, Wait};

/// The producer counts its own events: the harness's cost per event, with
/// no queue in between.
#[derive(Debug, Clone, Copy)]
pub struct Harness;

struct InlineTx {
    tally: Tally,
}

impl<E: Event> Tx<E> for InlineTx {
    fn send(&mut self, first: u64, n: u64, _batch: usize) {
        for i in first..first + n {
            self.tally.event(&std::hint::black_box(E::make(i)));
        }
        self.tally.batch_end();
    }
}

impl<E: Event> Peer<E> for Harness {
    fn name(&self) -> &'static str {
        "harness"
    }

    fn wait(&self) -> Wait {
        Wait::Inline
    }

    fn open(&self, shape: &Shape) -> Option<Pipe<E>> {
        if shape.producers != 1 || shape.consumers != 1 || shape.partitions != 1 {
            return None;
        }
        let finish = Finish::new(shape);
        let tx = InlineTx {
            tally: finish.tally(),
        };
        Some(Pipe::new(vec![Box::new(tx)], finish, shape, || {}))
    }
}

/// Ping-pong over two cache-padded atomics: the floor of any round trip.
#[derive(Debug, Clone, Copy)]
pub struct BareAtomics;

struct Atomics {
    ping: Arc<CachePadded<AtomicU64>>,
    pong: Arc<CachePadded<AtomicU64>>,
    echo: Option<JoinHandle<()>>,
}

impl RoundTrip for Atomics {
    fn round_trip(&mut self, value: u64) -> u64 {
        self.ping.store(value, Ordering::Release);
        let mut wait = PatientSpin::default();
        loop {
            let back = self.pong.load(Ordering::Acquire);
            if back == value {
                return back;
            }
            wait.wait();
        }
    }
}

impl Drop for Atomics {
    fn drop(&mut self) {
        self.ping.store(u64::MAX, Ordering::Release);
        if let Some(echo) = self.echo.take() {
            echo.join().expect("echo thread panicked");
        }
    }
}

impl<E: Event> Peer<E> for BareAtomics {
    fn name(&self) -> &'static str {
        "bare atomics"
    }

    fn wait(&self) -> Wait {
        Wait::Spinning
    }

    fn open(&self, _shape: &Shape) -> Option<Pipe<E>> {
        None
    }

    fn ping_pong(&self, _capacity: usize) -> Option<Box<dyn RoundTrip>> {
        let ping = Arc::new(CachePadded::new(AtomicU64::new(0)));
        let pong = Arc::new(CachePadded::new(AtomicU64::new(0)));
        let echo = {
            let (ping, pong) = (Arc::clone(&ping), Arc::clone(&pong));
            thread::spawn(move || {
                let mut last = 0;
                let mut wait = PatientSpin::default();
                loop {
                    let value = ping.load(Ordering::Acquire);
                    if value == last {
                        wait.wait();
                        continue;
                    }
                    wait.reset();
                    if value == u64::MAX {
                        break;
                    }
                    pong.store(value, Ordering::Release);
                    last = value;
                }
            })
        };
        Some(Box::new(Atomics {
            ping,
            pong,
            echo: Some(echo),
        }))
    }
}
