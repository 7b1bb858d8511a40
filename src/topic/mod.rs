//! Typed topic handles: how producers publish.
//!
//! `publish` → route (validators, partitioner) → ring push is the whole
//! producer path; the only branches off it are a full ring (wait or hand
//! back) and an out-of-range partition (hand back). A multi-producer topic
//! publishes through any clone of its [`Topic`] handle (one CAS per claim);
//! a single-producer topic through its one [`Producer`] (plain stores).

mod options;
mod producer;
mod route;
mod validator;

pub use options::{FullPolicy, PartitionerKind, Producers, TopicOptions};
pub use producer::Producer;
pub use validator::Validator;

pub(crate) use route::Route;

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use smallvec::SmallVec;

use crate::clock;
use crate::error::{BatchPublishError, PublishError, PublishErrorKind};
use crate::ring::{PushError, Ring};
use route::Spread;

/// Largest run of one partition that `publish_batch` claims at once.
const MAX_RUN: usize = 64;

/// What a ring slot holds: the event and its publish time (raw clock
/// reading, 0 when the event carries none).
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

/// Which events get a publish timestamp (a clock read, ~13 ns on the
/// machines measured: as much as the rest of a hand-off): those whose
/// sequence has `sequence & mask == 0`. The groups time exactly those
/// events (their own sampling rule, the same mask); `mask == 0` stamps every
/// event (`TopicOptions::timestamps(true)`); with metrics off and no
/// timestamps asked for, the mask is all ones and only sequence 0 of each
/// partition is stamped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamping {
    mask: u64,
    /// Whether batches carry a timestamp.
    batches: bool,
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
    route: Route<E>,
    /// Handles made so far: each new one starts its round robin further on.
    handles: AtomicU64,
    /// Published through one `Producer`, not through `Topic` handles.
    pub(crate) single_producer: bool,
    stamping: Stamping,
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
    /// This handle's own round-robin / sticky position.
    spread: Spread,
}

