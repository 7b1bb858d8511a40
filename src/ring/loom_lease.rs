//! Loom models of the claim lease (see [`lease`](super::lease)). Under
//! loom a lease is granted at the first CAS claim, so every shared-claim
//! model runs it: `loom_tests::two_producers_one_reader_wrap_around` has
//! one producer claim under its lease while the other revokes it (a
//! revocation that skips the barrier, or does not wait for the claim in
//! flight, lets two producers write one slot there: caught). This model
//! closes a ring while its producer claims under the lease: the close ends
//! the lease first, so no claim is accepted after the final count is
//! decided and none before it is lost.

use loom::thread;

use super::loom_tests::{model, read_some, Book};
use super::{Claimers, PushError, Ring};

#[test]
fn close_ends_the_lease_and_keeps_the_count() {
    model(|| {
        const EVENTS: usize = 3;
        let book = Book::new(EVENTS, 1);
        let (ring, mut readers, _) = Ring::new(4, 1, Claimers::Shared, None).unwrap();
        let producer = {
            let ring = ring.clone();
            let values: Vec<_> = (0..EVENTS as u64).map(|id| book.value(id)).collect();
            thread::spawn(move || {
                // Whether each push was accepted, in order.
                let mut accepted = Vec::new();
                for value in values {
                    match ring.try_push(value) {
                        Ok(_) => accepted.push(true),
                        Err((back, PushError::Closed)) => {
                            back.discard();
                            accepted.push(false);
                        }
                        Err((_, PushError::Full)) => panic!("room for the whole run"),
                    }
                }
                accepted
            })
        };
        let last = ring.close();
        let accepted = producer.join().unwrap();
        let taken = accepted.iter().filter(|&&a| a).count() as u64;
        assert_eq!(
            last, taken,
            "the final count is what was accepted: {accepted:?}"
        );
        assert!(
            accepted.windows(2).all(|w| w[0] || !w[1]),
            "nothing accepted after a refusal: {accepted:?}"
        );
        assert_eq!(ring.claimed(), last, "no claim after the close");
        let mut seen = Vec::new();
        read_some(&mut readers[0], &mut seen, usize::MAX, 0);
        assert_eq!(seen.len() as u64, last);
        drop(readers);
        drop(ring);
        for id in 0..EVENTS as u64 {
            assert_eq!(book.drops(id), 1, "value {id}");
        }
    });
}
