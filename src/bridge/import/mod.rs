//! Import: durable pull consumers, one per partition subject, feeding a
//! local topic partition to partition; a message is acknowledged once every
//! local group has consumed its event.

mod partition;
mod positions;

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::consumer::pull::Config as PullConfig;
use async_nats::jetstream::consumer::{AckPolicy, Consumer, DeliverPolicy};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::codec::Codec;
use super::connection::Nats;
use super::error::BridgeError;
use super::stats::ImportStats;
use super::stream::{self, StreamSpec};
use crate::report::ImportReport;
use crate::{Backoff, Engine, Topic};
use partition::PartitionImport;
use positions::Positions;

/// How a topic is imported.
///
/// # Examples
///
/// ```
/// use veltrix::bridge::{ImportOptions, StreamSpec};
///
/// let options = ImportOptions::new(StreamSpec::new("INPUT", "game.input"), "sim")
///     .max_ack_pending(8192);
/// assert_eq!(options.durable(), "sim");
/// ```
#[derive(Debug, Clone)]
pub struct ImportOptions {
    stream: StreamSpec,
    durable: String,
    max_ack_pending: usize,
    ack_wait: Duration,
    dedup_window: usize,
    batch: usize,
    backoff: Backoff,
    gap_timeout: Duration,
    undecodable: Option<Topic<Undecodable>>,
}

impl ImportOptions {
    /// Import from `stream` through durable consumers `<durable>-<p>`, one
    /// per partition: up to 4096 unacknowledged messages each, redelivered
    /// after 30 s without an acknowledgement, the last 65 536 message ids
    /// remembered to drop duplicates, pulls of 256 messages, gaps in an
    /// export's order waited for 60 s.
    #[must_use]
    pub fn new(stream: StreamSpec, durable: &str) -> Self {
        ImportOptions {
            stream,
            durable: durable.to_owned(),
            max_ack_pending: 4096,
            ack_wait: Duration::from_secs(30),
            dedup_window: 65_536,
            batch: 256,
            backoff: Backoff::doubling(Duration::from_millis(50), Duration::from_secs(1)),
            gap_timeout: Duration::from_secs(60),
            undecodable: None,
        }
    }

    /// How long a message that arrived before its predecessor (in its
    /// export's order) waits for it before the import counts a gap and
    /// goes on (default 60 s). The predecessor is normally on its way: a
    /// re-send of the export, or a redelivery after `ack_wait`, so keep this
    /// above both the export's acknowledgement timeout and `ack_wait`.
    #[must_use]
    pub fn gap_timeout(mut self, timeout: Duration) -> Self {
        self.gap_timeout = timeout;
        self
    }

    /// Most messages of one partition delivered and not yet acknowledged
    /// (the consumer's `max_ack_pending`).
    #[must_use]
    pub fn max_ack_pending(mut self, messages: usize) -> Self {
        self.max_ack_pending = messages;
        self
    }

    /// How long JetStream waits for an acknowledgement before it delivers a
    /// message again (the consumer's `ack_wait`).
    #[must_use]
    pub fn ack_wait(mut self, wait: Duration) -> Self {
        self.ack_wait = wait;
        self
    }

    /// How many message ids per partition are remembered to drop duplicates
    /// (at least 1).
    #[must_use]
    pub fn dedup_window(mut self, ids: usize) -> Self {
        self.dedup_window = ids;
        self
    }

    /// Messages asked for per pull.
    #[must_use]
    pub fn batch(mut self, messages: usize) -> Self {
        self.batch = messages;
        self
    }

    /// Where messages go that cannot be imported (undecodable, or refused
    /// by the topic's validators); without it they are terminated
    /// (`AckKind::Term`: never redelivered). Either way they are counted and
    /// reported.
    #[must_use]
    pub fn undecodable(mut self, topic: Topic<Undecodable>) -> Self {
        self.undecodable = Some(topic);
        self
    }

    /// The durable name prefix.
    #[must_use]
    pub fn durable(&self) -> &str {
        &self.durable
    }

    /// The consumer's name for `partition`.
    fn consumer(&self, partition: u32) -> String {
        format!("{}-{partition}", self.durable)
    }
}

