//! Who waits for whom: the deadlock check a producer runs before it blocks
//! on a full ring.
//!
//! A producer blocked on ring `R` waits for the readers whose cursors gate
//! its claim (those behind the slot it needs). Each cursor is drained by one
//! thread at a time, its *driver*: the worker that owns the partition, or
//! the thread inside a poll of the group. If a driver is itself blocked on a
//! ring, it waits for that ring's gating drivers, and so on. A producer
//! whose wait would close a cycle back to itself (directly: it drives a
//! gating cursor, as a listener publishing into its own full partition; or
//! through other blocked threads, as two groups publishing into each
//! other's full topics, or a listener polling another group that publishes
//! back) can never be woken, so it is refused with `WouldDeadlock` instead.
//!
//! The check runs only on the blocking path, under one process-wide lock
//! that every blocking producer takes to register itself and walk the graph:
//! the last thread to close a cycle sees it (a cycle needs every member
//! registered, and each registers before it walks). Gating is computed
//! afresh at each step of the walk from the live cursors, so a producer
//! that already has room again (but has not yet woken) is no edge.
//! A cursor with no driver (a poll-mode group no thread is polling right
//! now) is no edge either: the host may poll it later.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use smallvec::SmallVec;

/// Tokens of threads that drive cursors (0: none).
static NEXT_TOKEN: AtomicU64 = AtomicU64::new(1);

thread_local! {
    static TOKEN: Cell<u64> = const { Cell::new(0) };
}

/// The calling thread's token: unique, never 0.
pub(crate) fn thread_token() -> u64 {
    TOKEN.with(|t| {
        if t.get() == 0 {
            t.set(NEXT_TOKEN.fetch_add(1, Ordering::Relaxed));
        }
        t.get()
    })
}

/// A ring as the check sees it: which threads a claim of `n` waits for.
pub(crate) trait Gating: Send + Sync {
    /// Tokens of the drivers of the cursors that gate a claim of `n` now
    /// (0 for a cursor no thread drives).
    fn gating_drivers(&self, n: u64, out: &mut SmallVec<[u64; 8]>);
}

/// A blocked producer: its token, the ring and the claim size.
struct Blocked {
    token: u64,
    ring: Arc<dyn Gating>,
    n: u64,
}

/// Every producer blocked on a full ring now.
static BLOCKED: Mutex<Vec<Blocked>> = Mutex::new(Vec::new());

/// A registered blocked producer; unregisters when dropped.
#[derive(Debug)]
pub(crate) struct BlockedGuard {
    token: u64,
}

impl Drop for BlockedGuard {
    fn drop(&mut self) {
        let mut blocked = BLOCKED.lock();
        if let Some(i) = blocked.iter().position(|b| b.token == self.token) {
            blocked.swap_remove(i);
        }
    }
}

/// Registers the calling thread as blocked on `ring` for a claim of `n`, or
/// returns `None` (registering nothing) if that wait would close a cycle
/// back to this thread.
pub(crate) fn block(ring: Arc<dyn Gating>, n: u64) -> Option<BlockedGuard> {
    let me = thread_token();
    let mut blocked = BLOCKED.lock();
    if closes_cycle(me, &*ring, n, &blocked) {
        return None;
    }
    blocked.push(Blocked { token: me, ring, n });
    Some(BlockedGuard { token: me })
}

/// Whether waiting on `ring` for `n` makes `me` wait, through blocked
/// threads, for itself.
fn closes_cycle(me: u64, ring: &dyn Gating, n: u64, blocked: &[Blocked]) -> bool {
    let mut visited: SmallVec<[u64; 8]> = SmallVec::new();
    let mut drivers: SmallVec<[u64; 8]> = SmallVec::new();
    ring.gating_drivers(n, &mut drivers);
    while let Some(driver) = drivers.pop() {
        if driver == me {
            return true;
        }
        if driver == 0 || visited.contains(&driver) {
            continue;
        }
        visited.push(driver);
        if let Some(b) = blocked.iter().find(|b| b.token == driver) {
            b.ring.gating_drivers(b.n, &mut drivers);
        }
    }
    false
}
