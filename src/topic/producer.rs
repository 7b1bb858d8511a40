//! The exclusive producer of a single-producer topic.

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use super::route::Spread;
use super::{
    batch_error, discard, event_in, refused_batch, run_len, Full, Receipt, Refusal, TopicInner,
};
use crate::error::{BatchPublishError, PublishError, PublishErrorKind};
use crate::ring::{Burst, Bursts, SoleProducer};

/// The one producer of a topic declared with
/// [`Producers::Single`](crate::Producers::Single): publishes with plain
/// stores, no CAS, in the manner of the LMAX Disruptor's single-producer
/// sequencer.
///
/// There is exactly one per topic ([`Engine::producer`](crate::Engine::producer)
/// hands it out once), it is not `Clone`, and every publish takes `&mut
/// self`: the type system, not a convention, keeps a second producer out. It
/// is `Send`, so it can move to the thread that produces. Its partitioner
/// position (round robin, sticky) and the bound up to which every group has
/// released the ring are fields of its own, so the fast path reads no line
/// another thread writes except the slot's.
///
/// Errors, receipts and full-partition policies are those of [`Topic`](crate::Topic).
///
/// # Examples
///
/// ```
/// use veltrix::{Engine, GroupOptions, Producers, TopicOptions};
///
/// let engine = Engine::builder()
///     .topic::<u64>("ticks", TopicOptions::new(1).producers(Producers::Single))
///     .subscribe("sum", "ticks", GroupOptions::workers(1), |_| {
///         veltrix::listener::from_fn(|_tick: &u64, _ctx| Ok(()))
///     })
///     .build()?;
/// let mut ticks = engine.producer::<u64>("ticks")?;
/// ticks.publish(1)?;
/// ticks.publish_batch([2, 3, 4])?;
/// // There is only one.
/// assert!(engine.producer::<u64>("ticks").is_err());
/// let report = engine.shutdown();
/// assert_eq!(report.topic("ticks").unwrap().published, 4);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Producer<E> {
    pub(super) inner: Arc<TopicInner<E>>,
    /// One exclusive claimer per partition.
    pub(super) lanes: Box<[SoleProducer<E>]>,
    pub(super) spread: Spread,
}

impl<E> fmt::Debug for Producer<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Producer")
            .field("topic", &self.inner.name)
            .field("partitions", &self.lanes.len())
            .finish_non_exhaustive()
    }
}

