//! Typed topic handles: how producers publish.
//!
//! `publish` → route (validators, partitioner) → ring push is the whole
//! producer path; the only branches off it are a full ring (wait or hand
//! back) and an out-of-range partition (hand back). A multi-producer topic
//! publishes through any clone of its [`Topic`] handle (one CAS per claim);
//! a single-producer topic through its one [`Producer`] (plain stores).

#[cfg(feature = "async")]
mod asynchronous;
mod batch;
mod full;
mod options;
mod producer;
mod receipt;
mod route;
mod validator;

pub use options::{FullPolicy, PartitionerKind, Producers, TopicOptions};
pub use producer::Producer;
pub use receipt::Receipt;
pub use validator::Validator;

pub(crate) use route::Route;

use batch::{batch_error, refused_batch};
use full::Full;

use std::fmt;
use std::mem;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crate::clock;
use crate::error::{PublishError, PublishErrorKind};
use crate::ring::{Refused, Ring, Staging};
#[cfg(feature = "async")]
pub use asynchronous::{ProducerPublish, Publish, PublishBatch};
use route::Spread;

/// Most events of one partition that `publish_batch` publishes as one run
/// (one claim, one published-count store, one wake-up).
const MAX_RUN: usize = 64;

/// Bytes of events a multi-producer `publish_batch` stages on the stack for
/// one run, whatever the event type: the bound on the stack it uses.
const STAGING_BYTES: usize = 8 * 1024;

/// Events of type `E` in one run of `publish_batch`: as many as fit in
/// [`STAGING_BYTES`], at least 1 and at most [`MAX_RUN`]. Events larger
/// than half the budget go one at a time (runs of 1 stage nothing).
#[inline(always)]
const fn run_len<E>() -> usize {
    let fit = match mem::size_of::<E>() {
        // A zero-sized event fits any number of times.
        0 => MAX_RUN,
        size => STAGING_BYTES / size,
    };
    if fit < 1 {
        1
    } else if fit > MAX_RUN {
        MAX_RUN
    } else {
        fit
    }
}

/// One run of a multi-producer `publish_batch`, staged inline.
type Run<E> = Staging<E, STAGING_BYTES>;

