//! Export: a listener group that sends a topic's events to JetStream, each
//! partition to its subject, and lets its cursor pass an event only once
//! JetStream has acknowledged it.

use std::future::IntoFuture;
use std::hash::{BuildHasher, Hasher};
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::Context;
use async_nats::Subject;
use bytes::Bytes;
use tokio::runtime::Handle;

use super::codec::Codec;
use super::connection::Nats;
use super::error::BridgeError;
use super::order::{Place, HEADER};
use super::stats::ExportStats;
use super::stream::StreamSpec;
use crate::report::ExportReport;
use crate::{
    Backoff, EngineBuilder, EventContext, FailurePolicy, GroupOptions, Listener, ListenerError,
    WorkerInfo,
};

/// How a topic is exported.
///
/// # Examples
///
/// ```
/// use veltrix::bridge::{ExportOptions, StreamSpec};
///
/// let options = ExportOptions::new(StreamSpec::new("INPUT", "game.input"))
///     .workers(2)
///     .max_in_flight(512);
/// assert_eq!(options.stream().subject(0), "game.input.0");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportOptions {
    stream: StreamSpec,
    workers: usize,
    max_in_flight: usize,
    backoff: Backoff,
    failure: FailurePolicy,
    group: Option<String>,
    instance: Option<String>,
}

impl ExportOptions {
    /// Export into `stream`: two workers (while one waits for its batch's
    /// acknowledgements the other sends; fewer if the topic has fewer
    /// partitions), up to 2048 unacknowledged messages each,
    /// re-sends after 10 ms doubling to 1 s, events that cannot be sent
    /// skipped (counted).
    #[must_use]
    pub fn new(stream: StreamSpec) -> Self {
        ExportOptions {
            stream,
            workers: 2,
            max_in_flight: 2048,
            backoff: Backoff::doubling(Duration::from_millis(10), Duration::from_secs(1)),
            failure: FailurePolicy::default(),
            group: None,
            instance: None,
        }
    }

    /// Worker threads of the export group (partitions are shared among
    /// them; at most one per partition).
    #[must_use]
    pub fn workers(mut self, workers: usize) -> Self {
        self.workers = workers;
        self
    }

    /// Most messages a worker has sent and not yet seen acknowledged; also
    /// the group's batch size, since a batch is acknowledged whole before
    /// the group's cursor passes it.
    #[must_use]
    pub fn max_in_flight(mut self, messages: usize) -> Self {
        self.max_in_flight = messages;
        self
    }

    /// The waits between re-sends of messages whose acknowledgement failed
    /// or timed out.
    #[must_use]
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// The group's failure policy for events that cannot be sent at all
    /// (the codec refuses them, or they are larger than the server
    /// accepts): skip, dead-letter or halt, as for any listener error.
    #[must_use]
    pub fn failure_policy(mut self, policy: FailurePolicy) -> Self {
        self.failure = policy;
        self
    }

    /// The export group's name (default `nats-export.<topic>`).
    #[must_use]
    pub fn group(mut self, name: &str) -> Self {
        self.group = Some(name.to_owned());
        self
    }

    /// The instance part of every message id (default: random per export).
    /// Ids are `<instance>:<topic>:<partition>:<sequence>`; give a stable
    /// instance only to a process whose sequences continue where the last
    /// one stopped.
    #[must_use]
    pub fn instance(mut self, instance: &str) -> Self {
        self.instance = Some(instance.to_owned());
        self
    }

    /// The stream.
    #[must_use]
    pub fn stream(&self) -> &StreamSpec {
        &self.stream
    }
}

/// A running export: its counts. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Export {
    stats: Arc<ExportStats>,
    group: String,
}

impl Export {
    /// What it has done so far, per partition.
    #[must_use]
    pub fn report(&self) -> ExportReport {
        self.stats.report()
    }

