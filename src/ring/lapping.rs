//! Lossy readers: cursors a producer may *lap*. A lossy reader never holds
//! producers back for long: when a producer needs a slot the reader has not
//! released, and the reader is between batches, the producer moves the
//! reader's cursor forward past the events it would overwrite (and half a
//! ring more, so that laps are rare), and counts them as the reader's
//! `lagged`. The reader itself also skips ahead at the
//! start of a batch when it is more than its bound behind.
//!
//! # How
//!
//! Readers read slots in place (`&T`, no copy), so no producer may
//! overwrite a slot a reader is borrowing. A lossy reader therefore marks
//! its cursor [`READING`] for the length of a batch, with a CAS from the
//! value it last stored: the batch then reads only slots from that value
//! on, which no producer overwrites while the mark is there (a producer
//! laps a cursor only with a CAS from an unmarked value, and the mark
//! holds the gate at the cursor's position, as for any reader). The
//! reader's release store clears the mark. Either the reader's CAS or the
//! producer's comes first, on one word: if the producer's does, the reader's
//! fails, it reloads its cursor (now past the lapped events) and tries
//! again; if the reader's does, the producer's fails and it waits for the
//! batch to end, as it would for any reader. Cursors only grow, so there is
//! no ABA.
//!
//! A producer's CAS loads the cursor with `Acquire`, so the reader's reads
//! of the slots below it happen-before the overwrite, exactly as with a
//! plain reader's release. A listener stuck inside a batch therefore still
//! holds producers (its `&T` is alive); a lossy group that is slow between
//! batches — a poll-mode group the host stopped polling, a parked or
//! descheduled worker — holds nobody.
//!
//! The lagged count is added before the lapping CAS and taken back if the
//! CAS fails, so anyone who sees the cursor moved (Acquire) sees the count
//! too: `published = consumed + lagged + lag` holds at every moment but for
//! a brief over-count while a lapping CAS fails.

use crate::loom::{Arc, AtomicU64, Ordering};

use super::Ring;

/// Bit of a lossy reader's cursor word while it reads a batch (sequences
/// stay far below it: 2^62 events take over a century at 10^9 per second).
pub(super) const READING: u64 = 1 << 62;

/// Which readers of a ring are lossy, with their bounds and lagged counts,
/// and which cursors are spare slots (see [`spare`](super::spare)).
pub(super) struct Lapping {
    /// `bound[i]`: reader `i` skips ahead when more than this many events
    /// behind; 0 for a reader that is not lossy (it gates producers);
    /// [`SPARE`] for a spare slot.
    bound: Box<[u64]>,
    /// `lagged[i]`: events reader `i` was lapped past (never counted for a
    /// spare slot: no group reads it while it can be lapped).
    lagged: Box<[AtomicU64]>,
    /// Whether any cursor may be lapped: a lossy reader or a spare slot.
    any: bool,
}

/// `Lapping::bound` of a spare slot: lapped while detached (unmarked),
/// waited for while a group holds it (marked for as long as it does).
const SPARE: u64 = u64::MAX;

