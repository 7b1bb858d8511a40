//! Poll mode: a group with no threads, driven from the host's own loop.
//!
//! [`Poller`] is the host's handle; [`driver`] holds the group behind it and
//! its polls, [`control`] the engine's side (shutdown's drain), `task` the
//! polls of an async task.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[cfg(feature = "async")]
use crate::ring::TaskKey;
#[cfg(feature = "async")]
use std::task::Waker;
#[cfg(feature = "async")]
use task::TaskPoll;
#[cfg(feature = "async")]
pub use task::{Batches, PollEvents};

pub(crate) use driver::PollGroup;

mod control;
mod driver;
#[cfg(feature = "async")]
mod task;

/// The type-erased face of a poll-mode group.
pub(crate) trait PollDriver: Send + Sync {
    /// Handles up to `max_events` events, starting no batch once
    /// `deadline` has passed; returns how many were handled.
    fn poll(&self, max_events: usize, deadline: Option<Instant>) -> usize;
    /// The group's name.
    fn group(&self) -> &str;
    /// Events published to the group's partitions and not yet handled.
    fn pending(&self) -> u64;
    /// Whether this call is the first: the group's one `Poller` is handed
    /// out only then.
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
    /// The handle on `driver`, made once per group (see
    /// [`PollDriver::take`]).
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
