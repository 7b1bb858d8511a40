//! The park/wake protocol of a ring: how idle readers park and how
//! producers of a full ring block, and how each side wakes the other only
//! when someone is asleep. (What a worker does before it parks, its wait
//! strategy, is the group's: `group::idle`.)
//!
//! Both directions are the same store-buffering handshake on asymmetric
//! barriers (see [`barrier`](super::barrier)), so the steady state has no
//! syscall, no lock and no locked instruction per event:
//!
//! * A reader about to park first *announces* itself (`sleepers += 1`), runs
//!   the heavy barrier, then re-checks whether the next event of every ring
//!   it reads is published (its stamp, or a sole producer's count) and parks
//!   only if none is. A producer publishes (stores a stamp or its count),
//!   runs the light barrier and loads `sleepers`. Either the producer's load
//!   sees the announcement (it unparks the reader after publishing) or the
//!   reader's re-check sees the publish (it does not park).
//! * A producer about to block takes the gate's lock, announces itself
//!   (`blocked += 1`), runs the heavy barrier, re-checks the cursors and
//!   waits on the condvar, which releases the lock atomically. A reader
//!   stores its cursor, runs the light barrier and loads `blocked`; if it
//!   sees a waiter it notifies under the lock, which cannot slip between the
//!   producer's re-check and its wait.
//!
//! Parking also uses a timeout ([`PARK_SAFETY`]) as a belt on top of those
//! braces; correctness does not depend on it, and it bounds idle wake-ups to a
//! few per second. If the heavy barrier ever fails (the kernel refused a
//! `membarrier` it had accepted at start; never seen) the handshake proves
//! nothing, and sleeps are cut to [`PARK_UNPROVEN`].

#[cfg(feature = "async")]
use std::task::Waker;
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;
use parking_lot::{Condvar, Mutex};

#[cfg(feature = "async")]
use super::tasks::TaskKey;
use super::tasks::Tasks;
use crate::loom::{AtomicUsize, Ordering};

/// Longest a parked thread sleeps without being woken.
pub(super) const PARK_SAFETY: Duration = Duration::from_millis(100);

/// Longest sleep when the heavy barrier failed.
pub(crate) const PARK_UNPROVEN: Duration = Duration::from_millis(1);

/// Readers of one ring that may be parked.
pub(crate) struct ReaderWake {
    sleepers: CachePadded<AtomicUsize>,
    /// Threads that read this ring and may park; registered once at start.
    threads: Mutex<Vec<Thread>>,
    /// Tasks waiting for an event (counted in `sleepers` too).
    tasks: Tasks,
    /// Loom models: how many times producers woke the readers.
    #[cfg(veltrix_loom)]
    pub(super) wakes: std::sync::atomic::AtomicUsize,
}

