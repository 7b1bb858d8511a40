//! Loom models of the ring. Run with
//! `RUSTFLAGS="--cfg veltrix_loom" LOOM_MAX_PREEMPTIONS=2 cargo test --release --lib ring::loom`.
//!
//! # Why no thread here waits unboundedly
//!
//! A thread that polls until another thread makes progress (`push` retrying on
//! `Full`, a reader polling an empty ring) must yield to loom on every failed
//! poll, and loom treats every yield as a free scheduling point: the switch
//! costs no preemption, so `LOOM_MAX_PREEMPTIONS` does not bound it, and DPOR
//! explores every order of the polling threads' loops. The number of
//! executions grows exponentially with the number of polls, and a model with
//! two threads polling at once (two producers on a full ring, or a reader on
//! an empty ring beside a producer on a full one) never finishes. Raising
//! `max_branches` only lets those paths grow longer.
//!
//! So every thread of a model gets a small budget of failed polls
//! ([`POLLS`]). When it runs out, the thread stops and hands back what it did
//! not do (values it could not push, events it did not read); after joining
//! every thread, the model finishes that work on one thread, where nothing is
//! concurrent any more, and then checks its invariants on the whole run. The
//! concurrent phase still explores every interleaving in which each thread
//! polls at most `POLLS` times in vain; a longer wait only repeats failed
//! polls, which read the same atomics again and change nothing (a `Full`
//! claim at most refreshes the cached `gating` bound).
//!
//! Bookkeeping (drop and read counts) uses `std` atomics, which loom does not
//! see: loom runs all model threads on one OS thread, so they are plain
//! counters there, and they add no scheduling points or synchronisation that
//! could hide a missing ordering in the ring.

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc as StdArc;

use super::{Claimers, PushError, Reader, Ring, Staging};
use loom::thread;

/// Slots per ring in the models: 2 with `--cfg veltrix_loom_full` (the
/// wrap-around of a two-slot ring), 1 by default (every slot reuse, CAS race
/// and gate of the same code, faster).
pub(super) const CAPACITY: usize = if cfg!(veltrix_loom_full) { 2 } else { 1 };

/// Failed polls (a `Full` push or an empty drain, each followed by a yield)
/// a model thread may make before it gives up and leaves its remaining work
/// to the sequential end of the model. See the module docs. Each extra poll
/// multiplies the executions by about ten: 2 keeps the whole run (either
/// `CAPACITY`) under 20 s on two cores with `LOOM_MAX_PREEMPTIONS=2`.
pub(super) const POLLS: usize = 2;

/// Runs a model. Every loop of the models is bounded, so loom's default
/// branch limit holds; a run without `LOOM_MAX_PREEMPTIONS` gets the bound 2
/// of the documented command rather than an unbounded search.
pub(super) fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound.get_or_insert(2);
    builder.check(f);
}

/// Per-value bookkeeping of one model execution, indexed by value id.
pub(super) struct Book {
    /// Times each value was dropped.
    pub(super) drops: Vec<AtomicUsize>,
    /// Times each value was handed to a reader.
    pub(super) reads: Vec<AtomicUsize>,
    /// Reader groups of the ring: every value must be read this many times
    /// before it is dropped.
    groups: usize,
    /// Checks of `Tracked::drop` that failed. The ring catches a panic of a
    /// value's `Drop` (and counts it), so a failed check is recorded here
    /// too, and every read of the drop counts asserts there was none.
    failed: AtomicUsize,
}

impl Book {
    pub(super) fn new(ids: usize, groups: usize) -> StdArc<Self> {
        StdArc::new(Book {
            drops: (0..ids).map(|_| AtomicUsize::new(0)).collect(),
            reads: (0..ids).map(|_| AtomicUsize::new(0)).collect(),
            groups,
            failed: AtomicUsize::new(0),
        })
    }

    pub(super) fn value(self: &StdArc<Self>, id: u64) -> Tracked {
        Tracked {
            id,
            book: StdArc::clone(self),
        }
    }

    pub(super) fn drops(&self, id: u64) -> usize {
        assert_eq!(
            self.failed.load(Relaxed),
            0,
            "a drop check failed inside the ring (see the panic above)"
        );
        self.drops[id as usize].load(Relaxed)
    }
}

/// A value that records its reads and drops in a [`Book`].
pub(super) struct Tracked {
    pub(super) id: u64,
    pub(super) book: StdArc<Book>,
}

