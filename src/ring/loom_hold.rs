//! Loom models of the hold (see [`hold`](super::hold)): a reader that sees
//! a stream and polls for the rest of the producer's line reads only what
//! was published, and reads it after its write (loom checks every access
//! of a slot against the happens-before its Acquire load gives), once each
//! and in order, through a shared claim and through a sole producer.
//!
//! Under loom every slot counts as mid-line and a hold makes at most two
//! polls, so a model explores holds that extend (the third event comes
//! while the reader polls) and holds that end (it does not). The ring has
//! room for the whole run, so the producer never waits.

use std::sync::atomic::Ordering::Relaxed;

use loom::thread;

use super::loom_tests::{model, read_some, Book, POLLS};
use super::{Claimers, Ring};

/// Events per model: two for the reader to see a stream at its first
/// look, and one more that can arrive during its hold.
const EVENTS: usize = 3;

/// Room for the whole run.
const ROOM: usize = 4;

fn one_producer_one_holding_reader(claimers: Claimers) {
    model(move || {
        let book = Book::new(EVENTS, 1);
        let (ring, mut readers, sole) = Ring::new(ROOM, 1, claimers, None).unwrap();
        let values: Vec<_> = (0..EVENTS as u64).map(|id| book.value(id)).collect();
        let producer = thread::spawn({
            let ring = loom::sync::Arc::clone(&ring);
            move || {
                let mut sole = sole;
                for value in values {
                    let pushed = match sole.as_mut() {
                        Some(p) => p.burst().expect("open").push(value).is_ok(),
                        None => ring.try_push(value).is_ok(),
                    };
                    assert!(pushed, "the ring has room for the whole run");
                }
                sole
            }
        });
        let mut seen = Vec::new();
        read_some(&mut readers[0], &mut seen, EVENTS, POLLS);
        let sole = producer.join().unwrap();
        read_some(&mut readers[0], &mut seen, usize::MAX, 0);
        assert_eq!(seen, [0, 1, 2], "order or exactly-once broken");
        for id in 0..EVENTS as u64 {
            assert_eq!(
                book.reads[id as usize].load(Relaxed),
                1,
                "value {id} read once"
            );
        }
        drop((readers, sole, ring));
        for id in 0..EVENTS as u64 {
            assert_eq!(book.drops(id), 1, "value {id} dropped once");
        }
    });
}

#[test]
fn a_holding_reader_of_a_sole_producer_reads_only_what_was_published() {
    one_producer_one_holding_reader(Claimers::Sole);
}

#[test]
fn a_holding_reader_of_shared_claims_reads_only_what_was_stamped() {
    one_producer_one_holding_reader(Claimers::Shared);
}
