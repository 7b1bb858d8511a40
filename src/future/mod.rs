//! Async producers and consumers (feature `async`): publish from tasks and
//! consume a poll-mode group from a task, on any executor, without ever
//! blocking an executor thread.
//!
//! | blocking                     | async                                                      |
//! | ---------------------------- | ---------------------------------------------------------- |
//! | [`Topic::publish`]           | [`Topic::publish_async`] → [`Publish`]                     |
//! | [`Topic::publish_batch`]     | [`Topic::publish_batch_async`] → [`PublishBatch`]          |
//! | [`Producer::publish`]        | [`Producer::publish_async`] → [`ProducerPublish`]          |
//! | [`Poller::poll`]             | [`Poller::poll_async`] → [`PollEvents`]                    |
//! |                              | [`Poller::into_stream`] → [`Batches`], a `Stream` of polls |
//!
//! # How a task waits
//!
//! Exactly as a thread does, with a [`Waker`](std::task::Waker) where the
//! thread would park. For a short while (50 µs) the task yields to the
//! executor after each look, so a short wait costs no registration; then a
//! producer task that finds its partition full
//! registers its waker with that partition's gate and returns `Pending`; a
//! consumer task with nothing to handle registers with every partition of
//! its group. Registering counts in the same word the hot side already
//! reads for sleeping threads, followed by the same asymmetric barrier and
//! re-check, so no wake-up is lost and the publish and release paths pay
//! nothing extra while no task waits. A wake-up wakes every waiting task
//! of that partition once; each tries again and registers again if it
//! still has to wait.
//!
//! Waits that end on a clock — a [`FullPolicy::BlockTimeout`] deadline, a
//! retry's backoff — are woken by one small timer thread of veltrix's
//! (`veltrix-timer`, started on first use): the crate depends on no
//! runtime.
//!
//! # Cancellation
//!
//! Dropping a publish future before it completes drops its event: it was
//! never accepted, never counted, and no listener sees it. Dropping a poll
//! future loses nothing. Both withdraw their registrations when dropped.
//!
//! # Deadlocks
//!
//! A waiting task blocks no thread, so an async publish never returns
//! [`WouldDeadlock`](crate::PublishError::WouldDeadlock). The blocking
//! guard still holds inside an async poll: a listener that publishes with
//! the blocking `publish` into a full partition its own group reads gets
//! `WouldDeadlock`. What no library can see is a thread that blocks the
//! executor which should run the consumer task (a blocking `publish` on a
//! current-thread runtime, say): from a task, publish with
//! `publish_async`.
//!
//! # Example
//!
//! A current-thread runtime where a producer task fills a two-slot topic
//! that a consumer task drains: with the blocking `publish` this would
//! wait forever on the one thread.
//!
//! ```
//! use veltrix::{Engine, GroupOptions, TopicOptions};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let engine = Engine::builder()
//!     .topic::<u64>("inputs", TopicOptions::new(1).capacity(2))
//!     .subscribe("tick", "inputs", GroupOptions::poll(), |_| {
//!         veltrix::listener::from_fn(|_n: &u64, _ctx| Ok(()))
//!     })
//!     .build()?;
//! let inputs = engine.topic::<u64>("inputs")?;
//! let mut tick = engine.poller("tick")?;
//! let producer = async {
//!     for n in 0..100 {
//!         inputs.publish_async(n).await?;
//!     }
//!     Ok::<_, veltrix::PublishError<u64>>(())
//! };
//! let consumer = async {
//!     let mut handled = 0;
//!     while handled < 100 {
//!         handled += tick.poll_async(16).await.unwrap_or(0);
//!     }
//!     handled
//! };
//! let (produced, handled) = tokio::join!(producer, consumer);
//! produced?;
//! assert_eq!(handled, 100);
//! # Ok(())
//! # }
//! # tokio::runtime::Builder::new_current_thread().build()?.block_on(run())?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [`Topic::publish`]: crate::Topic::publish
//! [`Topic::publish_async`]: crate::Topic::publish_async
//! [`Topic::publish_batch`]: crate::Topic::publish_batch
//! [`Topic::publish_batch_async`]: crate::Topic::publish_batch_async
//! [`Producer::publish`]: crate::Producer::publish
//! [`Producer::publish_async`]: crate::Producer::publish_async
//! [`Poller::poll`]: crate::Poller::poll
//! [`Poller::poll_async`]: crate::Poller::poll_async
//! [`Poller::into_stream`]: crate::Poller::into_stream
//! [`FullPolicy::BlockTimeout`]: crate::FullPolicy::BlockTimeout

pub(crate) mod timer;

use std::time::{Duration, Instant};

/// How long a task that has to wait keeps yielding to the executor and
/// looking again before it registers its waker and sleeps.
///
/// Registering pays the cold side's heavy barrier (a process-wide
/// `membarrier`): about 0.3 µs on an idle machine, but an inter-processor
/// interrupt to every core running one of the process's threads, measured
/// at 12 µs on a 2-vCPU KVM guest whose other vCPU was busy. A wait that
/// ends within the patience never pays it; a longer one pays it once. While
/// patient, the task yields after every look, so the executor's other
/// tasks run as usual. (The same trade as a thread's adaptive wait, which
/// spins and yields before it parks.)
pub(crate) const TASK_PATIENCE: Duration = Duration::from_micros(50);

/// A task's patience: whether it has waited long enough to register.
#[derive(Debug, Default)]
pub(crate) struct Patience {
    since: Option<Instant>,
}

impl Patience {
    pub(crate) fn new() -> Self {
        Patience::default()
    }

    /// Whether the wait begun at the first call has lasted
    /// [`TASK_PATIENCE`].
    pub(crate) fn exhausted(&mut self) -> bool {
        let now = Instant::now();
        now.duration_since(*self.since.get_or_insert(now)) >= TASK_PATIENCE
    }
}

pub use crate::group::{Batches, PollEvents};
pub use crate::topic::{ProducerPublish, Publish, PublishBatch};
