//! Not reading the line the producer is writing.
//!
//! A reader that follows its producer closely reads each slot line while
//! the producer is still filling it: the line crosses to the reader's core
//! for its first events and back to the producer's for the next write, once
//! per event instead of once per line. So a reader that sees a stream
//! (more than one event came since it last looked) holds back the partial
//! line the producer is filling, polling the published count (or the next
//! stamp) a few times, spaced out, for as long as it keeps moving: a stream
//! fills its line first and the reader takes it whole. The first poll that
//! sees no progress ends the hold and the stream: the events are handed out
//! at once, and until the reader sees a stream again it holds nothing. A
//! lone event (a request, a ping) never waits: with one new event the
//! reader does not hold at all.

use std::mem;

use super::Ring;
use crate::loom::Ordering;

/// Bytes of a cache line (x86_64 and most aarch64 parts).
const LINE: usize = 64;

/// At most this many polls per hold (two under loom, whose models then
/// explore a hold that extends and one that ends).
const HOLD_POLLS: u32 = if cfg!(veltrix_loom) { 2 } else { 8 };

/// CPU pauses between two polls of a hold: enough for a streaming producer
/// to publish a few events, so that a poll costs one line transfer for
/// several events, not one each.
const HOLD_PAUSES: u32 = 8;

/// How a hold ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Held {
    /// Events available from the reader's start.
    pub(super) available: u64,
    /// Whether the producer is still streaming: no poll of the hold found
    /// it idle.
    pub(super) streaming: bool,
}

impl<T> Ring<T> {
    /// Whether the slot of `seq` shares its cache line with the slot of
    /// `seq - 1` (so a producer about to write `seq` writes the line a
    /// reader of `seq - 1` reads).
    #[inline(always)]
    pub(super) fn mid_line(&self, seq: u64) -> bool {
        // Under loom a cell is loom's, not the slot's layout: every slot is
        // taken as mid-line, so the models run every hold.
        if cfg!(veltrix_loom) {
            return true;
        }
        let size = mem::size_of::<T>();
        if size == 0 || size >= LINE {
            return false;
        }
        let at = self.cell(seq) as *const _ as usize;
        at % LINE >= size
    }

    /// Holds back the partial line a producer is filling, for a reader at
    /// `start` that wants at most `max` events and sees `available` (`>=
    /// 1`) of them: polls `more(start + available)` (how many more events
    /// from there are ready now) until the line is full, `max` reached,
    /// [`HOLD_POLLS`] polls made, or a poll finds nothing new.
    #[inline]
    pub(super) fn hold(
        &self,
        start: u64,
        mut available: u64,
        max: u64,
        mut more: impl FnMut(u64) -> u64,
    ) -> Held {
        for _ in 0..HOLD_POLLS {
            if available >= max || !self.mid_line(start + available) {
                break;
            }
            for _ in 0..HOLD_PAUSES {
                std::hint::spin_loop();
            }
            let found = more(start + available).min(max - available);
            if found == 0 {
                return Held {
                    available,
                    streaming: false,
                };
            }
            available += found;
        }
        Held {
            available,
            streaming: true,
        }
    }

    /// How many events from `from` on a sole producer has published, as
    /// far as one load of its count tells (Acquire, pairing with its
    /// Release store).
    #[inline(always)]
    pub(super) fn published_from(&self, from: u64) -> u64 {
        self.sole
            .published
            .load(Ordering::Acquire)
            .saturating_sub(from)
    }

    /// How many events from `from` on are stamped, at most `max` (Acquire,
    /// pairing with the producers' Release stamp stores).
    #[inline(always)]
    pub(super) fn stamped_from(&self, from: u64, max: u64) -> u64 {
        let mut n = 0;
        while n < max && self.stamp(from + n).load(Ordering::Acquire) == from + n + 1 {
            n += 1;
        }
        n
    }
}
