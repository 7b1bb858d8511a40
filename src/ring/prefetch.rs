//! Asking for slot lines before they are needed.
//!
//! A reader hands a batch out one event at a time, with the listener's
//! work and the group's bookkeeping in between, so the CPU's out-of-order
//! window covers only a few events: left alone, the reader waits for one
//! slot line at a time to come over from the producer's core, one transfer
//! after the other. Asking for the batch's lines first lets the transfers
//! overlap, as they do in a bare copy loop. A producer likewise asks, a few
//! lines ahead, for lines it will write, so its stores do not queue behind
//! one ownership transfer after another.
//!
//! A prefetch is only a hint: it reads and writes nothing the program can
//! observe and never faults, so it needs no claim or publish to be in place
//! and no `unsafe` contract beyond the instruction's.

use std::mem;

use super::Ring;

/// Bytes of a cache line (x86_64 and most aarch64 parts).
const LINE: u64 = 64;

/// At most this many lines are asked for per batch: more would only evict
/// what the first ones brought in before it is read.
const MAX_LINES: u64 = 32;

/// How far ahead of its next sequence a producer asks for a line, in
/// sequences.
const WRITE_AHEAD: u64 = 32;

impl<T> Ring<T> {
    /// Sequences per cache line (at least 1).
    #[inline(always)]
    fn per_line() -> u64 {
        (LINE / (mem::size_of::<T>() as u64).max(1)).max(1)
    }

    /// Hints the CPU to load the lines of the slots of `start..end` that
    /// lie whole in that range, past the first line (which the reader loads
    /// at once anyway), at most [`MAX_LINES`]. The line `end` falls in is
    /// left alone: the producer may still be writing its other slots, and
    /// taking it from under those writes would only make it cross twice.
    #[inline]
    pub(super) fn prefetch_read(&self, start: u64, end: u64) {
        let per_line = Self::per_line();
        let first = start / per_line + 1;
        let whole = (end / per_line).min(first + MAX_LINES);
        let base = self.values.as_ptr();
        for line in first..whole {
            let index = ((line * per_line) & self.mask) as usize;
            // `wrapping_add`: a plain address computation, no claim that
            // it points anywhere (it does: `index` is below `capacity`).
            hint_read(base.wrapping_add(index).cast());
        }
    }

    /// Hints the CPU to take, for writing, the line of the slot
    /// [`WRITE_AHEAD`] sequences past `seq`, when that sequence starts a
    /// line and lies below `released` (every reader has released the
    /// slots below it): taking a line a reader still reads would slow it.
    #[inline(always)]
    pub(super) fn prefetch_write_ahead(&self, seq: u64, released: u64) {
        let ahead = seq + WRITE_AHEAD;
        if ahead < released && ahead % Self::per_line() == 0 {
            let index = (ahead & self.mask) as usize;
            hint_write(self.values.as_ptr().wrapping_add(index).cast());
        }
    }
}

// The hints exist on x86_64 only (elsewhere they are no-ops), and not
// under loom or Miri, which model memory and have no use for them.

/// Prefetches the line at `at` for reading.
#[cfg(all(target_arch = "x86_64", not(veltrix_loom), not(miri)))]
#[inline(always)]
fn hint_read(at: *const i8) {
    // SAFETY: `prefetcht0` reads and writes nothing the program can observe
    // and never faults, whatever the address; SSE, which it needs, is part
    // of every x86_64 target.
    unsafe { std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(at) };
}

/// Prefetches the line at `at` for writing (`prefetchw`, which CPUs
/// without it run as a no-op: its encoding was reserved as one).
#[cfg(all(target_arch = "x86_64", not(veltrix_loom), not(miri)))]
#[inline(always)]
fn hint_write(at: *const i8) {
    // SAFETY: `prefetchw` reads and writes nothing the program can observe
    // and never faults, whatever the address; it touches no register but
    // its input and leaves the flags alone.
    unsafe {
        std::arch::asm!(
            "prefetchw [{}]",
            in(reg) at,
            options(nostack, preserves_flags, readonly)
        );
    }
}

#[cfg(not(all(target_arch = "x86_64", not(veltrix_loom), not(miri))))]
#[inline(always)]
fn hint_read(_: *const i8) {}

#[cfg(not(all(target_arch = "x86_64", not(veltrix_loom), not(miri))))]
#[inline(always)]
fn hint_write(_: *const i8) {}
