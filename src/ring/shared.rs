//! Publishing through a shared claim: any number of producers, one CAS per
//! claim, each slot published by its stamp.

use std::mem;
use std::ptr;

use super::lease::{LEASED, SEQUENCE};
use super::{PushError, Refused, Ring, Staging, CLOSED};
use crate::loom::Ordering;

impl<T> Ring<T> {
    /// Publishes one value through a shared claim, or hands it back if the
    /// ring is full or closed (a single-producer ring is always closed to
    /// shared claims). Returns the value's sequence.
    #[cfg(test)]
    pub(crate) fn try_push(&self, value: T) -> Result<u64, (T, PushError)> {
        let mut pending = Some(value);
        self.push_from(&mut pending, || 0, || Err(()))
            .map_err(|why| {
                let why = match why {
                    Refused::Closed => PushError::Closed,
                    Refused::Full(()) => PushError::Full,
                };
                (
                    pending.take().expect("a refused push leaves the value"),
                    why,
                )
            })
    }

    /// Publishes the value in `pending` through a shared claim, in place:
    /// the value moves once, from `pending` straight into its slot (the
    /// slot's old value takes its place there until it is dropped), so
    /// publishing costs no stack for the value, whatever its size. If the
    /// ring samples the value's sequence, `now` gives its publish time (it
    /// runs between the claim and the publish, and must neither block nor
    /// panic). While the ring is full, calls `on_full` and claims again if
    /// it returns `Ok` (it may wait for room), and gives up with its error
    /// otherwise; a retry moves nothing. Returns the value's sequence and
    /// leaves `pending` empty; on error leaves it untouched.
    ///
    /// # Panics
    ///
    /// If `pending` is empty.
    #[inline]
    pub(crate) fn push_from<F>(
        &self,
        pending: &mut Option<T>,
        now: impl FnOnce() -> u64,
        mut on_full: impl FnMut() -> Result<(), F>,
    ) -> Result<u64, Refused<F>> {
        let value: *mut T = pending.as_mut().expect("nothing to push");
        let seq = loop {
            match self.try_claim(1) {
                Ok(seq) => break seq,
                Err(PushError::Closed) => return Err(Refused::Closed),
                Err(PushError::Full) => on_full().map_err(Refused::Full)?,
            }
        };
        self.times.record(seq, now);
        // SAFETY: `try_claim` just gave this thread `seq`, unwritten (its
        // gating check saw the cursors); `value` points into `pending`,
        // borrowed for this call, to an initialised `T` outside the ring.
        let swapped = unsafe { self.write_from(seq, value) };
        self.mark_published(seq);
        if !swapped {
            // SAFETY: the value moved into its slot: `pending` must not drop
            // it again, so it is emptied without dropping its contents.
            unsafe { ptr::write(pending, None) };
        }
        self.after_publish();
        if swapped {
            // SAFETY: `write_from` moved the previous lap's value into
            // `pending`; it is dropped once here, and `pending` emptied
            // without dropping it again.
            unsafe {
                self.drop_held(value);
                ptr::write(pending, None);
            }
        }
        Ok(seq)
    }

