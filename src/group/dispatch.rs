//! Handing one partition's events to a listener, with the group's failure
//! policy: the last hop of an event's path (`Reader::drain` →
//! `Listener::on_event`).

use crate::panics::{self, catch};
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use super::dead_letter::{DeadLetterSink, Origin};
use super::dedup::DedupWindow;
use super::policy::{Exhausted, FailurePolicy, MAX_BACKOFF};
use super::DedupSpec;
use super::{GroupShared, WorkerCounters};
use crate::clock::{self, Timestamp};
use crate::listener::{EventContext, Listener, ListenerError};
use crate::ring::{Reader, Ring};

/// An event waiting for its next attempt.
#[derive(Debug)]
struct Retry {
    sequence: u64,
    failures: u32,
    not_before: Instant,
}

/// One partition as one worker of a group consumes it.
///
/// Aligned to 128 bytes (two cache lines, like `CachePadded`): its reader's
/// `next` changes on every batch, and a producer's state allocated next to
/// it at build time would otherwise share its line.
#[repr(align(128))]
pub(crate) struct PartitionCursor<E> {
    pub(crate) partition: u32,
    pub(crate) reader: Reader<E>,
    retry: Option<Retry>,
    halted: bool,
    dedup: Option<DedupWindow>,
}

impl<E> PartitionCursor<E> {
    pub(crate) fn new(partition: u32, reader: Reader<E>, dedup_window: Option<usize>) -> Self {
        PartitionCursor {
            partition,
            reader,
            retry: None,
            halted: false,
            dedup: dedup_window.map(DedupWindow::new),
        }
    }

    pub(crate) fn ring(&self) -> &Ring<E> {
        self.reader.ring()
    }

    /// Records the thread draining this cursor from now on (its
    /// [`thread_token`](crate::ring::thread_token), or 0 when it stops),
    /// for the deadlock check of blocking producers.
    pub(crate) fn set_driver(&self, token: u64) {
        self.reader.ring().set_driver(self.reader.index(), token);
    }

    /// What [`set_driver`](Self::set_driver) stored last.
    pub(crate) fn driver(&self) -> u64 {
        self.reader.ring().driver(self.reader.index())
    }

    /// Whether this partition could hand out an event now.
    pub(crate) fn is_ready(&self, now: Option<Instant>) -> bool {
        if self.halted || !self.reader.has_next() {
            return false;
        }
        match (&self.retry, now) {
            (Some(retry), Some(now)) => now >= retry.not_before,
            (Some(_), None) => false,
            (None, _) => true,
        }
    }

    /// When this partition's waiting retry is due, if one is.
    pub(crate) fn retry_due(&self) -> Option<Instant> {
        if self.halted {
            return None;
        }
        self.retry.as_ref().map(|r| r.not_before)
    }

    /// Whether nothing more will come out of this partition: drained and
    /// closed, or halted.
    pub(crate) fn is_done(&self) -> bool {
        self.halted || self.reader.is_finished()
    }
}

/// Counts of one drain call, added to the worker's counters at the end.
#[derive(Debug, Default)]
struct Tally {
    handled: u64,
    failures: u64,
    retried: u64,
    dead_lettered: u64,
    skipped: u64,
    deduplicated: u64,
    dead_letter_failed: u64,
    drop_panics: u64,
}

impl Tally {
    /// Adds these counts to the worker's own counters.
    fn add_to(&self, counters: &WorkerCounters) {
        add(&counters.handled, self.handled);
        add(&counters.failures, self.failures);
        add(&counters.retried, self.retried);
        add(&counters.dead_lettered, self.dead_lettered);
        add(&counters.skipped, self.skipped);
        add(&counters.deduplicated, self.deduplicated);
        add(&counters.dead_letter_failed, self.dead_letter_failed);
        add(&counters.drop_panics, self.drop_panics);
    }
}

/// The failure policy of a group, applied by each of its workers.
pub(crate) struct Dispatcher<E> {
    pub(crate) policy: FailurePolicy,
    pub(crate) dead_letters: Option<DeadLetterSink<E>>,
    /// De-duplicated topics: the id function and window.
    pub(crate) dedup: Option<Arc<DedupSpec<E>>>,
}

