//! Waiting on a ring: how idle readers park and how producers of a full ring
//! block, and how each side wakes the other only when someone is asleep.
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

use std::cell::RefCell;
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;
use parking_lot::{Condvar, Mutex};
use smallvec::SmallVec;

use crate::loom::{AtomicUsize, Ordering};

/// Longest a parked thread sleeps without being woken.
const PARK_SAFETY: Duration = Duration::from_millis(100);

/// How long a producer of a full ring spins and yields before it sleeps.
const PRODUCER_PATIENCE: Duration = Duration::from_micros(50);

/// Longest sleep when the heavy barrier failed.
const PARK_UNPROVEN: Duration = Duration::from_millis(1);

/// How a worker waits when none of its partitions has an event.
///
/// # Examples
///
/// ```
/// use veltrix::WaitStrategy;
///
/// // The default: spin briefly, then yield, then park until a producer wakes us.
/// let adaptive = WaitStrategy::default();
/// assert!(matches!(adaptive, WaitStrategy::Adaptive { .. }));
///
/// // For hosts that dedicate a core to the worker: lowest latency, 100% of a core.
/// let spin = WaitStrategy::BusySpin;
/// # let _ = spin;
/// ```
///
/// With the `serde` feature: `{ adaptive = { spins = 100, yields = 8 } }` or
/// `"busy_spin"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "snake_case", deny_unknown_fields)
)]
pub enum WaitStrategy {
    /// Spin `spins` rounds (one CPU pause each, re-checking between; the
    /// default 100 is a few µs), then yield `yields` times, then park. Producers
    /// unpark a worker only when it is actually parked, so a busy engine pays
    /// no syscall per event and an idle one costs nothing.
    Adaptive {
        /// Spin-loop rounds before yielding.
        spins: u32,
        /// `thread::yield_now` rounds before parking.
        yields: u32,
    },
    /// Never park: spin forever. Lowest hand-off latency; burns a whole core
    /// per worker, even when idle. Only for hosts that pin workers to cores.
    BusySpin,
}

impl Default for WaitStrategy {
    fn default() -> Self {
        WaitStrategy::Adaptive {
            spins: 100,
            yields: 8,
        }
    }
}

/// Readers of one ring that may be parked.
pub(crate) struct ReaderWake {
    sleepers: CachePadded<AtomicUsize>,
    /// Threads that read this ring and may park; registered once at start.
    threads: Mutex<Vec<Thread>>,
    /// Loom models: how many times producers woke the readers.
    #[cfg(veltrix_loom)]
    pub(super) wakes: std::sync::atomic::AtomicUsize,
}

