//! A slot's value: moving a published value in (trading places with the
//! previous lap's), and dropping ring-held values, the one place that
//! does, panics caught and counted.

use std::any::Any;
use std::mem;
use std::panic::{self, AssertUnwindSafe};
use std::ptr;

use super::{Claimers, Ring};
use crate::loom::Ordering;

/// Values up to this size trade places with a slot's old value through
/// registers (`Ring::write_from`); larger ones are swapped in place.
const SWAP_VIA_REGISTERS: usize = 64;

impl<T> Ring<T> {
    /// Moves the value at `value` into the slot of `seq` (a shared claim then
    /// publishes it with [`mark_published`](Self::mark_published); a sole
    /// producer with its count, once per burst). If the slot held the value of the previous lap and `T` has drop glue,
    /// that value is moved to `value` in exchange and this returns `true`:
    /// the caller drops it (with [`drop_held`](Self::drop_held)) after
    /// publishing. Otherwise `value` is left moved-out and this returns
    /// `false` (an old value without drop glue is simply overwritten). A
    /// large value is not copied through a temporary, so it costs no stack
    /// here.
    ///
    /// # Safety
    ///
    /// The caller holds the claim of `seq` (from [`try_claim`](Self::try_claim)
    /// or as the ring's [`SoleProducer`](super::SoleProducer)), has not written it yet, and saw
    /// every cursor past `seq - capacity` (Acquire) before the claim.
    /// `value` points to an initialised `T` outside this ring, valid for
    /// reads and writes; after the call the caller treats it as uninitialised
    /// if this returns `false`, as the old value if it returns `true`.
    #[inline]
    pub(super) unsafe fn write_from(&self, seq: u64, value: *mut T) -> bool {
        self.cell(seq).with_mut(|cell| {
            let cell = cell.cast::<T>();
            if seq >= self.capacity && mem::needs_drop::<T>() {
                debug_assert!(
                    self.claimers == Claimers::Sole
                        || self.stamp(seq).load(Ordering::Relaxed) == seq - self.capacity + 1,
                    "slot must hold the value of the previous lap"
                );
                // SAFETY: the claim of `seq` is ours alone, and the gating
                // check before it saw every reader cursor past
                // `seq - capacity`. A cursor passes a sequence only in
                // `Reader::drain`, after an Acquire load saw that slot
                // published (its stamp, or a sole producer's count), or in
                // `take_unconsumed`, after close, when no claim succeeds:
                // so the previous occupant was written
                // and its write happens-before this one (producer Release
                // stamp or count -> reader Acquire -> reader Release cursor -> our
                // Acquire cursor / gating load). No reader borrows it any
                // more. `value` is initialised and outside the ring, so the
                // two do not overlap; the exchange leaves the slot
                // initialised with the new value and `value` holding the old
                // one. A small value goes through registers; a large one is
                // swapped in place, in chunks, so it needs no temporary.
                unsafe {
                    if mem::size_of::<T>() <= SWAP_VIA_REGISTERS {
                        let old = ptr::read(cell);
                        ptr::copy_nonoverlapping(value, cell, 1);
                        ptr::write(value, old);
                    } else {
                        ptr::swap_nonoverlapping(cell, value, 1);
                    }
                }
                true
            } else {
                // SAFETY: the claim of `seq` is ours alone. Either this is
                // the first lap (the slot has never been written), or the
                // previous lap's value has no drop glue, so overwriting it
                // is its end; the gating argument of the branch above holds
                // for it too (every read of it happens-before this write,
                // and no reader borrows it any more). `value` is initialised
                // and outside the ring; the caller treats it as moved-out.
                unsafe { ptr::copy_nonoverlapping(value, cell, 1) };
                false
            }
        })
    }

    /// Drops the value at `value`, one this ring held (overwritten by a
    /// publish, or left in a slot when the ring goes away): the one place
    /// where ring-held values are dropped. A panic in the value's `Drop` is
    /// caught here and counted in [`drop_panics`](Self::drop_panics), and
    /// goes no further: no publish, burst or `Ring::drop` unwinds because of
    /// it. The value's life ends either way (drop glue finishes dropping its
    /// fields while unwinding), so nothing is dropped twice.
    ///
    /// # Safety
    ///
    /// `value` points to an initialised `T` that is not used or dropped
    /// again after this call.
    #[inline]
    pub(super) unsafe fn drop_held(&self, value: *mut T) {
        if !mem::needs_drop::<T>() {
            return;
        }
        // SAFETY: forwarded from this function's own contract.
        let dropped =
            panic::catch_unwind(AssertUnwindSafe(|| unsafe { ptr::drop_in_place(value) }));
        if let Err(payload) = dropped {
            self.drop_panicked(payload);
        }
    }

    /// Drops `value`, an event the ring refused to keep (a full policy that
    /// drops the newest), as it drops its own: a panic in its `Drop` is
    /// caught and counted in [`drop_panics`](Self::drop_panics).
    pub(crate) fn discard(&self, value: T) {
        let mut value = mem::ManuallyDrop::new(value);
        // SAFETY: `value` is initialised and, in a `ManuallyDrop`, never
        // dropped or used again after this call.
        unsafe { self.drop_held(&mut *value) };
    }

    /// Counts a `Drop` that panicked and disposes of its payload.
    #[cold]
    #[inline(never)]
    fn drop_panicked(&self, payload: Box<dyn Any + Send>) {
        // Relaxed: a statistic, read by reports; it orders nothing.
        self.seal.drop_panics.fetch_add(1, Ordering::Relaxed);
        // A payload whose own `Drop` panics too is leaked rather than let
        // that panic out.
        if let Err(again) = panic::catch_unwind(AssertUnwindSafe(move || drop(payload))) {
            mem::forget(again);
        }
    }

    /// How many values this ring dropped (on overwrite) whose `Drop`
    /// panicked; each panic was caught. Not on any per-event path.
    pub(crate) fn drop_panics(&self) -> u64 {
        self.seal.drop_panics.load(Ordering::Relaxed)
    }

    /// The sequences whose values a single-producer ring holds (see
    /// `values`). Needs `&mut self` or a closed ring with no reader
    /// draining, so the counts no longer move.
    fn held_by_sole(&self) -> std::ops::Range<u64> {
        let published = self.sole.published.load(Ordering::Acquire);
        let taken = self.seal.taken.load(Ordering::Relaxed);
        published.saturating_sub(self.capacity)..published.min(taken)
    }
}

impl<T> Drop for Ring<T> {
    fn drop(&mut self) {
        if !mem::needs_drop::<T>() {
            return;
        }
        // Each value on its own, through `drop_held`: a panicking `Drop` of
        // one neither leaks the others nor unwinds out of this `drop` (which
        // would abort if another value panicked too, or if the ring goes
        // away during an unwind). These panics are counted like the others,
        // but nothing can read the count of a ring being dropped: a topic's
        // report counts them only up to the moment it is made.
        let drop_at = |seq: u64| {
            self.cell(seq).with_mut(|cell| {
                // SAFETY: `&mut self`: no other thread holds the ring. The
                // caller below passes only initialised slots (the invariant
                // of `values`), each once, as the ring goes away.
                unsafe { self.drop_held(cell.cast::<T>()) }
            });
        };
        match self.claimers {
            Claimers::Shared => (0..self.capacity)
                .filter(|&seq| self.stamp(seq).load(Ordering::Relaxed) != 0)
                .for_each(drop_at),
            Claimers::Sole => self.held_by_sole().for_each(drop_at),
        }
    }
}
