//! Typed topic handles: how producers publish.
//!
//! `publish` → partitioner → [`Ring::try_push`] is the whole producer path;
//! the only branches off it are a full ring (wait or hand back) and an
//! out-of-range partition (hand back).

mod options;
mod validator;

pub use options::{FullPolicy, PartitionerKind, TopicOptions};
pub use validator::Validator;

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use smallvec::SmallVec;

use crate::clock;
use crate::error::{BatchPublishError, PublishError, PublishErrorKind};
use crate::partitioner::Partitioner;
use crate::ring::{PushError, Ring};

/// Largest run of one partition that `publish_batch` claims at once.
const MAX_RUN: usize = 64;

/// What a ring slot holds: the event and its publish time (raw clock
/// reading, 0 when the topic keeps no timestamps).
pub(crate) struct Entry<E> {
    pub(crate) event: E,
    pub(crate) published: u64,
}

/// What happened to a published event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Receipt {
    /// It is in its partition and every group will see it.
    Accepted {
        /// The partition it was routed to.
        partition: u32,
        /// Its sequence number in that partition.
        sequence: u64,
    },
    /// The partition was full and the topic's policy is
    /// [`FullPolicy::DropNewest`]: the event was dropped and counted.
    Dropped {
        /// The partition it was routed to.
        partition: u32,
    },
}

impl Receipt {
    /// The partition the event was routed to.
    #[must_use]
    pub fn partition(&self) -> u32 {
        match *self {
            Receipt::Accepted { partition, .. } | Receipt::Dropped { partition } => partition,
        }
    }

    /// Its sequence number in the partition, unless it was dropped.
    #[must_use]
    pub fn sequence(&self) -> Option<u64> {
        match *self {
            Receipt::Accepted { sequence, .. } => Some(sequence),
            Receipt::Dropped { .. } => None,
        }
    }

    /// Whether the event was dropped by the topic's full policy.
    #[must_use]
    pub fn is_dropped(&self) -> bool {
        matches!(self, Receipt::Dropped { .. })
    }
}

/// Why a push into a full partition did not wait for room.
enum Full {
    /// `FullPolicy::DropNewest`: dropped and counted.
    Dropped,
    /// Refused; the events go back to the caller.
    Refused(PublishErrorKind),
}

/// Counters a topic keeps about publishes that did not happen.
#[derive(Debug, Default)]
pub(crate) struct TopicCounters {
    pub(crate) invalid_partition: AtomicU64,
    pub(crate) rejected_full: AtomicU64,
    pub(crate) rejected_closed: AtomicU64,
    pub(crate) would_deadlock: AtomicU64,
    pub(crate) timed_out: AtomicU64,
    pub(crate) dropped_full: AtomicU64,
    pub(crate) invalid: AtomicU64,
}

/// De-duplication of a topic: events whose id was seen among the last
/// `window` ids of their partition are not delivered.
pub(crate) struct DedupSpec<E> {
    pub(crate) window: usize,
    pub(crate) id: Box<dyn Fn(&E) -> u64 + Send + Sync>,
}

pub(crate) struct TopicInner<E> {
    pub(crate) name: Arc<str>,
    pub(crate) rings: Box<[Arc<Ring<Entry<E>>>]>,
    /// `None`: a single partition with a keyless built-in partitioner, which
    /// could only ever answer 0, so the call is skipped.
    partitioner: Option<Box<dyn Partitioner<E>>>,
    timestamps: bool,
    policy: FullPolicy,
    pub(crate) dedup: Option<DedupSpec<E>>,
    validators: Vec<Box<dyn Validator<E>>>,
    pub(crate) counters: TopicCounters,
}

/// A typed handle to a topic: how producers publish events of type `E`.
///
/// Cheap to clone (one `Arc`), `Send` and `Sync`: give each producer thread
/// its own clone. Get one from [`Engine::topic`](crate::Engine::topic).
///
/// # Examples
///
/// ```
/// use veltrix::{Engine, GroupOptions, TopicOptions};
///
/// let engine = Engine::builder()
///     .topic::<u32>("numbers", TopicOptions::new(2))
///     .subscribe("sum", "numbers", GroupOptions::workers(1), |_| {
///         veltrix::listener::from_fn(|_n: &u32, _ctx| Ok(()))
///     })
///     .build()?;
/// let numbers = engine.topic::<u32>("numbers")?;
/// let receipt = numbers.publish(7)?;
/// assert!(receipt.partition() < 2);
/// numbers.publish_batch([1, 2, 3])?;
/// let report = engine.shutdown();
/// assert_eq!(report.topic("numbers").unwrap().published, 4);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Topic<E> {
    inner: Arc<TopicInner<E>>,
}

