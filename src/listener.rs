//! The listener trait: how a group handles events.

use std::fmt;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::clock::Timestamp;

/// What a listener returns on failure. Any error type converts into it with `?`.
pub type ListenerError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Where an event came from, handed to [`Listener::on_event`] beside it.
#[derive(Debug, Clone, Copy)]
pub struct EventContext<'a> {
    pub(crate) topic: &'a str,
    pub(crate) group: &'a str,
    pub(crate) partition: u32,
    pub(crate) sequence: u64,
    pub(crate) published_at: Option<Timestamp>,
    pub(crate) end_of_batch: bool,
    pub(crate) attempt: u32,
    pub(crate) cancelled: &'a AtomicBool,
}

impl<'a> EventContext<'a> {
    /// The topic the event was published to.
    #[must_use]
    pub fn topic(&self) -> &'a str {
        self.topic
    }

    /// The group handling it.
    #[must_use]
    pub fn group(&self) -> &'a str {
        self.group
    }

    /// The partition it was routed to.
    #[must_use]
    pub fn partition(&self) -> u32 {
        self.partition
    }

    /// Its sequence number within the partition: 0, 1, 2, … in publish order.
    #[must_use]
    pub fn sequence(&self) -> u64 {
        self.sequence
    }

    /// When it was published: for every event of a topic declared with
    /// [`TopicOptions::timestamps(true)`](crate::TopicOptions::timestamps);
    /// otherwise only for the events the latency metrics sample (those
    /// whose [`sequence`](Self::sequence) is a multiple of
    /// [`latency_sampling`](crate::EngineBuilder::latency_sampling)), and
    /// for none with metrics off. Events of one `publish_batch` share one
    /// time.
    #[must_use]
    pub fn published_at(&self) -> Option<Timestamp> {
        self.published_at
    }

    /// Whether this is the last event of the batch being handed out: a good
    /// moment to flush whatever the listener accumulates.
    #[must_use]
    pub fn end_of_batch(&self) -> bool {
        self.end_of_batch
    }

    /// Which attempt at this event this is: 1 the first time, 2 for the
    /// first retry of the group's failure policy, and so on.
    #[must_use]
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Whether a shutdown deadline has passed
    /// ([`Engine::shutdown_timeout`](crate::Engine::shutdown_timeout)): a
    /// listener that waits on something outside the engine (I/O, a remote
    /// acknowledgement) should give up its wait and return when it turns
    /// `true`; the group hands out no further event after it.
    #[must_use]
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }
}

/// Who a listener instance is: passed to the group's listener factory and to
/// [`Listener::on_start`].
#[derive(Debug, Clone)]
pub struct WorkerInfo {
    pub(crate) group: String,
    pub(crate) topic: String,
    pub(crate) worker: usize,
    pub(crate) workers: usize,
    pub(crate) partitions: Vec<u32>,
}

impl WorkerInfo {
    /// The group's name.
    #[must_use]
    pub fn group(&self) -> &str {
        &self.group
    }

    /// The topic the group reads.
    #[must_use]
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// This worker's index in `0..workers()` (0 for a poll-mode group).
    #[must_use]
    pub fn worker(&self) -> usize {
        self.worker
    }

    /// Number of workers in the group when this one started (1 for a
    /// poll-mode group); [`Engine::scale`](crate::Engine::scale) changes it
    /// later.
    #[must_use]
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// The partitions this worker holds as it starts, in increasing order. A
    /// worker started by [`Engine::scale`](crate::Engine::scale) holds none
    /// yet: its partitions arrive through
    /// [`Listener::on_partitions_assigned`].
    #[must_use]
    pub fn partitions(&self) -> &[u32] {
        &self.partitions
    }
}

/// Handles the events of one listener group, one worker at a time.
///
/// Each worker of a group owns one listener (made by the group's factory), so
/// `on_event` takes `&mut self` and needs no locking. Events arrive by
/// reference: every group reads the same event in place.
///
/// # Examples
///
/// ```
/// use veltrix::{EventContext, Listener, ListenerError};
///
/// #[derive(Default)]
/// struct Counter { seen: u64 }
///
/// impl Listener<u64> for Counter {
///     fn on_event(&mut self, event: &u64, _ctx: &EventContext<'_>) -> Result<(), ListenerError> {
///         if *event == u64::MAX {
///             return Err("sentinel value is not a valid event".into());
///         }
///         self.seen += 1;
///         Ok(())
///     }
/// }
/// ```
pub trait Listener<E>: Send {
    /// Handles one event. An `Err` (or a panic) is caught and counted as a
    /// failure of this event; the worker carries on with the next one.
    ///
    /// # Errors
    ///
    /// Whatever the listener decides is a failure to handle `event`.
    fn on_event(&mut self, event: &E, ctx: &EventContext<'_>) -> Result<(), ListenerError>;

    /// Called once on the worker's thread (or the poller's) before the first
    /// event.
    fn on_start(&mut self, _worker: &WorkerInfo) {}

    /// Called after each batch handed out from one partition.
    fn on_batch_end(&mut self) {}

    /// Called once after the last event, when the engine shuts down, or
    /// when [`Engine::scale`](crate::Engine::scale) retires this worker.
    fn on_shutdown(&mut self) {}

    /// Called on the worker's thread, between batches, when
    /// [`Engine::scale`](crate::Engine::scale) moves `partitions` (in
    /// increasing order) to this worker; its next event from them is the
    /// one after the last the previous worker handled. Not called for the
    /// partitions a worker holds from its start
    /// ([`WorkerInfo::partitions`]), nor in poll mode.
    fn on_partitions_assigned(&mut self, _partitions: &[u32]) {}

    /// Called on the worker's thread, between batches, before `partitions`
    /// (in increasing order) move to another worker: the place to flush
    /// state kept per partition. Nothing of theirs reaches this listener
    /// afterwards. Not called at shutdown (that is
    /// [`on_shutdown`](Self::on_shutdown)), nor in poll mode.
    fn on_partitions_revoked(&mut self, _partitions: &[u32]) {}
}

impl<E, F> Listener<E> for F
where
    F: FnMut(&E, &EventContext<'_>) -> Result<(), ListenerError> + Send,
{
    fn on_event(&mut self, event: &E, ctx: &EventContext<'_>) -> Result<(), ListenerError> {
        self(event, ctx)
    }
}

/// A listener made from a closure; see [`from_fn`].
pub struct FnListener<E, F> {
    f: F,
    _event: PhantomData<fn(&E)>,
}

/// Makes a listener from a closure, letting the compiler infer its types.
///
/// # Examples
///
/// ```
/// use veltrix::listener::from_fn;
///
/// let mut total = 0u64;
/// let _listener = from_fn(move |event: &u64, _ctx| {
///     total += event;
///     Ok(())
/// });
/// ```
pub fn from_fn<E, F>(f: F) -> FnListener<E, F>
where
    F: FnMut(&E, &EventContext<'_>) -> Result<(), ListenerError> + Send,
{
    FnListener {
        f,
        _event: PhantomData,
    }
}

impl<E, F> Listener<E> for FnListener<E, F>
where
    F: FnMut(&E, &EventContext<'_>) -> Result<(), ListenerError> + Send,
{
    fn on_event(&mut self, event: &E, ctx: &EventContext<'_>) -> Result<(), ListenerError> {
        (self.f)(event, ctx)
    }
}

impl<E, F> fmt::Debug for FnListener<E, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FnListener")
    }
}
