//! The one-event publish futures: [`Publish`] (`Topic::publish_async`)
//! and [`ProducerPublish`] (`Producer::publish_async`), which share their
//! body ([`One`]) and differ only in how they push.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::wait::{yield_now, RoomWait, Step};
use super::ATTEMPTS_PER_POLL;
use crate::clock;
use crate::error::{PublishError, PublishErrorKind};
use crate::ring::Refused;
use crate::topic::producer::Producer;
use crate::topic::route::Spread;
use crate::topic::{discard, event_in, Receipt, Refusal, Topic, TopicInner};

impl<E: Send + Sync + 'static> Topic<E> {
    /// Publishes `event` from an async task: like [`publish`](Self::publish),
    /// but a full partition makes the future wait (it registers its task's
    /// waker with the partition and returns `Pending`) instead of blocking
    /// the thread. The topic's [`FullPolicy`](crate::FullPolicy) applies as
    /// for `publish`: `Block` waits as long as it takes, `BlockTimeout`
    /// gives up at its deadline, `Reject` and `DropNewest` never wait.
    ///
    /// The event is routed once, at the first poll, and waits for room in
    /// that partition. A publish that finds room costs what `try_publish`
    /// costs; the synchronous paths pay nothing for async waiters unless
    /// one is waiting.
    ///
    /// # Cancellation
    ///
    /// Dropping the future before it completes drops the event: it was
    /// never accepted, so it is not in the partition, not counted as
    /// published, and no listener sees it (nor is it counted as refused).
    /// Once the future has returned `Ready(Ok(receipt))` the event is
    /// published, exactly once. To keep the event on cancellation, publish
    /// with [`try_publish`](Self::try_publish), which hands it back.
    ///
    /// # Errors
    ///
    /// Those of [`publish`](Self::publish), with the event handed back,
    /// except [`PublishError::WouldDeadlock`]: a task that waits blocks no
    /// thread, so it cannot wait on itself.
    ///
    /// # Examples
    ///
    /// ```
    /// use veltrix::{Engine, GroupOptions, TopicOptions};
    ///
    /// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
    /// #     let waker = std::task::Waker::noop();
    /// #     let mut cx = std::task::Context::from_waker(&waker);
    /// #     let mut f = std::pin::pin!(f);
    /// #     loop {
    /// #         if let std::task::Poll::Ready(out) = f.as_mut().poll(&mut cx) { return out; }
    /// #         std::thread::yield_now();
    /// #     }
    /// # }
    /// let engine = Engine::builder()
    ///     .topic::<u32>("inputs", TopicOptions::new(1).capacity(2))
    ///     .subscribe("tick", "inputs", GroupOptions::poll(), |_| {
    ///         veltrix::listener::from_fn(|_input: &u32, _ctx| Ok(()))
    ///     })
    ///     .build()?;
    /// let inputs = engine.topic::<u32>("inputs")?;
    /// let mut tick = engine.poller("tick")?;
    /// block_on(async {
    ///     inputs.publish_async(1).await?;
    ///     inputs.publish_async(2).await?;
    ///     assert_eq!(tick.poll_async(10).await, Some(2));
    ///     Ok::<(), veltrix::PublishError<u32>>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn publish_async(&self, event: E) -> Publish<'_, E> {
        Publish {
            topic: self,
            entry: Some(event),
            partition: None,
            wait: RoomWait::new(),
        }
    }

    /// As [`publish_async`](Self::publish_async), into `partition` rather
    /// than where the partitioner would put it. For the NATS import, which
    /// keeps an event's partition end to end; the caller checks `partition`
    /// against the topic and applies its validators (`validation`).
    #[cfg(feature = "nats")]
    pub(crate) fn publish_async_to(&self, partition: u32, event: E) -> Publish<'_, E> {
        debug_assert!(partition < self.partitions());
        Publish {
            topic: self,
            entry: Some(event),
            partition: Some(partition),
            wait: RoomWait::new(),
        }
    }
}

impl<E: Send + Sync + 'static> Producer<E> {
    /// Publishes `event` from an async task through the topic's one
    /// producer: as [`Topic::publish_async`], with the single-producer path's
    /// plain stores. The future borrows the producer mutably, so it keeps
    /// the producer's exclusivity too.
    ///
    /// # Cancellation
    ///
    /// As [`Topic::publish_async`]: dropping the future before it completes
    /// drops the event unpublished and uncounted.
    ///
    /// # Errors
    ///
    /// As [`Topic::publish_async`].
    pub fn publish_async(&mut self, event: E) -> ProducerPublish<'_, E> {
        ProducerPublish {
            producer: self,
            entry: Some(event),
            partition: None,
            wait: RoomWait::new(),
        }
    }
}

/// The future of [`Topic::publish_async`].
#[must_use = "a future does nothing unless polled; dropping it drops the event"]
pub struct Publish<'a, E> {
    topic: &'a Topic<E>,
    /// The event until it is published or handed back.
    entry: Option<E>,
    /// Decided at the first poll.
    partition: Option<u32>,
    wait: RoomWait<E>,
}