impl Tracked {
    /// Drops a value the ring refused: it never was in the ring, so no group
    /// had to read it.
    pub(super) fn discard(self) {
        self.book.reads[self.id as usize].store(self.book.groups, Relaxed);
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        let reads = self.book.reads[self.id as usize].load(Relaxed);
        let drops = self.book.drops[self.id as usize].fetch_add(1, Relaxed);
        // Skip the checks while unwinding from a failed check, so loom reports
        // that one instead of an abort.
        if !std::thread::panicking() {
            if drops != 0 || reads != self.book.groups {
                self.book.failed.fetch_add(1, Relaxed);
            }
            assert_eq!(drops, 0, "value {} dropped twice", self.id);
            // A value leaves its slot only when a producer overwrites it or the
            // ring is dropped; either way every group must have read it (the
            // models read every event).
            assert_eq!(
                reads, self.book.groups,
                "value {} dropped after {reads} of {} group reads",
                self.id, self.book.groups
            );
        }
    }
}

/// Pushes `values` in order, giving up after [`POLLS`] `Full` attempts.
/// Returns the values it did not push, in order.
fn push_some(ring: &Ring<Tracked>, values: Vec<Tracked>) -> Vec<Tracked> {
    let mut polls = 0;
    let mut values = values.into_iter();
    while let Some(mut value) = values.next() {
        loop {
            match ring.try_push(value) {
                Ok(_) => break,
                Err((back, PushError::Full)) if polls < POLLS => {
                    polls += 1;
                    value = back;
                    thread::yield_now();
                }
                Err((back, PushError::Full)) => {
                    return std::iter::once(back).chain(values).collect();
                }
                Err((_, PushError::Closed)) => panic!("ring closed"),
            }
        }
    }
    Vec::new()
}

/// Appends to `seen` the ids of up to `n` more events read by `reader`,
/// giving up after `polls` empty drains (each followed by a yield). `seen`
/// holds everything `reader` read before, so the next sequence is
/// `seen.len()`: checks that none is skipped or repeated, and records each
/// read in the value's book.
pub(super) fn read_some(reader: &mut Reader<Tracked>, seen: &mut Vec<u64>, n: usize, polls: usize) {
    let end = seen.len().saturating_add(n);
    let mut failed = 0;
    while seen.len() < end {
        let got = reader.drain(end - seen.len(), |seq, value, _| {
            assert_eq!(seq, seen.len() as u64, "sequence skipped or repeated");
            value.book.reads[value.id as usize].fetch_add(1, Relaxed);
            seen.push(value.id);
            ControlFlow::Continue(())
        });
        if got == 0 {
            if failed == polls {
                return;
            }
            failed += 1;
            thread::yield_now();
        }
    }
}

/// The sequential end of a model, after every model thread was joined: pushes
/// the `leftovers` (each list in order), draining every reader whenever the
/// ring is full, then drains every reader to the end. `seen[i]` collects the
/// ids reader `i` reads. Nothing runs concurrently any more, so every event
/// claimed is published and one drain reads all of them.
fn finish(
    ring: &Ring<Tracked>,
    readers: &mut [Reader<Tracked>],
    seen: &mut [Vec<u64>],
    leftovers: Vec<Vec<Tracked>>,
) {
    let mut drain_all = |readers: &mut [Reader<Tracked>]| {
        for (reader, seen) in readers.iter_mut().zip(seen.iter_mut()) {
            read_some(reader, seen, usize::MAX, 0);
        }
    };
    for mut value in leftovers.into_iter().flatten() {
        loop {
            match ring.try_push(value) {
                Ok(_) => break,
                Err((back, PushError::Full)) => {
                    value = back;
                    drain_all(readers);
                }
                Err((_, PushError::Closed)) => panic!("ring closed"),
            }
        }
    }
    drain_all(readers);
}