impl<E: Send + Sync + 'static> Producer<E> {
    pub(crate) fn new(inner: Arc<TopicInner<E>>, lanes: Vec<SoleProducer<E>>) -> Self {
        debug_assert_eq!(lanes.len(), inner.rings.len());
        Producer {
            spread: inner.new_spread(),
            inner,
            lanes: lanes.into_boxed_slice(),
        }
    }

    /// The topic's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Number of partitions.
    #[must_use]
    pub fn partitions(&self) -> u32 {
        self.lanes.len() as u32
    }

    /// Events published so far, over all partitions.
    #[must_use]
    pub fn published(&self) -> u64 {
        self.inner.rings.iter().map(|r| r.claimed()).sum()
    }

    /// Publishes `event`, applying the topic's
    /// [`FullPolicy`](crate::FullPolicy) when its partition is full.
    ///
    /// # Errors
    ///
    /// As [`Topic::publish`](crate::Topic::publish): the event is handed back
    /// in the error.
    #[inline]
    pub fn publish(&mut self, event: E) -> Result<Receipt, PublishError<E>> {
        self.publish_one(event, true)
    }

    /// Publishes `event` if its partition has room now; never waits.
    ///
    /// # Errors
    ///
    /// As [`Topic::try_publish`](crate::Topic::try_publish).
    #[inline]
    pub fn try_publish(&mut self, event: E) -> Result<Receipt, PublishError<E>> {
        self.publish_one(event, false)
    }

    #[inline]
    fn publish_one(&mut self, event: E, wait: bool) -> Result<Receipt, PublishError<E>> {
        let inner = &*self.inner;
        // The event is moved once, into `entry`, and from there into its
        // slot or into the error: everything else reads it in place (a
        // large event takes one place on the stack, not one per step).
        let mut entry = Some(event);
        // One exit for every refusal, so the event is moved to one place.
        let why = 'refused: {
            let partition = match inner.partition_of(event_in(&entry), &self.spread) {
                Ok(partition) => partition,
                Err(why) => break 'refused Refusal::Unroutable(why),
            };
            let lane = &mut self.lanes[partition as usize];
            let mut deadline = None;
            // Room first, then the event moves, once, straight into its
            // slot: waiting for room moves nothing.
            loop {
                let Some(mut burst) = lane.burst() else {
                    break 'refused Refusal::Kind(PublishErrorKind::Closed);
                };
                if let Some(vacant) = burst.vacant() {
                    let sequence = vacant.write_from(&mut entry, crate::clock::now_raw);
                    // The burst ends (count stored, readers woken) here.
                    return Ok(Receipt::Accepted {
                        partition,
                        sequence,
                    });
                }
                drop(burst);
                let full = if wait {
                    inner.when_full(lane.ring(), partition, 1, &mut deadline)
                } else {
                    Err(Full::Refused(PublishErrorKind::Full))
                };
                match full {
                    Ok(()) => {}
                    Err(Full::Dropped) => {
                        discard(lane.ring(), &mut entry);
                        return Ok(Receipt::Dropped { partition });
                    }
                    Err(Full::Refused(kind)) => break 'refused Refusal::Kind(kind),
                }
            }
        };
        Err(inner.refuse_entry(why, &mut entry))
    }

    /// Publishes every event of `events` in order, applying the topic's
    /// full policy to full partitions. Each event is written straight into
    /// its slot (no staging copy); the published count is stored and parked
    /// readers are woken once per run of consecutive events of one
    /// partition (up to 64, fewer for large events), and the batch takes one
    /// timestamp. Returns how many events were accepted (events dropped
    /// under [`FullPolicy::DropNewest`](crate::FullPolicy::DropNewest) are
    /// counted in the topic's `dropped_full`, not here).
    ///
    /// # Errors
    ///
    /// As [`Topic::publish_batch`](crate::Topic::publish_batch): stops at the
    /// first event that cannot be published; the events before it stay
    /// published, that event and all after it are handed back in order.
    pub fn publish_batch<I>(&mut self, events: I) -> Result<usize, BatchPublishError<E>>
    where
        I: IntoIterator<Item = E>,
    {
        let inner = Arc::clone(&self.inner);
        self.publish_batch_uncounted(events.into_iter())
            .inspect_err(|e| inner.counters.refused(e.kind, e.unpublished.len()))
    }

    /// `publish_batch` without counting what it hands back.
    fn publish_batch_uncounted<I>(&mut self, events: I) -> Result<usize, BatchPublishError<E>>
    where
        I: Iterator<Item = E>,
    {
        let inner = &*self.inner;
        inner.route.on_batch_start(&self.spread);
        let published = inner.batch_stamp();
        // Two functions, so that neither one's stack frame holds the
        // other's locals (an unoptimised build gives every one its own).
        if inner.is_direct() {
            self.publish_direct(events, published)
        } else {
            self.publish_routed(events, published)
        }
    }

    /// `publish_batch` of a topic with a partitioner or validators: runs of
    /// consecutive events of one partition, one burst each. Each event is
    /// taken from the iterator, validated and routed (by reference), and
    /// written into its slot in the same step: no event is ever held over
    /// to the next step (a run ends before the event that does not belong
    /// to it is written, not after it is read), so the loop carries no
    /// event, whatever its size.
    #[inline(never)]
    fn publish_routed<I>(
        &mut self,
        mut events: I,
        published: u64,
    ) -> Result<usize, BatchPublishError<E>>
    where
        I: Iterator<Item = E>,
    {
        let inner = &*self.inner;
        let partitions = self.lanes.len() as u32;
        let mut bursts = Bursts::new(&mut self.lanes);
        let run_limit = run_len::<E>();
        let mut accepted = 0usize;
        let mut in_run = 0usize;
        // One deadline per run, as on the multi-producer path.
        let mut deadline = None;
        'events: loop {
            let Some(event) = events.next() else {
                return Ok(accepted);
            };
            let mut entry = Some(event);
            // One exit for every refusal, so the event is moved to one place.
            let kind = 'refused: {
                let partition = match inner.partition_of(event_in(&entry), &self.spread) {
                    Ok(partition) => partition as usize,
                    Err(why) => break 'refused why.kind(partitions),
                };
                if bursts.lane() != Some(partition) || in_run == run_limit {
                    // A new run: the burst of the last one ends (count,
                    // wake-up).
                    bursts.end();
                    in_run = 0;
                    deadline = None;
                }
                // `entry` stays put until a slot is free: waiting moves
                // nothing.
                loop {
                    if !bursts.open(partition) {
                        break 'refused PublishErrorKind::Closed;
                    }
                    if let Some(vacant) = bursts.vacant() {
                        vacant.write_from(&mut entry, || published);
                        accepted += 1;
                        in_run += 1;
                        break;
                    }
                    bursts.end();
                    let ring = &inner.rings[partition];
                    match inner.when_full(ring, partition as u32, 1, &mut deadline) {
                        Ok(()) => {}
                        // Counted by `when_full`; on to the next event.
                        Err(Full::Dropped) => {
                            discard(ring, &mut entry);
                            break;
                        }
                        Err(Full::Refused(kind)) => break 'refused kind,
                    }
                }
                continue 'events;
            };
            // Out of the burst before the rest of the input is collected.
            drop(bursts);
            return Err(refused_batch(accepted, kind, &mut entry, events));
        }
    }

    /// `publish_batch` of a topic whose events all go to partition 0
    /// unchecked (`is_direct`): no routing, one lane, one `Burst` kept
    /// across the whole batch (paused while waiting for room, restarted
    /// after each full run). The general loop above does the same for this
    /// case with a route and a lane check per event, so this is its
    /// one-partition fast path. It holds no event itself: runs are written
    /// by `write_run`, and an event that waits for room or is refused is
    /// held by `direct_wait` or `closed_rest`, each in a frame of its own,
    /// so a large event takes one place on the stack at a time.
    #[inline(never)]
    fn publish_direct<I>(
        &mut self,
        mut events: I,
        published: u64,
    ) -> Result<usize, BatchPublishError<E>>
    where
        I: Iterator<Item = E>,
    {
        let inner = &*self.inner;
        let run_limit = run_len::<E>();
        let mut accepted = 0usize;
        let Some(mut burst) = self.lanes[0].burst() else {
            // An empty batch succeeds even on a closed topic.
            return closed_rest(0, events);
        };
        let mut in_run = 0usize;
        // As in the general path: one deadline per run.
        let mut deadline = None;
        loop {
            // As many events as there is room for, straight from the input
            // into their slots, up to the end of the run.
            let (written, done) = burst.write_run(&mut events, run_limit - in_run, published);
            accepted += written;
            in_run += written;
            if done {
                return Ok(accepted);
            }
            if in_run == run_limit {
                // A full run: end this burst (count, wake-up), start the
                // next.
                in_run = 0;
                deadline = None;
                burst = match burst.pause(|| ()) {
                    (Some(burst), ()) => burst,
                    // Closed: refused only if something is left.
                    (None, ()) => return closed_rest(accepted, events),
                };
                continue;
            }
            // The ring is full: the next event, if there is one, waits in
            // hand for room, as a single publish does.
            let mut state = Waiting {
                accepted: &mut accepted,
                in_run: &mut in_run,
                deadline: &mut deadline,
                published,
            };
            burst = match direct_wait(inner, burst, &mut events, &mut state)? {
                Some(burst) => burst,
                None => return Ok(accepted),
            };
        }
    }
}

