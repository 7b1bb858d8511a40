//! The engine: owns every topic, group and worker; builds, reports, shuts
//! down.

mod attach;
mod blueprint;
mod builder;
mod join;
mod live;
mod shutdown;
mod watchdog;

pub use builder::{EngineBuilder, DEFAULT_LATENCY_SAMPLING, DEFAULT_MEMORY_BUDGET};
pub use join::Leave;
pub use shutdown::{Leftovers, Shutdown, Unhandled, DROP_TIMEOUT, STUCK_GRACE};

pub(crate) use shutdown::ShutdownPlan;

use std::any::{Any, TypeId};
use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{LookupError, ScaleError};
use crate::group::{GroupControl, Poller};
use crate::report::{Report, TopicReport};
use crate::topic::Topic;

/// The type-erased face of a topic the engine needs.
pub(crate) trait TopicControl: Send + Sync {
    fn close(&self);
    /// Whether the topic publishes through one exclusive `Producer`.
    fn is_single_producer(&self) -> bool;
    fn report(&self) -> TopicReport;
    /// `(published, depth)` of every partition.
    fn partitions(&self) -> Vec<(u64, u64)>;
    /// Moves out every event some group did not consume, from each closed
    /// partition whose readers have all been released: `(count, Vec<E>)`.
    /// A partition a group still reads (a worker left inside its listener)
    /// keeps its events.
    fn take_unconsumed(&self) -> (usize, Box<dyn Any + Send>);
}

impl<E: Send + Sync + 'static> TopicControl for Topic<E> {
    fn close(&self) {
        for ring in self.inner().rings.iter() {
            ring.close();
        }
    }

    fn is_single_producer(&self) -> bool {
        self.inner().single_producer
    }

    fn report(&self) -> TopicReport {
        let counters = &self.inner().counters;
        TopicReport {
            name: self.name().to_owned(),
            partitions: self.partitions(),
            published: self.published(),
            depth: self.inner().rings.iter().map(|r| r.depth()).sum(),
            invalid_partition: counters.invalid_partition.load(Ordering::Relaxed),
            rejected_full: counters.rejected_full.load(Ordering::Relaxed),
            rejected_closed: counters.rejected_closed.load(Ordering::Relaxed),
            would_deadlock: counters.would_deadlock.load(Ordering::Relaxed),
            timed_out: counters.timed_out.load(Ordering::Relaxed),
            dropped_full: counters.dropped_full.load(Ordering::Relaxed),
            invalid: counters.invalid.load(Ordering::Relaxed),
            drop_panics: self.drop_panics(),
        }
    }

    fn partitions(&self) -> Vec<(u64, u64)> {
        self.inner()
            .rings
            .iter()
            .map(|r| (r.claimed(), r.depth()))
            .collect()
    }

    fn take_unconsumed(&self) -> (usize, Box<dyn Any + Send>) {
        let mut events: Vec<E> = Vec::new();
        for ring in self.inner().rings.iter() {
            events.extend(ring.take_unconsumed().into_iter().flatten());
        }
        (events.len(), Box::new(events))
    }
}

pub(crate) struct TopicEntry {
    pub(crate) name: String,
    pub(crate) type_id: TypeId,
    pub(crate) type_name: &'static str,
    /// The `Topic<E>`.
    pub(crate) handle: Box<dyn Any + Send + Sync>,
    /// Single-producer topics: the `Producer<E>`, until it is taken.
    pub(crate) producer: parking_lot::Mutex<Option<Box<dyn Any + Send>>>,
    pub(crate) control: Arc<dyn TopicControl>,
    /// Dead-letter topics: the `fn(&X) -> X` copying failed events.
    pub(crate) clone: Option<Box<dyn Any + Send + Sync>>,
    /// De-duplicated topics: the `Arc<DedupSpec<E>>`, for groups that
    /// subscribe while the engine runs.
    pub(crate) dedup: Option<Arc<dyn Any + Send + Sync>>,
    /// The cursor slots kept for groups that subscribe while it runs.
    pub(crate) spares: join::Spares,
}