impl Lapping {
    /// One entry per cursor: `Some(n)` (`n >= 1`) for a reader lossy with
    /// bound `n`, as the reader's spec says; spare slots as specs say.
    pub(super) fn new(specs: &[super::ReaderSpec]) -> Self {
        let bound = |s: &super::ReaderSpec| match (s.spare, s.lossy) {
            (true, _) => SPARE,
            (false, lossy) => lossy.unwrap_or(0),
        };
        Lapping {
            any: specs.iter().any(|s| bound(s) != 0),
            bound: specs.iter().map(bound).collect(),
            lagged: specs.iter().map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Reader `index`'s bound, if it is lossy (a spare slot's reader is
    /// not: it keeps its cursor marked).
    pub(super) fn bound(&self, index: usize) -> Option<u64> {
        let bound = self.bound[index];
        (bound != 0 && bound != SPARE).then_some(bound)
    }

    /// Whether cursor `index` may be lapped while unmarked: a lossy
    /// reader's or a spare slot's.
    pub(super) fn lappable(&self, index: usize) -> bool {
        self.bound[index] != 0
    }

    /// Whether cursor `index` is a spare slot.
    pub(super) fn is_spare(&self, index: usize) -> bool {
        self.bound[index] == SPARE
    }

    /// Whether any cursor of the ring may be lapped.
    #[inline(always)]
    pub(super) fn any(&self) -> bool {
        self.any
    }
}

impl<T> Ring<T> {
    /// The slowest cursor once every lossy reader between batches has been
    /// lapped up to `wrap` (the position a claim needs every cursor to have
    /// reached): the gate of a producer that needs `wrap`. Without lossy
    /// readers, [`min_cursor`](Self::min_cursor).
    pub(super) fn gate_for(&self, wrap: u64) -> u64 {
        if !self.lapping.any() {
            return self.min_cursor();
        }
        // A lap goes half a ring further than this claim needs (never past
        // what is claimed): a stalled lossy reader then costs its producers
        // one CAS per half ring, not one per event, and loses at most half
        // a ring it could still have read.
        let to = || wrap.max((wrap + self.capacity / 2).min(self.claimed()));
        (0..self.cursors.len())
            .map(|i| {
                // Acquire pairs with the reader's Release in `release`: its
                // reads below this cursor happen-before any overwrite.
                let word = self.cursors[i].load(Ordering::Acquire);
                if self.lapping.lappable(i) && word < wrap {
                    self.lap(i, word, to())
                } else {
                    word & !READING
                }
            })
            .min()
            .unwrap_or(0)
    }

    /// Moves lossy reader `index`'s cursor from `word` up to `to` unless it
    /// is reading a batch; returns where the cursor is then (unmarked).
    fn lap(&self, index: usize, mut word: u64, to: u64) -> u64 {
        loop {
            if word & READING != 0 || word >= to {
                return word & !READING;
            }
            let lagged = &self.lapping.lagged[index];
            // A spare slot lapped while detached skips nobody's events.
            let counted = !self.lapping.is_spare(index);
            // Before the CAS: whoever sees the cursor moved sees the count.
            if counted {
                lagged.fetch_add(to - word, Ordering::Relaxed);
            }
            // AcqRel: Acquire as the load above; Release so the count is
            // visible with the new cursor.
            match self.cursors[index].compare_exchange(
                word,
                to,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return to,
                Err(actual) => {
                    if counted {
                        lagged.fetch_sub(to - word, Ordering::Relaxed);
                    }
                    word = actual;
                }
            }
        }
    }

    /// Events reader `index` was lapped past (0 unless it is lossy).
    pub(crate) fn lagged(&self, index: usize) -> u64 {
        self.lapping.lagged[index].load(Ordering::Acquire)
    }

    /// Starts a batch of lossy reader `index`, whose last own store was
    /// `next`: skips ahead if the reader is more than its bound behind,
    /// marks the cursor [`READING`], and returns where the batch starts.
    pub(super) fn begin_lossy(&self, index: usize, bound: u64, mut next: u64) -> u64 {
        let cursor = &self.cursors[index];
        loop {
            // A producer may have lapped the cursor since (it only grows,
            // and only this reader sets the mark).
            next = next.max(cursor.load(Ordering::Acquire));
            let to = self.claimed().saturating_sub(bound).max(next);
            let lagged = &self.lapping.lagged[index];
            if to > next {
                lagged.fetch_add(to - next, Ordering::Relaxed);
            }
            // Acquire: a producer's lapping CAS (and the count it added)
            // happens-before a failure seen here.
            match cursor.compare_exchange(next, to | READING, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return to,
                Err(_) => {
                    if to > next {
                        lagged.fetch_sub(to - next, Ordering::Relaxed);
                    }
                }
            }
        }
    }

    /// Whether reader `index`, whose last own store was `next`, was lapped
    /// since (its cursor is ahead of `next`).
    pub(super) fn was_lapped(&self, index: usize, next: u64) -> bool {
        self.cursors[index].load(Ordering::Relaxed) & !READING > next
    }
}

/// Clears a lossy reader's [`READING`] mark if its batch unwinds (a
/// panicking handler): a mark left behind would hold producers forever.
/// The batch's events are handed out again, as for any reader.
pub(super) struct Unmark<T> {
    ring: Arc<Ring<T>>,
    index: usize,
    /// Where the batch began: the cursor to store back.
    at: u64,
    armed: bool,
}

impl<T> Unmark<T> {
    pub(super) fn new(ring: &Arc<Ring<T>>, index: usize, at: u64) -> Self {
        Unmark {
            ring: Arc::clone(ring),
            index,
            at,
            armed: true,
        }
    }

    /// The batch ended normally (and released its cursor).
    pub(super) fn disarm(mut self) {
        self.armed = false;
    }
}

impl<T> Drop for Unmark<T> {
    fn drop(&mut self) {
        if self.armed {
            self.ring.release(self.index, self.at);
        }
    }
}
