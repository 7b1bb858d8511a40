//! A publish future's wait for room: the full policy's answer
//! ([`Step`]), the registration of the task's waker with the full ring's
//! gate and the timer's wake-up at a deadline ([`RoomWait`]).

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use crate::clock;
use crate::error::PublishErrorKind;
use crate::future::{timer, Patience};
use crate::ring::{task_key, Ring, TaskKey, PARK_UNPROVEN};
use crate::topic::{Full, TopicInner};

/// What a future does after its push found the partition full.
pub(super) enum Step {
    /// There is room (or the ring closed) now: push again.
    Retry,
    /// Registered; a release (or the timer) wakes the task.
    Pending,
    /// Still within its patience: yield to the executor, look again soon.
    Yield,
    /// The full policy dropped the event (counted).
    Dropped,
    /// The full policy, or the deadline, refused it.
    Refused(PublishErrorKind),
}

/// A publish future's wait for room: its registration with a ring's gate,
/// its deadline under `BlockTimeout`, the wake-up it armed on the timer.
/// Dropping it withdraws the registration.
pub(super) struct RoomWait<E> {
    /// The ring registered with, and under which key.
    registered: Option<(Arc<Ring<E>>, TaskKey)>,
    /// `Some` once the policy was asked: the deadline, if any.
    deadline: Option<Option<Instant>>,
    /// The instant last armed on the timer (each is armed once).
    armed: Option<Instant>,
    patience: Patience,
}

impl<E> RoomWait<E> {
    /// A wait that has not begun: not registered, no deadline yet.
    pub(super) fn new() -> Self {
        RoomWait {
            registered: None,
            deadline: None,
            armed: None,
            patience: Patience::new(),
        }
    }

    /// The full policy's answer for one event that found `ring` (of
    /// `partition`) full, and if it may wait, the registration and its
    /// re-check.
    pub(super) fn full(
        &mut self,
        inner: &TopicInner<E>,
        ring: &Arc<Ring<E>>,
        partition: u32,
        cx: &Context<'_>,
    ) -> Step
    where
        E: Send + Sync + 'static,
    {
        let timeout = match inner.may_wait(1) {
            Ok(timeout) => timeout,
            Err(Full::Dropped) => return Step::Dropped,
            Err(Full::Refused(kind)) => return Step::Refused(kind),
        };
        let deadline = *self.deadline.get_or_insert_with(|| match timeout {
            Some(timeout) => clock::deadline_after(timeout),
            None => None,
        });
        let now = Instant::now();
        if deadline.is_some_and(|d| now >= d) {
            return match inner.timed_out(partition) {
                Full::Refused(kind) => Step::Refused(kind),
                Full::Dropped => Step::Dropped,
            };
        }
        if !self.patience.exhausted() {
            return Step::Yield;
        }
        let key = self.key_for(ring);
        let found = ring.register_for_room(1, key, cx.waker());
        if found.ready {
            return Step::Retry;
        }
        let wake_at = if found.proven {
            deadline
        } else {
            Some(deadline.map_or(now + PARK_UNPROVEN, |d| d.min(now + PARK_UNPROVEN)))
        };
        if let Some(at) = wake_at {
            if self.armed != Some(at) {
                self.armed = Some(at);
                timer::wake_at(at, cx.waker());
            }
        }
        Step::Pending
    }

    /// The key this wait registers under with `ring`, withdrawing a
    /// registration with another ring first (a batch moves between
    /// partitions).
    fn key_for(&mut self, ring: &Arc<Ring<E>>) -> TaskKey {
        if let Some((held, key)) = &self.registered {
            if Arc::ptr_eq(held, ring) {
                return *key;
            }
        }
        self.done();
        let key = task_key();
        self.registered = Some((Arc::clone(ring), key));
        key
    }

    /// The event this wait was for is published or refused: withdraw the
    /// registration and start afresh for the next one.
    pub(super) fn done(&mut self) {
        if let Some((ring, key)) = self.registered.take() {
            ring.cancel_room_wait(key);
        }
        self.deadline = None;
        self.armed = None;
        self.patience = Patience::new();
    }

    /// Whether the task is registered with a ring's gate (for `Debug`).
    pub(super) fn is_registered(&self) -> bool {
        self.registered.is_some()
    }
}

impl<E> Drop for RoomWait<E> {
    fn drop(&mut self) {
        if let Some((ring, key)) = self.registered.take() {
            ring.cancel_room_wait(key);
        }
    }
}

/// Pending, to be polled again soon: the task yields to the executor.
pub(super) fn yield_now<T>(cx: &Context<'_>) -> Poll<T> {
    cx.waker().wake_by_ref();
    Poll::Pending
}