/// Which sequences of a topic's partitions get a publish time (a clock
/// read, ~13 ns on the machines measured: as much as the rest of a
/// hand-off), as the mask the rings take (`Ring::new`): every one with
/// `TopicOptions::timestamps(true)` (mask 0); otherwise those the latency
/// metrics sample (`sequence & mask == 0`, the groups' own sampling rule,
/// the same mask), or none with metrics off. A batch publish reads the
/// clock once and gives that time to its sampled sequences.
pub(crate) fn stamped_sequences(timestamps: bool, sampling: Option<u32>) -> Option<u64> {
    match (timestamps, sampling) {
        (true, _) => Some(0),
        (false, Some(every)) => Some(clock::sample_mask(every)),
        (false, None) => None,
    }
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

/// What every handle of a topic shares: its rings, route, full policy,
/// validators and counters.
pub(crate) struct TopicInner<E> {
    pub(crate) name: Arc<str>,
    pub(crate) rings: Box<[Arc<Ring<E>>]>,
    route: Route<E>,
    /// Handles made so far: each new one starts its round robin further on.
    handles: AtomicU64,
    /// Published through one `Producer`, not through `Topic` handles.
    pub(crate) single_producer: bool,
    /// Whether the rings time some sequences (then a batch publish reads
    /// the clock once).
    timed: bool,
    policy: FullPolicy,
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
        rings: Box<[Arc<Ring<E>>]>,
        route: Route<E>,
        options: &TopicOptions,
        validators: Vec<Box<dyn Validator<E>>>,
    ) -> Self {
        let timed = rings.iter().any(|ring| ring.is_timed());
        Topic {
            spread: Spread::new(0),
            inner: Arc::new(TopicInner {
                name,
                rings,
                route: route.for_partitions(options.partitions),
                handles: AtomicU64::new(0),
                single_producer: options.producers == Producers::Single,
                timed,
                policy: options.full_policy,
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

    /// Events whose `Drop` panicked when one of the topic's rings dropped
    /// them (overwritten by a later publish), over all partitions; every
    /// such panic was caught. Read into [`TopicReport::drop_panics`](crate::TopicReport::drop_panics).
    pub(crate) fn drop_panics(&self) -> u64 {
        self.inner.rings.iter().map(|r| r.drop_panics()).sum()
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
        self.publish_one(event, |ring, partition, deadline| {
            inner.when_full(ring, partition, 1, deadline)
        })
    }

    /// Publishes `event` if its partition has room now; never waits.
    ///
    /// # Errors
    ///
    /// Hands the event back in [`PublishError::Full`] when the partition is
    /// full, and as [`publish`](Self::publish) does otherwise.
    #[inline]
    pub fn try_publish(&self, event: E) -> Result<Receipt, PublishError<E>> {
        self.publish_one(event, |_, _, _| Err(Full::Refused(PublishErrorKind::Full)))
    }

    /// `publish` and `try_publish`: routes, claims, stamps and publishes one
    /// event, asking `on_full` (with the ring, its partition and the
    /// publish's deadline, set on first use) what to do while its partition
    /// is full.
    #[inline(always)]
    fn publish_one(
        &self,
        event: E,
        mut on_full: impl FnMut(&Arc<Ring<E>>, u32, &mut Option<Instant>) -> Result<(), Full>,
    ) -> Result<Receipt, PublishError<E>> {
        let inner = &*self.inner;
        // The event is moved once, into `entry`, and from there into its
        // slot or into the error: everything else reads it in place.
        let mut entry = Some(event);
        // One exit for every refusal, so the event is moved to one place.
        let why = 'refused: {
            let partition = match inner.partition_of(event_in(&entry), &self.spread) {
                Ok(partition) => partition,
                Err(why) => break 'refused Refusal::Unroutable(why),
            };
            let ring = &inner.rings[partition as usize];
            let mut deadline = None;
            let pushed = ring.push_from(&mut entry, clock::now_raw, || {
                on_full(ring, partition, &mut deadline)
            });
            match pushed {
                Ok(sequence) => {
                    return Ok(Receipt::Accepted {
                        partition,
                        sequence,
                    })
                }
                Err(Refused::Full(Full::Dropped)) => {
                    discard(ring, &mut entry);
                    return Ok(Receipt::Dropped { partition });
                }
                Err(Refused::Full(Full::Refused(kind))) => Refusal::Kind(kind),
                Err(Refused::Closed) => Refusal::Kind(PublishErrorKind::Closed),
            }
        };
        Err(inner.refuse_entry(why, &mut entry))
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
    /// The error of a single publish refused for `why`: counted, with the
    /// event of `entry` (what the push left in hand). The cold helpers take
    /// the entry by reference (by value, an unoptimised build would copy the
    /// event for every call) and return just the error, which the hot path
    /// wraps (a returned `Result` would have to live in memory on the hot
    /// path too).
    #[cold]
    #[inline(never)]
    fn refuse_entry(&self, why: Refusal, entry: &mut Option<E>) -> PublishError<E> {
        self.refuse(why, take_event(entry))
    }

    /// The error of a single publish of `event` refused for `why`, counted.
    #[cold]
    #[inline(never)]
    fn refuse(&self, why: Refusal, event: E) -> PublishError<E> {
        let kind = match why {
            Refusal::Kind(kind) => kind,
            Refusal::Unroutable(Unroutable::Invalid(reason)) => {
                self.counters.invalid.fetch_add(1, Ordering::Relaxed);
                return PublishError::Invalid { event, reason };
            }
            Refusal::Unroutable(Unroutable::Partition(index)) => {
                PublishErrorKind::InvalidPartition {
                    index,
                    partitions: self.rings.len() as u32,
                }
            }
        };
        self.counters.refused(kind, 1);
        PublishError::from_kind(kind, event)
    }

    /// Validates `event` and picks its partition, by reference: the event
    /// stays with the caller whatever the answer (an event is moved only
    /// into its slot or into an error). Counts nothing.
    #[inline(always)]
    fn partition_of(&self, event: &E, spread: &Spread) -> Result<u32, Unroutable> {
        if self.is_direct() {
            return Ok(0);
        }
        if !self.validators.is_empty() {
            if let Some(reason) = self.refusal(event) {
                return Err(Unroutable::Invalid(reason));
            }
        }
        let partitions = self.rings.len() as u32;
        let partition = self.route.pick(event, partitions, spread);
        if partition < partitions {
            Ok(partition)
        } else {
            Err(Unroutable::Partition(partition))
        }
    }

    /// Why the topic's validators refuse `event`, if one does.
    #[cfg(feature = "nats")]
    pub(crate) fn validation(&self, event: &E) -> Option<String> {
        if self.validators.is_empty() {
            None
        } else {
            self.refusal(event)
        }
    }

    /// How many events of `partition` every group has consumed (handled,
    /// dead-lettered, skipped or de-duplicated): the slowest group's cursor.
    #[cfg(feature = "nats")]
    pub(crate) fn consumed(&self, partition: u32) -> u64 {
        self.rings[partition as usize].slowest_cursor()
    }

    /// Whether every event goes to partition 0 unchecked: one partition, a
    /// keyless partitioner, no validator.
    #[inline]
    fn is_direct(&self) -> bool {
        matches!(self.route, Route::Single) && self.validators.is_empty()
    }

    /// The first validator's reason to refuse `event`, if any.
    #[cold]
    #[inline(never)]
    fn refusal(&self, event: &E) -> Option<String> {
        self.validators.iter().find_map(|v| v.validate(event).err())
    }

    /// The one publish time of a batch publish's sampled sequences (one
    /// clock read per batch), or 0 if the topic times nothing.
    #[inline]
    fn batch_stamp(&self) -> u64 {
        if self.timed {
            clock::now_raw()
        } else {
            0
        }
    }
}

/// Why a single publish was refused (the event stays with the caller).
enum Refusal {
    /// It could not be routed.
    Unroutable(Unroutable),
    /// The push was refused: closed, or full and not allowed to wait.
    Kind(PublishErrorKind),
}

/// Why an event could not be routed (it stays with the caller).
enum Unroutable {
    /// A validator refused it, for this reason.
    Invalid(String),
    /// The partitioner returned this index, out of range.
    Partition(u32),
}

impl Unroutable {
    /// The error kind, for a topic of `partitions` partitions.
    fn kind(&self, partitions: u32) -> PublishErrorKind {
        match *self {
            Unroutable::Invalid(_) => PublishErrorKind::Invalid,
            Unroutable::Partition(index) => {
                PublishErrorKind::InvalidPartition { index, partitions }
            }
        }
    }
}

/// The event of a pending entry (`Some(event)`, the form the rings take it
/// in: `Ring::push_from`, `Vacant::write_from` move it out when it is
/// published and leave it in place when it is not), not yet published.
#[inline(always)]
fn event_in<E>(entry: &Option<E>) -> &E {
    match entry {
        Some(event) => event,
        None => unreachable!("read an event that was already published"),
    }
}

/// Takes back the event of a pending entry that was not published.
///
/// Never inlined, and so the one place an event is moved out of its entry:
/// inlined into a caller that builds several `PublishError` variants from
/// it (each with the event at its own offset), a large event made LLVM's
/// SROA split it into thousands of scalars (and the SLP vectorizer then
/// take minutes over them) for a 64 KiB event. Returned from a call, the
/// event is one opaque value that every variant copies whole.
#[inline(never)]
fn take_event<E>(entry: &mut Option<E>) -> E {
    match entry.take() {
        Some(event) => event,
        None => unreachable!("a refused push leaves its event in place"),
    }
}

/// Drops the event of a pending entry that a full policy dropped, as
/// the ring drops its own (a panicking `Drop` is caught and counted). Never
/// inlined, for the reason [`take_event`] gives.
#[cold]
#[inline(never)]
fn discard<E>(ring: &Ring<E>, entry: &mut Option<E>) {
    if let Some(event) = entry.take() {
        ring.discard(event);
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