impl ReaderWake {
    pub(super) fn new() -> Self {
        ReaderWake {
            sleepers: CachePadded::new(AtomicUsize::new(0)),
            threads: Mutex::new(Vec::new()),
            tasks: Tasks::new(),
            #[cfg(veltrix_loom)]
            wakes: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// Registers a thread that reads this ring and may park on it (once:
    /// a thread already registered is not added again).
    pub(crate) fn register(&self, thread: Thread) {
        let mut threads = self.threads.lock();
        if threads.iter().all(|t| t.id() != thread.id()) {
            threads.push(thread);
        }
    }

    /// Forgets thread `id`: it no longer reads this ring (a partition moved
    /// to another worker).
    pub(crate) fn unregister(&self, id: thread::ThreadId) {
        self.threads.lock().retain(|t| t.id() != id);
    }

    /// The hot side's load; the light barrier before it orders it after
    /// the publishing store (stamp or count).
    #[inline]
    pub(super) fn has_sleepers(&self) -> bool {
        self.sleepers.load(Ordering::Relaxed) != 0
    }

    /// Wakes every parked reader thread and waiting task (the slow path
    /// of a publish: kept out of line, off the hot path's code).
    #[cold]
    #[inline(never)]
    pub(super) fn unpark_all(&self) {
        #[cfg(veltrix_loom)]
        self.wakes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        for thread in self.threads.lock().iter() {
            thread.unpark();
        }
        self.tasks.wake_all(&self.sleepers);
    }

    /// Registers a task waiting for an event under `key` (counted as a
    /// sleeper until a publish wakes it or it cancels).
    #[cfg(feature = "async")]
    pub(super) fn register_task(&self, key: TaskKey, waker: &Waker) {
        self.tasks.register(key, waker, &self.sleepers);
    }

    /// Withdraws the registration under `key`, if a wake-up has not taken
    /// it.
    #[cfg(feature = "async")]
    pub(super) fn cancel_task(&self, key: TaskKey) {
        self.tasks.cancel(key, &self.sleepers);
    }

    /// Wakes the waiting tasks alone (threads are left parked): for a
    /// group that finished and has nothing more to hand out.
    pub(super) fn wake_tasks(&self) {
        self.tasks.wake_all(&self.sleepers);
    }

    pub(super) fn announce(&self) {
        self.sleepers.fetch_add(1, Ordering::SeqCst);
    }

    pub(super) fn retract(&self) {
        self.sleepers.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Producers of one ring blocked because it is full.
pub(crate) struct ProducerGate {
    blocked: CachePadded<AtomicUsize>,
    /// Held by a producer between its re-check and its wait, and by a
    /// notifying reader (see the module docs).
    pub(super) lock: Mutex<()>,
    pub(super) space: Condvar,
    /// Tasks waiting for room (counted in `blocked` too).
    tasks: Tasks,
    /// Loom models: how many times readers notified blocked producers.
    #[cfg(veltrix_loom)]
    pub(super) notifies: std::sync::atomic::AtomicUsize,
}

impl ProducerGate {
    pub(super) fn new() -> Self {
        ProducerGate {
            blocked: CachePadded::new(AtomicUsize::new(0)),
            lock: Mutex::new(()),
            space: Condvar::new(),
            tasks: Tasks::new(),
            #[cfg(veltrix_loom)]
            notifies: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// The hot side's load; the light barrier before it orders it after
    /// the cursor store.
    #[inline]
    pub(super) fn has_blocked(&self) -> bool {
        self.blocked.load(Ordering::Relaxed) != 0
    }

    /// Wakes every blocked producer thread and waiting task (the slow path
    /// of a release: kept out of line).
    #[cold]
    #[inline(never)]
    pub(super) fn notify_all(&self) {
        #[cfg(veltrix_loom)]
        self.notifies
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        {
            let _guard = self.lock.lock();
            self.space.notify_all();
        }
        self.tasks.wake_all(&self.blocked);
    }

    /// Registers a task waiting for room under `key` (counted as blocked
    /// until a release wakes it or it cancels).
    #[cfg(feature = "async")]
    pub(super) fn register_task(&self, key: TaskKey, waker: &Waker) {
        self.tasks.register(key, waker, &self.blocked);
    }

    /// Withdraws the registration under `key`, if a wake-up has not taken
    /// it.
    #[cfg(feature = "async")]
    pub(super) fn cancel_task(&self, key: TaskKey) {
        self.tasks.cancel(key, &self.blocked);
    }

    /// The cold side of the gate handshake: announce a blocked producer,
    /// then the heavy barrier. Returns whether the barrier held (see
    /// [`PARK_UNPROVEN`]). The caller re-checks the cursors next and must
    /// [`retract`](Self::retract) when it stops waiting.
    pub(super) fn announce(&self) -> bool {
        self.blocked.fetch_add(1, Ordering::SeqCst);
        super::barrier::heavy()
    }

    pub(super) fn retract(&self) {
        self.blocked.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The cold side of the park handshake: announce the calling reader on
/// every ring of `rings`, then the heavy barrier. Returns whether the
/// barrier held. The caller re-checks the next event of every ring next and
/// must retract the announcement when it stops sleeping.
pub(super) fn announce_sleeper<'a, T: 'a>(rings: impl Iterator<Item = &'a super::Ring<T>>) -> bool {
    for ring in rings {
        ring.wake.announce();
    }
    super::barrier::heavy()
}

/// Registers the current thread with every ring in `rings`, so producers
/// can unpark it when it parks on them.
pub(crate) fn register_reader<'a, T: 'a>(rings: impl Iterator<Item = &'a super::Ring<T>>) {
    for ring in rings {
        ring.wake.register(thread::current());
    }
}

/// Forgets the current thread on every ring in `rings`: it stopped
/// reading them.
pub(crate) fn unregister_reader<'a, T: 'a>(rings: impl Iterator<Item = &'a super::Ring<T>>) {
    let me = thread::current().id();
    for ring in rings {
        ring.wake.unregister(me);
    }
}

/// Parks the calling reader on every ring of `rings` unless `ready()` (which
/// must look at whether the next event of each of those rings is
/// published) says there is something to read, for at most until `until`
/// (and at most [`PARK_SAFETY`]): the reader's side of the park handshake
/// (announce; heavy barrier; re-check; sleep; retract).
pub(crate) fn park<'a, T: 'a, I>(rings: I, ready: impl Fn() -> bool, until: Option<Instant>)
where
    I: Iterator<Item = &'a super::Ring<T>> + Clone,
{
    let proven = announce_sleeper(rings.clone());
    if !ready() {
        let mut sleep = if proven { PARK_SAFETY } else { PARK_UNPROVEN };
        if let Some(until) = until {
            sleep = sleep.min(until.saturating_duration_since(Instant::now()));
        }
        thread::park_timeout(sleep);
    }
    for ring in rings {
        ring.wake.retract();
    }
}