impl<E: Send + Sync + 'static> Dispatcher<E> {
    /// Hands up to `max` events of `cursor`'s partition to `listener` and
    /// returns how many were consumed (handled, skipped, dead-lettered or
    /// de-duplicated). A failure that will be retried stops the batch there:
    /// the partition waits, so its order holds.
    pub(crate) fn drain<L: Listener<E>>(
        &self,
        cursor: &mut PartitionCursor<E>,
        listener: &mut L,
        shared: &GroupShared,
        worker: usize,
        max: usize,
    ) -> usize {
        // An empty partition costs one stamp load: a worker owning many
        // partitions skips the idle ones without setting anything up.
        if !cursor.reader.has_next() {
            return 0;
        }
        let counters = &shared.counters[worker];
        let histograms = shared.histograms.as_deref().map(|h| &h[worker]);
        let sample_mask = shared.sample_mask;
        if cursor.halted {
            return 0;
        }
        if let Some(retry) = &cursor.retry {
            if Instant::now() < retry.not_before {
                return 0;
            }
        }
        let PartitionCursor {
            partition,
            reader,
            retry,
            halted,
            dedup,
        } = cursor;
        let partition = *partition;
        // Only the first event of a call can be a retry (a failure that
        // will be retried ends the call), so this is decided once.
        // `u64::MAX` for none: no partition reaches that sequence.
        let retrying = retry.as_ref().map_or(u64::MAX, |r| r.sequence);
        // Without histograms only sequence 0 matches (its two clock reads
        // then time nothing): one compare per event either way.
        let sample_mask = if histograms.is_some() {
            sample_mask
        } else {
            u64::MAX
        };
        let dedup_on = dedup.is_some() && self.dedup.is_some();
        let catcher = panics::catcher();
        let mut tally = Tally::default();
        let mut ctx = EventContext {
            topic: &shared.topic,
            group: &shared.name,
            partition,
            sequence: 0,
            published_at: None,
            end_of_batch: false,
            attempt: 1,
            cancelled: &shared.abort,
        };
        let handle = |tally: &mut Tally, sequence: u64, event: &E, last: bool, published: u64| {
            // A shutdown deadline that passed stops the batch between events,
            // not only between batches: no listener starts after it.
            if shared.abort.load(Ordering::Relaxed) {
                return ControlFlow::Break(());
            }
            let first_try = sequence != retrying;
            if dedup_on && first_try {
                if let (Some(window), Some(spec)) = (dedup.as_mut(), &self.dedup) {
                    // A panicking id function cannot tell a duplicate: the
                    // event is delivered rather than lost.
                    match catcher.catch(|| (spec.id)(event)) {
                        Ok(id) if window.seen(id) => {
                            tally.deduplicated += 1;
                            return ControlFlow::Continue(());
                        }
                        Ok(_) => {}
                        Err(payload) => tally.drop_panics += drop_payload(payload),
                    }
                }
            }
            // Only what changes from event to event is stored here: the
            // context is built once per call, above.
            ctx.sequence = sequence;
            ctx.published_at = Timestamp::from_raw(published);
            ctx.end_of_batch = last;
            ctx.attempt = if first_try {
                1
            } else {
                retry.as_ref().map_or(1, |r| r.failures.saturating_add(1))
            };
            // Latency is sampled: one event in `sample_mask + 1` of each
            // partition (by sequence, so the choice costs nothing) is timed.
            // Where the listener is, for a shutdown deadline that finds it
            // still there (a plain store to this worker's own line).
            counters.in_sequence.store(sequence, Ordering::Relaxed);
            let sampled = sequence & sample_mask == 0;
            let start = if sampled { clock::now_raw() } else { 0 };
            let outcome = catcher.catch(|| listener.on_event(event, &ctx));
            if sampled {
                let end = clock::now_raw();
                if let Some(histograms) = histograms {
                    // Locked only to record (one sampled event in 64 by
                    // default, uncontended): never while the listener runs,
                    // so a listener may take a metrics snapshot.
                    histograms.lock().record(published, start, end);
                }
            }
            let failure = match outcome {
                Ok(Ok(())) => {
                    // Counted at the end of the batch (`settle` below).
                    if !first_try {
                        *retry = None;
                    }
                    return ControlFlow::Continue(());
                }
                Ok(Err(error)) => Failure::Error(error),
                Err(payload) => Failure::Panic(payload),
            };
            // Out of line: the loop keeps only the success path.
            let failed = Failed {
                failure,
                event,
                sequence,
                first_try,
            };
            self.failed(failed, (retry, halted), tally, shared, partition)
        };
        // The counts are stored before the cursor moves (`settle`), so a lag
        // of 0 means they are final.
        counters
            .in_partition
            .store(u64::from(partition) + 1, Ordering::Relaxed);
        // Odd while this batch is handed out (the stall watch); only this
        // worker stores it.
        let epoch = counters.epoch.load(Ordering::Relaxed);
        counters.epoch.store(epoch | 1, Ordering::Relaxed);
        let consumed = reader.drain_settled(max, &mut tally, handle, |tally, consumed| {
            // Every consumed event was handled, skipped, dead-lettered or
            // de-duplicated (a retry, a halt or a deadline stops the batch
            // before its event): the handled ones are the rest, so the
            // loop need not count them.
            tally.handled =
                consumed as u64 - tally.skipped - tally.dead_lettered - tally.deduplicated;
            tally.add_to(counters);
        });
        if *halted {
            // Groups that run after this one (`GroupOptions::after`) can
            // never pass the halted event: they are finished there.
            reader.retire();
        }
        if consumed > 0 {
            // A panicking `on_batch_end` must not kill the worker either.
            add(&counters.drop_panics, guarded(|| listener.on_batch_end()));
        }
        counters.epoch.store((epoch | 1) + 1, Ordering::Relaxed);
        consumed
    }
}

