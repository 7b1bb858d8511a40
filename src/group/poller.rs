//! Poll mode: a group with no threads, driven from the host's own loop.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::dispatch::{add, guarded, Dispatcher, PartitionCursor};
use super::driving::{drives, enter_reader, nesting};
use super::{GroupControl, GroupCore};
use crate::listener::{Listener, WorkerInfo};
use crate::report::GroupReport;
#[cfg(feature = "async")]
use crate::ring::TaskKey;
use crate::ring::{thread_token, FROM_HOST};
#[cfg(feature = "async")]
use std::task::Waker;
#[cfg(feature = "async")]
use task::TaskPoll;
#[cfg(feature = "async")]
pub use task::{Batches, PollEvents};

#[cfg(feature = "async")]
mod task;

/// Events a shutdown handles per assisting step of a poll-mode group (see
/// `GroupControl::assist`).
const ASSIST_BUDGET: usize = 1024;

/// The type-erased face of a poll-mode group.
pub(crate) trait PollDriver: Send + Sync {
    fn poll(&self, max_events: usize, deadline: Option<Instant>) -> usize;
    fn group(&self) -> &str;
    fn pending(&self) -> u64;
    fn take(&self) -> bool;
    /// An async task's poll (see `task::PollEvents`).
    #[cfg(feature = "async")]
    fn poll_task(&self, max_events: usize, key: TaskKey, waker: &Waker, register: bool)
        -> TaskPoll;
    /// Withdraws an async task's wait.
    #[cfg(feature = "async")]
    fn cancel_task(&self, key: TaskKey);
}

/// Drives a poll-mode group from the host's thread.
///
/// Every call handles at most the given number of events, fairly across the
/// group's partitions, on the calling thread, and never blocks: with nothing
/// to do it returns 0 at once. Single-threaded publish-then-poll is fully
/// deterministic. Obtain it once with [`Engine::poller`](crate::Engine::poller);
/// it is `Send`, so it can move to the thread that runs the host's loop.
///
/// After [`Engine::shutdown`](crate::Engine::shutdown) the engine has drained
/// the group itself and `poll` returns 0.
///
/// A poll-mode group gates its producers like any group: once a partition
/// is full, a blocking `publish` waits for the next `poll`. Keep polling
/// until your producers are done — a host thread that waits for (joins) its
/// producers without polling can wait forever. A blocking `publish` from
/// inside `poll` (a listener publishing back into a full partition its own
/// group reads) returns [`PublishError::WouldDeadlock`](crate::PublishError::WouldDeadlock)
/// instead of waiting.
///
/// Between polls, the group is expected to be polled next by the thread
/// that last called `poll` outside any listener (the host's loop): a
/// blocking `publish` by that thread into the group's full partition — at
/// the top of the loop, or from a listener of another group it is polling —
/// returns `WouldDeadlock` too, since only that thread's next poll could
/// make room. (Move a `Poller` to another thread before polling it there,
/// not after: until the new thread's first poll, a blocking publish into
/// the group from the old one is refused.) A poll from inside a listener
/// does not change which thread that is.
///
/// # Examples
///
/// ```
/// use veltrix::{Engine, GroupOptions, TopicOptions};
///
/// let engine = Engine::builder()
///     .topic::<u32>("inputs", TopicOptions::new(2))
///     .subscribe("tick", "inputs", GroupOptions::poll(), |_| {
///         veltrix::listener::from_fn(|_input: &u32, _ctx| Ok(()))
///     })
///     .build()?;
/// let inputs = engine.topic::<u32>("inputs")?;
/// let mut poller = engine.poller("tick")?;
/// for i in 0..10 {
///     inputs.publish(i)?;
/// }
/// // One game tick: handle at most 4 events.
/// assert_eq!(poller.poll(4), 4);
/// assert_eq!(poller.poll(100), 6);
/// assert_eq!(poller.poll(100), 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Poller {
    driver: Arc<dyn PollDriver>,
}

impl Poller {
    pub(crate) fn new(driver: Arc<dyn PollDriver>) -> Self {
        Poller { driver }
    }

