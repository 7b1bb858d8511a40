//! A poll-mode group as the one state behind its lock: the cursors and
//! the listener ([`PollState`]), the group ([`PollGroup`]) and its polls,
//! fair rounds over the partitions on the calling thread, and the
//! [`PollDriver`] a [`Poller`](super::Poller) reaches it through.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;

#[cfg(feature = "async")]
use super::task::TaskPoll;
use super::PollDriver;
use crate::group::dispatch::{add, guarded, Dispatcher, PartitionCursor};
use crate::group::driving::{enter_reader, nesting};
use crate::group::GroupCore;
use crate::listener::{Listener, WorkerInfo};
#[cfg(feature = "async")]
use crate::ring::TaskKey;
use crate::ring::{thread_token, FROM_HOST};
#[cfg(feature = "async")]
use std::task::Waker;

/// What a poll-mode group's lock guards: what a poll needs to run.
pub(super) struct PollState<E, L> {
    /// The group's cursors, one per partition (all of the topic's).
    pub(super) cursors: Vec<PartitionCursor<E>>,
    /// The group's one listener.
    pub(super) listener: L,
    /// Partition the next round starts from (rotates for fairness).
    next: usize,
    /// Whether the listener's `on_start` has run.
    pub(super) started: bool,
    /// Whether shutdown has drained the group: later polls read nothing.
    pub(super) finished: bool,
}

/// A poll-mode group: its state behind a lock taken once per `poll` call
/// (uncontended unless shutdown is draining it at that moment).
pub(crate) struct PollGroup<E, L> {
    /// The group's shared state and its view of the topic's rings.
    pub(super) core: Arc<GroupCore<E>>,
    /// The failure policy every event goes through.
    pub(super) dispatcher: Dispatcher<E>,
    /// What the listener is told about itself (worker 0 of 1).
    pub(super) info: WorkerInfo,
    /// Most events one drain of a partition hands over.
    max_batch: usize,
    /// Whether the one `Poller` has been handed out.
    taken: AtomicBool,
    /// Mirrors `state.started` for the lock-free empty-poll check.
    started: AtomicBool,
    /// Taken once per poll (and by shutdown's drain).
    pub(super) state: Mutex<PollState<E, L>>,
}

impl<E, L> PollGroup<E, L>
where
    E: Send + Sync + 'static,
    L: Listener<E> + 'static,
{
    /// A poll-mode group over `cursors`, not yet started: the listener's
    /// `on_start` runs at its first poll or drain.
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
    pub(super) fn driving<R>(
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
    pub(super) fn run(
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
    pub(super) fn poll_from(
        &self,
        max_events: usize,
        deadline: Option<Instant>,
        task: bool,
    ) -> usize {
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
