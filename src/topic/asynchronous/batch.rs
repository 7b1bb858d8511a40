//! The batch publish future: [`PublishBatch`] (`Topic::publish_batch_async`),
//! which publishes its events one at a time and waits for room wherever a
//! partition is full.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::wait::{yield_now, RoomWait, Step};
use super::ATTEMPTS_PER_POLL;
use crate::clock;
use crate::error::{BatchPublishError, PublishErrorKind};
use crate::ring::Refused;
use crate::topic::{discard, event_in, refused_batch, Full, Topic};

impl<E: Send + Sync + 'static> Topic<E> {
    /// Publishes every event of `events` in order from an async task,
    /// waiting (without blocking the thread) wherever a partition is full,
    /// as [`publish_async`](Self::publish_async) does for one event.
    /// Resolves to how many events were accepted (events dropped under
    /// [`FullPolicy::DropNewest`](crate::FullPolicy::DropNewest) are counted
    /// in the topic's `dropped_full`, not here).
    ///
    /// Unlike [`publish_batch`](Self::publish_batch), each event is claimed
    /// and timestamped on its own.
    ///
    /// # Cancellation
    ///
    /// Dropping the future keeps every event it already published; the
    /// event it was waiting to publish and the events not yet taken from
    /// the iterator are dropped with it.
    ///
    /// # Errors
    ///
    /// As [`publish_batch`](Self::publish_batch): stops at the first event
    /// that cannot be published; the events before it stay published, that
    /// event and all after it are handed back in order.
    pub fn publish_batch_async<I>(&self, events: I) -> PublishBatch<'_, E, I::IntoIter>
    where
        I: IntoIterator<Item = E>,
    {
        PublishBatch {
            topic: self,
            events: events.into_iter(),
            entry: None,
            partition: None,
            accepted: 0,
            wait: RoomWait::new(),
        }
    }
}

/// The future of [`Topic::publish_batch_async`].
#[must_use = "a future does nothing unless polled"]
pub struct PublishBatch<'a, E, I> {
    topic: &'a Topic<E>,
    events: I,
    /// The event in hand (taken from `events`, not yet published).
    entry: Option<E>,
    /// The partition of the event in hand, once routed.
    partition: Option<u32>,
    accepted: usize,
    wait: RoomWait<E>,
}

// The future never pin-projects: every field is moved or borrowed only
// through `&mut Self`, so it may move between polls whatever `E` and `I` are.
impl<E, I> Unpin for PublishBatch<'_, E, I> {}

impl<E, I> Future for PublishBatch<'_, E, I>
where
    E: Send + Sync + 'static,
    I: Iterator<Item = E>,
{
    type Output = Result<usize, BatchPublishError<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let inner = &*this.topic.inner;
        let mut attempts = 0;
        loop {
            if this.entry.is_none() {
                match this.events.next() {
                    Some(event) => {
                        this.entry = Some(event);
                        this.partition = None;
                    }
                    None => {
                        this.wait.done();
                        return Poll::Ready(Ok(this.accepted));
                    }
                }
            }
            let partition = match this.partition {
                Some(partition) => partition,
                None => match inner.partition_of(event_in(&this.entry), &this.topic.spread) {
                    Ok(partition) => *this.partition.insert(partition),
                    Err(why) => {
                        let kind = why.kind(inner.rings.len() as u32);
                        return Poll::Ready(Err(this.refused(kind)));
                    }
                },
            };
            let ring = &inner.rings[partition as usize];
            let pushed = ring.push_from(&mut this.entry, clock::now_raw, || {
                Err::<(), _>(Full::Refused(PublishErrorKind::Full))
            });
            match pushed {
                Ok(_) => this.accepted += 1,
                Err(Refused::Closed) => {
                    return Poll::Ready(Err(this.refused(PublishErrorKind::Closed)))
                }
                Err(Refused::Full(_)) => match this.wait.full(inner, ring, partition, cx) {
                    Step::Retry => {
                        attempts += 1;
                        if attempts == ATTEMPTS_PER_POLL {
                            return yield_now(cx);
                        }
                    }
                    Step::Pending => return Poll::Pending,
                    Step::Yield => return yield_now(cx),
                    Step::Dropped => {
                        discard(ring, &mut this.entry);
                        this.wait.done();
                    }
                    Step::Refused(kind) => return Poll::Ready(Err(this.refused(kind))),
                },
            }
        }
    }
}

impl<E, I> PublishBatch<'_, E, I>
where
    E: Send + Sync + 'static,
    I: Iterator<Item = E>,
{
    /// The batch stops at the event in hand: it and the rest go back,
    /// counted as refused for `kind`.
    fn refused(&mut self, kind: PublishErrorKind) -> BatchPublishError<E> {
        self.wait.done();
        let error = refused_batch(self.accepted, kind, &mut self.entry, &mut self.events);
        self.topic
            .inner
            .counters
            .refused(kind, error.unpublished.len());
        error
    }
}

impl<E, I> std::fmt::Debug for PublishBatch<'_, E, I> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublishBatch")
            .field("topic", &self.topic.inner.name)
            .field("accepted", &self.accepted)
            .field("waiting", &self.wait.is_registered())
            .finish_non_exhaustive()
    }
}