impl<E> Clone for Topic<E> {
    fn clone(&self) -> Self {
        Topic {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<E> fmt::Debug for Topic<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Topic")
            .field("name", &self.inner.name)
            .field("partitions", &self.inner.rings.len())
            .finish_non_exhaustive()
    }
}

impl<E: Send + Sync + 'static> Topic<E> {
    pub(crate) fn from_parts(
        name: Arc<str>,
        rings: Box<[Arc<Ring<Entry<E>>>]>,
        partitioner: Option<Box<dyn Partitioner<E>>>,
        options: &TopicOptions,
        dedup: Option<DedupSpec<E>>,
        validators: Vec<Box<dyn Validator<E>>>,
    ) -> Self {
        Topic {
            inner: Arc::new(TopicInner {
                name,
                rings,
                partitioner,
                timestamps: options.timestamps,
                policy: options.full_policy,
                dedup,
                validators,
                counters: TopicCounters::default(),
            }),
        }
    }

    pub(crate) fn inner(&self) -> &Arc<TopicInner<E>> {
        &self.inner
    }

    /// The topic's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Number of partitions.
    #[must_use]
    pub fn partitions(&self) -> u32 {
        self.inner.rings.len() as u32
    }

    /// Events published so far, over all partitions.
    #[must_use]
    pub fn published(&self) -> u64 {
        self.inner.rings.iter().map(|r| r.claimed()).sum()
    }

    /// Publishes `event`. When its partition is full, does what the topic's
    /// [`FullPolicy`] says: wait (the default), wait up to a timeout, hand the
    /// event back, or drop it and count it.
    ///
    /// # Errors
    ///
    /// Hands the event back in [`PublishError::Closed`] after shutdown, in
    /// [`PublishError::InvalidPartition`] if the partitioner returned an index
    /// out of range, in [`PublishError::Full`] under [`FullPolicy::Reject`],
    /// in [`PublishError::Timeout`] under [`FullPolicy::BlockTimeout`], and in
    /// [`PublishError::WouldDeadlock`] if the partition is full and the
    /// calling thread is a worker or poller of a group that reads it (it
    /// would wait on itself).
    #[inline]
    pub fn publish(&self, event: E) -> Result<Receipt, PublishError<E>> {
        let (partition, ring, event) = self.route(event)?;
        let mut entry = self.entry_for(event);
        let mut deadline = None;
        loop {
            match ring.try_push(entry) {
                Ok(sequence) => {
                    return Ok(Receipt::Accepted {
                        partition,
                        sequence,
                    })
                }
                Err((back, PushError::Closed)) => return Err(self.closed(back.event)),
                Err((back, PushError::Full)) => {
                    match self.when_full(ring, partition, 1, &mut deadline) {
                        Ok(()) => {}
                        Err(Full::Dropped) => return Ok(Receipt::Dropped { partition }),
                        Err(Full::Refused(kind)) => {
                            self.inner.counters.refused(kind, 1);
                            let event = back.event;
                            return Err(match kind {
                                PublishErrorKind::Full => PublishError::Full(event),
                                PublishErrorKind::Timeout => PublishError::Timeout(event),
                                _ => PublishError::WouldDeadlock(event),
                            });
                        }
                    }
                    entry = back;
                }
            }
        }
    }

    /// Publishes `event` if its partition has room now; never waits.
    ///
    /// # Errors
    ///
    /// Hands the event back in [`PublishError::Full`] when the partition is
    /// full, and as [`publish`](Self::publish) does otherwise.
    #[inline]
    pub fn try_publish(&self, event: E) -> Result<Receipt, PublishError<E>> {
        let (partition, ring, event) = self.route(event)?;
        match ring.try_push(self.entry_for(event)) {
            Ok(sequence) => Ok(Receipt::Accepted {
                partition,
                sequence,
            }),
            Err((back, PushError::Closed)) => Err(self.closed(back.event)),
            Err((back, PushError::Full)) => {
                self.inner
                    .counters
                    .rejected_full
                    .fetch_add(1, Ordering::Relaxed);
                Err(PublishError::Full(back.event))
            }
        }
    }

