//! rtrb: a wait-free single-producer single-consumer ring.
//!
//! rtrb has no blocking wait, so it is in the spinning class: both sides
//! spin briefly and then yield ([`Spin`]). The consumer takes everything
//! available as one chunk (one head store per chunk); batch publishes use
//! `write_chunk_uninit` (one tail store per chunk). Fan-out is one ring per
//! consumer; rtrb has one producer and no work sharing.

use std::thread::{self, JoinHandle};

use rtrb::{Consumer, Producer, PushError, RingBuffer};

use super::{
    Delivery, Event, Finish, PatientSpin, Peer, Pipe, RoundTrip, Shape, Spin, Tally, Tx, Wait,
};

/// rtrb, spin-then-yield.
#[derive(Debug, Clone, Copy)]
pub struct Rtrb;

struct RtrbTx<E> {
    producers: Vec<Producer<E>>,
}

#[inline]
fn push<E>(producer: &mut Producer<E>, mut event: E) {
    let mut spin = Spin::default();
    loop {
        match producer.push(event) {
            Ok(()) => return,
            Err(PushError::Full(back)) => {
                event = back;
                spin.wait();
            }
        }
    }
}

impl<E: Event> Tx<E> for RtrbTx<E> {
    fn send(&mut self, first: u64, n: u64, batch: usize) {
        if batch == 1 {
            for i in first..first + n {
                let event = E::make(i);
                for producer in &mut self.producers {
                    push(producer, event);
                }
            }
            return;
        }
        let mut i = first;
        while i < first + n {
            for producer in &mut self.producers {
                let mut spin = Spin::default();
                let chunk = loop {
                    match producer.write_chunk_uninit(batch) {
                        Ok(chunk) => break chunk,
                        Err(_) => spin.wait(),
                    }
                };
                let written = chunk.fill_from_iter((i..i + batch as u64).map(E::make));
                debug_assert_eq!(written, batch);
            }
            i += batch as u64;
        }
    }
}

fn consume<E: Event>(mut consumer: Consumer<E>, mut tally: Tally) {
    let mut spin = Spin::default();
    loop {
        let n = consumer.slots();
        if n == 0 {
            if consumer.is_abandoned() && consumer.slots() == 0 {
                break;
            }
            spin.wait();
            continue;
        }
        spin.reset();
        let chunk = consumer.read_chunk(n).expect("n slots are available");
        for event in chunk {
            tally.event(&event);
        }
        tally.batch_end();
    }
}

impl<E: Event> Peer<E> for Rtrb {
    fn name(&self) -> &'static str {
        "rtrb"
    }

    fn wait(&self) -> Wait {
        Wait::Spinning
    }

    fn open(&self, shape: &Shape) -> Option<Pipe<E>> {
        if shape.producers != 1 || shape.delivery != Delivery::Each || shape.partitions != 1 {
            return None;
        }
        let finish = Finish::new(shape);
        let mut producers = Vec::new();
        let mut handles: Vec<JoinHandle<()>> = Vec::new();
        for _ in 0..shape.consumers {
            let (producer, consumer) = RingBuffer::<E>::new(shape.capacity);
            producers.push(producer);
            let tally = finish.tally();
            handles.push(thread::spawn(move || consume(consumer, tally)));
        }
        let tx: Box<dyn Tx<E>> = Box::new(RtrbTx { producers });
        Some(Pipe::new(vec![tx], finish, shape, move || {
            for handle in handles {
                handle.join().expect("consumer thread panicked");
            }
        }))
    }

    fn ping_pong(&self, capacity: usize) -> Option<Box<dyn RoundTrip>> {
        let (ping, mut ping_rx) = RingBuffer::<u64>::new(capacity);
        let (mut pong_tx, pong) = RingBuffer::<u64>::new(capacity);
        let echo = thread::spawn(move || {
            let mut wait = PatientSpin::default();
            loop {
                match ping_rx.pop() {
                    Ok(value) => {
                        wait.reset();
                        push(&mut pong_tx, value);
                    }
                    Err(_) if ping_rx.is_abandoned() => break,
                    Err(_) => wait.wait(),
                }
            }
        });
        Some(Box::new(RtrbEcho {
            ping: Some(ping),
            pong,
            echo: Some(echo),
        }))
    }
}

struct RtrbEcho {
    ping: Option<Producer<u64>>,
    pong: Consumer<u64>,
    echo: Option<JoinHandle<()>>,
}

impl RoundTrip for RtrbEcho {
    fn round_trip(&mut self, value: u64) -> u64 {
        push(self.ping.as_mut().expect("open"), value);
        let mut wait = PatientSpin::default();
        loop {
            if let Ok(back) = self.pong.pop() {
                return back;
            }
            wait.wait();
        }
    }
}

impl Drop for RtrbEcho {
    fn drop(&mut self) {
        self.ping = None;
        if let Some(echo) = self.echo.take() {
            echo.join().expect("echo thread panicked");
        }
    }
}