impl<E> Clone for Topic<E> {
    /// A new handle to the same topic, with its own partitioner position.
    fn clone(&self) -> Self {
        Topic {
            spread: self.inner.new_spread(),
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
        route: Route<E>,
        options: &TopicOptions,
        sampling: Option<u32>,
        dedup: Option<DedupSpec<E>>,
        validators: Vec<Box<dyn Validator<E>>>,
    ) -> Self {
        let stamping = match (options.timestamps, sampling) {
            (true, _) => Stamping {
                mask: 0,
                batches: true,
            },
            (false, Some(every)) => Stamping {
                mask: clock::sample_mask(every),
                batches: true,
            },
            (false, None) => Stamping {
                mask: u64::MAX,
                batches: false,
            },
        };
        Topic {
            spread: Spread::new(0),
            inner: Arc::new(TopicInner {
                name,
                rings,
                route: route.for_partitions(options.partitions),
                handles: AtomicU64::new(0),
                single_producer: options.producers == Producers::Single,
                stamping,
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
        let inner = &*self.inner;
        let (partition, event) = inner.route(event, &self.spread)?;
        let ring = &inner.rings[partition as usize];
        let mut event = event;
        let mut deadline = None;
        loop {
            match ring.try_push_with(event, |event, seq| inner.entry(event, seq)) {
                Ok(sequence) => {
                    return Ok(Receipt::Accepted {
                        partition,
                        sequence,
                    })
                }
                Err((back, PushError::Closed)) => return Err(inner.closed(back)),
                Err((back, PushError::Full)) => {
                    if let Err(full) = inner.when_full(ring, partition, 1, &mut deadline) {
                        return inner.full_outcome(full, back, partition);
                    }
                    event = back;
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
        let inner = &*self.inner;
        let (partition, event) = inner.route(event, &self.spread)?;
        let ring = &inner.rings[partition as usize];
        match ring.try_push_with(event, |event, seq| inner.entry(event, seq)) {
            Ok(sequence) => Ok(Receipt::Accepted {
                partition,
                sequence,
            }),
            Err((back, PushError::Closed)) => Err(inner.closed(back)),
            Err((back, PushError::Full)) => {
                inner.full_outcome(Full::Refused(PublishErrorKind::Full), back, partition)
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
        inner.route.on_batch_start(&self.spread);
        let published = inner.batch_stamp();
        let partitions = self.partitions();
        let run_limit = MAX_RUN.min(inner.rings[0].capacity() as usize);
        let mut run: SmallVec<[Entry<E>; MAX_RUN]> = SmallVec::new();
        let mut run_partition = 0u32;
        let mut accepted = 0usize;
        let mut events = events.into_iter();
        if inner.is_direct() {
            // One partition, nothing to check: runs are just the next
            // `run_limit` events.
            loop {
                run.extend(
                    events
                        .by_ref()
                        .take(run_limit)
                        .map(|event| Entry { event, published }),
                );
                if run.is_empty() {
                    return Ok(accepted);
                }
                match self.flush_run(0, &mut run) {
                    Ok(n) => accepted += n,
                    Err(kind) => {
                        return Err(batch_error(accepted, kind, events_of(run), None, events))
                    }
                }
            }
        }
        while let Some(event) = events.next() {
            let event = match inner.check(event) {
                Ok(event) => event,
                Err(error) => {
                    let kind = error.kind();
                    let event = error.into_inner();
                    if !run.is_empty() {
                        match self.flush_run(run_partition, &mut run) {
                            Ok(n) => accepted += n,
                            Err(kind) => {
                                return Err(batch_error(
                                    accepted,
                                    kind,
                                    events_of(run),
                                    Some(event),
                                    events,
                                ));
                            }
                        }
                    }
                    return Err(batch_error(
                        accepted,
                        kind,
                        events_of(run),
                        Some(event),
                        events,
                    ));
                }
            };
            let partition = inner.route.pick(&event, partitions, &self.spread);
            let invalid = partition >= partitions;
            if !run.is_empty() && (invalid || partition != run_partition || run.len() == run_limit)
            {
                match self.flush_run(run_partition, &mut run) {
                    Ok(n) => accepted += n,
                    Err(kind) => {
                        return Err(batch_error(
                            accepted,
                            kind,
                            events_of(run),
                            Some(event),
                            events,
                        ));
                    }
                }
            }
            if invalid {
                let kind = PublishErrorKind::InvalidPartition {
                    index: partition,
                    partitions,
                };
                return Err(batch_error(
                    accepted,
                    kind,
                    events_of(run),
                    Some(event),
                    events,
                ));
            }
            run_partition = partition;
            run.push(Entry { event, published });
        }
        if !run.is_empty() {
            match self.flush_run(run_partition, &mut run) {
                Ok(n) => accepted += n,
                Err(kind) => return Err(batch_error(accepted, kind, events_of(run), None, events)),
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
                    match self
                        .inner
                        .when_full(ring, partition, n as u64, &mut deadline)
                    {
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
}

impl<E> TopicInner<E> {
    /// A partitioner position for a new handle.
    fn new_spread(&self) -> Spread {
        let index = self.handles.fetch_add(1, Ordering::Relaxed);
        Spread::new(match self.route {
            Route::Sticky { linger } => index.wrapping_mul(linger),
            _ => index,
        })
    }
}

impl<E: Send + Sync + 'static> TopicInner<E> {
    /// Applies the topic's full policy to a push of `n` events that found
    /// `ring` full: `Ok` once there may be room to try again, otherwise
    /// whether the events are dropped (counted here) or refused (the caller
    /// counts and hands them back).
    fn when_full(
        &self,
        ring: &Arc<Ring<Entry<E>>>,
        partition: u32,
        n: u64,
        deadline: &mut Option<Instant>,
    ) -> Result<(), Full> {
        let timeout = match self.policy {
            FullPolicy::Reject => return Err(Full::Refused(PublishErrorKind::Full)),
            FullPolicy::DropNewest => {
                self.counters.dropped_full.fetch_add(n, Ordering::Relaxed);
                return Err(Full::Dropped);
            }
            FullPolicy::Block => None,
            FullPolicy::BlockTimeout(timeout) => Some(timeout),
        };
        // Never wait for ourselves: registered as blocked for as long as we
        // wait, refused if the wait would close a cycle back to this thread.
        let Some(_blocked) = ring.block_on(n) else {
            return Err(Full::Refused(PublishErrorKind::WouldDeadlock));
        };
        let deadline = match timeout {
            // A timeout too long to represent waits without a deadline.
            Some(t) => {
                if deadline.is_none() {
                    *deadline = crate::clock::deadline_after(t);
                }
                *deadline
            }
            None => None,
        };
        if !ring.wait_for_room(n, deadline) {
            #[cfg(feature = "tracing")]
            tracing::warn!(topic = %self.name, partition, "veltrix: publish timed out on a full partition");
            let _ = partition;
            return Err(Full::Refused(PublishErrorKind::Timeout));
        }
        Ok(())
    }

    /// The outcome of a single publish the full policy did not let wait:
    /// dropped (a receipt) or refused (counted, the event handed back).
    fn full_outcome(
        &self,
        full: Full,
        event: E,
        partition: u32,
    ) -> Result<Receipt, PublishError<E>> {
        match full {
            Full::Dropped => Ok(Receipt::Dropped { partition }),
            Full::Refused(kind) => {
                self.counters.refused(kind, 1);
                Err(PublishError::from_kind(kind, event))
            }
        }
    }

    /// Validates `event` and picks its partition, or hands it back (counted)
    /// if a validator refused it or the partitioner returned an invalid
    /// index.
    #[inline(always)]
    fn route(&self, event: E, spread: &Spread) -> Result<(u32, E), PublishError<E>> {
        if self.is_direct() {
            return Ok((0, event));
        }
        if !self.validators.is_empty() {
            return self.route_validated(event, spread);
        }
        self.pick_checked(event, spread)
    }

    /// The partition of `event`, checked against the partition count.
    #[inline(always)]
    fn pick_checked(&self, event: E, spread: &Spread) -> Result<(u32, E), PublishError<E>> {
        let partitions = self.rings.len() as u32;
        let partition = self.route.pick(&event, partitions, spread);
        if partition < partitions {
            Ok((partition, event))
        } else {
            Err(self.invalid_partition(event, partition))
        }
    }

    /// Whether every event goes to partition 0 unchecked: one partition, a
    /// keyless partitioner, no validator.
    #[inline]
    fn is_direct(&self) -> bool {
        matches!(self.route, Route::Single) && self.validators.is_empty()
    }

    /// [`route`](Self::route) for a topic with validators.
    #[cold]
    #[inline(never)]
    fn route_validated(&self, event: E, spread: &Spread) -> Result<(u32, E), PublishError<E>> {
        let event = self.validate(event)?;
        self.pick_checked(event, spread)
    }

    /// Counts and builds the error of a partitioner's out-of-range answer.
    #[cold]
    #[inline(never)]
    fn invalid_partition(&self, event: E, index: u32) -> PublishError<E> {
        self.counters
            .invalid_partition
            .fetch_add(1, Ordering::Relaxed);
        PublishError::InvalidPartition {
            event,
            index,
            partitions: self.rings.len() as u32,
        }
    }

    /// Runs the topic's validators, if any, counting a rejection.
    #[inline]
    fn validate(&self, event: E) -> Result<E, PublishError<E>> {
        self.check(event).inspect_err(|_| {
            self.counters.invalid.fetch_add(1, Ordering::Relaxed);
        })
    }

    /// Runs the topic's validators without counting.
    #[inline]
    fn check(&self, event: E) -> Result<E, PublishError<E>> {
        for validator in &self.validators {
            if let Err(reason) = validator.validate(&event) {
                return Err(PublishError::Invalid { event, reason });
            }
        }
        Ok(event)
    }

    /// The slot value of `event` published as `seq`, with a timestamp if
    /// the topic stamps that sequence.
    #[inline]
    fn entry(&self, event: E, seq: u64) -> Entry<E> {
        let published = if seq & self.stamping.mask == 0 {
            clock::now_raw()
        } else {
            0
        };
        Entry { event, published }
    }

    /// The one timestamp every event of a batch publish carries (one clock
    /// read per batch), or 0 if the topic stamps nothing.
    #[inline]
    fn batch_stamp(&self) -> u64 {
        if self.stamping.batches {
            clock::now_raw()
        } else {
            0
        }
    }

    fn closed(&self, event: E) -> PublishError<E> {
        self.counters
            .rejected_closed
            .fetch_add(1, Ordering::Relaxed);
        PublishError::Closed(event)
    }
}

/// Builds the error of a batch that stopped: the failed run, the event in
/// hand, then the rest of the input, in order.
fn batch_error<E>(
    accepted: usize,
    kind: PublishErrorKind,
    run: impl IntoIterator<Item = E>,
    current: Option<E>,
    rest: impl Iterator<Item = E>,
) -> BatchPublishError<E> {
    let unpublished: Vec<E> = run.into_iter().chain(current).chain(rest).collect();
    BatchPublishError {
        accepted,
        kind,
        unpublished,
    }
}

/// The events of a staged run, in order.
fn events_of<E>(run: SmallVec<[Entry<E>; MAX_RUN]>) -> impl Iterator<Item = E> {
    run.into_iter().map(|entry| entry.event)
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
