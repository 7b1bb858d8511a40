//! A claim without a locked instruction while one thread publishes.
//!
//! A shared claim is a CAS, and on x86 a locked instruction waits for the
//! store buffer to drain: it holds the previous event's value and stamp
//! stores, to lines the reader has just read, so one producer alone spends
//! most of its time in that CAS (measured on an Intel Xeon: 16 M events/s
//! with it, 40 without). So a CAS claim that ends on a multiple of
//! `1 << shift` (1024 at first) takes a *lease* for its thread, if no
//! other claim came in between: the holder claims with a plain store of
//! the claim word, and any other claimer (or a close) first revokes the
//! lease.
//!
//! # Protocol
//!
//! * The lease is bit [`LEASED`] of the claim word, set by the holder's
//!   grant CAS, and the holder's id in `holder`. A CAS claimer that loaded
//!   the word before a grant fails its CAS (the word changed) and sees the
//!   bit; one that sees the bit revokes first. Grants, revocations and
//!   closes take `lock` (`try_lock` and retry, never blocking on it).
//! * The holder's claim: `busy = true; light(); holder == me?`, then a
//!   plain load and store of the claim word, then `busy = false`
//!   (Release). `busy` is the holder thread's own flag ([`Record`]), so a
//!   thread that lost the lease never clears another's.
//! * A revocation: `holder = 0; heavy(); wait while the old holder's busy`,
//!   then clear [`LEASED`] with an RMW. This is the store-buffering pair of
//!   the park handshake ([`barrier`](super::barrier)): either the holder's
//!   second check sees `holder != me` and it takes the CAS path, or the
//!   revoker sees `busy` and waits for the claim in flight, whose store
//!   then happens-before the revoker's RMW (Release/Acquire on `busy`).
//!   A claim in flight runs no user code, so the wait is short.
//! * Grants back off: every revocation doubles the number of claims between
//!   two grant attempts, so producers that take turns do not pay a heavy
//!   barrier each time.

use std::sync::atomic::AtomicU32 as StdAtomicU32;
use std::sync::atomic::AtomicU64 as StdAtomicU64;

use crossbeam_utils::CachePadded;

use super::{barrier, Ring, CLOSED};
use crate::loom::{Arc, AtomicBool, AtomicU64, Ordering};

/// Bit of the claim word held while a lease is granted.
pub(super) const LEASED: u64 = 1 << 62;

/// The sequence part of a claim word.
pub(super) const SEQUENCE: u64 = !(CLOSED | LEASED);

/// Claims between grant attempts at first: `1 << FIRST_SHIFT`.
const FIRST_SHIFT: u32 = if cfg!(veltrix_loom) { 0 } else { 10 };

/// At most `1 << MAX_SHIFT` claims between grant attempts.
const MAX_SHIFT: u32 = 30;

/// Ids of threads (never 0, never reused).
static NEXT_ID: StdAtomicU64 = StdAtomicU64::new(1);

/// A producer thread's part of the lease handshake.
pub(super) struct Record {
    id: u64,
    /// Set while this thread claims under a lease.
    busy: AtomicBool,
}

#[cfg(veltrix_loom)]
loom::thread_local! {
    static RECORD: Arc<Record> = Arc::new(Record::new());
}
#[cfg(not(veltrix_loom))]
std::thread_local! {
    static RECORD: Arc<Record> = Arc::new(Record::new());
}

impl Record {
    fn new() -> Self {
        Record {
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            busy: AtomicBool::new(false),
        }
    }
}

/// The lock of grants, revocations and closes (loom's under loom, so the
/// models see the order it gives).
#[cfg(veltrix_loom)]
type Lock<T> = loom::sync::Mutex<T>;
#[cfg(not(veltrix_loom))]
type Lock<T> = parking_lot::Mutex<T>;

/// A held [`Lock`].
#[cfg(veltrix_loom)]
type Guard<'a, T> = loom::sync::MutexGuard<'a, T>;
#[cfg(not(veltrix_loom))]
type Guard<'a, T> = parking_lot::MutexGuard<'a, T>;

/// The lock, if nobody holds it.
fn try_lock<T>(lock: &Lock<T>) -> Option<Guard<'_, T>> {
    #[cfg(veltrix_loom)]
    return lock.try_lock().ok();
    #[cfg(not(veltrix_loom))]
    return lock.try_lock();
}

/// A ring's lease.
pub(super) struct Lease {
    /// The holder's id, 0 while none.
    holder: CachePadded<AtomicU64>,
    /// The holder's record (for a revoker), and the lock of grants,
    /// revocations and closes.
    lock: Lock<Option<Arc<Record>>>,
    /// `log2` of the claims between grant attempts.
    shift: StdAtomicU32,
    /// Tests: leases granted so far.
    #[cfg(test)]
    grants: StdAtomicU64,
}