    /// Publishes every event of `events` in order, applying the topic's
    /// [`FullPolicy`] to full partitions. Consecutive events bound for one
    /// partition are claimed and published together (one CAS per run of up
    /// to 64), and the batch takes one timestamp. Returns how many events
    /// were accepted (events dropped under [`FullPolicy::DropNewest`] are
    /// counted in the topic's `dropped_full`, not here).
    ///
    /// # Errors
    ///
    /// Stops at the first event that cannot be published (for the reasons of
    /// [`publish`](Self::publish)); the events before it stay published and
    /// that event and all after it are handed back in order.
    pub fn publish_batch<I>(&self, events: I) -> Result<usize, BatchPublishError<E>>
    where
        I: IntoIterator<Item = E>,
    {
        self.publish_batch_uncounted(events).inspect_err(|e| {
            self.inner.counters.refused(e.kind, e.unpublished.len());
        })
    }

    fn publish_batch_uncounted<I>(&self, events: I) -> Result<usize, BatchPublishError<E>>
    where
        I: IntoIterator<Item = E>,
    {
        let inner = &*self.inner;
        if let Some(partitioner) = &inner.partitioner {
            partitioner.on_batch_start();
        }
        let published = if inner.timestamps {
            clock::now_raw()
        } else {
            0
        };
        let partitions = self.partitions();
        let run_limit = MAX_RUN.min(inner.rings[0].capacity() as usize);
        let mut run: SmallVec<[Entry<E>; MAX_RUN]> = SmallVec::new();
        let mut run_partition = 0u32;
        let mut accepted = 0usize;
        let mut events = events.into_iter();
        while let Some(event) = events.next() {
            let event = match self.check(event) {
                Ok(event) => event,
                Err(error) => {
                    let kind = error.kind();
                    let event = error.into_inner();
                    if !run.is_empty() {
                        match self.flush_run(run_partition, &mut run) {
                            Ok(n) => accepted += n,
                            Err(kind) => {
                                return Err(batch_error(accepted, kind, run, Some(event), events));
                            }
                        }
                    }
                    return Err(batch_error(accepted, kind, run, Some(event), events));
                }
            };
            let partition = inner
                .partitioner
                .as_ref()
                .map_or(0, |p| p.partition(&event, partitions));
            let invalid = partition >= partitions;
            if !run.is_empty() && (invalid || partition != run_partition || run.len() == run_limit)
            {
                match self.flush_run(run_partition, &mut run) {
                    Ok(n) => accepted += n,
                    Err(kind) => {
                        return Err(batch_error(accepted, kind, run, Some(event), events));
                    }
                }
            }
            if invalid {
                let kind = PublishErrorKind::InvalidPartition {
                    index: partition,
                    partitions,
                };
                return Err(batch_error(accepted, kind, run, Some(event), events));
            }
            run_partition = partition;
            run.push(Entry { event, published });
        }
        if !run.is_empty() {
            match self.flush_run(run_partition, &mut run) {
                Ok(n) => accepted += n,
                Err(kind) => return Err(batch_error(accepted, kind, run, None, events)),
            }
        }
        Ok(accepted)
    }

    /// Publishes `run` (one partition's events) as one claim, applying the
    /// full policy. Returns how many were accepted (0 if dropped); leaves
    /// `run` intact on error.
    fn flush_run(
        &self,
        partition: u32,
        run: &mut SmallVec<[Entry<E>; MAX_RUN]>,
    ) -> Result<usize, PublishErrorKind> {
        let ring = &self.inner.rings[partition as usize];
        let n = run.len();
        let mut deadline = None;
        loop {
            match ring.try_push_batch(run) {
                Ok(_) => return Ok(n),
                Err(PushError::Closed) => return Err(PublishErrorKind::Closed),
                Err(PushError::Full) => {
                    match self.when_full(ring, partition, n as u64, &mut deadline) {
                        Ok(()) => {}
                        Err(Full::Dropped) => {
                            run.clear();
                            return Ok(0);
                        }
                        Err(Full::Refused(kind)) => return Err(kind),
                    }
                }
            }
        }
    }