    /// The name of its group in the engine (and in the engine's report).
    #[must_use]
    pub fn group(&self) -> &str {
        &self.group
    }
}

impl Nats {
    /// Adds to `builder` a group that exports topic `topic` (declared on
    /// `builder` already) into `options.stream()`, after creating or
    /// checking that stream. Returns the builder and the export's handle.
    ///
    /// Each event becomes one message on subject `<prefix>.<partition>`
    /// with a `Nats-Msg-Id` of `<instance>:<topic>:<partition>:<sequence>`,
    /// the same for every re-send, so the stream's duplicate window keeps
    /// one copy. A worker sends a batch without waiting (at most
    /// `max_in_flight` messages) and waits for every acknowledgement before
    /// the batch's last event returns: the group's cursor, and so shutdown's
    /// drain, passes an event only once the stream has it. A failed or
    /// timed-out acknowledgement makes the worker re-send what is still
    /// unacknowledged, in order, with the export's backoff, for as long as
    /// it takes (the partition waits, and producers feel backpressure as
    /// for any slow group), until a shutdown deadline passes; messages still
    /// unacknowledged then are counted `failed`.
    ///
    /// # Errors
    ///
    /// [`BridgeError::Topic`] when `topic` is not declared on `builder`
    /// yet, or `max_in_flight`/`workers` is zero; a stream error (invalid
    /// names, [`BridgeError::StreamMismatch`], a failed request).
    pub fn export<E, C>(
        &self,
        builder: EngineBuilder,
        topic: &str,
        codec: C,
        options: ExportOptions,
    ) -> Result<(EngineBuilder, Export), BridgeError>
    where
        E: Send + Sync + 'static,
        C: Codec<E>,
    {
        let topic_error = |problem: String| BridgeError::Topic {
            topic: topic.to_owned(),
            problem,
        };
        let Some(partitions) = builder.partitions_of(topic) else {
            return Err(topic_error(
                "not declared on this builder: declare the topic (`.topic::<E>(...)`) before exporting it".into(),
            ));
        };
        if options.max_in_flight == 0 || options.workers == 0 {
            return Err(topic_error(format!(
                "an export needs at least one worker and one message in flight (got workers = {}, max_in_flight = {})",
                options.workers, options.max_in_flight
            )));
        }
        self.handle()
            .block_on(options.stream.ensure(&self.shared.js))?;
        let stats = Arc::new(ExportStats::new(topic, options.stream.name(), partitions));
        builder.bridges().add_export(stats.clone());
        let group = options
            .group
            .clone()
            .unwrap_or_else(|| format!("nats-export.{topic}"));
        let chain = format!(
            "{}:{topic}",
            options.instance.clone().unwrap_or_else(random_instance)
        );
        let shared = Arc::new(ExportShared {
            _nats: self.clone(),
            js: self.shared.js.clone(),
            handle: self.handle().clone(),
            codec,
            stats: stats.clone(),
            subjects: (0..partitions)
                .map(|p| Subject::from(options.stream.subject(p)))
                .collect(),
            chain,
            max_payload: self.max_payload(),
            max_in_flight: options.max_in_flight,
            backoff: options.backoff,
            _event: PhantomData,
        });
        let group_options = GroupOptions::workers(options.workers.min(partitions as usize))
            .max_batch(options.max_in_flight)
            .failure_policy(options.failure.clone());
        let builder = builder.subscribe(&group, topic, group_options, move |_: &WorkerInfo| {
            ExportListener {
                shared: shared.clone(),
                window: Vec::new(),
                previous: vec![None; partitions as usize],
                last: None,
                refused: None,
                buffer: Vec::new(),
            }
        });
        Ok((builder, Export { stats, group }))
    }
}

/// A random instance id: 16 hex digits.
fn random_instance() -> String {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    hasher.write_u32(std::process::id());
    format!("{:016x}", hasher.finish())
}