    /// Handles up to `max_events` events and returns how many were handled.
    pub fn poll(&mut self, max_events: usize) -> usize {
        self.driver.poll(max_events, None)
    }

    /// Like [`poll`](Self::poll), and also stops starting new batches once
    /// `max_time` has passed (a batch in progress finishes).
    pub fn poll_for(&mut self, max_events: usize, max_time: Duration) -> usize {
        self.driver
            .poll(max_events, crate::clock::deadline_after(max_time))
    }

    /// Events published to the group's partitions and not yet handled.
    #[must_use]
    pub fn pending(&self) -> u64 {
        self.driver.pending()
    }

    /// The group's name.
    #[must_use]
    pub fn group(&self) -> &str {
        self.driver.group()
    }
}

impl fmt::Debug for Poller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Poller")
            .field("group", &self.driver.group())
            .finish_non_exhaustive()
    }
}

struct PollState<E, L> {
    cursors: Vec<PartitionCursor<E>>,
    listener: L,
    /// Partition the next round starts from (rotates for fairness).
    next: usize,
    started: bool,
    finished: bool,
}

/// A poll-mode group: its state behind a lock taken once per `poll` call
/// (uncontended unless shutdown is draining it at that moment).
pub(crate) struct PollGroup<E, L> {
    core: Arc<GroupCore<E>>,
    dispatcher: Dispatcher<E>,
    info: WorkerInfo,
    max_batch: usize,
    taken: AtomicBool,
    /// Mirrors `state.started` for the lock-free empty-poll check.
    started: AtomicBool,
    state: Mutex<PollState<E, L>>,
}

impl<E, L> PollGroup<E, L>
where
    E: Send + Sync + 'static,
    L: Listener<E> + 'static,
{
    pub(crate) fn new(
        core: Arc<GroupCore<E>>,
        dispatcher: Dispatcher<E>,
        info: WorkerInfo,
        max_batch: usize,
        cursors: Vec<PartitionCursor<E>>,
        listener: L,
    ) -> Self {
        PollGroup {
            core,
            dispatcher,
            max_batch,
            taken: AtomicBool::new(false),
            started: AtomicBool::new(false),
            state: Mutex::new(PollState {
                cursors,
                listener,
                next: 0,
                started: false,
                finished: false,
            }),
            info,
        }
    }

    /// Runs `f` with the calling thread recorded as the driver of every
    /// cursor of the group (for the deadlock check of blocking producers).
    ///
    /// A record stays after the poll: between polls, a poll group is
    /// expected to be polled next by the thread that last polled it from
    /// outside any listener (the host's loop), so a producer that would
    /// wait for the group waits for that thread, and one that *is* that
    /// thread (the host, or a listener running on it) would wait for itself
    /// and is refused. A poll from inside a listener (nested) is
    /// opportunistic: it leaves the host's record in place, and only
    /// records itself if no host has polled the group yet.
    ///
    /// A poll by an async task (`task`) leaves no record: the task may run
    /// on any thread next, so no thread is known to be the one to wait for.
    fn driving<R>(
        &self,
        state: &mut PollState<E, L>,
        task: bool,
        f: impl FnOnce(&mut PollState<E, L>) -> R,
    ) -> R {
        let token = thread_token();
        let before = state.cursors.first().map_or(0, PartitionCursor::driver);
        for cursor in &state.cursors {
            cursor.set_driver(token);
        }
        let out = f(state);
        let after = if task {
            0
        } else if nesting() <= 1 {
            token | FROM_HOST
        } else if before & FROM_HOST != 0 {
            before
        } else {
            token
        };
        for cursor in &state.cursors {
            cursor.set_driver(after);
        }
        out
    }

    /// Rounds over the partitions, each round giving every partition an
    /// equal share of what is left of the budget, until the budget or the
    /// events run out.
    fn run(
        &self,
        state: &mut PollState<E, L>,
        max_events: usize,
        deadline: Option<Instant>,
    ) -> (usize, bool) {
        let shared = &self.core.shared;
        if !state.started {
            state.started = true;
            let panics = guarded(|| state.listener.on_start(&self.info));
            add(&shared.counters[0].drop_panics, panics);
            self.started.store(true, Ordering::Relaxed);
        }
        let n = state.cursors.len();
        let mut remaining = max_events;
        let mut out_of_time = false;
        'rounds: while remaining > 0 {
            let share = (remaining / n).max(1);
            let mut round = 0;
            for i in 0..n {
                if remaining == 0 {
                    break;
                }
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    out_of_time = true;
                    break 'rounds;
                }
                let at = (state.next + i) % n;
                let PollState {
                    cursors, listener, ..
                } = &mut *state;
                let got = self.dispatcher.drain(
                    &mut cursors[at],
                    listener,
                    shared,
                    0,
                    share.min(remaining).min(self.max_batch),
                );
                remaining -= got;
                round += got;
            }
            state.next = (state.next + 1) % n;
            if round == 0 {
                break;
            }
        }
        (max_events - remaining, out_of_time)
    }
}

