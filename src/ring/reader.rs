//! The read side of a ring: one [`Reader`] per cursor.

use std::ops::ControlFlow;

use super::Ring;
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
}

impl<T> Reader<T> {
    pub(super) fn new(ring: Arc<Ring<T>>, index: usize) -> Self {
        Reader {
            ring,
            index,
            next: 0,
        }
    }

    /// The ring this reader reads.
    pub(crate) fn ring(&self) -> &Arc<Ring<T>> {
        &self.ring
    }

    /// This reader's cursor index in its ring.
    pub(crate) fn index(&self) -> usize {
        self.index
    }

    /// Whether the next event is published and can be read now. Reads the
    /// next slot's stamp only, never the producers' claim word.
    #[inline]
    pub(crate) fn has_next(&self) -> bool {
        // Acquire pairs with the producer's Release store in `Ring::write`.
        self.ring.slot(self.next).stamp.load(Ordering::Acquire) == self.next + 1
    }

    /// Whether the ring is closed and this reader has consumed all of it.
    pub(crate) fn is_finished(&self) -> bool {
        self.next == self.ring.end()
    }

    /// Hands up to `max` published events, in sequence order, to `f` as
    /// `(sequence, value, last_of_batch)`, then releases the consumed ones
    /// with one cursor store. `f` returning `Break` leaves that event (and
    /// the rest of the batch) unconsumed, to be handed out again by the next
    /// call. Returns how many events were consumed.
    ///
    /// If `f` panics, nothing of this batch is released: the events are
    /// handed out again by the next call.
    #[inline]
    pub(crate) fn drain<F>(&mut self, max: usize, mut f: F) -> usize
    where
        F: FnMut(u64, &T, bool) -> ControlFlow<()>,
    {
        let start = self.next;
        let mut available = 0u64;
        while (available as usize) < max {
            let seq = start + available;
            // Acquire pairs with the producer's Release store in `Ring::write`.
            if self.ring.slot(seq).stamp.load(Ordering::Acquire) != seq + 1 {
                break;
            }
            available += 1;
        }
        let mut consumed = 0u64;
        while consumed < available {
            let seq = start + consumed;
            let last = consumed + 1 == available;
            let flow = self.ring.slot(seq).value.with(|cell| {
                // SAFETY: the stamp of `seq` was seen equal to `seq + 1` with
                // Acquire, so the value is fully written; producers cannot
                // overwrite it until this reader's cursor passes `seq`, which
                // happens only in `release` below, after this borrow ends.
                let value = unsafe { (*cell).assume_init_ref() };
                f(seq, value, last)
            });
            if flow.is_break() {
                break;
            }
            consumed += 1;
        }
        if consumed > 0 {
            self.next = start + consumed;
            self.ring.release(self.index, self.next);
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