impl ReaderWake {
    pub(super) fn new() -> Self {
        ReaderWake {
            sleepers: CachePadded::new(AtomicUsize::new(0)),
            threads: Mutex::new(Vec::new()),
            #[cfg(veltrix_loom)]
            wakes: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// Registers a thread that reads this ring and may park on it.
    pub(crate) fn register(&self, thread: Thread) {
        self.threads.lock().push(thread);
    }

    /// The hot side's load; the light barrier before it orders it after
    /// the publishing store (stamp or count).
    #[inline]
    pub(super) fn has_sleepers(&self) -> bool {
        self.sleepers.load(Ordering::Relaxed) != 0
    }

    pub(super) fn unpark_all(&self) {
        #[cfg(veltrix_loom)]
        self.wakes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        for thread in self.threads.lock().iter() {
            thread.unpark();
        }
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
    lock: Mutex<()>,
    space: Condvar,
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

    pub(super) fn notify_all(&self) {
        #[cfg(veltrix_loom)]
        self.notifies
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let _guard = self.lock.lock();
        self.space.notify_all();
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

/// How [`Ring::wait_for_room`](super::Ring::wait_for_room) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Waited {
    /// A claim of `n` could succeed now, or the ring is closed.
    Room,
    /// The deadline passed first.
    TimedOut,
    /// `still_waiting` said to give up.
    GaveUp,
}

impl<T> super::Ring<T> {
    /// Blocks the calling producer until a claim of `n` could succeed, the
    /// ring is closed, or `deadline` passes. Spins and yields briefly
    /// before sleeping. Each time it looks and finds no room it asks
    /// `still_waiting` whether to go on (the deadlock check's re-check;
    /// cheap unless the room it waited for came and went) and gives up
    /// when that says no.
    pub(crate) fn wait_for_room(
        &self,
        n: u64,
        deadline: Option<Instant>,
        mut still_waiting: impl FnMut() -> bool,
    ) -> Waited {
        // Spin, then yield, for up to PRODUCER_PATIENCE before sleeping: a
        // full ring usually frees a run of slots within microseconds, and a
        // producer that sleeps at once pays a heavy barrier, a futex wait
        // and a wake-up per run, which is slower than the whole run.
        let backoff = crossbeam_utils::Backoff::new();
        let mut since: Option<Instant> = None;
        loop {
            if self.has_room_or_closed(n) {
                return Waited::Room;
            }
            if !still_waiting() {
                return Waited::GaveUp;
            }
            if !backoff.is_completed() {
                backoff.snooze();
                continue;
            }
            let now = Instant::now();
            let started = *since.get_or_insert(now);
            if now.duration_since(started) >= PRODUCER_PATIENCE
                || deadline.is_some_and(|d| now >= d)
            {
                break;
            }
            thread::yield_now();
        }
        loop {
            let (ready, timed_out) = {
                let mut guard = self.gate.lock.lock();
                let proven = self.gate.announce();
                let ready = self.has_room_or_closed(n);
                let timed_out = if ready {
                    false
                } else {
                    let mut wait = if proven { PARK_SAFETY } else { PARK_UNPROVEN };
                    if let Some(deadline) = deadline {
                        let now = Instant::now();
                        if now >= deadline {
                            self.gate.retract();
                            return Waited::TimedOut;
                        }
                        wait = wait.min(deadline - now);
                    }
                    self.gate.space.wait_for(&mut guard, wait).timed_out()
                };
                self.gate.retract();
                (ready, timed_out)
            };
            if ready || self.has_room_or_closed(n) {
                return Waited::Room;
            }
            if timed_out && deadline.is_some_and(|d| Instant::now() >= d) {
                return Waited::TimedOut;
            }
            // Outside the gate's lock: the re-check takes the check's lock.
            if !still_waiting() {
                return Waited::GaveUp;
            }
        }
    }
}

/// The idle loop of one worker over the rings it reads.
#[derive(Debug)]
pub(crate) struct Idle {
    strategy: WaitStrategy,
    step: u32,
}

impl Idle {
    pub(crate) fn new(strategy: WaitStrategy) -> Self {
        Idle { strategy, step: 0 }
    }

    /// Forget past idleness: the worker just found work.
    #[inline]
    pub(crate) fn reset(&mut self) {
        self.step = 0;
    }

    /// Registers the current thread with every ring in `rings`, so
    /// producers can unpark it.
    pub(crate) fn register<'a, T: 'a>(rings: impl Iterator<Item = &'a super::Ring<T>>) {
        for ring in rings {
            ring.wake.register(thread::current());
        }
    }

    /// One idle step after a round that found nothing: spin, yield or park
    /// according to the strategy and how long the worker has been idle.
    /// Parking announces the thread on every ring of `rings`, runs the heavy
    /// barrier, then re-checks `ready` (which must look at whether the next
    /// event of each of those rings is published), and sleeps at most until
    /// `until`.
    pub(crate) fn wait<'a, T: 'a, I>(
        &mut self,
        rings: I,
        ready: impl Fn() -> bool,
        until: Option<Instant>,
    ) where
        I: Iterator<Item = &'a super::Ring<T>> + Clone,
    {
        let (spins, yields) = match self.strategy {
            WaitStrategy::BusySpin => {
                std::hint::spin_loop();
                return;
            }
            WaitStrategy::Adaptive { spins, yields } => (spins, yields),
        };
        self.step = self.step.saturating_add(1);
        if self.step <= spins {
            // One pause per round: the worker re-checks its rings every few
            // tens of nanoseconds, and gives the core up after a few µs.
            std::hint::spin_loop();
        } else if self.step <= spins.saturating_add(yields) {
            thread::yield_now();
        } else {
            let proven = announce_sleeper(rings.clone());
            // A stopping worker with nothing ready waits for a retry
            // (`until`) or a last publish like any other; `request_stop`
            // unparks it once, which is all it needs.
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

thread_local! {
    /// Ids of the reader groups the current thread is consuming for, in
    /// the order it entered them: a worker's group, or the groups of the
    /// polls it is inside (a listener may poll another group).
    static DRIVING: RefCell<SmallVec<[u64; 4]>> = RefCell::new(SmallVec::new());
}

/// Leaves the group entered by [`enter_reader`] when dropped.
#[derive(Debug)]
pub(crate) struct ReaderGuard {
    _not_send: std::marker::PhantomData<*const ()>,
}

impl Drop for ReaderGuard {
    fn drop(&mut self) {
        DRIVING.with(|d| d.borrow_mut().pop());
    }
}

/// Marks the current thread as consuming for reader group `id` until the
/// guard drops (nested entries stack).
pub(crate) fn enter_reader(id: u64) -> ReaderGuard {
    DRIVING.with(|d| d.borrow_mut().push(id));
    ReaderGuard {
        _not_send: std::marker::PhantomData,
    }
}

/// How many groups the current thread is consuming for now: 0 outside any
/// worker or poll, 1 in a worker or a host's poll, more in nested polls.
pub(crate) fn nesting() -> usize {
    DRIVING.with(|d| d.borrow().len())
}

/// Whether the current thread is consuming for reader group `id` now (its
/// worker, or inside one of its polls).
pub(crate) fn drives(id: u64) -> bool {
    id != 0 && DRIVING.with(|d| d.borrow().contains(&id))
}