/// The counts and deadline of a `publish_direct` batch, lent to
/// `direct_wait`.
struct Waiting<'a> {
    accepted: &'a mut usize,
    in_run: &'a mut usize,
    deadline: &'a mut Option<Instant>,
    published: u64,
}

/// `publish_direct` with its ring full: the next event of `events`, if
/// there is one, waits in hand for room under the topic's full policy, as
/// a single publish does. Returns the burst to go on with, `None` when the
/// input ran out, or the batch's error (that event first, then the rest of
/// the input). Never inlined, so the event it holds never shares a frame
/// with `publish_direct`'s caller chain or with `write_run`.
#[inline(never)]
fn direct_wait<'b, E, I>(
    inner: &TopicInner<E>,
    mut burst: Burst<'b, E>,
    events: &mut I,
    state: &mut Waiting<'_>,
) -> Result<Option<Burst<'b, E>>, BatchPublishError<E>>
where
    E: Send + Sync + 'static,
    I: Iterator<Item = E>,
{
    let ring = &inner.rings[0];
    let Some(event) = events.next() else {
        return Ok(None);
    };
    let mut entry = Some(event);
    let kind = loop {
        if let Some(vacant) = burst.vacant() {
            vacant.write_from(&mut entry, || state.published);
            *state.accepted += 1;
            *state.in_run += 1;
            return Ok(Some(burst));
        }
        let (again, full) = burst.pause(|| inner.when_full(ring, 0, 1, state.deadline));
        burst = match again {
            Some(burst) => burst,
            None => break PublishErrorKind::Closed,
        };
        match full {
            Ok(()) => {}
            // Counted by `when_full`; on to the next event.
            Err(Full::Dropped) => {
                discard(ring, &mut entry);
                return Ok(Some(burst));
            }
            Err(Full::Refused(kind)) => {
                drop(burst);
                break kind;
            }
        }
    };
    Err(refused_batch(*state.accepted, kind, &mut entry, events))
}

/// The end of a `publish_direct` batch on a closed topic, after `accepted`
/// events: done if the input is empty, else refused from its next event on.
#[cold]
#[inline(never)]
fn closed_rest<E>(
    accepted: usize,
    mut events: impl Iterator<Item = E>,
) -> Result<usize, BatchPublishError<E>> {
    match events.next() {
        None => Ok(accepted),
        first => Err(batch_error(
            accepted,
            PublishErrorKind::Closed,
            None,
            first,
            events,
        )),
    }
}
