//! Loom models of the single-producer path and of the two wake-up
//! handshakes (park and gate), run with the loom models of `loom_tests`:
//! `RUSTFLAGS="--cfg veltrix_loom" LOOM_MAX_PREEMPTIONS=2 cargo test --release --lib ring::loom`.
//!
//! Under loom both asymmetric barriers are loom's `fence(SeqCst)` (see
//! `barrier`), which loom models exactly; so these models check that each
//! handshake is a correct store-buffering pattern as written. The
//! bookkeeping conventions (bounded polls, `std` counters invisible to
//! loom) are those of `loom_tests`.

use std::ops::ControlFlow;
use std::sync::atomic::Ordering::Relaxed;

use loom::thread;

use super::loom_tests::{model, read_some, Book, Tracked, CAPACITY, POLLS};
use super::wake::announce_sleeper;
use super::{Claimers, Ring, SoleProducer};

/// Pushes `values` through `producer`, one burst per value, giving up after
/// [`POLLS`] full attempts. Returns what it did not push, in order.
fn push_sole(producer: &mut SoleProducer<Tracked>, values: Vec<Tracked>) -> Vec<Tracked> {
    let mut polls = 0;
    let mut values = values.into_iter();
    while let Some(mut value) = values.next() {
        loop {
            let pushed = match producer.burst() {
                Some(mut burst) => burst.push(value),
                None => panic!("ring closed"),
            };
            match pushed {
                Ok(_) => break,
                Err(back) if polls < POLLS => {
                    polls += 1;
                    value = back;
                    thread::yield_now();
                }
                Err(back) => return std::iter::once(back).chain(values).collect(),
            }
        }
    }
    Vec::new()
}

/// The single producer's plain-store claim and cached gate over a ring
/// smaller than the run, against a concurrent reader: every event read once,
/// in order, each value dropped once, after its read.
#[test]
fn sole_producer_one_reader_wrap_around() {
    model(|| {
        const EVENTS: usize = 3;
        let book = Book::new(EVENTS, 1);
        let (ring, mut readers, sole) =
            Ring::<Tracked>::new(CAPACITY, 1, Claimers::Sole, None).unwrap();
        let mut sole = sole.expect("a sole ring has its producer");
        let values: Vec<_> = (0..EVENTS as u64).map(|id| book.value(id)).collect();
        let producer = thread::spawn(move || {
            let left = push_sole(&mut sole, values);
            (sole, left)
        });
        let mut seen = Vec::new();
        read_some(&mut readers[0], &mut seen, EVENTS, POLLS);
        let (mut sole, left) = producer.join().unwrap();
        // Sequential end: push what is left, reading whenever full.
        for mut value in left {
            loop {
                let pushed = sole.burst().expect("open").push(value);
                match pushed {
                    Ok(_) => break,
                    Err(back) => {
                        value = back;
                        read_some(&mut readers[0], &mut seen, usize::MAX, 0);
                    }
                }
            }
        }
        read_some(&mut readers[0], &mut seen, usize::MAX, 0);
        assert_eq!(seen, [0, 1, 2], "order or exactly-once broken");
        assert_eq!(ring.claimed(), EVENTS as u64);
        drop((readers, sole));
        drop(ring);
        for id in 0..EVENTS as u64 {
            assert_eq!(book.drops(id), 1, "value {id}");
        }
    });
}

/// A close racing a single-producer publish (the `busy`/`closing`
/// handshake): the publish is either in the final count and readable, or
/// refused, never accepted and lost.
#[test]
fn sole_close_rejects_later_publishes_and_keeps_earlier_ones() {
    model(|| {
        let book = Book::new(1, 1);
        let (ring, mut readers, sole) = Ring::<Tracked>::new(2, 1, Claimers::Sole, None).unwrap();
        let mut sole = sole.expect("a sole ring has its producer");
        let value = book.value(0);
        let producer = thread::spawn(move || match sole.burst() {
            Some(mut burst) => {
                assert!(burst.push(value).is_ok(), "two-slot ring full");
                true
            }
            None => {
                value.discard();
                false
            }
        });
        let end = ring.close();
        let accepted = producer.join().unwrap();
        assert_eq!(
            end,
            u64::from(accepted),
            "accepted publish missing from the count"
        );
        let reader = &mut readers[0];
        let mut seen = Vec::new();
        read_some(reader, &mut seen, usize::MAX, 0);
        assert_eq!(seen.len() as u64, end);
        assert!(reader.is_finished());
        drop(readers);
        drop(ring);
        assert_eq!(book.drops(0), 1);
    });
}

/// The park handshake: a reader that finds nothing announces itself, runs
/// the heavy barrier and re-checks the next stamp; a producer publishes,
/// runs the light barrier and checks for sleepers. A reader that decides to
/// sleep must be woken: never "parked, and the producer saw nobody".
#[test]
fn park_handshake_never_loses_a_wake_up() {
    for claimers in [Claimers::Shared, Claimers::Sole] {
        model(move || {
            let book = Book::new(1, 1);
            let (ring, mut readers, sole) = Ring::<Tracked>::new(2, 1, claimers, None).unwrap();
            let value = book.value(0);
            let producer = {
                let ring = ring.clone();
                thread::spawn(move || match sole {
                    Some(mut sole) => {
                        let pushed = sole.burst().expect("open").push(value);
                        assert!(pushed.is_ok());
                        drop(sole);
                    }
                    None => assert!(ring.try_push(value).is_ok()),
                })
            };
            let reader = &mut readers[0];
            announce_sleeper(std::iter::once(&*ring));
            let would_park = !reader.has_next();
            producer.join().unwrap();
            let woken = ring.wake.wakes.load(Relaxed) > 0;
            assert!(!would_park || woken, "lost wake-up: parked and never woken");
            ring.wake.retract();
            let mut seen = Vec::new();
            read_some(reader, &mut seen, usize::MAX, 0);
            assert_eq!(seen, [0]);
        });
    }
}

/// The gate handshake: a producer of a full ring announces itself, runs the
/// heavy barrier and re-checks the cursors; a reader stores its cursor, runs
/// the light barrier and checks for blocked producers. A producer that
/// decides to wait must be notified.
#[test]
fn gate_handshake_never_loses_a_notify() {
    model(|| {
        let book = Book::new(1, 1);
        let (ring, mut readers, _) = Ring::<Tracked>::new(1, 1, Claimers::Shared, None).unwrap();
        assert!(ring.try_push(book.value(0)).is_ok());
        let mut reader = readers.pop().unwrap();
        let consumer = thread::spawn(move || {
            let got = reader.drain(1, |_, value, _| {
                value.book.reads[value.id as usize].fetch_add(1, Relaxed);
                ControlFlow::Continue(())
            });
            assert_eq!(got, 1);
            reader
        });
        ring.gate.announce();
        let would_wait = !ring.has_room_or_closed(1);
        let reader = consumer.join().unwrap();
        let notified = ring.gate.notifies.load(Relaxed) > 0;
        assert!(
            !would_wait || notified,
            "lost notify: waiting and never woken"
        );
        ring.gate.retract();
        drop(reader);
        drop(ring);
        assert_eq!(book.drops(0), 1);
    });
}