impl<E: Send + Sync + 'static> Dispatcher<E> {
    /// What a failed `on_event` leads to under the failure policy: a retry
    /// (which stops the batch), a skip, a halt or a dead letter. Out of
    /// line and cold, so the per-event loop keeps only the success path.
    #[cold]
    #[inline(never)]
    fn failed(
        &self,
        failed: Failed<'_, E>,
        state: (&mut Option<Retry>, &mut bool),
        tally: &mut Tally,
        shared: &GroupShared,
        partition: u32,
    ) -> ControlFlow<()> {
        let Failed {
            failure,
            event,
            sequence,
            first_try,
        } = failed;
        let (retry, halted) = state;
        let error = match failure {
            Failure::Error(error) => {
                let (text, panics) = describe_error(error);
                tally.drop_panics += panics;
                text
            }
            Failure::Panic(payload) => {
                let text = format!("listener panicked: {}", panic_message(payload.as_ref()));
                tally.drop_panics += drop_payload(payload);
                text
            }
        };
        tally.failures += 1;
        #[cfg(feature = "tracing")]
        tracing::warn!(group = %shared.name, topic = %shared.topic, partition, sequence, %error, "veltrix: listener failed");
        let failures = if first_try {
            1
        } else {
            retry.as_ref().map_or(1, |r| r.failures + 1)
        };
        if self.policy.may_retry(failures) {
            tally.retried += 1;
            *retry = Some(Retry {
                sequence,
                failures,
                // Validated at build: at most `MAX_BACKOFF`, so the
                // addition cannot overflow.
                not_before: Instant::now() + self.policy.backoff.delay(failures).min(MAX_BACKOFF),
            });
            return ControlFlow::Break(());
        }
        *retry = None;
        match &self.policy.exhausted {
            Exhausted::Skip => tally.skipped += 1,
            Exhausted::Halt => {
                *halted = true;
                shared.halted.lock().push(partition);
                #[cfg(feature = "tracing")]
                tracing::error!(group = %shared.name, topic = %shared.topic, partition, sequence, "veltrix: partition halted by failure policy");
                return ControlFlow::Break(());
            }
            Exhausted::DeadLetter { .. } => {
                let from = Origin {
                    topic: &shared.topic,
                    group: &shared.name,
                    partition,
                    sequence,
                };
                let delivered = self
                    .dead_letters
                    .as_ref()
                    .is_some_and(|sink| sink.send(event, error, failures, &from, true));
                #[cfg(feature = "tracing")]
                tracing::warn!(group = %shared.name, topic = %shared.topic, partition, sequence, delivered, "veltrix: event dead-lettered");
                if delivered {
                    tally.dead_lettered += 1;
                } else {
                    tally.skipped += 1;
                    tally.dead_letter_failed += 1;
                }
            }
        }
        ControlFlow::Continue(())
    }
}