    /// Applies the topic's full policy to a push of `n` events that found
    /// `ring` full: `Ok` once there may be room to try again, otherwise
    /// whether the events are dropped (counted here) or refused (the caller
    /// counts and hands them back).
    fn when_full(
        &self,
        ring: &Ring<Entry<E>>,
        partition: u32,
        n: u64,
        deadline: &mut Option<Instant>,
    ) -> Result<(), Full> {
        let timeout = match self.inner.policy {
            FullPolicy::Reject => return Err(Full::Refused(PublishErrorKind::Full)),
            FullPolicy::DropNewest => {
                self.inner
                    .counters
                    .dropped_full
                    .fetch_add(n, Ordering::Relaxed);
                return Err(Full::Dropped);
            }
            FullPolicy::Block => None,
            FullPolicy::BlockTimeout(timeout) => Some(timeout),
        };
        if ring.is_read_by_current_thread() {
            return Err(Full::Refused(PublishErrorKind::WouldDeadlock));
        }
        let deadline = timeout.map(|t| *deadline.get_or_insert_with(|| Instant::now() + t));
        if !ring.wait_for_room(n, deadline) {
            #[cfg(feature = "tracing")]
            tracing::warn!(topic = %self.inner.name, partition, "veltrix: publish timed out on a full partition");
            let _ = partition;
            return Err(Full::Refused(PublishErrorKind::Timeout));
        }
        Ok(())
    }

    /// Picks the partition of `event`, or hands it back if the partitioner
    /// returned an invalid index. Returns the event alongside the ring.
    #[inline]
    #[allow(clippy::type_complexity)]
    fn route(&self, event: E) -> Result<(u32, &Arc<Ring<Entry<E>>>, E), PublishError<E>> {
        let inner = &*self.inner;
        let event = self.validate(event)?;
        let partitions = inner.rings.len() as u32;
        let partition = inner
            .partitioner
            .as_ref()
            .map_or(0, |p| p.partition(&event, partitions));
        match inner.rings.get(partition as usize) {
            Some(ring) => Ok((partition, ring, event)),
            None => {
                inner
                    .counters
                    .invalid_partition
                    .fetch_add(1, Ordering::Relaxed);
                Err(PublishError::InvalidPartition {
                    event,
                    index: partition,
                    partitions,
                })
            }
        }
    }

    /// Runs the topic's validators, if any, counting a rejection.
    #[inline]
    fn validate(&self, event: E) -> Result<E, PublishError<E>> {
        self.check(event).inspect_err(|_| {
            self.inner.counters.invalid.fetch_add(1, Ordering::Relaxed);
        })
    }

    /// Runs the topic's validators without counting.
    #[inline]
    fn check(&self, event: E) -> Result<E, PublishError<E>> {
        for validator in &self.inner.validators {
            if let Err(reason) = validator.validate(&event) {
                return Err(PublishError::Invalid { event, reason });
            }
        }
        Ok(event)
    }

    #[inline]
    fn entry_for(&self, event: E) -> Entry<E> {
        let published = if self.inner.timestamps {
            clock::now_raw()
        } else {
            0
        };
        Entry { event, published }
    }

    fn closed(&self, event: E) -> PublishError<E> {
        self.inner
            .counters
            .rejected_closed
            .fetch_add(1, Ordering::Relaxed);
        PublishError::Closed(event)
    }
}

/// Builds the error of a batch that stopped: the failed run, the event in
/// hand, then the rest of the input, in order.
fn batch_error<E, const N: usize>(
    accepted: usize,
    kind: PublishErrorKind,
    run: SmallVec<[Entry<E>; N]>,
    current: Option<E>,
    rest: impl Iterator<Item = E>,
) -> BatchPublishError<E>
where
    [Entry<E>; N]: smallvec::Array<Item = Entry<E>>,
{
    let unpublished: Vec<E> = run
        .into_iter()
        .map(|entry| entry.event)
        .chain(current)
        .chain(rest)
        .collect();
    BatchPublishError {
        accepted,
        kind,
        unpublished,
    }
}

impl TopicCounters {
    /// Counts `n` events refused for `kind` (handed back to the caller).
    fn refused(&self, kind: PublishErrorKind, n: usize) {
        let counter = match kind {
            PublishErrorKind::Full => &self.rejected_full,
            PublishErrorKind::Closed => &self.rejected_closed,
            PublishErrorKind::InvalidPartition { .. } => &self.invalid_partition,
            PublishErrorKind::WouldDeadlock => &self.would_deadlock,
            PublishErrorKind::Timeout => &self.timed_out,
            PublishErrorKind::Invalid => &self.invalid,
        };
        counter.fetch_add(n as u64, Ordering::Relaxed);
    }
}
