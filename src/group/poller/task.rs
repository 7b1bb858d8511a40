//! A poll-mode group driven from an async task: `Poller::poll_async` and
//! `Poller::into_stream`, which sleep by registering the task's waker with
//! the group's rings (see [`veltrix::future`](crate::future)).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use super::{PollGroup, Poller};
use crate::future::{timer, Patience};
use crate::group::dispatch::PartitionCursor;
use crate::listener::Listener;
use crate::ring::{register_reader_task, task_key, TaskKey, PARK_UNPROVEN};

/// Rounds one task poll makes when events keep arriving between its empty
/// poll and its registration, before it yields to the executor.
const ROUNDS_PER_POLL: usize = 2;

/// What an async task's poll of a group came to.
pub(crate) enum TaskPoll {
    /// This many events were handled: at least one, unless the budget
    /// was 0.
    Handled(usize),
    /// The group is finished (shut down, or every partition closed and
    /// drained or halted): nothing more will come.
    Finished,
    /// Nothing to handle; the task's waker is registered with every ring
    /// of the group, and must also be woken by the timer at this instant,
    /// if any (a retry's backoff ends, or the handshake is unproven).
    Pending(Option<Instant>),
}

/// Where a group stands when a poll handled nothing.
enum Idle {
    /// Something can be handled now.
    Ready,
    /// Nothing more will come.
    Finished,
    /// Nothing to do until a publish or, if any, this instant (the
    /// earliest retry due).
    Waiting(Option<Instant>),
    /// Shutdown is draining the group on another thread right now; it wakes
    /// the task once it is done and has released the group.
    Busy,
}

impl<E, L> PollGroup<E, L>
where
    E: Send + Sync + 'static,
    L: Listener<E> + 'static,
{
    /// Polls up to `max_events` events for a task; with nothing to handle,
    /// registers `waker` under `key` with every ring of the group (the
    /// reader's side of the park handshake, with a waker for a parked
    /// thread) and re-checks before answering `Pending`.
    ///
    /// Without `register` (the task is still within its patience), it only
    /// polls: `Pending(None)` then means nothing was there, and the caller
    /// yields to the executor and polls again.
    pub(super) fn poll_task(
        &self,
        max_events: usize,
        key: TaskKey,
        waker: &Waker,
        register: bool,
    ) -> TaskPoll {
        let rings = || self.core.rings.iter().map(|r| &**r);
        for _ in 0..ROUNDS_PER_POLL {
            let handled = self.poll_from(max_events, None, true);
            if handled > 0 || max_events == 0 {
                return TaskPoll::Handled(handled);
            }
            if let Idle::Finished = self.idle() {
                return TaskPoll::Finished;
            }
            if !register {
                return TaskPoll::Pending(None);
            }
            let proven = register_reader_task(rings(), key, waker);
            let unproven = (!proven).then(|| Instant::now() + PARK_UNPROVEN);
            match self.idle() {
                Idle::Ready => continue,
                Idle::Finished => return TaskPoll::Finished,
                Idle::Busy => return TaskPoll::Pending(unproven),
                Idle::Waiting(due) => {
                    let at = match (due, unproven) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                    return TaskPoll::Pending(at);
                }
            }
        }
        // Events keep arriving as fast as the rounds run: let the executor
        // run others, then come back at once.
        waker.wake_by_ref();
        TaskPoll::Pending(None)
    }

    /// Where the group stands, read under its lock (never waited for).
    fn idle(&self) -> Idle {
        let Some(state) = self.state.try_lock() else {
            return Idle::Busy;
        };
        if state.finished || state.cursors.iter().all(PartitionCursor::is_done) {
            return Idle::Finished;
        }
        let now = Instant::now();
        if state.cursors.iter().any(|c| c.is_ready(Some(now))) {
            return Idle::Ready;
        }
        Idle::Waiting(
            state
                .cursors
                .iter()
                .filter_map(PartitionCursor::retry_due)
                .min(),
        )
    }
}

