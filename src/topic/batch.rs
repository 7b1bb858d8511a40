//! Batch publishes through a [`Topic`]: events of one partition staged in
//! runs and claimed together, and the errors of a batch that stopped.

use super::{discard, event_in, run_len, take_event, Full, Run, Topic};
use crate::error::{BatchPublishError, PublishErrorKind};
use crate::ring::{PushError, Refused};

impl<E: Send + Sync + 'static> Topic<E> {
    /// Publishes every event of `events` in order, applying the topic's
    /// [`FullPolicy`](crate::FullPolicy) to full partitions. Consecutive events bound for one
    /// partition are claimed and published together (one CAS per run of up
    /// to 64, fewer for events so large that 64 would take more than a few
    /// KiB of stack: large events go one at a time), and the batch takes
    /// one timestamp. Returns how many events were accepted (events dropped
    /// under [`FullPolicy::DropNewest`](crate::FullPolicy::DropNewest) are counted in the topic's
    /// `dropped_full`, not here).
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
        let run_limit = run_len::<E>().min(inner.rings[0].capacity() as usize);
        // Two functions, so that neither one's stack frame holds the
        // other's locals (an unoptimised build gives every one its own).
        if run_limit < 2 {
            self.publish_each(events.into_iter(), published)
        } else {
            self.publish_runs(events.into_iter(), published, run_limit)
        }
    }

    /// `publish_batch` in staged runs of up to `run_limit` (at least 2)
    /// events of one partition, one claim per run.
    #[inline(never)]
    fn publish_runs<I>(
        &self,
        mut events: I,
        published: u64,
        run_limit: usize,
    ) -> Result<usize, BatchPublishError<E>>
    where
        I: Iterator<Item = E>,
    {
        let inner = &*self.inner;
        debug_assert!((2..=Run::<E>::CAPACITY).contains(&run_limit));
        let partitions = self.partitions();
        let mut run = Run::<E>::new();
        let mut run_partition = 0u32;
        let mut accepted = 0usize;
        if inner.is_direct() {
            // One partition, nothing to check: runs are just the next
            // `run_limit` events.
            loop {
                while run.len() < run_limit {
                    match events.next() {
                        Some(event) => run.push(event),
                        None => break,
                    }
                }
                if run.is_empty() {
                    return Ok(accepted);
                }
                match self.flush_run(0, &mut run, published) {
                    Ok(n) => accepted += n,
                    Err(kind) => return Err(batch_error(accepted, kind, run, None, events)),
                }
            }
        }
        while let Some(event) = events.next() {
            let routed = inner.partition_of(&event, &self.spread);
            let ends_run = match routed {
                Ok(partition) => partition != run_partition || run.len() == run_limit,
                Err(_) => true,
            };
            if !run.is_empty() && ends_run {
                match self.flush_run(run_partition, &mut run, published) {
                    Ok(n) => accepted += n,
                    Err(kind) => {
                        return Err(batch_error(accepted, kind, run, Some(event), events));
                    }
                }
            }
            match routed {
                Ok(partition) => {
                    run_partition = partition;
                    run.push(event);
                }
                Err(why) => {
                    let kind = why.kind(partitions);
                    return Err(batch_error(accepted, kind, None, Some(event), events));
                }
            }
        }
        if !run.is_empty() {
            match self.flush_run(run_partition, &mut run, published) {
                Ok(n) => accepted += n,
                Err(kind) => return Err(batch_error(accepted, kind, run, None, events)),
            }
        }
        Ok(accepted)
    }

    /// `publish_batch` for runs of one event (events too large to stage, or
    /// a one-slot ring): each event goes straight from the iterator into its
    /// slot, with the batch's timestamp and the full policy applied per
    /// event as `publish` does, one deadline per event (its run).
    #[inline(never)]
    fn publish_each<I>(&self, mut events: I, published: u64) -> Result<usize, BatchPublishError<E>>
    where
        I: Iterator<Item = E>,
    {
        let inner = &*self.inner;
        let mut accepted = 0usize;
        let partitions = self.partitions();
        'events: loop {
            let Some(event) = events.next() else {
                return Ok(accepted);
            };
            let mut entry = Some(event);
            // One exit for every refusal, so the event is moved to one place.
            let kind = 'refused: {
                let partition = match inner.partition_of(event_in(&entry), &self.spread) {
                    Ok(partition) => partition,
                    Err(why) => break 'refused why.kind(partitions),
                };
                let ring = &inner.rings[partition as usize];
                let mut deadline = None;
                let pushed = ring.push_from(
                    &mut entry,
                    || published,
                    || inner.when_full(ring, partition, 1, &mut deadline),
                );
                match pushed {
                    Ok(_) => {
                        accepted += 1;
                        continue 'events;
                    }
                    // Counted by `when_full`; the batch goes on.
                    Err(Refused::Full(Full::Dropped)) => {
                        discard(ring, &mut entry);
                        continue 'events;
                    }
                    Err(Refused::Full(Full::Refused(kind))) => kind,
                    Err(Refused::Closed) => PublishErrorKind::Closed,
                }
            };
            return Err(refused_batch(accepted, kind, &mut entry, events));
        }
    }

    /// Publishes `run` (one partition's events) as one claim, applying the
    /// full policy. Returns how many were accepted (0 if dropped); leaves
    /// `run` intact on error.
    fn flush_run(
        &self,
        partition: u32,
        run: &mut Run<E>,
        published: u64,
    ) -> Result<usize, PublishErrorKind> {
        let ring = &self.inner.rings[partition as usize];
        let n = run.len();
        let mut deadline = None;
        loop {
            match ring.try_push_batch(run, published) {
                Ok(_) => return Ok(n),
                Err(PushError::Closed) => return Err(PublishErrorKind::Closed),
                Err(PushError::Full) => {
                    match self
                        .inner
                        .when_full(ring, partition, n as u64, &mut deadline)
                    {
                        Ok(()) => {}
                        Err(Full::Dropped) => {
                            run.by_ref().for_each(|event| ring.discard(event));
                            return Ok(0);
                        }
                        Err(Full::Refused(kind)) => return Err(kind),
                    }
                }
            }
        }
    }
}

/// Builds the error of a batch that stopped: the failed run, the event in
/// hand, then the rest of the input, in order. (One event at a time, with
/// no iterator adapters: on the error path too an event is held in as few
/// places as possible.)
#[cold]
#[inline(never)]
pub(super) fn batch_error<E>(
    accepted: usize,
    kind: PublishErrorKind,
    run: impl IntoIterator<Item = E>,
    current: Option<E>,
    rest: impl Iterator<Item = E>,
) -> BatchPublishError<E> {
    let mut unpublished = Vec::new();
    push_all(&mut unpublished, run.into_iter());
    if let Some(event) = current {
        unpublished.push(event);
    }
    push_all(&mut unpublished, rest);
    BatchPublishError {
        accepted,
        kind,
        unpublished,
    }
}

/// The error of a batch that stopped at the event of `entry` (not
/// published): that event, then the rest of the input.
#[cold]
#[inline(never)]
pub(super) fn refused_batch<E>(
    accepted: usize,
    kind: PublishErrorKind,
    entry: &mut Option<E>,
    rest: impl Iterator<Item = E>,
) -> BatchPublishError<E> {
    batch_error(accepted, kind, None, Some(take_event(entry)), rest)
}

/// Appends every item of `items` to `into`.
fn push_all<E>(into: &mut Vec<E>, items: impl Iterator<Item = E>) {
    for item in items {
        into.push(item);
    }
}