impl<E, L> PollDriver for PollGroup<E, L>
where
    E: Send + Sync + 'static,
    L: Listener<E> + 'static,
{
    fn poll(&self, max_events: usize, deadline: Option<Instant>) -> usize {
        self.poll_from(max_events, deadline, false)
    }

    #[cfg(feature = "async")]
    fn poll_task(
        &self,
        max_events: usize,
        key: TaskKey,
        waker: &Waker,
        register: bool,
    ) -> TaskPoll {
        PollGroup::poll_task(self, max_events, key, waker, register)
    }

    #[cfg(feature = "async")]
    fn cancel_task(&self, key: TaskKey) {
        crate::ring::cancel_reader_task(self.core.rings.iter().map(|r| &**r), key);
    }

    fn group(&self) -> &str {
        &self.core.shared.name
    }

    fn pending(&self) -> u64 {
        self.core.lag()
    }

    fn take(&self) -> bool {
        !self.taken.swap(true, Ordering::SeqCst)
    }
}

impl<E, L> PollGroup<E, L>
where
    E: Send + Sync + 'static,
    L: Listener<E> + 'static,
{
    /// A poll of up to `max_events` events, by the host's thread or by an
    /// async `task` (see [`driving`](Self::driving)).
    fn poll_from(&self, max_events: usize, deadline: Option<Instant>, task: bool) -> usize {
        let counters = &self.core.shared.counters[0];
        // An empty poll (a game tick with nothing new, a spinning host loop)
        // costs a cursor and a stamp load per partition, no lock. Once the
        // listener has started, a group with retries or halts pending takes
        // the full path (a due retry has no new stamp to show).
        if self.started.load(Ordering::Relaxed) && !self.core.any_ready() {
            // Only the one `Poller` calls `poll`: a plain add is exact.
            add(&counters.polls, 1);
            return 0;
        }
        // Never block: if shutdown is draining the group right now, there is
        // nothing for this call to do.
        let Some(mut state) = self.state.try_lock() else {
            return 0;
        };
        if state.finished || max_events == 0 {
            return 0;
        }
        let _reader = enter_reader(self.core.shared.id);
        let (handled, out_of_time) = self.driving(&mut state, task, |state| {
            self.run(state, max_events, deadline)
        });
        // Plain adds to counters only this (locked) poller writes: no lock,
        // no shared line per poll.
        add(&counters.polls, 1);
        // Cut off by either budget, events or time, with events left.
        if (handled == max_events || out_of_time)
            && state.cursors.iter().any(|c| c.reader.has_next())
        {
            add(&counters.budget_exhausted, 1);
        }
        handled
    }
}

