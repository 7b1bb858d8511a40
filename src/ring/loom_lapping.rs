//! Loom models of lossy readers ([`lapping`](super::lapping)), run with the
//! other ring models:
//! `RUSTFLAGS="--cfg veltrix_loom" LOOM_MAX_PREEMPTIONS=2 cargo test --release --lib ring::loom`.
//!
//! The ring's slots are loom `UnsafeCell`s: loom reports a data race if a
//! producer overwrites a slot while a reader borrows it, so these models
//! prove that lapping never takes a slot from under a batch, not only that
//! the sequences a lossy reader sees are in order.

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc as StdArc;

use loom::thread;

use super::loom_tests::{model, POLLS};
use super::{Claimers, Reader, ReaderSpec, Ring, SoleProducer};

/// Events of each model.
pub(super) const EVENTS: u64 = 3;

/// A value that knows its sequence and counts its drops (lapped values are
/// dropped unread, so the read-count checks of `Tracked` do not apply).
pub(super) struct Counted {
    seq: u64,
    drops: StdArc<Vec<AtomicUsize>>,
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.drops[self.seq as usize].fetch_add(1, Relaxed);
    }
}

fn specs(lossy: &[bool]) -> Vec<ReaderSpec> {
    lossy
        .iter()
        .map(|&l| ReaderSpec {
            after: Vec::new(),
            // The bound of a ring of one slot: lapped only as needed.
            lossy: l.then_some(1),
            spare: false,
        })
        .collect()
}

/// Pushes the values `from..EVENTS` through `sole` or the shared claim,
/// giving up after [`POLLS`] refusals; returns where it stopped.
pub(super) fn push_some(
    ring: &Ring<Counted>,
    sole: &mut Option<SoleProducer<Counted>>,
    drops: &StdArc<Vec<AtomicUsize>>,
    from: u64,
    polls: usize,
) -> u64 {
    let (mut next, mut failed) = (from, 0);
    while next < EVENTS && failed <= polls {
        let value = Counted {
            seq: next,
            drops: StdArc::clone(drops),
        };
        let pushed = match sole {
            Some(sole) => sole.burst().expect("open").push(value).is_ok(),
            None => ring.try_push(value).is_ok(),
        };
        if pushed {
            next += 1;
        } else {
            // The refused value was dropped: it never entered the ring.
            drops[next as usize].fetch_sub(1, Relaxed);
            failed += 1;
            thread::yield_now();
        }
    }
    next
}

/// Drains `reader` until [`POLLS`] empty drains (or `polls`), checking that
/// every event is the one its sequence names and that sequences only grow;
/// returns how many it read.
pub(super) fn read_some(reader: &mut Reader<Counted>, last: &mut Option<u64>, polls: usize) -> u64 {
    let (mut read, mut failed) = (0, 0);
    while failed <= polls {
        let got = reader.drain(EVENTS as usize, |seq, value, _| {
            assert_eq!(value.seq, seq, "a slot was overwritten under the reader");
            assert!(
                last.is_none_or(|l| seq > l),
                "sequence {seq} after {last:?}"
            );
            *last = Some(seq);
            read += 1;
            ControlFlow::Continue(())
        });
        if got == 0 {
            failed += 1;
            thread::yield_now();
        }
    }
    read
}

/// One producer and one lossy reader of a one-slot ring at once: the
/// producer laps the reader between its batches (never under one: loom
/// checks the slot), the reader sees its events in order, and every event
/// is read or lagged, and dropped once.
#[test]
fn a_lossy_reader_is_lapped_only_between_batches() {
    for claimers in [Claimers::Shared, Claimers::Sole] {
        model(move || {
            let drops = StdArc::new((0..EVENTS).map(|_| AtomicUsize::new(0)).collect::<Vec<_>>());
            let (ring, mut readers, mut sole) =
                Ring::<Counted>::with_readers(1, &specs(&[true]), claimers, None).unwrap();
            let mut reader = readers.pop().unwrap();
            let producer = {
                let (ring, drops) = (ring.clone(), StdArc::clone(&drops));
                thread::spawn(move || {
                    let pushed = push_some(&ring, &mut sole, &drops, 0, POLLS);
                    (pushed, sole)
                })
            };
            let mut last = None;
            let mut read = read_some(&mut reader, &mut last, POLLS);
            let (pushed, mut sole) = producer.join().unwrap();
            // Sequentially now: the rest goes in (lapping the reader), and
            // the reader reads what is left.
            assert_eq!(push_some(&ring, &mut sole, &drops, pushed, 0), EVENTS);
            drop(sole);
            read += read_some(&mut reader, &mut last, 0);
            assert_eq!(read + ring.lagged(0), EVENTS, "read {read}");
            drop(reader);
            drop(ring);
            for seq in 0..EVENTS as usize {
                assert_eq!(drops[seq].load(Relaxed), 1, "value {seq}");
            }
        });
    }
}

/// A lossy reader beside a gating one: the gating reader still sees every
/// event in order, whatever the lapping does, and the lossy one sees a
/// subsequence.
#[test]
fn lapping_leaves_a_gating_reader_every_event() {
    model(|| {
        let drops = StdArc::new((0..EVENTS).map(|_| AtomicUsize::new(0)).collect::<Vec<_>>());
        let (ring, mut readers, mut sole) =
            Ring::<Counted>::with_readers(1, &specs(&[false, true]), Claimers::Shared, None)
                .unwrap();
        let mut lossy = readers.pop().unwrap();
        let mut gating = readers.pop().unwrap();
        let producer = {
            let (ring, drops) = (ring.clone(), StdArc::clone(&drops));
            thread::spawn(move || push_some(&ring, &mut sole, &drops, 0, POLLS))
        };
        let lossy_thread = thread::spawn(move || {
            let mut last = None;
            let read = read_some(&mut lossy, &mut last, 1);
            (lossy, last, read)
        });
        let mut last = None;
        let mut gated = read_some(&mut gating, &mut last, 1);
        let pushed = producer.join().unwrap();
        let (mut lossy, mut lossy_last, mut lossy_read) = lossy_thread.join().unwrap();
        // Sequentially: alternate until everything is in and read.
        let mut next = pushed;
        let mut none = None;
        while next < EVENTS {
            next = push_some(&ring, &mut none, &drops, next, 0);
            gated += read_some(&mut gating, &mut last, 0);
        }
        gated += read_some(&mut gating, &mut last, 0);
        lossy_read += read_some(&mut lossy, &mut lossy_last, 0);
        assert_eq!(gated, EVENTS, "the gating reader missed events");
        assert_eq!(lossy_read + ring.lagged(1), EVENTS);
        assert_eq!(ring.lagged(0), 0);
        drop((gating, lossy, ring));
        for seq in 0..EVENTS as usize {
            assert_eq!(drops[seq].load(Relaxed), 1, "value {seq}");
        }
    });
}
