//! Tasks waiting on a ring: the asynchronous side of the park/wake
//! protocol (see [`wake`](super::wake)).
//!
//! A task cannot park its thread, so where a reader or producer thread
//! announces itself and sleeps, a task announces itself by registering its
//! [`Waker`] and returns `Pending`. The registration counts in the same
//! word the sleeping threads count in (`sleepers` for readers, `blocked`
//! for producers), so the hot side's one relaxed load covers threads and
//! tasks alike, and the handshake is the same store-buffering pattern:
//! register and count (under this set's lock); heavy barrier; re-check.
//! The hot side, seeing the count, wakes every registered task once and
//! forgets it (a task that wants to wait again registers again), so a
//! waker is woken at most once per registration and the count never keeps
//! a stale entry alive past the next wake-up.
//!
//! Why the lock makes the count and the entry agree: a waker that sees the
//! count (a relaxed load made *before* it takes the lock) cannot have taken
//! the lock before the registering task released it, since the count was
//! raised inside that critical section; so its drain finds the entry.
//!
//! Nothing here runs unless a task waits: with no task registered the hot
//! side pays nothing more than before, and the lock is taken only by a
//! waker that already saw the count raised.

use std::task::Waker;

use parking_lot::Mutex;
use smallvec::SmallVec;

use crate::loom::{AtomicUsize, Ordering};

/// Identifies one waiting future across its polls, so a re-poll refreshes
/// its registration instead of adding a second one.
pub(crate) type TaskKey = u64;