/// The future of [`Producer::publish_async`].
#[must_use = "a future does nothing unless polled; dropping it drops the event"]
pub struct ProducerPublish<'a, E> {
    producer: &'a mut Producer<E>,
    entry: Option<E>,
    partition: Option<u32>,
    wait: RoomWait<E>,
}

// The futures never pin-project: every field is moved or borrowed only
// through `&mut Self`, so they may move between polls whatever `E` is.
impl<E> Unpin for Publish<'_, E> {}
impl<E> Unpin for ProducerPublish<'_, E> {}

impl<E: Send + Sync + 'static> Future for Publish<'_, E> {
    type Output = Result<Receipt, PublishError<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let inner = &*this.topic.inner;
        let one = One {
            inner,
            entry: &mut this.entry,
            partition: &mut this.partition,
            wait: &mut this.wait,
        };
        one.poll(&this.topic.spread, cx, |partition, entry| {
            let pushed = inner.rings[partition as usize]
                .push_from(entry, clock::now_raw, || Err::<(), ()>(()));
            match pushed {
                Ok(sequence) => Pushed::Accepted(sequence),
                Err(Refused::Closed) => Pushed::Closed,
                Err(Refused::Full(())) => Pushed::Full,
            }
        })
    }
}

impl<E: Send + Sync + 'static> Future for ProducerPublish<'_, E> {
    type Output = Result<Receipt, PublishError<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let Producer {
            inner,
            lanes,
            spread,
        } = &mut *this.producer;
        let one = One {
            inner,
            entry: &mut this.entry,
            partition: &mut this.partition,
            wait: &mut this.wait,
        };
        one.poll(spread, cx, |partition, entry| {
            let Some(mut burst) = lanes[partition as usize].burst() else {
                return Pushed::Closed;
            };
            match burst.vacant() {
                // The burst ends (count stored, readers woken) on return.
                Some(vacant) => Pushed::Accepted(vacant.write_from(entry, clock::now_raw)),
                None => Pushed::Full,
            }
        })
    }
}

/// What one attempt to push a single event did.
enum Pushed {
    /// Published with this sequence.
    Accepted(u64),
    /// The ring is closed; the event is still in hand.
    Closed,
    /// The ring is full; the event is still in hand.
    Full,
}

/// The state of a one-event publish future, borrowed for one poll: the
/// shared body of [`Publish`] and [`ProducerPublish`], which differ only in
/// how they push.
struct One<'a, E> {
    inner: &'a TopicInner<E>,
    entry: &'a mut Option<E>,
    partition: &'a mut Option<u32>,
    wait: &'a mut RoomWait<E>,
}

impl<E: Send + Sync + 'static> One<'_, E> {
    /// Routes the event (once, at the first poll, with `spread`), then
    /// pushes it with `push` until it is accepted or refused, or the task
    /// has to wait.
    fn poll(
        self,
        spread: &Spread,
        cx: &Context<'_>,
        mut push: impl FnMut(u32, &mut Option<E>) -> Pushed,
    ) -> Poll<Result<Receipt, PublishError<E>>> {
        let One {
            inner,
            entry,
            partition,
            wait,
        } = self;
        assert!(
            entry.is_some(),
            "a publish future polled after it completed"
        );
        let partition = match *partition {
            Some(partition) => partition,
            None => match inner.partition_of(event_in(entry), spread) {
                Ok(p) => *partition.insert(p),
                Err(why) => {
                    return Poll::Ready(Err(inner.refuse_entry(Refusal::Unroutable(why), entry)))
                }
            },
        };
        let ring = &inner.rings[partition as usize];
        for _ in 0..ATTEMPTS_PER_POLL {
            let why = match push(partition, entry) {
                Pushed::Accepted(sequence) => {
                    wait.done();
                    return Poll::Ready(Ok(Receipt::Accepted {
                        partition,
                        sequence,
                    }));
                }
                Pushed::Closed => Refusal::Kind(PublishErrorKind::Closed),
                Pushed::Full => match wait.full(inner, ring, partition, cx) {
                    Step::Retry => continue,
                    Step::Pending => return Poll::Pending,
                    Step::Yield => return yield_now(cx),
                    Step::Dropped => {
                        wait.done();
                        discard(ring, entry);
                        return Poll::Ready(Ok(Receipt::Dropped { partition }));
                    }
                    Step::Refused(kind) => Refusal::Kind(kind),
                },
            };
            wait.done();
            return Poll::Ready(Err(inner.refuse_entry(why, entry)));
        }
        yield_now(cx)
    }
}

impl<E> std::fmt::Debug for Publish<'_, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publish")
            .field("topic", &self.topic.inner.name)
            .field("partition", &self.partition)
            .field("waiting", &self.wait.is_registered())
            .finish_non_exhaustive()
    }
}

impl<E> std::fmt::Debug for ProducerPublish<'_, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProducerPublish")
            .field("topic", &self.producer.inner.name)
            .field("partition", &self.partition)
            .field("waiting", &self.wait.is_registered())
            .finish_non_exhaustive()
    }
}
