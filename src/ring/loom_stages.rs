//! Loom models of stage dependencies ([`stages`](super::stages)), run with
//! the other ring models:
//! `RUSTFLAGS="--cfg veltrix_loom" LOOM_MAX_PREEMPTIONS=2 cargo test --release --lib ring::loom`.
//!
//! The first stage writes a plain (non-atomic) mark into a loom `UnsafeCell`
//! per event while it holds the event; the later stage reads that mark
//! while it holds the same event. Loom reports a data race if the read is
//! not ordered after the write, so the model proves the happens-before
//! edge the later stage relies on (upstream cursor `Release` → `Acquire`),
//! not only the order of the values it sees.

use std::ops::ControlFlow;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc as StdArc;

use loom::cell::UnsafeCell as LoomCell;
use loom::thread;

use super::loom_tests::{model, Book, Tracked, POLLS};
use super::wake::announce_sleeper;
use super::{Claimers, Reader, ReaderSpec, Ring};

/// Events of each model.
const EVENTS: usize = 2;

/// Two readers, the second trailing the first.
fn pipeline() -> Vec<ReaderSpec> {
    vec![
        ReaderSpec::default(),
        ReaderSpec {
            after: vec![0],
            lossy: None,
            spare: false,
        },
    ]
}

/// One mark per event, written by the first stage, read by the second.
struct Marks(Vec<LoomCell<u8>>);

// SAFETY: the cells are only touched through loom's `with`/`with_mut`, which
// check every access for a race; a race is the model failing, not undefined
// behaviour of the test.
unsafe impl Sync for Marks {}

/// Drains `reader`, which read `done` events before, until it has read all
/// `EVENTS` or failed to find one [`POLLS`] times in a row, applying `f` to
/// each; returns how many it read now.
fn stage(reader: &mut Reader<Tracked>, done: usize, mut f: impl FnMut(&Tracked)) -> usize {
    let (mut read, mut failed) = (0, 0);
    while done + read < EVENTS && failed <= POLLS {
        let got = reader.drain(EVENTS, |seq, value, _| {
            assert_eq!(seq, (done + read) as u64, "sequence skipped or repeated");
            value.book.reads[value.id as usize].fetch_add(1, Relaxed);
            f(value);
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

/// A producer publishing, a first stage marking each event and a second
/// stage (trailing the first) checking each mark, all at once: the second
/// stage never reads an event the first has not released, and its read of
/// the mark is ordered after the first stage's write.
#[test]
fn a_later_stage_reads_only_what_the_one_before_released() {
    for claimers in [Claimers::Shared, Claimers::Sole] {
        model(move || {
            let book = Book::new(EVENTS, 2);
            let (ring, mut readers, sole) =
                Ring::<Tracked>::with_readers(EVENTS, &pipeline(), claimers, None).unwrap();
            let marks = StdArc::new(Marks((0..EVENTS).map(|_| LoomCell::new(0)).collect()));
            let values: Vec<_> = (0..EVENTS as u64).map(|id| book.value(id)).collect();
            let producer = {
                let ring = ring.clone();
                thread::spawn(move || match sole {
                    Some(mut sole) => {
                        for value in values {
                            let pushed = sole.burst().expect("open").push(value);
                            assert!(pushed.is_ok(), "room for every event");
                        }
                        drop(sole);
                    }
                    None => {
                        for value in values {
                            assert!(ring.try_push(value).is_ok(), "room for every event");
                        }
                    }
                })
            };
            let mut second = readers.pop().unwrap();
            let mut first = readers.pop().unwrap();
            let first_marks = StdArc::clone(&marks);
            let first = thread::spawn(move || {
                let read = stage(&mut first, 0, |value| {
                    // SAFETY: see `Marks`; loom checks this write.
                    first_marks.0[value.id as usize].with_mut(|m| unsafe { *m = 1 });
                });
                (first, read)
            });
            let read = stage(&mut second, 0, |value| {
                // SAFETY: see `Marks`; loom checks this read.
                let mark = marks.0[value.id as usize].with(|m| unsafe { *m });
                assert_eq!(mark, 1, "event {} read before the first stage", value.id);
            });
            producer.join().unwrap();
            let (mut first, first_read) = first.join().unwrap();
            assert!(read <= first_read, "the later stage got ahead");
            // Sequentially now: both stages read the rest.
            let rest = stage(&mut first, first_read, |_| {});
            assert_eq!(first_read + rest, EVENTS);
            let rest = stage(&mut second, read, |_| {});
            assert_eq!(read + rest, EVENTS);
            drop((first, second));
            drop(ring);
            for id in 0..EVENTS as u64 {
                assert_eq!(book.drops(id), 1);
            }
        });
    }
}

/// The park handshake on a ring with stages: a later stage that finds
/// nothing it may read (the first stage has not released the event)
/// announces itself and re-checks; the first stage releases, runs the light
/// barrier and checks for sleepers. A later stage that decides to sleep must
/// be woken.
#[test]
fn a_release_wakes_a_parked_later_stage() {
    model(|| {
        let book = Book::new(1, 2);
        let (ring, mut readers, _) =
            Ring::<Tracked>::with_readers(2, &pipeline(), Claimers::Shared, None).unwrap();
        assert!(ring.try_push(book.value(0)).is_ok());
        let mut second = readers.pop().unwrap();
        let mut first = readers.pop().unwrap();
        let upstream = thread::spawn(move || {
            let got = first.drain(1, |_, value, _| {
                value.book.reads[value.id as usize].fetch_add(1, Relaxed);
                ControlFlow::Continue(())
            });
            assert_eq!(got, 1);
            first
        });
        announce_sleeper(std::iter::once(&*ring));
        let would_park = !second.has_next();
        let first = upstream.join().unwrap();
        let woken = ring.wake.wakes.load(Relaxed) > 0;
        assert!(!would_park || woken, "lost wake-up: parked and never woken");
        ring.wake.retract();
        let got = stage(&mut second, 0, |_| {});
        assert_eq!(got, 1);
        drop((first, second));
        drop(ring);
        assert_eq!(book.drops(0), 1);
    });
}

/// A later stage that caught up with a first stage that retired (its
/// partition halted, or its reader dropped) is finished, whichever of the
/// two happened first; before the retirement it is not.
#[test]
fn a_later_stage_behind_a_retired_one_is_finished() {
    model(|| {
        let book = Book::new(1, 2);
        let (ring, mut readers, _) =
            Ring::<Tracked>::with_readers(2, &pipeline(), Claimers::Shared, None).unwrap();
        assert!(ring.try_push(book.value(0)).is_ok());
        let second = readers.pop().unwrap();
        let first = readers.pop().unwrap();
        assert!(!second.is_finished(), "open ring, first stage running");
        let upstream = thread::spawn(move || first.retire());
        let mut finished = second.is_finished();
        upstream.join().unwrap();
        finished |= second.is_finished();
        assert!(finished, "never saw the first stage retire");
        // The event was never released by the first stage: drop it unread
        // by the book's count (as a halted partition leaves it).
        book.reads[0].store(2, Relaxed);
        drop(readers);
        drop(second);
        drop(ring);
        assert_eq!(book.drops(0), 1);
    });
}