/// A message that could not be imported: where it was, what it held and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "message {stream_sequence} of stream {stream:?} on {subject:?} cannot be imported: {reason}"
)]
#[non_exhaustive]
pub struct Undecodable {
    /// The stream.
    pub stream: String,
    /// The message's subject.
    pub subject: String,
    /// Its sequence in the stream.
    pub stream_sequence: u64,
    /// Its payload.
    pub payload: Vec<u8>,
    /// Why it could not be imported (the codec's error, or the validator's
    /// reason).
    pub reason: String,
}

/// A running import. Dropping it stops its consumers at once (what was not
/// acknowledged is redelivered to the next import);
/// [`shutdown`](Import::shutdown) stops them gracefully.
#[derive(Debug)]
pub struct Import {
    stats: Arc<ImportStats>,
    stop: watch::Sender<Option<Instant>>,
    tasks: Vec<JoinHandle<()>>,
    nats: Nats,
}

impl Import {
    /// What it has done so far, per partition.
    #[must_use]
    pub fn report(&self) -> ImportReport {
        self.stats.report()
    }

    /// Stops pulling, waits up to `timeout` for the local groups to handle
    /// what was imported, acknowledges it, and returns the final counts.
    /// Messages imported but not handled by then are not acknowledged:
    /// JetStream redelivers them to the next import of the same durable.
    pub fn shutdown(mut self, timeout: Duration) -> ImportReport {
        let deadline = crate::clock::deadline_after(timeout)
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        let _ = self.stop.send(Some(deadline));
        let tasks = std::mem::take(&mut self.tasks);
        let client = self.nats.shared.client.clone();
        self.nats.handle().block_on(async move {
            for task in tasks {
                let _ = task.await;
            }
            // The acknowledgements are fire-and-forget publishes: make sure
            // they left.
            let _ = tokio::time::timeout(Duration::from_secs(1), client.flush()).await;
        });
        self.stats.report()
    }
}

