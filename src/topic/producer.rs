//! The exclusive producer of a single-producer topic.

use std::fmt;
use std::sync::Arc;

use super::route::Spread;
use super::{batch_error, Entry, Full, Receipt, TopicInner, MAX_RUN};
use crate::error::{BatchPublishError, PublishError, PublishErrorKind};
use crate::ring::SoleProducer;

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
    inner: Arc<TopicInner<E>>,
    /// One exclusive claimer per partition.
    lanes: Box<[SoleProducer<Entry<E>>]>,
    spread: Spread,
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
    pub(crate) fn new(inner: Arc<TopicInner<E>>, lanes: Vec<SoleProducer<Entry<E>>>) -> Self {
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
        let (partition, event) = inner.route(event, &self.spread)?;
        let lane = &mut self.lanes[partition as usize];
        let mut event = event;
        let mut deadline = None;
        loop {
            let pushed = match lane.burst() {
                // The burst ends (count stored, readers woken) right here.
                Some(mut burst) => burst.push_with(event, |event, seq| inner.entry(event, seq)),
                None => {
                    return Err(inner.closed(event));
                }
            };
            let back = match pushed {
                Ok(sequence) => {
                    return Ok(Receipt::Accepted {
                        partition,
                        sequence,
                    })
                }
                Err(back) => back,
            };
            let full = if wait {
                inner.when_full(lane.ring(), partition, 1, &mut deadline)
            } else {
                Err(Full::Refused(PublishErrorKind::Full))
            };
            if let Err(full) = full {
                return inner.full_outcome(full, back, partition);
            }
            event = back;
        }
    }

    /// Publishes every event of `events` in order, applying the topic's
    /// full policy to full partitions. Each event is written straight into
    /// its slot (no staging copy); the published count is stored and parked
    /// readers are woken once per run of up to 64 events of one partition,
    /// and the batch takes one timestamp. Returns how many events were
    /// accepted (events dropped under
    /// [`FullPolicy::DropNewest`](crate::FullPolicy::DropNewest) are counted
    /// in the topic's `dropped_full`, not here).
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

    fn publish_batch_uncounted<I>(&mut self, mut events: I) -> Result<usize, BatchPublishError<E>>
    where
        I: Iterator<Item = E>,
    {
        let inner = &*self.inner;
        inner.route.on_batch_start(&self.spread);
        let published = inner.batch_stamp();
        let partitions = self.lanes.len() as u32;
        let mut accepted = 0usize;
        if inner.is_direct() {
            return self.publish_direct(events, published);
        }
        // The next event and its partition, validated.
        let next = |events: &mut I| -> Result<Option<(u32, E)>, (PublishErrorKind, E)> {
            let Some(event) = events.next() else {
                return Ok(None);
            };
            let event = inner.check(event).map_err(|e| (e.kind(), e.into_inner()))?;
            let partition = inner.route.pick(&event, partitions, &self.spread);
            if partition >= partitions {
                let kind = PublishErrorKind::InvalidPartition {
                    index: partition,
                    partitions,
                };
                return Err((kind, event));
            }
            Ok(Some((partition, event)))
        };
        let mut pending = match next(&mut events) {
            Ok(first) => first,
            Err((kind, event)) => return Err(batch_error(0, kind, None, Some(event), events)),
        };
        // One run per iteration: consecutive events of one partition.
        while let Some((partition, event)) = pending.take() {
            let mut dropped = false;
            let lane = &mut self.lanes[partition as usize];
            let mut entry = Entry { event, published };
            let mut deadline = None;
            'run: loop {
                let Some(mut burst) = lane.burst() else {
                    let kind = PublishErrorKind::Closed;
                    return Err(batch_error(accepted, kind, None, Some(entry.event), events));
                };
                let mut in_run = 0usize;
                loop {
                    match burst.push(entry) {
                        Ok(_) => {
                            accepted += 1;
                            in_run += 1;
                        }
                        Err(back) => {
                            drop(burst);
                            match inner.when_full(lane.ring(), partition, 1, &mut deadline) {
                                Ok(()) => {
                                    entry = back;
                                    continue 'run;
                                }
                                // Counted by `when_full`; on to the next event.
                                Err(Full::Dropped) => {
                                    dropped = true;
                                    break 'run;
                                }
                                Err(Full::Refused(kind)) => {
                                    let rest = Some(back.event);
                                    return Err(batch_error(accepted, kind, None, rest, events));
                                }
                            }
                        }
                    }
                    match next(&mut events) {
                        Ok(Some((p, event))) if p == partition && in_run < MAX_RUN => {
                            entry = Entry { event, published };
                        }
                        Ok(Some((p, event))) if p == partition => {
                            // A full run: end this burst (count, wake-up)
                            // and start the next one.
                            entry = Entry { event, published };
                            deadline = None;
                            continue 'run;
                        }
                        Ok(other) => {
                            pending = other;
                            break 'run;
                        }
                        Err((kind, event)) => {
                            drop(burst);
                            return Err(batch_error(accepted, kind, None, Some(event), events));
                        }
                    }
                }
            }
            if dropped {
                // The run ended on a dropped event: the batch goes on.
                pending = match next(&mut events) {
                    Ok(more) => more,
                    Err((kind, event)) => {
                        return Err(batch_error(accepted, kind, None, Some(event), events));
                    }
                };
            }
        }
        Ok(accepted)
    }

    /// `publish_batch` of a topic whose events all go to partition 0
    /// unchecked: straight from the iterator into the slots. The general
    /// loop above does the same for this case, at about 35 more instructions
    /// per event (callgrind), so this is its one-partition fast path.
    fn publish_direct<I>(
        &mut self,
        mut events: I,
        published: u64,
    ) -> Result<usize, BatchPublishError<E>>
    where
        I: Iterator<Item = E>,
    {
        let inner = &*self.inner;
        let lane = &mut self.lanes[0];
        let mut accepted = 0usize;
        let mut pending = events.next();
        // As in the general path: one deadline per run of up to `MAX_RUN`.
        let mut deadline = None;
        while pending.is_some() {
            let Some(mut burst) = lane.burst() else {
                let kind = PublishErrorKind::Closed;
                return Err(batch_error(accepted, kind, None, pending, events));
            };
            let mut in_run = 0;
            while let Some(event) = pending.take() {
                match burst.push(Entry { event, published }) {
                    Ok(_) => {
                        accepted += 1;
                        in_run += 1;
                        if in_run == MAX_RUN {
                            pending = events.next();
                            deadline = None;
                            break;
                        }
                        pending = events.next();
                    }
                    Err(back) => {
                        drop(burst);
                        match inner.when_full(lane.ring(), 0, 1, &mut deadline) {
                            Ok(()) => pending = Some(back.event),
                            Err(Full::Dropped) => pending = events.next(),
                            Err(Full::Refused(kind)) => {
                                return Err(batch_error(
                                    accepted,
                                    kind,
                                    None,
                                    Some(back.event),
                                    events,
                                ));
                            }
                        }
                        break;
                    }
                }
            }
        }
        Ok(accepted)
    }
}