/// What every worker of one export shares.
struct ExportShared<E, C> {
    /// Keeps the connection and its runtime alive for as long as the
    /// export's workers may send, whatever the host does with its handle.
    _nats: Nats,
    js: Context,
    handle: Handle,
    codec: C,
    stats: Arc<ExportStats>,
    subjects: Box<[Subject]>,
    /// `<instance>:<topic>`, the chain of every partition (and the start
    /// of every message id).
    chain: String,
    max_payload: usize,
    max_in_flight: usize,
    backoff: Backoff,
    _event: PhantomData<fn(&E)>,
}

/// A message sent (or about to be) and not yet acknowledged.
struct Outgoing {
    partition: u32,
    id: String,
    /// Its codec and predecessor in the partition's chain (the `Veltrix`
    /// header).
    mark: String,
    payload: Bytes,
}

/// One worker of an export group.
struct ExportListener<E, C> {
    shared: Arc<ExportShared<E, C>>,
    /// Unacknowledged messages, in the order they were taken.
    window: Vec<Outgoing>,
    /// Per partition, the sequence of the last message taken: the
    /// predecessor of the next in the partition's chain.
    previous: Vec<Option<u64>>,
    /// The last event taken (partition, sequence): the group hands the same
    /// event again when it retries it.
    last: Option<(u32, u64)>,
    /// Why the last event could not be sent, if it could not.
    refused: Option<String>,
    buffer: Vec<u8>,
}

/// Headers and framing the server counts against its payload limit, beyond
/// the payload and the message id (a generous bound).
const HEADER_ALLOWANCE: usize = 128;

impl<E: Send + Sync + 'static, C: Codec<E>> ExportListener<E, C> {
    /// The message of `event`, or why it cannot be sent.
    fn message(&mut self, event: &E, ctx: &EventContext<'_>) -> Result<Outgoing, String> {
        let shared = &*self.shared;
        self.buffer.clear();
        if let Err(error) = shared.codec.encode(event, &mut self.buffer) {
            return Err(format!(
                "partition {} sequence {}: {error}",
                ctx.partition(),
                ctx.sequence()
            ));
        }
        let id = Place::id(&shared.chain, ctx.partition(), ctx.sequence());
        let size = self.buffer.len() + id.len() + HEADER_ALLOWANCE;
        if size > shared.max_payload {
            return Err(format!(
                "partition {} sequence {}: the message would take {size} bytes, more than the server's max_payload of {} \
                 (make the event smaller, or raise max_payload in the server's configuration)",
                ctx.partition(),
                ctx.sequence(),
                shared.max_payload
            ));
        }
        let previous = &mut self.previous[ctx.partition() as usize];
        let mark = Place::header(shared.codec.name(), *previous);
        *previous = Some(ctx.sequence());
        Ok(Outgoing {
            partition: ctx.partition(),
            id,
            mark,
            payload: Bytes::copy_from_slice(&self.buffer),
        })
    }

    /// Sends the window and waits until every message in it is
    /// acknowledged, re-sending what is not, or until `cancelled`.
    fn flush(&mut self, cancelled: &dyn Fn() -> bool) {
        let shared = &*self.shared;
        let window = &mut self.window;
        shared.handle.block_on(async {
            let mut attempt = 0u32;
            while !window.is_empty() {
                if attempt > 0 {
                    for m in window.iter() {
                        shared.stats.partitions[m.partition as usize].resent.add(1);
                    }
                }
                // One round: send the window, then await every
                // acknowledgement together (their timeouts run at once, not
                // one after another); a shutdown deadline ends it early.
                let round = async {
                    let mut acks = Vec::with_capacity(window.len());
                    for m in window.iter() {
                        let message = PublishMessage::build()
                            .payload(m.payload.clone())
                            .message_id(&m.id)
                            .header(HEADER, m.mark.as_str());
                        let sent = shared
                            .js
                            .send_publish(shared.subjects[m.partition as usize].clone(), message)
                            .await;
                        acks.push(async move {
                            match sent {
                                Ok(ack) => ack.into_future().await,
                                Err(error) => Err(error),
                            }
                        });
                    }
                    futures_util::future::join_all(acks).await
                };
                let outcomes = tokio::select! {
                    outcomes = round => Some(outcomes),
                    () = until(cancelled) => None,
                };
                let Some(outcomes) = outcomes else {
                    give_up(shared, window);
                    break;
                };
                let mut last_error = None;
                let mut outcomes = outcomes.into_iter();
                window.retain(|m| {
                    let counts = &shared.stats.partitions[m.partition as usize];
                    match outcomes.next() {
                        Some(Ok(ack)) => {
                            counts.acked.add(1);
                            if ack.duplicate {
                                counts.duplicates.add(1);
                            }
                            false
                        }
                        Some(Err(error)) => {
                            last_error = Some(error.to_string());
                            true
                        }
                        None => true,
                    }
                });
                if window.is_empty() {
                    break;
                }
                attempt += 1;
                shared.stats.errors.record(format!(
                    "{} message(s) of topic {:?} unacknowledged (attempt {attempt}): {}",
                    window.len(),
                    shared.stats.topic,
                    last_error.unwrap_or_default()
                ));
                let waited = tokio::select! {
                    () = tokio::time::sleep(shared.backoff.delay(attempt)) => true,
                    () = until(cancelled) => false,
                };
                if !waited {
                    give_up(shared, window);
                    break;
                }
            }
        });
    }
}

