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
//! registered, and each registers before it walks). Each blocked producer
//! records the cursor position it waits for; the cursors still below it
//! are its edges, read live at each step of the walk, so a producer that
//! already has room again (but has not yet woken) is no edge. A producer
//! that finds that room taken by others before it could claim it waits on
//! with no edges recorded, so it registers again (and checks again) before
//! it waits any longer ([`BlockedGuard::still_waiting`]).
//! Between polls, a poll-mode group's cursors keep the thread that last
//! polled them from outside any listener (marked [`FROM_HOST`]; a listener's
//! nested poll counts only while no host has polled) as their driver: the
//! host's loop is expected to poll again, so
//! a producer waiting for the group waits for that thread, and that thread
//! itself (the host blocking in a publish, directly or from a listener of
//! another poll) is refused rather than left waiting for a poll only it
//! could make. If a `Poller` moves to another thread, the new thread
//! becomes the driver at its first poll; a wait by the old thread on that
//! group before then is refused although it would have ended. A cursor no
//! thread has driven yet (a poll group never polled) is no edge: any thread
//! may poll it first.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use smallvec::SmallVec;

/// Flag of a cursor's driver record (beside the token): the thread polled
/// the group from outside any listener, as a host's loop does.
pub(crate) const FROM_HOST: u64 = 1 << 63;

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

/// A ring as the check sees it.
pub(crate) trait Gating: Send + Sync {
    /// The position every cursor must have reached for a claim of `n` to
    /// fit now (`claimed + n - capacity`).
    fn need(&self, n: u64) -> u64;
    /// Tokens of the drivers of the cursors still below `need` (0 for a
    /// cursor no thread has driven).
    fn drivers_below(&self, need: u64, out: &mut SmallVec<[u64; 8]>);
    /// The slowest cursor.
    fn slowest(&self) -> u64;
}

/// A blocked producer: its token, the ring, and the cursor position it
/// waits for. `need` only grows, and a producer cannot go on before every
/// cursor has reached it (claims only grow too), so every cursor below it
/// is a true edge of the graph for as long as the producer waits.
struct Blocked {
    token: u64,
    ring: Arc<dyn Gating>,
    need: u64,
}

/// Every producer blocked on a full ring now.
static BLOCKED: Mutex<Vec<Blocked>> = Mutex::new(Vec::new());

/// A registered blocked producer; unregisters when dropped.
pub(crate) struct BlockedGuard {
    token: u64,
    ring: Arc<dyn Gating>,
    n: u64,
    need: u64,
}

impl std::fmt::Debug for BlockedGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockedGuard")
            .field("token", &self.token)
            .field("need", &self.need)
            .finish_non_exhaustive()
    }
}

impl BlockedGuard {
    /// Called by the blocked producer while it still finds no room: `true`
    /// to go on waiting, `false` if its wait now closes a cycle (it must
    /// give up).
    ///
    /// Once every cursor has passed what the producer registered for, room
    /// came and other producers took it: the registered edges are gone
    /// although the producer still waits, so another thread's check may
    /// have passed without seeing it. It registers what it waits for now,
    /// under the lock, and so sees any cycle such a check let form.
    pub(crate) fn still_waiting(&mut self) -> bool {
        if self.ring.slowest() < self.need {
            return true;
        }
        let mut blocked = BLOCKED.lock();
        let need = self.ring.need(self.n);
        if closes_cycle(self.token, &*self.ring, need, &blocked) {
            return false;
        }
        self.need = need;
        if let Some(me) = blocked.iter_mut().find(|b| b.token == self.token) {
            me.need = need;
        }
        true
    }
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
    let need = ring.need(n);
    if closes_cycle(me, &*ring, need, &blocked) {
        return None;
    }
    blocked.push(Blocked {
        token: me,
        ring: Arc::clone(&ring),
        need,
    });
    Some(BlockedGuard {
        token: me,
        ring,
        n,
        need,
    })
}

/// Whether waiting until every cursor of `ring` reaches `need` makes `me`
/// wait, through blocked threads, for itself.
fn closes_cycle(me: u64, ring: &dyn Gating, need: u64, blocked: &[Blocked]) -> bool {
    let mut visited: SmallVec<[u64; 8]> = SmallVec::new();
    let mut drivers: SmallVec<[u64; 8]> = SmallVec::new();
    ring.drivers_below(need, &mut drivers);
    while let Some(driver) = drivers.pop() {
        if driver == me {
            return true;
        }
        if driver == 0 || visited.contains(&driver) {
            continue;
        }
        visited.push(driver);
        if let Some(b) = blocked.iter().find(|b| b.token == driver) {
            b.ring.drivers_below(b.need, &mut drivers);
        }
    }
    false
}