impl TopicEntry {
    /// A dead-letter topic as a failing group's start takes it: its
    /// `Topic<DeadLetter<X>>` and its `fn(&X) -> X`.
    fn dead_letter_parts(&self) -> (&dyn Any, &dyn Any) {
        let clone = self
            .clone
            .as_deref()
            .expect("checked before: a dead-letter topic");
        (self.handle.as_ref() as &dyn Any, clone as &dyn Any)
    }

    /// Whether the topic was declared single-producer.
    fn is_single(&self) -> bool {
        self.control.is_single_producer()
    }
}

/// A running engine: topics, listener groups and their workers.
///
/// Build one with [`Engine::builder`]; publish through the [`Topic`] handles
/// it gives out; end it with [`shutdown`](Self::shutdown), which drains every
/// event and returns the final [`Report`].
///
/// Dropping an engine without calling `shutdown` shuts it down the same way
/// (drains, runs `on_shutdown`, joins every worker) and discards the report.
/// Either way, `Topic` handles still held afterwards return
/// [`PublishError::Closed`](crate::PublishError::Closed) with the event.
pub struct Engine {
    topics: Vec<TopicEntry>,
    groups: Vec<Arc<dyn GroupControl>>,
    plan: ShutdownPlan,
    shut_down: bool,
    metrics: Arc<crate::metrics::MetricsSettings>,
    /// Looks for stalled listeners until shutdown; `None` when not watched.
    watchdog: Option<watchdog::Watchdog>,
    /// What the watchdog looks for (`None`: stalls not watched).
    stall_threshold: Option<Duration>,
    /// The topics and groups as the metrics handles and the watchdog see
    /// them (and the bridges' counts).
    live: Arc<live::Live>,
    /// The groups added with [`subscribe`](Self::subscribe), which may
    /// leave again.
    joined: Vec<join::Joined>,
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field(
                "topics",
                &self.topics.iter().map(|t| &t.name).collect::<Vec<_>>(),
            )
            .field("groups", &self.groups.len())
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// Starts declaring an engine.
    pub fn builder() -> EngineBuilder {
        EngineBuilder::new()
    }

    fn from_parts(
        topics: Vec<TopicEntry>,
        groups: Vec<Arc<dyn GroupControl>>,
        plan: ShutdownPlan,
        metrics: Arc<crate::metrics::MetricsSettings>,
        stall_threshold: Option<Duration>,
        #[cfg(feature = "nats")] bridges: Arc<crate::bridge::Registry>,
    ) -> Self {
        let live = Arc::new(live::Live::new(
            #[cfg(feature = "nats")]
            bridges,
        ));
        let mut engine = Engine {
            topics,
            groups,
            plan,
            shut_down: false,
            metrics,
            watchdog: None,
            stall_threshold,
            live,
            joined: Vec::new(),
        };
        engine.topology_changed();
        engine
    }

    /// After the topics or groups changed: what the metrics handles and the
    /// watchdog see, and a watchdog once there are groups to watch.
    fn topology_changed(&mut self) {
        self.live.set(
            self.topics.iter().map(|t| Arc::clone(&t.control)).collect(),
            self.groups.clone(),
        );
        if self.watchdog.is_none() && !self.groups.is_empty() {
            self.watchdog = self
                .stall_threshold
                .and_then(|threshold| watchdog::Watchdog::start(Arc::clone(&self.live), threshold));
        }
    }

    /// Where this engine keeps its bridges' counts.
    #[cfg(feature = "nats")]
    pub(crate) fn bridges(&self) -> &Arc<crate::bridge::Registry> {
        &self.live.bridges
    }