/// How often a worker waiting for acknowledgements looks whether a shutdown
/// deadline passed: well within the engine's `STUCK_GRACE`.
const CANCEL_CHECK: Duration = Duration::from_millis(2);

/// Resolves once `cancelled` says so.
async fn until(cancelled: &dyn Fn() -> bool) {
    while !cancelled() {
        tokio::time::sleep(CANCEL_CHECK).await;
    }
}

/// A shutdown deadline passed: what is still unacknowledged counts as
/// failed.
fn give_up<E, C>(shared: &ExportShared<E, C>, window: &mut Vec<Outgoing>) {
    for m in window.drain(..) {
        shared.stats.partitions[m.partition as usize].failed.add(1);
    }
    shared.stats.errors.record(format!(
        "the shutdown deadline passed: messages of topic {:?} left unacknowledged, counted failed",
        shared.stats.topic
    ));
}

impl<E: Send + Sync + 'static, C: Codec<E>> Listener<E> for ExportListener<E, C> {
    fn on_event(&mut self, event: &E, ctx: &EventContext<'_>) -> Result<(), ListenerError> {
        let key = (ctx.partition(), ctx.sequence());
        let cancelled = || ctx.is_cancelled();
        if self.last == Some(key) {
            // The group retries the event that could not be sent: the codec
            // and the size limit give the same answer again.
            if let Some(error) = &self.refused {
                return Err(error.clone().into());
            }
        } else {
            self.last = Some(key);
            self.refused = None;
            let message = self.message(event, ctx);
            let stats = &self.shared.stats;
            stats.partitions[ctx.partition() as usize].exported.add(1);
            match message {
                Ok(message) => self.window.push(message),
                Err(error) => {
                    stats.partitions[ctx.partition() as usize].failed.add(1);
                    stats.errors.record(error.clone());
                    self.refused = Some(error.clone());
                    // What was taken before it is acknowledged first: the
                    // group may move its cursor past them now.
                    self.flush(&cancelled);
                    return Err(error.into());
                }
            }
        }
        if ctx.end_of_batch() || self.window.len() >= self.shared.max_in_flight {
            self.flush(&cancelled);
        }
        Ok(())
    }

    fn on_shutdown(&mut self) {
        // Events the group handed out before a shutdown deadline stopped
        // it mid-batch: one more try, then they count as failed.
        let cancelled = || true;
        self.flush(&cancelled);
    }
}