/// How a call of `on_event` failed.
enum Failure {
    /// It returned an error.
    Error(ListenerError),
    /// It panicked, with this payload.
    Panic(Box<dyn std::any::Any + Send>),
}

/// A failed call of `on_event`: how it failed, and the event.
struct Failed<'a, E> {
    failure: Failure,
    event: &'a E,
    sequence: u64,
    first_try: bool,
}

impl<E: Send + Sync + 'static> Dispatcher<E> {
    /// Publishes every event of `cursor`'s partition this group has not
    /// consumed to the group's dead-letter topic, marking each consumed as
    /// dead-lettered; stops at the first the topic refuses (full or closed;
    /// it does not wait). Used after a
    /// shutdown deadline, once the group's workers have exited. Returns how
    /// many were dead-lettered.
    pub(crate) fn dead_letter_rest(
        &self,
        cursor: &mut PartitionCursor<E>,
        shared: &GroupShared,
        worker: usize,
    ) -> u64 {
        let Some(sink) = &self.dead_letters else {
            return 0;
        };
        let partition = cursor.partition;
        let retry = cursor.retry.take();
        let counters = &shared.counters[worker];
        let consumed = cursor.reader.drain_settled(
            usize::MAX,
            &mut 0u64,
            |_, sequence, event, _, _| {
                let attempts = retry
                    .as_ref()
                    .filter(|r| r.sequence == sequence)
                    .map_or(0, |r| r.failures);
                let from = Origin {
                    topic: &shared.topic,
                    group: &shared.name,
                    partition,
                    sequence,
                };
                let error = "the shutdown deadline passed before the group handled it".to_owned();
                // Never wait here: the dead-letter group may be a poll-mode
                // group that only this very shutdown will drain.
                if sink.send(event, error, attempts, &from, false) {
                    ControlFlow::Continue(())
                } else {
                    ControlFlow::Break(())
                }
            },
            // Counted before the cursor moves, as in `drain`.
            |_, consumed| add(&counters.dead_lettered, consumed as u64),
        ) as u64;
        consumed
    }
}

/// Adds to a counter that only this thread writes: a plain load and store,
/// no read-modify-write.
#[inline]
pub(crate) fn add(counter: &AtomicU64, n: u64) {
    if n > 0 {
        counter.store(counter.load(Ordering::Relaxed) + n, Ordering::Relaxed);
    }
}

/// The text of a listener's error, and how many `Drop`s panicked while
/// making it and dropping the error (each caught: a bad `Display` or `Drop`
/// of an error type must not stop the group).
fn describe_error(error: crate::listener::ListenerError) -> (String, u64) {
    let mut panics = 0;
    let text = match catch(|| error.to_string()) {
        Ok(text) => text,
        Err(payload) => {
            panics += drop_payload(payload);
            "listener error (its Display panicked)".to_owned()
        }
    };
    if let Err(payload) = catch(move || drop(error)) {
        panics += 1 + drop_payload(payload);
    }
    (text, panics)
}

/// Drops a caught panic's payload, catching a panic of its own `Drop` (and
/// of that panic's payload, and so on, up to a bound past which the payload
/// is leaked rather than risk an abort). Returns how many `Drop`s panicked.
pub(crate) fn drop_payload(payload: Box<dyn std::any::Any + Send>) -> u64 {
    let mut payload = payload;
    for panics in 0..8 {
        match catch(move || drop(payload)) {
            Ok(()) => return panics,
            Err(next) => payload = next,
        }
    }
    std::mem::forget(payload);
    8
}

/// The text of a panic payload.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "non-string panic payload"
    }
}

/// Runs a listener hook, catching a panic (and a panic of the payload's
/// own `Drop`). Returns how many `Drop`s panicked.
pub(crate) fn guarded(hook: impl FnOnce()) -> u64 {
    match catch(hook) {
        Ok(()) => 0,
        Err(payload) => drop_payload(payload),
    }
}