/// Two producers and one reader over a ring smaller than the run, so slots are
/// reused: the claim CAS race, the cached `gating` bound one producer scans
/// and the other trusts, and the overwrite of a slot just released.
#[test]
fn two_producers_one_reader_wrap_around() {
    model(|| {
        // Producer 0 pushes ids 0 and 1, producer 1 id 2: three events through
        // `CAPACITY` slots.
        const EVENTS: usize = 3;
        let book = Book::new(EVENTS, 1);
        let (ring, mut readers, _) =
            Ring::<Tracked>::new(CAPACITY, 1, Claimers::Shared, None).unwrap();
        let producers: Vec<_> = [vec![0, 1], vec![2]]
            .into_iter()
            .map(|ids| {
                let ring = ring.clone();
                let values: Vec<_> = ids.into_iter().map(|id| book.value(id)).collect();
                thread::spawn(move || push_some(&ring, values))
            })
            .collect();
        let mut seen = vec![Vec::new()];
        read_some(&mut readers[0], &mut seen[0], EVENTS, POLLS);
        let leftovers = producers.into_iter().map(|p| p.join().unwrap()).collect();
        finish(&ring, &mut readers, &mut seen, leftovers);
        let seen = &seen[0];

        // Every event exactly once, each producer's events in order.
        let mut sorted = seen.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, [0, 1, 2], "seen {seen:?}");
        let first = seen.iter().position(|&id| id == 0);
        let second = seen.iter().position(|&id| id == 1);
        assert!(first < second, "producer order broken: {seen:?}");
        // Sequence `s` went to slot `s % CAPACITY`; the values of the first
        // `EVENTS - CAPACITY` sequences were overwritten (and dropped) one lap
        // later, the last `CAPACITY` ones are still in the ring.
        for (seq, &id) in seen.iter().enumerate() {
            let overwritten = seq < EVENTS - CAPACITY;
            assert_eq!(book.drops(id), usize::from(overwritten), "seen {seen:?}");
        }
        drop(readers);
        drop(ring);
        for id in 0..EVENTS as u64 {
            assert_eq!(book.drops(id), 1, "value {id}");
        }
    });
}

/// One producer and two reader groups: the producer publishes a batch that
/// fills the ring, then one more event that must wait until both groups
/// released the first slot (the gate is the slower of the two cursors).
#[test]
fn one_producer_two_groups_gate_the_producer() {
    model(|| {
        const EVENTS: usize = CAPACITY + 1;
        let book = Book::new(EVENTS, 2);
        let (ring, readers, _) = Ring::<Tracked>::new(CAPACITY, 2, Claimers::Shared, None).unwrap();
        let producer = {
            let ring = ring.clone();
            let book = StdArc::clone(&book);
            thread::spawn(move || {
                let mut batch = Staging::<Tracked, 64>::new();
                for id in 0..CAPACITY as u64 {
                    batch.push(book.value(id));
                }
                // The ring is empty: the batch fits.
                ring.try_push_batch(&mut batch, 0).unwrap();
                push_some(&ring, vec![book.value(CAPACITY as u64)])
            })
        };
        let groups: Vec<_> = readers
            .into_iter()
            .map(|mut reader| {
                thread::spawn(move || {
                    let mut seen = Vec::new();
                    read_some(&mut reader, &mut seen, EVENTS, POLLS);
                    (reader, seen)
                })
            })
            .collect();
        let (mut readers, mut seen): (Vec<_>, Vec<_>) =
            groups.into_iter().map(|g| g.join().unwrap()).unzip();
        let leftovers = vec![producer.join().unwrap()];
        finish(&ring, &mut readers, &mut seen, leftovers);

        // Both groups read every event, in order (ids equal sequences here).
        for seen in &seen {
            assert_eq!(*seen, (0..EVENTS as u64).collect::<Vec<_>>());
        }
        // Exactly one value (id 0) was overwritten; `Tracked::drop` checked
        // that both groups had read it by then.
        assert_eq!(book.drops(0), 1);
        for id in 1..EVENTS as u64 {
            assert_eq!(book.drops(id), 0, "value {id}");
        }
        drop(readers);
        drop(ring);
        for id in 0..EVENTS as u64 {
            assert_eq!(book.drops(id), 1, "value {id}");
        }
    });
}

/// A close racing a push: the push is either in the final count (and
/// readable) or rejected, never lost.
#[test]
fn close_rejects_later_claims_and_keeps_earlier_ones() {
    model(|| {
        let book = Book::new(1, 1);
        let (ring, mut readers, _) = Ring::<Tracked>::new(2, 1, Claimers::Shared, None).unwrap();
        let producer = {
            let ring = ring.clone();
            let value = book.value(0);
            thread::spawn(move || match ring.try_push(value) {
                Ok(_) => true,
                Err((back, PushError::Closed)) => {
                    back.discard();
                    false
                }
                Err((_, PushError::Full)) => panic!("two-slot ring full"),
            })
        };
        let last = ring.close();
        let accepted = producer.join().unwrap();
        assert_eq!(last, u64::from(accepted));
        let reader = &mut readers[0];
        let mut seen = Vec::new();
        read_some(reader, &mut seen, usize::MAX, 0);
        assert_eq!(seen.len() as u64, last);
        assert!(reader.is_finished());
        drop(readers);
        drop(ring);
        assert_eq!(book.drops(0), 1);
    });
}
