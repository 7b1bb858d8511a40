//! Spare cursor slots: groups that join a running ring, and leave it.
//!
//! A ring's cursors are fixed at creation, so a group that subscribes while
//! the ring runs takes one made for it in advance: a *spare slot*. Until a
//! group attaches to it, and again once that group's [`Reader`] is dropped,
//! the slot is *detached*: nobody reads it and it must hold nobody back.
//! Publish and read stay lock-free throughout; attaching and detaching are
//! one atomic operation each on the slot's own cursor word.
//!
//! # How
//!
//! The slot reuses the protocol of lossy readers ([`lapping`](super::lapping)),
//! whose proof it shares:
//!
//! - **Detached** means unmarked. A producer that needs the slot's cursor
//!   to move laps it (a CAS from the unmarked value, counting nothing: no
//!   group misses those events), and [`Ring::min_cursor`] (depth, the
//!   slowest reader, what a closed ring hands back) leaves it out.
//! - **Attaching** is a lossy reader's batch start, held for good: one CAS
//!   marks the cursor [`READING`] at the unmarked value `w` it has. A
//!   producer laps only an unmarked cursor, so from that CAS on its gate
//!   for this slot is `w` (a lapping CAS that races with the mark fails,
//!   reloads the marked word and returns `w`), and no producer overwrites a
//!   sequence at or above `w`. Nor did one before: the slot's cursor only
//!   grows and a claim of `s` needs every cursor past `s - capacity`, so
//!   every sequence from `w` that was claimed is still in its slot (or
//!   about to be published there). The reader starts at `w` ([`StartAt::Oldest`]),
//!   or moves its cursor on to the claimed count ([`StartAt::Newest`]).
//! - **Attached**, the reader stores its cursor with the mark (one OR per
//!   release): producers wait for it as for any reader.
//! - **Detaching** stores the cursor unmarked, with `Release`, as any
//!   reader's release: the reads below it happen-before a lapping CAS that
//!   loads it (`Acquire`), so an overwrite never races with a read.
//!
//! A close may not hand back events while a reader lives (see
//! [`Ring::take_unconsumed`]): an attach counts itself a reader first and
//! then checks that the ring is open, and a take checks `end` then the
//! count, all four `SeqCst` (a store-buffering handshake), so either the
//! attach sees the ring closed and backs out, or the take sees the reader.

use super::lapping::READING;
use super::seal::OPEN;
use super::{Reader, Ring};
use crate::loom::{Arc, Ordering};

/// Where a group that subscribes to a running topic
/// ([`Engine::subscribe`](crate::Engine::subscribe)) starts reading each
/// partition, as Kafka's `auto.offset.reset` says where a consumer group
/// without a committed offset starts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum StartAt {
    /// At the oldest event still in the partition's ring (Kafka's
    /// `earliest`): events every other group has read stay in their slots
    /// until a producer needs the slot, so a new group may see up to one
    /// ring of history, in order.
    Oldest,
    /// After the last event published so far (Kafka's `latest`, and the
    /// default): the group sees what is published from now on.
    #[default]
    Newest,
}

/// Why [`Ring::attach`] made no reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AttachRefused {
    /// The cursor is not a spare slot.
    NotSpare,
    /// A reader holds the slot already.
    InUse,
    /// The ring was closed.
    Closed,
}

impl<T> Ring<T> {
    /// Attaches a reader to spare slot `index`, starting where `start`
    /// says: from then on producers wait for it, until it is dropped.
    pub(crate) fn attach(
        ring: &Arc<Self>,
        index: usize,
        start: StartAt,
    ) -> Result<Reader<T>, AttachRefused> {
        let this = &**ring;
        if !this.lapping.is_spare(index) {
            return Err(AttachRefused::NotSpare);
        }
        // Counted first, then the check: see the module docs.
        this.seal.readers.fetch_add(1, Ordering::SeqCst);
        if this.seal.end.load(Ordering::SeqCst) != OPEN {
            this.seal.readers.fetch_sub(1, Ordering::SeqCst);
            return Err(AttachRefused::Closed);
        }
        let cursor = &this.cursors[index];
        let mut word = cursor.load(Ordering::Acquire);
        let at = loop {
            if word & READING != 0 {
                this.seal.readers.fetch_sub(1, Ordering::SeqCst);
                return Err(AttachRefused::InUse);
            }
            // Acquire: a producer's lapping CAS happens-before the value
            // this one replaces (and its overwrites before our reads).
            match cursor.compare_exchange(word, word | READING, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => break word,
                Err(actual) => word = actual,
            }
        };
        let next = match start {
            StartAt::Oldest => at,
            StartAt::Newest => {
                let newest = this.claimed().max(at);
                // Forward only, still marked: no producer could lap it.
                cursor.store(newest | READING, Ordering::Release);
                newest
            }
        };
        Ok(Reader::starting_at(Arc::clone(ring), index, next, READING))
    }

    /// Detaches spare slot `index` whose reader, being dropped, consumed
    /// everything below `next`.
    pub(super) fn detach(&self, index: usize, next: u64) {
        debug_assert!(self.lapping.is_spare(index));
        // Unmarked, with `release`'s Release store and wake-up of blocked
        // producers (who lap it now).
        self.release(index, next);
    }

    /// Whether cursor `index` is a spare slot with no reader.
    #[cfg(test)]
    pub(crate) fn is_detached(&self, index: usize) -> bool {
        self.lapping.is_spare(index) && self.cursors[index].load(Ordering::Acquire) & READING == 0
    }
}
