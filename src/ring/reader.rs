//! The read side of a ring: one [`Reader`] per cursor.

use std::ops::ControlFlow;

use super::{Claimers, Ring};
use crate::loom::{Arc, Ordering};

/// The unique owner of one cursor of a [`Ring`].
///
/// Exactly one `Reader` exists per cursor (made by [`Ring::new`], not
/// cloneable), so the cursor has a single writer and `next` mirrors it.
pub(crate) struct Reader<T> {
    ring: Arc<Ring<T>>,
    index: usize,
    /// Next sequence to read; equal to the shared cursor between calls.
    next: u64,
    /// Sole-producer rings: the producer's published count as this reader
    /// last loaded it (a lower bound: it only grows). While it is ahead of
    /// `next`, reads need no load of the producer's line at all.
    seen: u64,
    /// Whether this reader trails other readers of its ring (see
    /// [`stages`](super::stages)); a copy of the ring's fixed answer.
    trails: bool,
    /// `Some(bound)` for a lossy reader (see [`lapping`](super::lapping)).
    lossy: Option<u64>,
    /// [`READING`](super::lapping::READING) for the reader of a spare slot,
    /// which keeps its cursor marked for as long as it lives (see
    /// [`spare`](super::spare)); 0 for any other.
    mark: u64,
    /// Whether the producers were streaming when this reader last looked
    /// (see [`hold`](super::hold)).
    pub(super) streaming: bool,
}

/// A dropped reader reads no more: the ring counts it out, so that
/// [`Ring::take_unconsumed`] can tell when no reader is left.
impl<T> Drop for Reader<T> {
    fn drop(&mut self) {
        if self.mark != 0 {
            // Detach the spare slot: producers lap it from here on.
            self.ring.detach(self.index, self.next);
        }
        // Readers trailing this one must not wait for it any more.
        self.ring.retire(self.index);
        // Release: this reader's drains happen before a take that sees it
        // gone.
        self.ring.seal.readers.fetch_sub(1, Ordering::Release);
    }
}

impl<T> Reader<T> {
    pub(super) fn new(ring: Arc<Ring<T>>, index: usize) -> Self {
        Self::starting_at(ring, index, 0, 0)
    }

    /// The reader of cursor `index`, whose cursor is at `next` (with
    /// `mark`, see the field).
    pub(super) fn starting_at(ring: Arc<Ring<T>>, index: usize, next: u64, mark: u64) -> Self {
        Reader {
            trails: ring.stages.trails(index),
            lossy: ring.lapping.bound(index),
            ring,
            index,
            next,
            seen: 0,
            streaming: false,
            mark,
        }
    }

    /// The first sequence this reader has not consumed.
    pub(crate) fn next(&self) -> u64 {
        self.next
    }

    /// Tells the readers trailing this one that its cursor will not move
    /// again (its partition halted): once they catch up with it, they are
    /// finished.
    pub(crate) fn retire(&self) {
        self.ring.retire(self.index);
    }

    /// The ring this reader reads.
    pub(crate) fn ring(&self) -> &Arc<Ring<T>> {
        &self.ring
    }

    /// This reader's cursor index in its ring.
    pub(crate) fn index(&self) -> usize {
        self.index
    }

    /// Whether the next event is published and can be read now. Never reads
    /// the producers' claim word. A sole producer's readers look at its
    /// published count only, never at a slot, so a spinning reader does not
    /// pull the line the producer is writing into its own cache (the
    /// Disruptor's consumers spin on the producer cursor, not on the slots,
    /// for the same reason).
    ///
    /// A reader that trails others also needs each of them to have released
    /// the event.
    #[inline]
    pub(crate) fn has_next(&self) -> bool {
        let ring = &*self.ring;
        let published = match ring.claimers {
            Claimers::Sole => {
                self.seen > self.next || ring.sole.published.load(Ordering::Acquire) > self.next
            }
            // Acquire pairs with the producer's Release in `mark_published`.
            Claimers::Shared => ring.stamp(self.next).load(Ordering::Acquire) == self.next + 1,
        };
        // A lapped reader has events ahead (its old slots were overwritten,
        // so their stamps no longer say so).
        (published && (!self.trails || ring.upstream_bound(self.index) > self.next))
            || (self.lossy.is_some() && ring.was_lapped(self.index, self.next))
    }

    /// How many events from `start` on (at most `max`) are published and,
    /// for a reader that trails others, released by each of them.
    #[inline]
    fn available(&mut self, start: u64, max: u64) -> u64 {
        let max = if self.trails {
            // Never below `start`: this cursor never passes an upstream one.
            max.min(self.ring.upstream_bound(self.index).saturating_sub(start))
        } else {
            max
        };
        let ring = &*self.ring;
        if max == 0 {
            return 0;
        }
        let available = match ring.claimers {
            // One load of the producer's count per drain at most, not one
            // load per event: the count is stored once per burst (a batch
            // shows up whole), and its Release store comes after every slot
            // write of the burst. While the count last seen is ahead, no
            // load of the producer's line at all. (`take_unconsumed`, which
            // empties slots the count still covers, runs only once every
            // reader has been dropped: no drain comes after it.)
            Claimers::Sole => {
                if self.seen > start {
                    return (self.seen - start).min(max);
                }
                ring.published_from(start)
            }
            // Shared claims publish out of order: every slot has its stamp.
            Claimers::Shared => ring.stamped_from(start, max),
        };
        if available == 0 {
            return 0;
        }
        let available = if self.streaming || available >= 2 {
            let held = match ring.claimers {
                Claimers::Sole => ring.hold(start, available.min(max), max, |from| {
                    ring.published_from(from)
                }),
                Claimers::Shared => {
                    ring.hold(start, available, max, |from| ring.stamped_from(from, max))
                }
            };
            self.streaming = held.streaming;
            held.available
        } else {
            available.min(max)
        };
        if ring.claimers == Claimers::Sole {
            self.seen = start + available;
        }
        available
    }

