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
//! Publishes happen in a [`Burst`]: one event, or a run of events of one
//! `publish_batch` call ([`Bursts`] moves a batch from ring to ring). A
//! burst announces itself in `busy` for the closing handshake (see the
//! ring's module docs) and, when it ends, stores the published count once
//! and wakes parked readers once. Each event is written through a
//! [`Vacant`], the proof that its slot is free: checking for room never
//! moves the event, so waiting for room carries no value around.

use std::ptr;

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
        if !self.enter() {
            return None;
        }
        let start = self.next;
        Some(Burst {
            producer: self,
            start,
        })
    }

    /// The hot side of the closing handshake, as a burst begins: store
    /// `busy`; light barrier; load `closing`. Either this load sees
    /// `closing` (and the burst does not begin: `false`), or `close` sees
    /// `busy` and waits for the burst to end (Relaxed on both: the barriers
    /// order them; see `barrier`).
    #[inline]
    fn enter(&mut self) -> bool {
        let ring = &*self.ring;
        ring.seal.busy.store(true, Ordering::Relaxed);
        barrier::light();
        if ring.seal.closing.load(Ordering::Relaxed) {
            ring.seal.busy.store(false, Ordering::Release);
            return false;
        }
        true
    }

    /// Ends a burst that began when `next` was `start`: makes the count
    /// visible, leaves the closing handshake, wakes parked readers.
    #[inline]
    fn leave(&mut self, start: u64) {
        let ring = &*self.ring;
        // Release: a reader of the count (lag, close) sees the slots written.
        ring.sole.published.store(self.next, Ordering::Release);
        // Release pairs with `close`'s Acquire load of `busy`: the count
        // stored above is visible to it.
        ring.seal.busy.store(false, Ordering::Release);
        if self.next != start {
            ring.after_publish();
        }
    }

    /// How many slots from `next` on every reader has released: what the
    /// cached bound shows, or, when that is fewer than `want`, what the
    /// cursors show now (the bound is refreshed then).
    #[inline]
    fn room(&mut self, want: u64) -> u64 {
        // `next <= gate + capacity`: a sequence is written only below that
        // sum, and `gate` only grows.
        let room = self.gate + self.ring.capacity - self.next;
        if room >= want {
            return room;
        }
        // Laps lossy readers between batches instead of waiting for them.
        let wrap = (self.next + want).saturating_sub(self.ring.capacity);
        self.gate = self.ring.gate_for(wrap);
        self.gate + self.ring.capacity - self.next
    }

    /// Room for one more event, if there is some now (inside a burst: the
    /// caller holds one).
    #[inline]
    fn vacant(&mut self) -> Option<Vacant<'_, T>> {
        if self.room(1) == 0 {
            return None;
        }
        Some(Vacant { producer: self })
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

/// Publishes in progress on one ring. Ending it (dropping it, also while
/// unwinding) makes the count visible, leaves the closing handshake and
/// wakes parked readers.
pub(crate) struct Burst<'a, T> {
    producer: &'a mut SoleProducer<T>,
    start: u64,
}