    /// Publishes every value of `values` (at most `capacity` of them) as one
    /// contiguous run through a shared claim, or none: on error `values` is
    /// left untouched. On success `values` is left empty: each value was
    /// swapped into its slot, the slot's old value (of the previous lap)
    /// into the value's staging place, and once the whole run is published
    /// those old values are dropped there, one at a time. So a batch stages
    /// nothing but `values` itself. The sampled sequences of the run get
    /// the publish time `time`. Returns the sequence of the first value.
    pub(crate) fn try_push_batch<const BYTES: usize>(
        &self,
        values: &mut Staging<T, BYTES>,
        time: u64,
    ) -> Result<u64, PushError> {
        debug_assert_eq!(values.head, 0, "a batch is staged from the start");
        let n = values.len;
        debug_assert!(n >= 1 && n as u64 <= self.capacity);
        let start = self.try_claim(n as u64)?;
        self.times.record_run(start, n as u64, time);
        // Sequences below `capacity` fill a slot for the first time; from
        // `first_old` on, each overwrites the value of the previous lap.
        let first_old = if start >= self.capacity {
            0
        } else {
            ((self.capacity - start) as usize).min(n)
        };
        // Nothing in this loop can panic or run user code: the whole claim
        // is published before anything else happens.
        for i in 0..n {
            // SAFETY: `try_claim(n)` gave this thread `start..start + n`, each
            // written once, here; staged value `i < len` is initialised (the
            // `Staging` invariant, `head == 0`) and not inside the ring.
            let swapped = unsafe { self.write_from(start + i as u64, values.slot(i)) };
            self.mark_published(start + i as u64);
            debug_assert_eq!(swapped, i >= first_old && mem::needs_drop::<T>());
        }
        // Staged values `..first_old` moved into first-lap slots; the places
        // `first_old..n` now hold the old values (if `T` has drop glue; else
        // nothing): exactly `head..len`.
        values.head = if mem::needs_drop::<T>() { first_old } else { n };
        self.after_publish();
        while values.head < values.len {
            let old = values.slot(values.head);
            values.head += 1;
            // SAFETY: `old` is in `head..len` (before the increment), so it is
            // initialised; moving `head` past it first means it is neither
            // read nor dropped again.
            unsafe { self.drop_held(old) };
        }
        values.head = 0;
        values.len = 0;
        Ok(start)
    }

    /// Claims `n` consecutive sequences, `1 <= n <= capacity`: with a plain
    /// store under this thread's lease (see [`lease`](super::lease)), else
    /// with a CAS, revoking another thread's lease first.
    #[inline]
    fn try_claim(&self, n: u64) -> Result<u64, PushError> {
        if let Some(claimed) = self.claim_leased(n) {
            return claimed;
        }
        let mut current = self.claim.load(Ordering::Relaxed);
        loop {
            if current & LEASED != 0 && current & CLOSED == 0 {
                drop(self.revoke());
                current = self.claim.load(Ordering::Relaxed);
                continue;
            }
            let end = self.room_for(current, n)?;
            // Relaxed: the CAS only has to hand out each sequence once
            // (atomicity); every ordering the slot needs comes from the gating
            // chain of `room_for` and from the stamp.
            match self.claim.compare_exchange_weak(
                current,
                end,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    self.maybe_lease(end);
                    return Ok(current);
                }
                Err(actual) => current = actual,
            }
        }
    }

    /// The end of a claim of `n` sequences from the claim word `current`,
    /// if the ring is open and every reader has released the slots it
    /// would overwrite.
    #[inline]
    pub(super) fn room_for(&self, current: u64, n: u64) -> Result<u64, PushError> {
        if current & CLOSED != 0 {
            return Err(PushError::Closed);
        }
        let end = (current & SEQUENCE) + n;
        // Every reader must have released `..end - capacity`, the previous
        // occupants of the slots `current..end`.
        let wrap = end.saturating_sub(self.capacity);
        // Acquire pairs with the Release store below, itself ordered after
        // the Acquire cursor loads of `min_cursor`, which pair with the
        // readers' Release cursor stores: whatever a reader did with a
        // slot before releasing it happens-before our overwrite, even when
        // the bound was scanned by another producer.
        if wrap > self.gating.load(Ordering::Acquire) {
            // Laps lossy readers between batches instead of waiting.
            let min = self.gate_for(wrap);
            self.gating.store(min, Ordering::Release);
            if wrap > min {
                return Err(PushError::Full);
            }
        }
        Ok(end)
    }

    /// Publishes the value a shared claim wrote into the slot of `seq`
    /// (sole producers publish with their count instead).
    #[inline]
    fn mark_published(&self, seq: u64) {
        // Release pairs with the reader's Acquire load of the stamp: the write
        // of the value happens-before the reader's borrow.
        self.stamp(seq).store(seq + 1, Ordering::Release);
    }
}