impl<E, L> GroupControl for PollGroup<E, L>
where
    E: Send + Sync + 'static,
    L: Listener<E> + 'static,
{
    fn request_stop(&self) {}

    fn abort(&self) {
        self.core.shared.abort.store(true, Ordering::SeqCst);
    }

    /// Drains the group on the calling thread (the one shutting down), until
    /// every partition is done or `deadline` passes. Called from inside one
    /// of this group's own polls (a listener shutting the engine down), it
    /// returns at once: that poll holds the group, and finishes the batch it
    /// is in when the listener returns.
    fn join(&self, deadline: Option<Instant>) {
        if drives(self.core.shared.id) {
            return;
        }
        let mut state = match deadline {
            None => self.state.lock(),
            Some(deadline) => {
                let grace = deadline.checked_add(crate::STUCK_GRACE).unwrap_or(deadline);
                match self.state.try_lock_until(grace) {
                    Some(state) => state,
                    None => {
                        // A poll on another thread holds the group past the
                        // deadline: its listener does not return. Left
                        // behind like a stuck worker; that poll stops at
                        // its next event.
                        self.abort();
                        self.core.shared.left_behind(0);
                        return;
                    }
                }
            }
        };
        if state.finished {
            return;
        }
        let _reader = enter_reader(self.core.shared.id);
        while !state.cursors.iter().all(PartitionCursor::is_done) {
            if self.core.shared.abort.load(Ordering::SeqCst)
                || deadline.is_some_and(|d| Instant::now() >= d)
            {
                break;
            }
            if self.driving(&mut state, false, |state| {
                self.run(state, usize::MAX, deadline).0
            }) == 0
            {
                // Nothing ready: a retry backoff or a publish in flight.
                let due = state
                    .cursors
                    .iter()
                    .filter_map(PartitionCursor::retry_due)
                    .min();
                let wait = due.map_or(Duration::from_micros(50), |d| {
                    d.saturating_duration_since(Instant::now())
                        .min(Duration::from_millis(1))
                });
                std::thread::sleep(wait);
            }
        }
        state.finished = true;
        let counters = &self.core.shared.counters[0];
        if !state.started {
            state.started = true;
            add(
                &counters.drop_panics,
                guarded(|| state.listener.on_start(&self.info)),
            );
        }
        add(
            &counters.drop_panics,
            guarded(|| state.listener.on_shutdown()),
        );
        drop(state);
        // A task waiting in `poll_async` learns that nothing more will come.
        // Only now, with the group's lock released: a task woken while it
        // was held would find the group busy and sleep again, with no
        // wake-up left to come (see `task::Idle::Busy`).
        crate::ring::wake_reader_tasks(self.core.rings.iter().map(|r| &**r));
    }

    fn dead_letter_rest(&self) -> u64 {
        let mut state = self.state.lock();
        let PollState { cursors, .. } = &mut *state;
        cursors
            .iter_mut()
            .map(|cursor| {
                self.dispatcher
                    .dead_letter_rest(cursor, &self.core.shared, 0)
            })
            .sum()
    }

    fn release_readers(&self) {
        if drives(self.core.shared.id) {
            return;
        }
        if !self.core.shared.stuck.lock().is_empty() {
            // A poll on another thread holds the group inside its listener
            // (`join` left it behind): its readers stay with it.
            return;
        }
        // Otherwise `join` finished the group under this lock, and any poll
        // that takes it now sees `finished` and returns at once: the wait
        // is short, and no race with a host's poll can keep the readers
        // (and so the events left in the rings) from being released.
        let mut state = self.state.lock();
        if state.finished {
            // Later polls see `finished` and read nothing.
            state.cursors.clear();
        }
    }

    fn report(&self) -> GroupReport {
        self.core.report("poll")
    }

    fn assist(&self) -> usize {
        if drives(self.core.shared.id) {
            return 0;
        }
        let Some(mut state) = self.state.try_lock() else {
            return 0;
        };
        if state.finished {
            return 0;
        }
        let _reader = enter_reader(self.core.shared.id);
        self.driving(&mut state, false, |state| {
            self.run(state, ASSIST_BUDGET, None).0
        })
    }

    fn metrics(&self) -> (Vec<(u32, u64)>, Option<crate::metrics::Histograms>) {
        self.core.metrics()
    }

    fn name(&self) -> &str {
        &self.core.shared.name
    }

    fn as_poll(self: Arc<Self>) -> Option<Arc<dyn PollDriver>> {
        Some(self)
    }
}