impl Poller {
    /// Handles up to `max_events` events from an async task, waiting
    /// (without blocking the thread) until there is at least one: resolves
    /// to `Some(n)`, how many were handled (at least 1; `Some(0)` at once
    /// when `max_events` is 0), or to `None` once the group is finished —
    /// the engine shut down, or every partition closed and drained or
    /// halted — and nothing more will come.
    ///
    /// The group's guarantees are those of [`poll`](Self::poll): order per
    /// partition, failure policies, counts. While it waits, the task's
    /// waker is registered with each partition of the group and a publish
    /// wakes it; a retry waiting out its backoff wakes it through
    /// veltrix's timer thread when the backoff ends.
    ///
    /// A listener runs inside the poll, on whichever thread polls the
    /// future: keep listeners short, as with `poll`. A blocking publish from
    /// such a listener into a full partition its own group reads returns
    /// [`WouldDeadlock`](crate::PublishError::WouldDeadlock), as it does in
    /// `poll`. Between polls no thread is recorded as the group's driver
    /// (the task may run anywhere next), so a blocking `publish` from a
    /// thread into the group's full partition waits for the task: from
    /// inside an async runtime, publish with
    /// [`publish_async`](crate::Topic::publish_async) instead.
    ///
    /// # Cancellation
    ///
    /// Dropping the future loses nothing: events are handled only inside a
    /// poll of it, and each poll finishes what it started.
    pub fn poll_async(&mut self, max_events: usize) -> PollEvents<'_> {
        PollEvents {
            poller: self,
            max_events,
            wait: TaskWait::new(),
        }
    }

    /// The group as a [`Stream`](futures_core::Stream) of polls: each item
    /// is how many events one poll of up to `max_events` handled (at least
    /// 1), as from [`poll_async`](Self::poll_async); the stream ends when
    /// the group is finished.
    pub fn into_stream(self, max_events: usize) -> Batches {
        Batches {
            poller: self,
            max_events,
            wait: TaskWait::new(),
            ended: false,
        }
    }
}

/// The future of [`Poller::poll_async`].
#[must_use = "a future does nothing unless polled"]
#[derive(Debug)]
pub struct PollEvents<'a> {
    poller: &'a mut Poller,
    max_events: usize,
    wait: TaskWait,
}

impl Future for PollEvents<'_> {
    type Output = Option<usize>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<usize>> {
        let this = self.get_mut();
        this.wait.poll(this.poller, this.max_events, cx)
    }
}

impl Drop for PollEvents<'_> {
    fn drop(&mut self) {
        self.wait.cancel(self.poller);
    }
}

/// The stream of [`Poller::into_stream`].
#[must_use = "a stream does nothing unless polled"]
#[derive(Debug)]
pub struct Batches {
    poller: Poller,
    max_events: usize,
    wait: TaskWait,
    ended: bool,
}

impl futures_core::Stream for Batches {
    type Item = usize;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<usize>> {
        let this = self.get_mut();
        if this.ended {
            return Poll::Ready(None);
        }
        let polled = this.wait.poll(&this.poller, this.max_events.max(1), cx);
        if let Poll::Ready(None) = polled {
            this.ended = true;
        }
        polled
    }
}

impl futures_core::FusedStream for Batches {
    fn is_terminated(&self) -> bool {
        self.ended
    }
}

impl Drop for Batches {
    fn drop(&mut self) {
        self.wait.cancel(&self.poller);
    }
}

/// A task's wait on a group: its key, and the instant it last armed on the
/// timer (each instant is armed once).
#[derive(Debug)]
struct TaskWait {
    key: Option<TaskKey>,
    /// Whether a poll registered the key (a wake-up may have taken it
    /// since): only then is there anything to withdraw.
    registered: bool,
    armed: Option<Instant>,
    patience: Patience,
}

impl TaskWait {
    fn new() -> Self {
        TaskWait {
            key: None,
            registered: false,
            armed: None,
            patience: Patience::new(),
        }
    }

    fn poll(
        &mut self,
        poller: &Poller,
        max_events: usize,
        cx: &Context<'_>,
    ) -> Poll<Option<usize>> {
        let key = *self.key.get_or_insert_with(task_key);
        let register = self.patience.exhausted();
        match poller
            .driver
            .poll_task(max_events, key, cx.waker(), register)
        {
            TaskPoll::Handled(n) => {
                self.cancel(poller);
                Poll::Ready(Some(n))
            }
            TaskPoll::Finished => {
                self.cancel(poller);
                Poll::Ready(None)
            }
            TaskPoll::Pending(None) if !register => {
                // Still patient: let the executor run others, then look
                // again, without the cost of registering.
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            TaskPoll::Pending(at) => {
                self.registered = true;
                if let Some(at) = at {
                    if self.armed != Some(at) {
                        self.armed = Some(at);
                        timer::wake_at(at, cx.waker());
                    }
                }
                Poll::Pending
            }
        }
    }

    /// Withdraws the registrations, if any.
    fn cancel(&mut self, poller: &Poller) {
        if let Some(key) = self.key.take() {
            if std::mem::take(&mut self.registered) {
                poller.driver.cancel_task(key);
            }
        }
        self.armed = None;
        self.patience = Patience::new();
    }
}
