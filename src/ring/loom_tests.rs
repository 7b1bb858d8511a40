//! Loom models of the ring. Run with
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test --release --lib ring::loom`.

use std::ops::ControlFlow;

use loom::sync::atomic::AtomicUsize;
use loom::sync::Arc as LoomArc;
use loom::thread;
use smallvec::SmallVec;

use super::{PushError, Ring};
use crate::loom::Ordering;

/// Slots per ring in the models: 2 with `--cfg veltrix_loom_full` (the
/// wrap-around of a two-slot ring; hours of exploration on two cores), 1 by
/// default (every slot reuse, CAS race and gate of the same code, in minutes).
const CAPACITY: usize = if cfg!(veltrix_loom_full) { 2 } else { 1 };

/// Runs a model with room for the spin-and-yield loops of full/empty rings.
fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.max_branches = 100_000;
    builder.check(f);
}

/// Pushes `value`, yielding to the model while the ring is full.
fn push(ring: &Ring<Tracked>, mut value: Tracked) {
    loop {
        match ring.try_push(value) {
            Ok(_) => return,
            Err((back, PushError::Full)) => {
                value = back;
                thread::yield_now();
            }
            Err((_, PushError::Closed)) => panic!("ring closed"),
        }
    }
}

/// A value that counts its drops.
struct Tracked {
    id: u64,
    drops: LoomArc<AtomicUsize>,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
    }
}

/// Drains `n` events from `reader`, yielding while none is available.
fn read_all(reader: &mut super::Reader<Tracked>, n: usize) -> Vec<u64> {
    let mut seen = Vec::new();
    while seen.len() < n {
        let got = reader.drain(n - seen.len(), |_, v, _| {
            seen.push(v.id);
            ControlFlow::Continue(())
        });
        if got == 0 {
            thread::yield_now();
        }
    }
    seen
}

#[test]
fn two_producers_one_reader_wrap_around() {
    model(|| {
        let drops = LoomArc::new(AtomicUsize::new(0));
        let (ring, mut readers) = Ring::<Tracked>::new(CAPACITY, &[1]).unwrap();
        let mut reader = readers.pop().unwrap();
        // Producer 0 pushes two events, producer 1 one: three events through
        // two slots (one slot in the quick model), so slots are reused.
        let producers: Vec<_> = (0..2u64)
            .map(|p| {
                let ring = ring.clone();
                let drops = drops.clone();
                thread::spawn(move || {
                    for i in 0..2 - p {
                        push(
                            &ring,
                            Tracked {
                                id: p * 10 + i,
                                drops: drops.clone(),
                            },
                        );
                    }
                })
            })
            .collect();
        let seen = read_all(&mut reader, 3);
        for p in producers {
            p.join().unwrap();
        }
        // Every event exactly once, each producer's events in order.
        let mut sorted = seen.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, vec![0, 1, 10]);
        for p in 0..2u64 {
            let mine: Vec<_> = seen.iter().filter(|id| **id / 10 == p).collect();
            assert!(
                mine.windows(2).all(|w| w[0] < w[1]),
                "order broken: {seen:?}"
            );
        }
        // Values overwritten by the wrap-around were dropped then; the rest
        // are dropped with the ring.
        assert_eq!(drops.load(Ordering::SeqCst), 3 - CAPACITY);
        drop(reader);
        drop(ring);
        assert_eq!(drops.load(Ordering::SeqCst), 3);
    });
}

#[test]
fn one_producer_two_groups_gate_the_producer() {
    model(|| {
        let drops = LoomArc::new(AtomicUsize::new(0));
        let (ring, readers) = Ring::<Tracked>::new(CAPACITY, &[1, 2]).unwrap();
        let producer = {
            let ring = ring.clone();
            let drops = drops.clone();
            thread::spawn(move || {
                let mut batch: SmallVec<[Tracked; 2]> = SmallVec::new();
                for id in 0..CAPACITY as u64 {
                    batch.push(Tracked {
                        id,
                        drops: drops.clone(),
                    });
                }
                while ring.try_push_batch(&mut batch).is_err() {
                    thread::yield_now();
                }
                push(
                    &ring,
                    Tracked {
                        id: CAPACITY as u64,
                        drops,
                    },
                );
            })
        };
        let events = CAPACITY + 1;
        let groups: Vec<_> = readers
            .into_iter()
            .map(|mut reader| thread::spawn(move || read_all(&mut reader, events)))
            .collect();
        for g in groups {
            assert_eq!(g.join().unwrap(), (0..events as u64).collect::<Vec<_>>());
        }
        producer.join().unwrap();
        // Exactly one value (id 0) was overwritten; the gate kept the producer
        // from overwriting before both groups had read it.
        assert_eq!(drops.load(Ordering::SeqCst), 1);
        drop(ring);
        assert_eq!(drops.load(Ordering::SeqCst), events);
    });
}

#[test]
fn close_rejects_later_claims_and_keeps_earlier_ones() {
    model(|| {
        let drops = LoomArc::new(AtomicUsize::new(0));
        let (ring, mut readers) = Ring::<Tracked>::new(2, &[1]).unwrap();
        let mut reader = readers.pop().unwrap();
        let producer = {
            let ring = ring.clone();
            let drops = drops.clone();
            thread::spawn(move || ring.try_push(Tracked { id: 7, drops }).is_ok())
        };
        let last = ring.close();
        let accepted = producer.join().unwrap();
        assert_eq!(last, u64::from(accepted));
        let seen = read_all(&mut reader, last as usize);
        assert_eq!(seen.len() as u64, last);
        assert!(reader.is_finished());
    });
}
