//! How a ring ends: closing it and handing back what no reader took.
//!
//! [`Ring::close`] decides the final sequence count and stores it in `end`;
//! after it returns no claim succeeds and every earlier claim is (or is about
//! to be) published. A multi-producer ring sets bit 63 of `claim` in the word
//! producers CAS, so "closed" and "the last claimed sequence" are decided
//! together. A single-producer ring sets `closing` and waits until its
//! producer is outside a publish (`busy`, a store-buffering handshake on
//! asymmetric barriers): a publish either saw `closing` and failed, or
//! finished before `end` was read.

use std::ptr;

use super::{barrier, Claimers, Ring, CLOSED};
use crate::loom::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

/// `end` while the ring is open.
pub(super) const OPEN: u64 = u64::MAX;

/// How a ring ends. Readers look here only when they stop, so the sole
/// producer's per-publish `busy` stores stay on a line of its own.
pub(super) struct Seal {
    /// Single-producer rings: close has begun; the producer must not start
    /// another publish.
    pub(super) closing: AtomicBool,
    /// Single-producer rings: set while the producer is between its
    /// `closing` check and its last store of a publish (see the module docs
    /// on closing).
    pub(super) busy: AtomicBool,
    /// The final sequence count once [`Ring::close`] has decided it;
    /// [`OPEN`] before.
    pub(super) end: AtomicU64,
    /// Ring-held values whose `Drop` panicked (caught in `drop_held`). Only
    /// touched when that happens, so it lives on this cold line.
    pub(super) drop_panics: AtomicU64,
    /// Single-producer rings: the first sequence [`Ring::take_unconsumed`]
    /// moved out (it takes everything from there to `end`); [`OPEN`] until
    /// it ran.
    pub(super) taken: AtomicU64,
    /// [`Reader`](super::Reader)s not yet dropped. [`Ring::take_unconsumed`] runs only at
    /// 0: with every reader gone, none can be draining.
    pub(super) readers: AtomicUsize,
}

impl<T> Ring<T> {
    /// Whether [`close`](Self::close) has decided the final count.
    pub(crate) fn is_closed(&self) -> bool {
        self.end() != OPEN
    }

    /// The final sequence count, or [`OPEN`].
    pub(super) fn end(&self) -> u64 {
        self.seal.end.load(Ordering::Acquire)
    }

    /// Stops all further claims and returns the final sequence count. Wakes
    /// parked readers and blocked producers so they observe it.
    pub(crate) fn close(&self) -> u64 {
        let end = match self.claimers {
            Claimers::Shared => {
                // A lease holder stores the claim word plainly: end its
                // lease first, and keep grants out (the lock) until the
                // word is closed.
                let _no_grants = self.revoke();
                self.claim.fetch_or(CLOSED, Ordering::AcqRel) & super::lease::SEQUENCE
            }
            Claimers::Sole => {
                // The cold side of the closing handshake (see `Burst`):
                // announce, barrier, then wait for a publish in flight.
                self.seal.closing.store(true, Ordering::SeqCst);
                barrier::heavy();
                while self.seal.busy.load(Ordering::Acquire) {
                    crate::loom::yield_now();
                }
                // Acquire pairs with the producer's Release store of `busy`,
                // made after its last store of `published`.
                self.sole.published.load(Ordering::Acquire)
            }
        };
        // A second close keeps the first one's answer (nothing was claimed
        // in between).
        // SeqCst: the handshake with an attaching reader (see `spare`).
        let _ = self
            .seal
            .end
            .compare_exchange(OPEN, end, Ordering::SeqCst, Ordering::SeqCst);
        self.wake.unpark_all();
        self.gate.notify_all();
        end
    }

    /// Moves every event that some reader did not consume out of a closed
    /// ring whose [`Reader`](super::Reader)s have all been dropped, in sequence order.
    /// `None` (and nothing moved) while the ring is open or a reader lives:
    /// a reader still held, by a worker left inside a listener say, may go
    /// on draining, so its events stay in the ring (and drop with it).
    pub(crate) fn take_unconsumed(&self) -> Option<Vec<T>> {
        // SeqCst, with the count below: the handshake with an attaching
        // reader (see `spare`).
        let end = self.seal.end.load(Ordering::SeqCst);
        // Acquire pairs with each reader's Release in its `drop`: its last
        // drain (reads of the slots, stores of its cursor) happened before.
        if end == OPEN || self.seal.readers.load(Ordering::SeqCst) != 0 {
            return None;
        }
        let start = self.min_cursor();
        if self.claimers == Claimers::Sole {
            // Before the first move: `Drop` must not see these as held.
            self.seal.taken.store(start, Ordering::Relaxed);
        }
        let mut taken = Vec::with_capacity((end - start) as usize);
        for seq in start..end {
            if self.claimers == Claimers::Shared {
                // Closed: every claim below `end` is published or about to be.
                while self.stamp(seq).load(Ordering::Acquire) != seq + 1 {
                    crate::loom::yield_now();
                }
            }
            let value = self.cell(seq).with_mut(|cell| {
                // SAFETY: the slot holds `seq`'s value: its stamp said so
                // (Acquire pairs with the producer's Release), or, for a
                // sole producer, `end` is its published count, read with
                // Acquire in `close` after its last write. Every reader
                // has been dropped (checked above), so none borrows it, and
                // the ring is closed so no producer writes it. The stamp reset to 0
                // below (or `taken`, set above) marks the slot
                // uninitialised, so the value is not read or dropped again.
                unsafe { ptr::read(cell).assume_init() }
            });
            if self.claimers == Claimers::Shared {
                self.stamp(seq).store(0, Ordering::Release);
            }
            taken.push(value);
        }
        for cursor in self.cursors.iter() {
            cursor.store(end, Ordering::Release);
        }
        self.gate.notify_all();
        Some(taken)
    }
}