impl<T> Burst<'_, T> {
    /// Room for one more event now, or `None` while the ring is full.
    /// Readers see the events written in a burst when it ends (the
    /// published count is stored then) and parked readers are woken then.
    #[inline]
    pub(crate) fn vacant(&mut self) -> Option<Vacant<'_, T>> {
        self.producer.vacant()
    }

    /// Ends the burst for as long as `wait` runs (the count is stored,
    /// parked readers are woken and a close may proceed), then begins it
    /// again: a producer that must wait for room waits outside any burst,
    /// and whatever it holds stays where it is. Returns the burst again, or
    /// `None` if the ring began closing meanwhile (nothing more may be
    /// published), and what `wait` returned.
    #[inline]
    pub(crate) fn pause<R>(mut self, wait: impl FnOnce() -> R) -> (Option<Self>, R) {
        self.producer.leave(self.start);
        self.start = self.producer.next;
        let waited = wait();
        if self.producer.enter() {
            (Some(self), waited)
        } else {
            // Dropping it ends it again: that only repeats the stores
            // `enter` left in place (`busy` false, the same count).
            (None, waited)
        }
    }

    /// Publishes events taken from `events`, in order, into consecutive
    /// slots: at most `limit`, and no more than there is room for now. An
    /// event is taken from the iterator only once its slot is free, so
    /// nothing is ever held back; the sampled sequences get the publish
    /// time `time`. Returns how many were written and whether `events` ran
    /// out (`false` when the ring is full or `limit` was reached first).
    ///
    /// The loop keeps its sequence in a register and stores only the
    /// events: one store per event, so a run of slot stores waiting for
    /// their lines does not fill the store buffer with bookkeeping.
    /// If the iterator panics, what was written before is published when
    /// the burst ends, as with [`Vacant::write_from`].
    ///
    /// Never inlined: called once per run (up to 64 events), and its one
    /// place for an event then never shares a stack frame with the
    /// caller's (a large event would otherwise take two).
    #[inline(never)]
    pub(crate) fn write_run(
        &mut self,
        events: &mut impl Iterator<Item = T>,
        limit: usize,
        time: u64,
    ) -> (usize, bool) {
        let p = &mut *self.producer;
        let n = p.room(limit as u64).min(limit as u64);
        let ring = &*p.ring;
        let times = ring.times.view();
        let start = p.next;
        let end = start + n;
        // Every reader has released the slots below this (`room` just
        // looked), so their lines may be asked for ahead.
        let released = p.gate + ring.capacity;
        // Stores the sequence reached into `next` when the loop ends, also
        // by unwinding out of `events.next()`.
        let mut at = Advance {
            next: &mut p.next,
            seq: start,
        };
        while at.seq < end {
            // The event's one place outside its slot (a large event is not
            // copied again on its way there, even unoptimised).
            let mut pending = events.next();
            let Some(event) = pending.as_mut() else {
                return ((at.seq - start) as usize, true);
            };
            let event: *mut T = event;
            let seq = at.seq;
            times.record(seq, || time);
            ring.prefetch_write_ahead(seq, released);
            // SAFETY: this producer is the ring's only claimer (ownership:
            // one `SoleProducer` per ring, borrowed mutably through this
            // burst), `seq` is below `end`, so it is unwritten (every
            // sequence from `next` on is) and `room` saw every cursor past
            // `seq - capacity` with Acquire loads (`min_cursor`), now or
            // earlier (cursors only grow). `event` points into `pending`,
            // to an initialised `T` outside the ring.
            let swapped = unsafe { ring.write_from(seq, event) };
            if swapped {
                // SAFETY: `write_from` moved the previous lap's value into
                // `pending`: it is dropped once here, inside the burst
                // (`drop_held` never unwinds).
                unsafe { ring.drop_held(event) };
            }
            // SAFETY: the event moved into its slot, or the old value that
            // took its place was dropped: `pending` is emptied without
            // dropping its contents again.
            unsafe { ptr::write(&mut pending, None) };
            at.seq = seq + 1;
        }
        ((at.seq - start) as usize, false)
    }

    /// Publishes `value`, or hands it back when the ring is full.
    #[cfg(test)]
    pub(crate) fn push(&mut self, value: T) -> Result<u64, T> {
        match self.vacant() {
            Some(vacant) => Ok(vacant.write(value, || 0)),
            None => Err(value),
        }
    }
}

/// Stores a run's progress into the producer's `next` when the run ends.
struct Advance<'a> {
    next: &'a mut u64,
    seq: u64,
}

impl Drop for Advance<'_> {
    #[inline(always)]
    fn drop(&mut self) {
        *self.next = self.seq;
    }
}

impl<T> Drop for Burst<'_, T> {
    #[inline]
    fn drop(&mut self) {
        self.producer.leave(self.start);
    }
}

/// Bursts over the rings of several producers (one per partition), one
/// burst open at a time: a batch publish moves from partition to partition
/// without ever holding an event across the switch. Dropping it ends the
/// open burst.
pub(crate) struct Bursts<'a, T> {
    lanes: &'a mut [SoleProducer<T>],
    /// The lane whose burst is open, and its `next` when the burst began.
    /// Invariant: the index is in bounds.
    open: Option<(usize, u64)>,
}

