//! The one producer of a single-producer ring: the LMAX Disruptor's
//! `SingleProducerSequencer`.
//!
//! Exclusivity is by ownership: [`Ring::new`](super::Ring::new) makes exactly
//! one [`SoleProducer`] for a ring of [`Claimers::Sole`](super::Claimers),
//! it is not `Clone`, and every publish takes it by `&mut`. So the sequence
//! counter and the cached gating bound are plain fields, a claim is an
//! addition and a compare, and publishing is plain stores: no CAS, no
//! locked instruction, no shared line but the slot's own.
//!
//! Publishes happen in a [`Burst`]: one event, or the events of one
//! `publish_batch` call. A burst announces itself in `busy` for the closing
//! handshake (see the ring's module docs) and, when it ends, stores the
//! published count once and wakes parked readers once.

use super::{barrier, Ring};
use crate::loom::{Arc, Ordering};

/// The exclusive right to publish into one ring.
///
/// Aligned to 128 bytes (two cache lines, for the adjacent-line prefetcher,
/// like `CachePadded`): its fields change on every publish, and a reader's
/// state allocated next to it at build time would otherwise share its line
/// and bounce it between the two cores on every event.
#[repr(align(128))]
pub(crate) struct SoleProducer<T> {
    ring: Arc<Ring<T>>,
    /// Next sequence to publish. Outside a burst it equals
    /// `ring.sole.published`; only this producer writes either.
    next: u64,
    /// A lower bound of the slowest reader's cursor (cursors only grow), so
    /// the fast path reads no reader's line; refreshed when it says full.
    gate: u64,
}

impl<T> SoleProducer<T> {
    pub(super) fn new(ring: Arc<Ring<T>>) -> Self {
        SoleProducer {
            ring,
            next: 0,
            gate: 0,
        }
    }

    /// The ring this producer publishes into.
    pub(crate) fn ring(&self) -> &Arc<Ring<T>> {
        &self.ring
    }

    /// Starts a burst of publishes; `None` once the ring is closing.
    #[inline]
    pub(crate) fn burst(&mut self) -> Option<Burst<'_, T>> {
        let ring = &*self.ring;
        // The hot side of the closing handshake: store `busy`; light
        // barrier; load `closing`. Either this load sees `closing`, or
        // `close` sees `busy` and waits for the burst to end (Relaxed on
        // both: the barriers order them; see `barrier`).
        ring.seal.busy.store(true, Ordering::Relaxed);
        barrier::light();
        if ring.seal.closing.load(Ordering::Relaxed) {
            ring.seal.busy.store(false, Ordering::Release);
            return None;
        }
        let start = self.next;
        Some(Burst {
            producer: self,
            start,
        })
    }
}

impl<T> std::fmt::Debug for SoleProducer<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SoleProducer")
            .field("next", &self.next)
            .field("gate", &self.gate)
            .finish_non_exhaustive()
    }
}

/// Publishes in progress. Ending it (dropping it, also while unwinding from
/// a panicking `Drop` of an overwritten value) makes the count visible,
/// leaves the closing handshake and wakes parked readers.
pub(crate) struct Burst<'a, T> {
    producer: &'a mut SoleProducer<T>,
    start: u64,
}

impl<T> Burst<'_, T> {
    /// Whether one more event fits now.
    #[inline]
    fn has_room(&mut self) -> bool {
        let p = &mut *self.producer;
        let wrap = (p.next + 1).saturating_sub(p.ring.capacity);
        if wrap <= p.gate {
            return true;
        }
        p.gate = p.ring.min_cursor();
        wrap <= p.gate
    }

    /// Publishes `value`, or hands it back when the ring is full. Readers
    /// can read it at once; the published count and the wake-up of parked
    /// readers come when the burst ends.
    #[inline]
    pub(crate) fn push(&mut self, value: T) -> Result<u64, T> {
        self.push_with(value, |value, _| value)
    }

    /// As [`push`](Self::push), making the slot's value from `input` and its
    /// sequence (`make` runs inside the burst and must not block).
    #[inline]
    pub(crate) fn push_with<V>(
        &mut self,
        input: V,
        make: impl FnOnce(V, u64) -> T,
    ) -> Result<u64, V> {
        if !self.has_room() {
            return Err(input);
        }
        let p = &mut *self.producer;
        let seq = p.next;
        let value = make(input, seq);
        // SAFETY: this producer is the ring's only claimer (ownership: one
        // `SoleProducer` per ring, borrowed mutably by this burst), `seq` is
        // its next, unwritten sequence, and `has_room` saw every cursor past
        // `seq - capacity` with Acquire loads (`min_cursor`), now or earlier
        // (cursors only grow).
        let old = unsafe { p.ring.write(seq, value) };
        p.next = seq + 1;
        // Dropped inside the burst: if this `Drop` panics, the burst's own
        // `Drop` still ends it.
        drop(old);
        Ok(seq)
    }
}

impl<T> Drop for Burst<'_, T> {
    #[inline]
    fn drop(&mut self) {
        let p = &*self.producer;
        let ring = &*p.ring;
        // Release: a reader of the count (lag, close) sees the slots written.
        ring.sole.published.store(p.next, Ordering::Release);
        // Release pairs with `close`'s Acquire load of `busy`: the count
        // stored above is visible to it.
        ring.seal.busy.store(false, Ordering::Release);
        if p.next != self.start {
            ring.after_publish();
        }
    }
}