impl Drop for Import {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Nats {
    /// Imports `options`' stream into topic `topic` of `engine`: partition
    /// `p`'s subject into partition `p`, so a key keeps its partition and its
    /// order end to end. The engine's [`report`](crate::Engine::report) and
    /// metrics show the import's counts from then on.
    /// Creates or checks the stream, then a durable pull consumer per
    /// partition (resuming where a previous import of the same durable
    /// stopped), and starts one task per partition on the bridge's runtime.
    ///
    /// Each message is acknowledged only after every group of `topic` has
    /// consumed its event (handled, dead-lettered or skipped): a crash
    /// before that means a redelivery, never a loss. A message whose event
    /// was imported already (its `Nats-Msg-Id` seen within the window, or
    /// its place in its export's order at or before the position a previous
    /// import of this durable saved in stream `veltrix-import-<stream>`) is
    /// acknowledged and counted as a duplicate, not imported again; one that
    /// arrives before its predecessor waits for it (see
    /// [`ImportOptions::gap_timeout`]). A message that cannot be decoded
    /// (or that the topic's validators refuse) is counted, recorded with its
    /// subject and stream sequence, and terminated or sent to the
    /// `undecodable` topic; it is never retried forever.
    ///
    /// # Errors
    ///
    /// A stream error (as for [`export`](Nats::export)),
    /// [`BridgeError::InvalidName`] for a durable name other than ASCII
    /// letters, digits, `-` and `_`,
    /// [`BridgeError::ConsumerMismatch`] when a durable consumer of that name
    /// exists with another filter, [`BridgeError::Topic`] for a topic the
    /// engine does not have (or of another event type), for a stream that
    /// holds messages on a partition subject the topic has no partition for
    /// (the exporter had more partitions), or for a zero window or batch.
    pub fn import<E, C>(
        &self,
        engine: &Engine,
        topic: &str,
        codec: C,
        options: ImportOptions,
    ) -> Result<Import, BridgeError>
    where
        E: Send + Sync + 'static,
        C: Codec<E>,
    {
        let topic = &engine.topic::<E>(topic).map_err(|e| BridgeError::Topic {
            topic: topic.to_owned(),
            problem: e.to_string(),
        })?;
        let durable_ok = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
        if options.durable.is_empty() || !options.durable.chars().all(durable_ok) {
            return Err(BridgeError::InvalidName {
                what: "durable name",
                value: options.durable.clone(),
                rule: "a durable name is non-empty ASCII letters, digits, '-' and '_' (e.g. \"game-sim\")",
            });
        }
        options.stream.validate()?;
        if options.dedup_window == 0 || options.batch == 0 || options.max_ack_pending == 0 {
            return Err(BridgeError::Topic {
                topic: topic.name().to_owned(),
                problem: format!(
                    "an import needs a dedup window, a batch and max_ack_pending of at least 1 (got {}, {}, {})",
                    options.dedup_window, options.batch, options.max_ack_pending
                ),
            });
        }
        let js = &self.shared.js;
        let partitions = topic.partitions();
        let consumers = self.handle().block_on(async {
            options.stream.ensure(js).await?;
            let stream = js
                .get_stream(options.stream.name())
                .await
                .map_err(|e| BridgeError::jetstream("stream lookup", e))?;
            // A partition subject the topic has no partition for would
            // never be read: refuse it now rather than leave it behind.
            if let Some((highest, messages)) =
                stream::highest_partition_in_use(&options.stream, &stream).await?
            {
                if highest >= partitions {
                    return Err(BridgeError::Topic {
                        topic: topic.name().to_owned(),
                        problem: format!(
                            "stream {:?} holds {messages} messages on {:?}, partition {highest}, but the topic has {partitions} \
                             partitions, so they would never be imported: declare the topic with the exporter's partition \
                             count (at least {}; a key keeps its partition end to end)",
                            options.stream.name(),
                            options.stream.subject(highest),
                            u64::from(highest) + 1
                        ),
                    });
                }
            }
            let stream_name = options.stream.name();
            let bucket = positions::bucket(js, stream_name, options.stream.replicas_count())
                .await
                .map_err(|e| BridgeError::jetstream("import positions", e))?;
            let mut consumers = Vec::with_capacity(partitions as usize);
            for p in 0..partitions {
                let consumer = consumer(&stream, &options, p).await?;
                let positions = Positions::load(js, &bucket, stream_name, &options.durable, p)
                    .await
                    .map_err(|e| BridgeError::jetstream("import positions", e))?;
                consumers.push((consumer, positions));
            }
            Ok::<_, BridgeError>(consumers)
        })?;
        let stats = Arc::new(ImportStats::new(
            topic.name(),
            options.stream.name(),
            partitions,
        ));
        engine.bridges().add_import(stats.clone());
        let codec = Arc::new(codec);
        let (stop, stopped) = watch::channel(None);
        let tasks = consumers
            .into_iter()
            .enumerate()
            .map(|(p, (consumer, positions))| {
                let partition = PartitionImport::new(
                    p as u32,
                    topic.clone(),
                    codec.clone(),
                    stats.clone(),
                    &options,
                    positions,
                );
                self.handle().spawn(partition.run(
                    consumer,
                    options.batch,
                    options.backoff,
                    stopped.clone(),
                ))
            })
            .collect();
        Ok(Import {
            stats,
            stop,
            tasks,
            nats: self.clone(),
        })
    }
}

/// The durable consumer of `partition`, created or checked.
async fn consumer(
    stream: &async_nats::jetstream::stream::Stream,
    options: &ImportOptions,
    partition: u32,
) -> Result<Consumer<PullConfig>, BridgeError> {
    let name = options.consumer(partition);
    let subject = options.stream.subject(partition);
    let config = PullConfig {
        durable_name: Some(name.clone()),
        filter_subject: subject.clone(),
        deliver_policy: DeliverPolicy::All,
        ack_policy: AckPolicy::Explicit,
        ack_wait: options.ack_wait,
        max_ack_pending: i64::try_from(options.max_ack_pending).unwrap_or(i64::MAX),
        ..PullConfig::default()
    };
    let mut consumer: Consumer<PullConfig> = stream
        .get_or_create_consumer(&name, config)
        .await
        .map_err(|e| BridgeError::jetstream("consumer create", e))?;
    let info = consumer
        .info()
        .await
        .map_err(|e| BridgeError::jetstream("consumer info", e))?
        .clone();
    let mismatch =
        |setting: &'static str, expected: String, found: String| BridgeError::ConsumerMismatch {
            stream: options.stream.name().to_owned(),
            consumer: name.clone(),
            setting,
            expected,
            found,
        };
    if info.config.filter_subject != subject {
        return Err(mismatch(
            "filter_subject",
            subject,
            info.config.filter_subject.clone(),
        ));
    }
    if info.config.ack_policy != AckPolicy::Explicit {
        return Err(mismatch(
            "ack_policy",
            "Explicit".into(),
            format!("{:?}", info.config.ack_policy),
        ));
    }
    Ok(consumer)
}