/// A key no other waiter of this process uses.
#[cfg(feature = "async")]
pub(crate) fn task_key() -> TaskKey {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// The wakers of the tasks waiting on one side of one ring.
pub(crate) struct Tasks {
    entries: Mutex<Vec<(TaskKey, Waker)>>,
}

impl Tasks {
    pub(super) fn new() -> Self {
        Tasks {
            entries: Mutex::new(Vec::new()),
        }
    }

    /// Registers `waker` under `key`, or refreshes the waker a registration
    /// under `key` already holds; a new registration is added to `count`
    /// (the waiters word of the hot side) inside the lock.
    #[cfg(feature = "async")]
    pub(super) fn register(&self, key: TaskKey, waker: &Waker, count: &AtomicUsize) {
        let mut entries = self.entries.lock();
        if let Some((_, held)) = entries.iter_mut().find(|(k, _)| *k == key) {
            if !held.will_wake(waker) {
                held.clone_from(waker);
            }
            return;
        }
        entries.push((key, waker.clone()));
        count.fetch_add(1, Ordering::SeqCst);
    }

    /// Removes the registration under `key`, if it is still there (it is
    /// not once a wake-up took it), and its share of `count`.
    #[cfg(feature = "async")]
    pub(super) fn cancel(&self, key: TaskKey, count: &AtomicUsize) {
        let mut entries = self.entries.lock();
        if let Some(at) = entries.iter().position(|(k, _)| *k == key) {
            entries.swap_remove(at);
            count.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Wakes every registered task and forgets them, taking their share
    /// out of `count`. The wakers run outside the lock (a waker may run
    /// the task inline and have it register again).
    pub(super) fn wake_all(&self, count: &AtomicUsize) {
        let woken: SmallVec<[Waker; 4]> = {
            let mut entries = self.entries.lock();
            if entries.is_empty() {
                return;
            }
            count.fetch_sub(entries.len(), Ordering::SeqCst);
            entries.drain(..).map(|(_, waker)| waker).collect()
        };
        for waker in woken {
            waker.wake();
        }
    }

    /// Whether a registration under `key` is waiting (tests).
    #[cfg(all(test, feature = "async"))]
    pub(super) fn is_registered(&self, key: TaskKey) -> bool {
        self.entries.lock().iter().any(|(k, _)| *k == key)
    }
}

#[cfg(feature = "async")]
impl<T> super::Ring<T> {
    /// The cold side of the gate handshake for a task waiting for room for
    /// `n` events: register (or refresh) `waker` under `key`, heavy barrier,
    /// re-check. `true` if there is room (or the ring is closed) now — the
    /// registration stays, harmlessly, until the next release takes it;
    /// `false` means a release will wake `waker`, unless the barrier did
    /// not hold (`proven` is then `false` and the caller must poll again
    /// soon by itself, as a parked thread does with [`PARK_UNPROVEN`](super::wake::PARK_UNPROVEN)).
    pub(crate) fn register_for_room(&self, n: u64, key: TaskKey, waker: &Waker) -> Registered {
        self.gate.register_task(key, waker);
        let proven = super::barrier::heavy();
        Registered {
            ready: self.has_room_or_closed(n),
            proven,
        }
    }

    /// Withdraws a task's wait for room.
    pub(crate) fn cancel_room_wait(&self, key: TaskKey) {
        self.gate.cancel_task(key);
    }
}

#[cfg(feature = "async")]
/// What a task's registration found on its re-check.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Registered {
    /// What it waits for is there already: poll again now.
    pub(crate) ready: bool,
    /// The handshake holds: a wake-up will come. When `false`, poll again
    /// after a short sleep by a timer.
    pub(crate) proven: bool,
}

/// The cold side of the park handshake for a task reading every ring of
/// `rings`: register (or refresh) `waker` under `key` on each, then the
/// heavy barrier. Returns whether the barrier held; the caller re-checks
/// whether anything is ready next.
#[cfg(feature = "async")]
pub(crate) fn register_reader_task<'a, T: 'a>(
    rings: impl Iterator<Item = &'a super::Ring<T>>,
    key: TaskKey,
    waker: &Waker,
) -> bool {
    for ring in rings {
        ring.wake.register_task(key, waker);
    }
    super::barrier::heavy()
}

/// Withdraws a reading task's registrations on every ring of `rings`.
#[cfg(feature = "async")]
pub(crate) fn cancel_reader_task<'a, T: 'a>(
    rings: impl Iterator<Item = &'a super::Ring<T>>,
    key: TaskKey,
) {
    for ring in rings {
        ring.wake.cancel_task(key);
    }
}

/// Wakes the reading tasks of every ring of `rings` (threads stay parked).
pub(crate) fn wake_reader_tasks<'a, T: 'a>(rings: impl Iterator<Item = &'a super::Ring<T>>) {
    for ring in rings {
        ring.wake.wake_tasks();
    }
}

#[cfg(all(test, feature = "async", not(veltrix_loom)))]
mod tests {
    use std::sync::atomic::AtomicUsize as StdCount;
    use std::sync::Arc;
    use std::task::{Wake, Waker};

    use super::*;
    use crate::ring::{Claimers, Ring};

    struct Count(StdCount);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    fn counting() -> (Arc<Count>, Waker) {
        let count = Arc::new(Count(StdCount::new(0)));
        (Arc::clone(&count), Waker::from(count))
    }

    #[test]
    fn a_registration_counts_once_and_a_wake_up_takes_it() {
        let tasks = Tasks::new();
        let waiting = AtomicUsize::new(0);
        let (count, waker) = counting();
        tasks.register(1, &waker, &waiting);
        tasks.register(1, &waker, &waiting);
        assert_eq!(waiting.load(Ordering::SeqCst), 1, "a re-poll refreshes");
        tasks.register(2, &waker, &waiting);
        assert_eq!(waiting.load(Ordering::SeqCst), 2);
        tasks.wake_all(&waiting);
        assert_eq!(waiting.load(Ordering::SeqCst), 0);
        assert_eq!(count.0.load(std::sync::atomic::Ordering::SeqCst), 2);
        assert!(!tasks.is_registered(1));
        tasks.wake_all(&waiting);
        assert_eq!(
            count.0.load(std::sync::atomic::Ordering::SeqCst),
            2,
            "woken once"
        );
    }

    #[test]
    fn cancelling_withdraws_only_what_is_still_registered() {
        let tasks = Tasks::new();
        let waiting = AtomicUsize::new(0);
        let (_, waker) = counting();
        tasks.register(1, &waker, &waiting);
        tasks.register(2, &waker, &waiting);
        tasks.cancel(1, &waiting);
        tasks.cancel(1, &waiting);
        assert_eq!(waiting.load(Ordering::SeqCst), 1);
        assert!(tasks.is_registered(2));
        tasks.wake_all(&waiting);
        tasks.cancel(2, &waiting);
        assert_eq!(waiting.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn a_release_wakes_a_task_waiting_for_room_and_a_publish_one_waiting_to_read() {
        let (ring, mut readers, _) = Ring::<u64>::new(1, 1, Claimers::Shared, None).unwrap();
        ring.try_push(7).unwrap();
        let (room, room_waker) = counting();
        let found = ring.register_for_room(1, 10, &room_waker);
        assert!(!found.ready, "the ring is full");
        assert!(ring.gate.has_blocked());
        let reader = &mut readers[0];
        assert_eq!(
            reader.drain(8, |_, _, _| std::ops::ControlFlow::Continue(())),
            1
        );
        assert_eq!(room.0.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert!(
            !ring.gate.has_blocked(),
            "the wake-up took the registration"
        );

        let (events, event_waker) = counting();
        register_reader_task(std::iter::once(&*ring), 11, &event_waker);
        assert!(ring.wake.has_sleepers());
        ring.try_push(8).unwrap();
        assert_eq!(events.0.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert!(!ring.wake.has_sleepers());
    }
}