    /// The handle of topic `name`, which carries events of type `E`.
    ///
    /// # Errors
    ///
    /// [`LookupError::UnknownTopic`] (listing the topics that exist) or
    /// [`LookupError::WrongType`] (naming the topic's actual event type).
    /// [`LookupError::SingleProducer`] for a topic declared with
    /// [`Producers::Single`](crate::Producers::Single) (take its
    /// [`producer`](Self::producer) instead).
    pub fn topic<E: Send + Sync + 'static>(&self, name: &str) -> Result<Topic<E>, LookupError> {
        let entry = self.entry::<E>(name)?;
        if entry.is_single() {
            return Err(LookupError::SingleProducer {
                topic: name.to_owned(),
            });
        }
        Ok(entry
            .handle
            .downcast_ref::<Topic<E>>()
            .expect("type id checked by `entry`")
            .clone())
    }

    /// Takes the one [`Producer`](crate::Producer) of single-producer topic
    /// `name`.
    ///
    /// # Errors
    ///
    /// [`LookupError::UnknownTopic`], [`LookupError::WrongType`],
    /// [`LookupError::NotSingleProducer`] for a multi-producer topic (use
    /// [`topic`](Self::topic)), [`LookupError::ProducerTaken`] on a second
    /// call.
    pub fn producer<E: Send + Sync + 'static>(
        &self,
        name: &str,
    ) -> Result<crate::Producer<E>, LookupError> {
        let entry = self.entry::<E>(name)?;
        if !entry.is_single() {
            return Err(LookupError::NotSingleProducer {
                topic: name.to_owned(),
            });
        }
        let producer = entry
            .producer
            .lock()
            .take()
            .ok_or_else(|| LookupError::ProducerTaken {
                topic: name.to_owned(),
            })?;
        Ok(*producer
            .downcast::<crate::Producer<E>>()
            .expect("type id checked by `entry`"))
    }

    /// Where topic `name` is in `topics`.
    fn topic_index(&self, name: &str) -> Result<usize, LookupError> {
        self.topics
            .iter()
            .position(|t| t.name == name)
            .ok_or_else(|| LookupError::UnknownTopic {
                name: name.to_owned(),
                known: self.topics.iter().map(|t| t.name.clone()).collect(),
            })
    }

    /// Where group `name` is in `groups`.
    fn group_index(&self, name: &str) -> Result<usize, LookupError> {
        self.groups
            .iter()
            .position(|g| g.name() == name)
            .ok_or_else(|| LookupError::UnknownGroup {
                name: name.to_owned(),
                known: self.groups.iter().map(|g| g.name().to_owned()).collect(),
            })
    }

    /// The entry of topic `name`, checked to carry `E`.
    fn entry<E: 'static>(&self, name: &str) -> Result<&TopicEntry, LookupError> {
        let entry = &self.topics[self.topic_index(name)?];
        if entry.type_id != TypeId::of::<E>() {
            return Err(LookupError::WrongType {
                topic: name.to_owned(),
                actual: entry.type_name,
                requested: std::any::type_name::<E>(),
            });
        }
        Ok(entry)
    }

    /// Takes the [`Poller`] of poll-mode group `group`; there is one per group.
    ///
    /// # Errors
    ///
    /// [`LookupError::UnknownGroup`], [`LookupError::NotPollMode`] for a
    /// threaded group, [`LookupError::PollerTaken`] on a second call.
    pub fn poller(&self, group: &str) -> Result<Poller, LookupError> {
        let control = &self.groups[self.group_index(group)?];
        let driver = Arc::clone(control)
            .as_poll()
            .ok_or_else(|| LookupError::NotPollMode {
                group: group.to_owned(),
            })?;
        if !driver.take() {
            return Err(LookupError::PollerTaken {
                group: group.to_owned(),
            });
        }
        Ok(Poller::new(driver))
    }

    /// Scales threaded group `group` to `workers` worker threads while the
    /// engine runs, and returns once the move is complete.
    ///
    /// Partitions move cooperatively and stickily, as Kafka's
    /// cooperative-sticky assignor moves them: each worker keeps as many
    /// of its partitions as its new share allows, and a partition changes
    /// worker only between batches, never inside one. Its new worker goes
    /// on from the event after the last its old worker handled, with its
    /// pending retry, halt and de-duplication window: nothing is lost,
    /// handled twice or reordered. The old worker's listener gets
    /// [`on_partitions_revoked`](crate::Listener::on_partitions_revoked)
    /// first, the new one's
    /// [`on_partitions_assigned`](crate::Listener::on_partitions_assigned)
    /// after. New workers get listeners from the group's factory (their
    /// [`WorkerInfo::partitions`](crate::WorkerInfo::partitions) is
    /// empty: everything arrives through `on_partitions_assigned`); workers
    /// beyond the new count give up their partitions, run
    /// [`on_shutdown`](crate::Listener::on_shutdown) and exit before this
    /// returns. Producers and the other groups are not paused; the workers
    /// pay one load per round for this. A scale waits for the batches in
    /// progress on the partitions that move (as long as their listeners
    /// take to return).
    ///
    /// # Errors
    ///
    /// [`ScaleError::Lookup`] for an unknown group; [`ScaleError::PollMode`];
    /// [`ScaleError::OutOfRange`] for 0 or more than the group's
    /// [`max_workers`](crate::GroupOptions::max_workers);
    /// [`ScaleError::FromListener`] when called from inside any listener;
    /// [`ScaleError::Spawn`] when the operating system refuses a thread
    /// (the group then runs with those that started).
    ///
    /// # Examples
    ///
    /// ```
    /// use veltrix::{Engine, GroupOptions, TopicOptions};
    ///
    /// let engine = Engine::builder()
    ///     .topic::<u64>("moves", TopicOptions::new(4))
    ///     .subscribe("physics", "moves", GroupOptions::workers(1).max_workers(4), |_| {
    ///         |_: &u64, _: &veltrix::EventContext<'_>| Ok(())
    ///     })
    ///     .build()?;
    /// let moves = engine.topic::<u64>("moves")?;
    /// for i in 0..1000 {
    ///     moves.publish(i)?;
    /// }
    /// engine.scale("physics", 4)?; // 1 -> 4 workers, under load
    /// engine.scale("physics", 2)?;
    /// let report = engine.shutdown();
    /// assert_eq!(report.groups[0].handled, 1000);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn scale(&self, group: &str, workers: usize) -> Result<(), ScaleError> {
        self.groups[self.group_index(group)?].scale(workers)
    }

    /// A snapshot of every topic's and group's counts. Cheap: it reads
    /// counters, it does not stop anything.
    #[must_use]
    pub fn report(&self) -> Report {
        Report {
            topics: self.topics.iter().map(|t| t.control.report()).collect(),
            groups: self.groups.iter().map(|g| g.report()).collect(),
            #[cfg(feature = "nats")]
            exports: self.live.bridges.exports(),
            #[cfg(feature = "nats")]
            imports: self.live.bridges.imports(),
        }
    }

    /// Everything measured: counters, depth and lag per partition, latency
    /// percentiles per group. See [`MetricsSnapshot`](crate::metrics::MetricsSnapshot).
    #[must_use]
    pub fn metrics(&self) -> crate::metrics::MetricsSnapshot {
        self.metrics_handle().snapshot()
    }

    /// A cheap, cloneable, `Send + Sync` handle that takes metrics snapshots
    /// from any thread (a metrics endpoint, a reporter), for as long as the
    /// engine lives and after.
    #[must_use]
    pub fn metrics_handle(&self) -> crate::metrics::MetricsHandle {
        crate::metrics::MetricsHandle::new(Arc::clone(&self.live) as _, Arc::clone(&self.metrics))
    }
}

/// Dropping an engine shuts it down, bounded: it drains for at most
/// [`DROP_TIMEOUT`], then stops what is left as
/// [`shutdown_timeout`](Engine::shutdown_timeout) does (the events no group
/// got to are dropped with the topics). Dropped while its thread is
/// panicking, it stops at once without draining. Call
/// [`shutdown`](Engine::shutdown) or `shutdown_timeout` for the report.
impl Drop for Engine {
    fn drop(&mut self) {
        let timeout = if std::thread::panicking() {
            Duration::ZERO
        } else {
            DROP_TIMEOUT
        };
        self.shutdown_inner(
            crate::clock::deadline_after(timeout),
            Leftovers::HandBack,
            false,
        );
    }
}