    /// Whether nothing more will come to this reader: the ring is closed
    /// and it has consumed all of it, or it caught up with a reader it
    /// trails that retired.
    pub(crate) fn is_finished(&self) -> bool {
        let end = self.ring.end();
        self.next == end
            || (self.trails && self.ring.behind_retired(self.index, self.next))
            || (self.lossy.is_some() && self.ring.cursor(self.index) == end)
    }

    /// Hands up to `max` published events, in sequence order, to `f` as
    /// `(sequence, value, last_of_batch)`, then releases the consumed ones
    /// with one cursor store. `f` returning `Break` leaves that event (and
    /// the rest of the batch) unconsumed, to be handed out again by the next
    /// call. Returns how many events were consumed.
    ///
    /// If `f` panics, nothing of this batch is released: the events are
    /// handed out again by the next call. (The loom models' form.)
    #[cfg(test)]
    pub(crate) fn drain<F>(&mut self, max: usize, mut f: F) -> usize
    where
        F: FnMut(u64, &T, bool) -> ControlFlow<()>,
    {
        self.drain_settled(
            max,
            &mut (),
            |(), seq, value, last, _| f(seq, value, last),
            |(), _| {},
        )
    }

    /// As `drain`, threading `state` through `f`, which also gets each
    /// event's publish time (a raw clock reading, 0 if its sequence is not
    /// timed: see `Ring::new`), and calling
    /// `settle(state, consumed)` after the last event and *before* the
    /// consumed events are released: whatever `settle` records (the group's
    /// counts) is visible to anyone who sees the cursor move, so a lag of 0
    /// means the counts are final. `settle` runs on every call, also when
    /// nothing was consumed.
    #[inline]
    pub(crate) fn drain_settled<S, F>(
        &mut self,
        max: usize,
        state: &mut S,
        f: F,
        settle: impl FnOnce(&mut S, usize),
    ) -> usize
    where
        F: FnMut(&mut S, u64, &T, bool, u64) -> ControlFlow<()>,
    {
        match self.lossy {
            // Out of the common loop: a guard live across the listener
            // calls would cost every reader its registers.
            Some(bound) => self.drain_lossy(bound, max, state, f, settle),
            None => self.drain_from_next(max, state, f, settle),
        }
    }

    /// A lossy reader's batch (see [`lapping`](super::lapping)): skips
    /// ahead if lapped or too far behind and marks the cursor, so no
    /// producer laps it while the batch borrows its slots; the release at
    /// the end (also of an empty batch, or of one that unwinds) clears the
    /// mark.
    #[inline(never)]
    fn drain_lossy<S, F>(
        &mut self,
        bound: u64,
        max: usize,
        state: &mut S,
        f: F,
        settle: impl FnOnce(&mut S, usize),
    ) -> usize
    where
        F: FnMut(&mut S, u64, &T, bool, u64) -> ControlFlow<()>,
    {
        self.next = self.ring.begin_lossy(self.index, bound, self.next);
        let unmark = super::lapping::Unmark::new(&self.ring, self.index, self.next);
        let consumed = self.drain_from_next(max, state, f, settle);
        if consumed == 0 {
            self.ring.release(self.index, self.next);
        }
        unmark.disarm();
        consumed
    }

    /// The batch loop of [`drain_settled`](Self::drain_settled), from
    /// `next`; releases what it consumed.
    #[inline(always)]
    fn drain_from_next<S, F>(
        &mut self,
        max: usize,
        state: &mut S,
        mut f: F,
        settle: impl FnOnce(&mut S, usize),
    ) -> usize
    where
        F: FnMut(&mut S, u64, &T, bool, u64) -> ControlFlow<()>,
    {
        let start = self.next;
        let available = self.available(start, max as u64);
        let ring = &*self.ring;
        ring.prefetch_read(start, start + available);
        // Copies kept in registers across the listener calls.
        let (slots, times) = (ring.slots(), ring.times.view());
        let mut consumed = 0u64;
        while consumed < available {
            let seq = start + consumed;
            let last = consumed + 1 == available;
            let flow = slots.cell(seq).with(|cell| {
                // SAFETY: `available` saw the slot published with Acquire
                // (its stamp equal to `seq + 1`, or, for a sole producer, a
                // published count past `seq`, stored after the write; and
                // `take_unconsumed`, which empties slots, waits for every
                // reader to be dropped), so the value is fully written and
                // its write happens-before this borrow; producers cannot
                // overwrite it until this reader's cursor passes `seq`, which
                // happens only in `release` below, after this borrow ends
                // (a lossy reader's cursor, marked `READING` by
                // `begin_lossy` at `start <= seq`, is not lapped either: a
                // producer laps only an unmarked cursor).
                let value = unsafe { (*cell).assume_init_ref() };
                f(state, seq, value, last, times.get(seq))
            });
            if flow.is_break() {
                break;
            }
            consumed += 1;
        }
        settle(state, consumed as usize);
        if consumed > 0 {
            self.next = start + consumed;
            // Release: `settle`'s stores (Relaxed counters) happen-before
            // any Acquire load that sees this cursor. A spare slot's reader
            // keeps its mark: producers never lap it.
            self.ring.release(self.index, self.next | self.mark);
        }
        consumed as usize
    }
}

impl<T> std::fmt::Debug for Reader<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("index", &self.index)
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}
