//! Loom models of spare slots ([`spare`](super::spare)), run with the other
//! ring models:
//! `RUSTFLAGS="--cfg veltrix_loom" LOOM_MAX_PREEMPTIONS=2 cargo test --release --lib ring::loom`.
//!
//! Loom reports a data race if a producer overwrites a slot while the
//! attached reader borrows it, so these prove that an attach racing with
//! producers that lap the detached slot never reads an overwritten or
//! half-written value, and that a detach lets producers on without a race.

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc as StdArc;

use loom::thread;

use super::loom_lapping::{push_some, read_some, Counted, EVENTS};
use super::loom_tests::{model, POLLS};
use super::{Claimers, ReaderSpec, Ring, StartAt};

/// A gating reader and a spare slot.
fn specs() -> [ReaderSpec; 2] {
    [
        ReaderSpec::default(),
        ReaderSpec {
            spare: true,
            ..ReaderSpec::default()
        },
    ]
}

/// A reader attaches (at the oldest event, the racier start) to a one-slot
/// ring while a producer publishes and laps the detached slot, reads, and
/// detaches; the gating reader reads on. Every value the late reader sees
/// is its sequence's, in order; the gating reader sees every event; every
/// value is dropped once.
#[test]
fn an_attach_racing_with_lapping_producers_reads_only_intact_events() {
    for claimers in [Claimers::Shared, Claimers::Sole] {
        model(move || {
            let drops = StdArc::new((0..EVENTS).map(|_| AtomicUsize::new(0)).collect::<Vec<_>>());
            let (ring, mut readers, mut sole) =
                Ring::<Counted>::with_readers(1, &specs(), claimers, None).unwrap();
            let mut gating = readers.pop().unwrap();
            let producer = {
                let (ring, drops) = (ring.clone(), StdArc::clone(&drops));
                thread::spawn(move || {
                    let pushed = push_some(&ring, &mut sole, &drops, 0, POLLS);
                    (pushed, sole)
                })
            };
            let late = {
                let ring = ring.clone();
                thread::spawn(move || {
                    let mut reader = Ring::attach(&ring, 1, StartAt::Oldest).unwrap();
                    let mut last = None;
                    read_some(&mut reader, &mut last, 1);
                    // Dropped here: detached, producers lap it again.
                })
            };
            let mut last = None;
            let mut read = read_some(&mut gating, &mut last, 1);
            late.join().unwrap();
            let (mut next, mut sole) = producer.join().unwrap();
            assert!(ring.is_detached(1));
            // Sequentially: alternate until everything is in and read (the
            // detached slot holds nothing back).
            while next < EVENTS {
                next = push_some(&ring, &mut sole, &drops, next, 0);
                read += read_some(&mut gating, &mut last, 0);
            }
            read += read_some(&mut gating, &mut last, 0);
            assert_eq!(read, EVENTS, "the gating reader missed events");
            assert_eq!(ring.lagged(1), 0);
            drop((gating, sole, ring));
            for seq in 0..EVENTS as usize {
                assert_eq!(drops[seq].load(Relaxed), 1, "value {seq}");
            }
        });
    }
}