impl Lease {
    pub(super) fn new() -> Self {
        Lease {
            holder: CachePadded::new(AtomicU64::new(0)),
            lock: Lock::new(None),
            shift: StdAtomicU32::new(FIRST_SHIFT),
            #[cfg(test)]
            grants: StdAtomicU64::new(0),
        }
    }
}

/// Takes `lock`, yielding while another thread holds it (it holds it for a
/// few loads and stores, or a revocation's barrier and short wait).
fn lock(lease: &Lease) -> Guard<'_, Option<Arc<Record>>> {
    loop {
        if let Some(guard) = try_lock(&lease.lock) {
            return guard;
        }
        crate::loom::yield_now();
    }
}

impl<T> Ring<T> {
    /// Claims `n` sequences with a plain store if this thread holds the
    /// lease: `Some` of what [`try_claim`](Self::try_claim) would return,
    /// `None` if it does not hold it (then it claims with the CAS).
    #[inline]
    pub(super) fn claim_leased(&self, n: u64) -> Option<Result<u64, super::PushError>> {
        let holder = self.lease.holder.load(Ordering::Relaxed);
        if holder == 0 {
            return None;
        }
        // `try_with`: a publish from a thread-local destructor, after this
        // thread's record is gone, takes the CAS path.
        let leased = RECORD.try_with(|me| {
            if holder != me.id {
                return None;
            }
            // Relaxed: only this thread reads its flag back; the revoker's
            // load is ordered by the barrier pair below.
            me.busy.store(true, Ordering::Relaxed);
            barrier::light();
            let claimed = if self.lease.holder.load(Ordering::Relaxed) == me.id {
                // The holder is the only writer of the claim word while the
                // lease stands: this load reads its own last store (or its
                // grant CAS).
                let current = self.claim.load(Ordering::Relaxed);
                debug_assert!(current & LEASED != 0, "a lease keeps its bit");
                Some(self.room_for(current, n).map(|end| {
                    self.claim.store(end | LEASED, Ordering::Relaxed);
                    current & SEQUENCE
                }))
            } else {
                None
            };
            // Release: the claim store above happens-before a revoker that
            // sees the flag clear.
            me.busy.store(false, Ordering::Release);
            claimed
        });
        leased.ok().flatten()
    }

    /// After a CAS claim that ended at `end`: every `1 << shift` claims,
    /// tries to take the lease for this thread (it succeeds only if no
    /// other claim came since, and nobody holds it).
    #[inline]
    pub(super) fn maybe_lease(&self, end: u64) {
        let shift = self.lease.shift.load(std::sync::atomic::Ordering::Relaxed);
        if end & ((1 << shift) - 1) != 0 {
            return;
        }
        self.grant(end);
    }

    #[cold]
    #[inline(never)]
    fn grant(&self, end: u64) {
        let Some(mut record) = try_lock(&self.lease.lock) else {
            return;
        };
        if record.is_some() {
            return;
        }
        // A thread being torn down (its record gone) gets no lease.
        let Ok(me) = RECORD.try_with(Arc::clone) else {
            return;
        };
        // Only if the word is still our claim's end, with no flag: nobody
        // claimed or closed since.
        if self
            .claim
            .compare_exchange(end, end | LEASED, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
        {
            self.lease.holder.store(me.id, Ordering::Relaxed);
            *record = Some(me);
            #[cfg(test)]
            self.lease
                .grants
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Tests: how many leases this ring granted.
    #[cfg(test)]
    pub(super) fn lease_grants(&self) -> u64 {
        self.lease.grants.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Ends the lease, if any (see the module docs), so that a CAS claim or
    /// a close can follow. Returns the lock, still held.
    #[cold]
    #[inline(never)]
    pub(super) fn revoke(&self) -> Guard<'_, Option<Arc<Record>>> {
        let mut record = lock(&self.lease);
        if let Some(holder) = record.take() {
            self.lease.holder.store(0, Ordering::Relaxed);
            // The cold side of the handshake: the holder's claim in flight
            // either saw `holder` cleared, or shows in `busy`.
            barrier::heavy();
            while holder.busy.load(Ordering::Acquire) {
                crate::loom::yield_now();
            }
            // An RMW reads the holder's last store.
            self.claim.fetch_and(!LEASED, Ordering::Relaxed);
            let shift = self.lease.shift.load(std::sync::atomic::Ordering::Relaxed);
            self.lease.shift.store(
                (shift + 1).min(MAX_SHIFT),
                std::sync::atomic::Ordering::Relaxed,
            );
        }
        record
    }
}