impl<'a, T> Bursts<'a, T> {
    /// No burst open yet.
    pub(crate) fn new(lanes: &'a mut [SoleProducer<T>]) -> Self {
        Bursts { lanes, open: None }
    }

    /// The lane whose burst is open.
    #[inline]
    pub(crate) fn lane(&self) -> Option<usize> {
        self.open.map(|(lane, _)| lane)
    }

    /// Makes `lane`'s burst the open one, ending another one open;
    /// `false` once that ring is closing.
    ///
    /// # Panics
    ///
    /// If `lane` is out of bounds.
    #[inline]
    pub(crate) fn open(&mut self, lane: usize) -> bool {
        if self.lane() == Some(lane) {
            return true;
        }
        self.end();
        let producer = &mut self.lanes[lane];
        if !producer.enter() {
            return false;
        }
        self.open = Some((lane, producer.next));
        true
    }

    /// Ends the open burst, if any.
    #[inline]
    pub(crate) fn end(&mut self) {
        if let Some((lane, start)) = self.open.take() {
            self.lanes[lane].leave(start);
        }
    }

    /// Room for one more event in the open burst, or `None` while its ring
    /// is full (or no burst is open).
    #[inline]
    pub(crate) fn vacant(&mut self) -> Option<Vacant<'_, T>> {
        let (lane, _) = self.open?;
        self.lanes[lane].vacant()
    }
}

impl<T> Drop for Bursts<'_, T> {
    #[inline]
    fn drop(&mut self) {
        self.end();
    }
}

impl<T> std::fmt::Debug for Bursts<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bursts")
            .field("lanes", &self.lanes.len())
            .field("open", &self.open)
            .finish()
    }
}

/// Room for one event in a burst: the producer's next sequence, whose slot
/// every reader has released. It borrows the burst, so it is used inside
/// one; dropping it unused claims nothing (a sole producer's claim is its
/// own counter).
pub(crate) struct Vacant<'b, T> {
    producer: &'b mut SoleProducer<T>,
}

impl<T> Vacant<'_, T> {
    /// Publishes `value` here: the room was found before the value moved,
    /// so it moves once more, into the slot. `now` gives its publish time if
    /// the ring samples its sequence. Returns its sequence.
    #[cfg(test)]
    pub(crate) fn write(self, value: T, now: impl FnOnce() -> u64) -> u64 {
        self.write_from(&mut Some(value), now)
    }

    /// Publishes the value in `pending` here, in place: it moves once,
    /// from `pending` straight into the slot, whose old value takes its
    /// place there until it is dropped (see `Ring::push_from`). `now` gives
    /// its publish time if the ring samples its sequence (it runs inside the
    /// burst and must neither block nor panic). Leaves `pending` empty;
    /// returns the sequence.
    ///
    /// # Panics
    ///
    /// If `pending` is empty.
    #[inline]
    pub(crate) fn write_from(self, pending: &mut Option<T>, now: impl FnOnce() -> u64) -> u64 {
        let p = self.producer;
        let seq = p.next;
        let value: *mut T = pending.as_mut().expect("nothing to publish");
        p.ring.times.record(seq, now);
        // A line a few ahead, if every reader has released it already.
        p.ring.prefetch_write_ahead(seq, p.gate + p.ring.capacity);
        // SAFETY: this producer is the ring's only claimer (ownership: one
        // `SoleProducer` per ring, borrowed mutably through this `Vacant`
        // from a burst in progress), `seq` is its next, unwritten sequence,
        // and `vacant`, which made this `Vacant`, saw every cursor past
        // `seq - capacity` with Acquire loads (`min_cursor`), now or earlier
        // (cursors only grow). `value` points to an initialised `T` outside
        // the ring.
        let swapped = unsafe { p.ring.write_from(seq, value) };
        p.next = seq + 1;
        if swapped {
            // SAFETY: `write_from` moved the previous lap's value into
            // `pending`: it is dropped once here, inside the burst
            // (`drop_held` never unwinds).
            unsafe { p.ring.drop_held(value) };
        }
        // SAFETY: the value moved into its slot, or the old one that took
        // its place was dropped: `pending` is emptied without dropping its
        // contents again.
        unsafe { ptr::write(pending, None) };
        seq
    }
}
