//! Publishing from async tasks: the futures of `publish_async` and
//! `publish_batch_async`, which wait for room by registering a [`Waker`]
//! on the full ring's gate instead of blocking the thread (see
//! [`veltrix::future`](crate::future) for the whole picture).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use super::producer::Producer;
use super::route::Spread;
use super::{discard, event_in, refused_batch, Full, Receipt, Refusal, Topic, TopicInner};
use crate::clock;
use crate::error::{BatchPublishError, PublishError, PublishErrorKind};
use crate::future::{timer, Patience};
use crate::ring::{task_key, Refused, Ring, TaskKey, PARK_UNPROVEN};

/// Attempts one poll makes while room keeps appearing and vanishing again
/// (other producers taking it) before it yields to the executor.
const ATTEMPTS_PER_POLL: usize = 64;

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
impl<E, I> Unpin for PublishBatch<'_, E, I> {}
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

/// What a future does after its push found the partition full.
enum Step {
    /// There is room (or the ring closed) now: push again.
    Retry,
    /// Registered; a release (or the timer) wakes the task.
    Pending,
    /// Still within its patience: yield to the executor, look again soon.
    Yield,
    /// The full policy dropped the event (counted).
    Dropped,
    /// The full policy, or the deadline, refused it.
    Refused(PublishErrorKind),
}

/// A publish future's wait for room: its registration with a ring's gate,
/// its deadline under `BlockTimeout`, the wake-up it armed on the timer.
/// Dropping it withdraws the registration.
struct RoomWait<E> {
    /// The ring registered with, and under which key.
    registered: Option<(Arc<Ring<E>>, TaskKey)>,
    /// `Some` once the policy was asked: the deadline, if any.
    deadline: Option<Option<Instant>>,
    /// The instant last armed on the timer (each is armed once).
    armed: Option<Instant>,
    patience: Patience,
}

impl<E> RoomWait<E> {
    fn new() -> Self {
        RoomWait {
            registered: None,
            deadline: None,
            armed: None,
            patience: Patience::new(),
        }
    }

    /// The full policy's answer for one event that found `ring` (of
    /// `partition`) full, and if it may wait, the registration and its
    /// re-check.
    fn full(
        &mut self,
        inner: &TopicInner<E>,
        ring: &Arc<Ring<E>>,
        partition: u32,
        cx: &Context<'_>,
    ) -> Step
    where
        E: Send + Sync + 'static,
    {
        let timeout = match inner.may_wait(1) {
            Ok(timeout) => timeout,
            Err(Full::Dropped) => return Step::Dropped,
            Err(Full::Refused(kind)) => return Step::Refused(kind),
        };
        let deadline = *self.deadline.get_or_insert_with(|| match timeout {
            Some(timeout) => clock::deadline_after(timeout),
            None => None,
        });
        let now = Instant::now();
        if deadline.is_some_and(|d| now >= d) {
            return match inner.timed_out(partition) {
                Full::Refused(kind) => Step::Refused(kind),
                Full::Dropped => Step::Dropped,
            };
        }
        if !self.patience.exhausted() {
            return Step::Yield;
        }
        let key = self.key_for(ring);
        let found = ring.register_for_room(1, key, cx.waker());
        if found.ready {
            return Step::Retry;
        }
        let wake_at = if found.proven {
            deadline
        } else {
            Some(deadline.map_or(now + PARK_UNPROVEN, |d| d.min(now + PARK_UNPROVEN)))
        };
        if let Some(at) = wake_at {
            if self.armed != Some(at) {
                self.armed = Some(at);
                timer::wake_at(at, cx.waker());
            }
        }
        Step::Pending
    }

    /// The key this wait registers under with `ring`, withdrawing a
    /// registration with another ring first (a batch moves between
    /// partitions).
    fn key_for(&mut self, ring: &Arc<Ring<E>>) -> TaskKey {
        if let Some((held, key)) = &self.registered {
            if Arc::ptr_eq(held, ring) {
                return *key;
            }
        }
        self.done();
        let key = task_key();
        self.registered = Some((Arc::clone(ring), key));
        key
    }

    /// The event this wait was for is published or refused: withdraw the
    /// registration and start afresh for the next one.
    fn done(&mut self) {
        if let Some((ring, key)) = self.registered.take() {
            ring.cancel_room_wait(key);
        }
        self.deadline = None;
        self.armed = None;
        self.patience = Patience::new();
    }
}

impl<E> Drop for RoomWait<E> {
    fn drop(&mut self) {
        if let Some((ring, key)) = self.registered.take() {
            ring.cancel_room_wait(key);
        }
    }
}

impl<E> std::fmt::Debug for Publish<'_, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publish")
            .field("topic", &self.topic.inner.name)
            .field("partition", &self.partition)
            .field("waiting", &self.wait.registered.is_some())
            .finish_non_exhaustive()
    }
}

impl<E, I> std::fmt::Debug for PublishBatch<'_, E, I> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublishBatch")
            .field("topic", &self.topic.inner.name)
            .field("accepted", &self.accepted)
            .field("waiting", &self.wait.registered.is_some())
            .finish_non_exhaustive()
    }
}

impl<E> std::fmt::Debug for ProducerPublish<'_, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProducerPublish")
            .field("topic", &self.producer.inner.name)
            .field("partition", &self.partition)
            .field("waiting", &self.wait.registered.is_some())
            .finish_non_exhaustive()
    }
}

/// Pending, to be polled again soon: the task yields to the executor.
fn yield_now<T>(cx: &Context<'_>) -> Poll<T> {
    cx.waker().wake_by_ref();
    Poll::Pending
}
