//! One partition's import, run as one task on the bridge's runtime: pull,
//! de-duplicate, put back in export order, decode, publish into the local
//! partition, acknowledge once every local group consumed the event.

use std::collections::VecDeque;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::consumer::pull::{Config as PullConfig, Stream as Messages};
use async_nats::jetstream::consumer::Consumer;
use async_nats::jetstream::{AckKind, Message};
use futures_util::StreamExt;
use tokio::sync::watch;

use super::super::codec::Codec;
use super::super::order::{Chains, Place, Verdict, HEADER};
use super::super::stats::{ImportCounts, ImportStats};
use super::positions::Positions;
use super::{ImportOptions, Undecodable};
use crate::group::DedupWindow;
use crate::{Backoff, PublishError, Receipt, Topic};

/// How long an idle partition task waits before it looks again for events
/// the local groups have handled, to acknowledge them.
const ACK_TICK: Duration = Duration::from_millis(2);

/// One partition's import, run as one task.
pub(super) struct PartitionImport<E, C> {
    partition: u32,
    topic: Topic<E>,
    codec: Arc<C>,
    stats: Arc<ImportStats>,
    /// Messages to acknowledge once every local group consumed the local
    /// sequences before their `end`, in order.
    pending: VecDeque<Pending>,
    /// Where the chains stand, saved before each round of acknowledgements.
    positions: Positions,
    /// When acknowledgements were last sent.
    last_ack: Instant,
    /// The chains of this partition's exporters, and the messages waiting
    /// for their predecessor (with their stream sequence).
    chains: Chains<(Message, u64)>,
    gap_timeout: Duration,
    /// Messages asked for per pull.
    batch: usize,
    /// One past the local sequence of the last event imported.
    published_end: u64,
    ids: DedupWindow,
    stream: String,
    undecodable: Option<Topic<Undecodable>>,
}

/// A message waiting for its acknowledgement.
struct Pending {
    /// The local sequences before it must be consumed first.
    end: u64,
    message: Message,
    /// Its place in its export's chain, if it has one and was taken now.
    place: Option<Place>,
    /// How to acknowledge it (`Term` for a message set aside without a
    /// topic to hold it).
    ack: AckKind,
}

/// Acknowledgements go out at least this often (and a chain position write
/// with them), or sooner once this many are ready.
const ACK_EVERY: Duration = Duration::from_millis(10);
const ACK_BATCH: usize = 256;

/// What became of one delivered message.
enum Taken {
    /// Imported, judged a duplicate, or set aside.
    Done,
    /// The local topic is closed: stop importing (the message stays
    /// unacknowledged, and is redelivered to the next import).
    Closed,
}

impl<E: Send + Sync + 'static, C: Codec<E>> PartitionImport<E, C> {
    /// The import of `partition` into `topic`, its chains starting at the
    /// saved `positions`.
    pub(super) fn new(
        partition: u32,
        topic: Topic<E>,
        codec: Arc<C>,
        stats: Arc<ImportStats>,
        options: &ImportOptions,
        positions: Positions,
    ) -> Self {
        PartitionImport {
            partition,
            topic,
            codec,
            stats,
            pending: VecDeque::new(),
            chains: Chains::resume(positions.acked().clone()),
            positions,
            last_ack: Instant::now(),
            batch: options.batch,
            gap_timeout: options.gap_timeout,
            published_end: 0,
            ids: DedupWindow::new(options.dedup_window),
            stream: options.stream.name().to_owned(),
            undecodable: options.undecodable.clone(),
        }
    }

    fn counts(&self) -> &ImportCounts {
        &self.stats.partitions[self.partition as usize]
    }

    pub(super) async fn run(
        mut self,
        consumer: Consumer<PullConfig>,
        batch: usize,
        backoff: Backoff,
        mut stop: watch::Receiver<Option<Instant>>,
    ) {
        let mut failures = 0u32;
        'connect: while stop.borrow().is_none() {
            let messages: Result<Messages, _> = consumer
                .stream()
                .max_messages_per_batch(batch)
                .heartbeat(Duration::from_secs(1))
                .expires(Duration::from_secs(5))
                .messages()
                .await;
            let mut messages = match messages {
                Ok(messages) => messages,
                Err(error) => {
                    failures += 1;
                    self.stats.errors.record(format!(
                        "partition {}: pull failed (attempt {failures}): {error}",
                        self.partition
                    ));
                    tokio::select! {
                        _ = stop.changed() => break 'connect,
                        () = tokio::time::sleep(backoff.delay(failures)) => continue 'connect,
                    }
                }
            };
            loop {
                let waiting = !self.pending.is_empty() || self.chains.is_holding();
                let next = tokio::select! {
                    biased;
                    _ = stop.changed() => {
                        self.hand_back(&mut messages).await;
                        break 'connect;
                    }
                    next = messages.next() => next,
                    () = tokio::time::sleep(ACK_TICK), if waiting => {
                        if let Taken::Closed = self.give_up_gaps().await {
                            break 'connect;
                        }
                        self.acknowledge_consumed(false).await;
                        continue;
                    }
                };
                match next {
                    Some(Ok(message)) => {
                        failures = 0;
                        if let Taken::Closed = self.take(message).await {
                            break 'connect;
                        }
                    }
                    Some(Err(error)) => {
                        failures += 1;
                        self.stats.errors.record(format!(
                            "partition {}: consumer stream failed (attempt {failures}): {error}",
                            self.partition
                        ));
                        tokio::time::sleep(backoff.delay(failures)).await;
                        continue 'connect;
                    }
                    None => continue 'connect,
                }
                self.acknowledge_consumed(false).await;
            }
        }
        // Stopping: let the local groups catch up, acknowledge what they
        // handled by the deadline.
        let deadline = stop.borrow().unwrap_or_else(Instant::now);
        loop {
            self.acknowledge_consumed(true).await;
            if self.pending.is_empty() || Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(ACK_TICK).await;
        }
    }

    /// Stopping: the messages pulled and not taken yet, and those held for
    /// a predecessor, go back to JetStream at once (a negative
    /// acknowledgement), so the next import of this durable gets them
    /// without waiting for `ack_wait`.
    async fn hand_back(&mut self, messages: &mut Messages) {
        // What the pulls asked for is at most two batches: take what is
        // already here or still on its way (a short quiet spell ends it).
        for _ in 0..2 * self.batch {
            match tokio::time::timeout(Duration::from_millis(50), messages.next()).await {
                Ok(Some(Ok(message))) => {
                    let _ = message.ack_with(AckKind::Nak(None)).await;
                }
                _ => break,
            }
        }
        for (message, _) in self.chains.drain_held() {
            let _ = message.ack_with(AckKind::Nak(None)).await;
        }
    }

    /// Imports, or judges, one delivered message.
    async fn take(&mut self, message: Message) -> Taken {
        self.counts().received.add(1);
        let (stream_sequence, delivered) = match message.info() {
            Ok(info) => (info.stream_sequence, info.delivered),
            Err(error) => {
                self.stats.errors.record(format!(
                    "partition {}: a message without JetStream metadata was terminated: {error}",
                    self.partition
                ));
                let _ = message.ack_with(AckKind::Term).await;
                return Taken::Done;
            }
        };
        if delivered > 1 {
            self.counts().redelivered.add(1);
        }
        if self.is_known(&message, stream_sequence) {
            // Taken already: acknowledged once that copy is consumed.
            self.counts().duplicates.add(1);
            self.acknowledge_later(message, None, AckKind::Ack);
            return Taken::Done;
        }
        let id = header(&message, async_nats::header::NATS_MESSAGE_ID.as_ref());
        let place = id
            .zip(header(&message, HEADER))
            .and_then(|(id, h)| Place::parse(id, h));
        let Some((_, place)) = place else {
            // Not from a veltrix export: in stream order.
            return self.import(message, stream_sequence, None).await;
        };
        match self.chains.judge(&place) {
            Verdict::Early => {
                self.chains.hold(place, (message, stream_sequence), Instant::now());
                return Taken::Done;
            }
            Verdict::Late => self.stats.errors.record(format!(
                "partition {}: message {stream_sequence} ({} sequence {}) arrived after its successors, whose wait for it had timed out: imported out of order",
                self.partition, place.chain, place.sequence
            )),
            Verdict::Seen => {
                // Imported by a previous import, whose acknowledgement was
                // lost: a copy.
                self.counts().duplicates.add(1);
                self.acknowledge_later(message, None, AckKind::Ack);
                return Taken::Done;
            }
            Verdict::Next => {}
        }
        self.import_chain(place, message, stream_sequence).await
    }

    /// Imports the message at `place` and then every held successor.
    async fn import_chain(
        &mut self,
        place: Place,
        message: Message,
        stream_sequence: u64,
    ) -> Taken {
        let mut next = Some((place, (message, stream_sequence)));
        while let Some((place, (message, stream_sequence))) = next {
            let imported = self.chains.imported(&place);
            if let Taken::Closed = self.import(message, stream_sequence, Some(place)).await {
                return Taken::Closed;
            }
            next = imported;
        }
        Taken::Done
    }

    /// Passes over the gap before the message that waited longest, once it
    /// has waited `gap_timeout`.
    async fn give_up_gaps(&mut self) -> Taken {
        while let Some((place, (message, stream_sequence), last)) =
            self.chains.give_up(Instant::now(), self.gap_timeout)
        {
            self.counts().gaps.add(1);
            self.stats.errors.record(format!(
                "partition {}: chain {} has a gap after sequence {last}: the events exported between it and {} never arrived \
                 within {:?} (their exporter stopped before they were acknowledged?); going on without them",
                self.partition,
                place.chain,
                place.sequence,
                self.gap_timeout
            ));
            if let Taken::Closed = self.import_chain(place, message, stream_sequence).await {
                return Taken::Closed;
            }
        }
        Taken::Done
    }

    /// Decodes, checks and publishes one message's event into the local
    /// partition (or sets the message aside).
    async fn import(
        &mut self,
        message: Message,
        stream_sequence: u64,
        place: Option<Place>,
    ) -> Taken {
        let event = match self.decode(&message) {
            Ok(event) => event,
            Err(reason) => {
                return self
                    .set_aside(message, stream_sequence, place, reason)
                    .await
            }
        };
        if let Some(reason) = self.topic.inner().validation(&event) {
            return self
                .set_aside(message, stream_sequence, place, reason)
                .await;
        }
        let mut event = event;
        loop {
            match self.topic.publish_async_to(self.partition, event).await {
                Ok(receipt) => {
                    if let Receipt::Accepted { sequence, .. } = receipt {
                        self.published_end = sequence + 1;
                    }
                    self.counts().imported.add(1);
                    self.acknowledge_later(message, place, AckKind::Ack);
                    return Taken::Done;
                }
                Err(PublishError::Closed { .. }) => return Taken::Closed,
                // Full under `Reject`, or `BlockTimeout` ran out: the topic
                // is busy, not wrong; try again shortly.
                Err(PublishError::Full(e) | PublishError::Timeout(e)) => {
                    event = e;
                    tokio::time::sleep(ACK_TICK).await;
                }
                Err(other) => {
                    let reason = other.to_string();
                    return self
                        .set_aside(message, stream_sequence, place, reason)
                        .await;
                }
            }
        }
    }

    /// Whether the message was taken already (recording it if not): by its
    /// `Nats-Msg-Id`, or by its stream sequence if it has none. A
    /// redelivery has both of the first delivery; a copy the stream stored
    /// twice (re-sent after its duplicate window) has the id.
    fn is_known(&mut self, message: &Message, stream_sequence: u64) -> bool {
        let id = match header(message, async_nats::header::NATS_MESSAGE_ID.as_ref()) {
            Some(id) => id_hash(id),
            None => id_hash(&format!("stream sequence {stream_sequence}")),
        };
        self.ids.seen(id)
    }

    fn decode(&self, message: &Message) -> Result<E, String> {
        let codec = self.codec.name();
        let written_with = header(message, HEADER).and_then(|v| v.split(' ').next());
        if let Some(written_with) = written_with {
            if written_with != codec {
                return Err(format!(
                    "it was written with codec {written_with:?}; this import decodes {codec:?} (use the exporter's codec)"
                ));
            }
        }
        self.codec
            .decode(&message.payload)
            .map_err(|error| error.to_string())
    }

    /// A message that cannot be imported: counted, recorded, then sent to
    /// the undecodable topic (acknowledged once there) or terminated, in
    /// turn with the others.
    async fn set_aside(
        &mut self,
        message: Message,
        stream_sequence: u64,
        place: Option<Place>,
        reason: String,
    ) -> Taken {
        self.counts().undecodable.add(1);
        let letter = Undecodable {
            stream: self.stream.clone(),
            subject: message.subject.to_string(),
            stream_sequence,
            payload: message.payload.to_vec(),
            reason,
        };
        self.stats.errors.record(letter.to_string());
        let kept = match &self.undecodable {
            Some(topic) => topic.publish_async(letter).await.is_ok(),
            None => false,
        };
        let ack = if kept { AckKind::Ack } else { AckKind::Term };
        self.acknowledge_later(message, place, ack);
        Taken::Done
    }

    /// Queues `message`'s acknowledgement behind the events imported so far.
    fn acknowledge_later(&mut self, message: Message, place: Option<Place>, ack: AckKind) {
        self.pending.push_back(Pending {
            end: self.published_end,
            message,
            place,
            ack,
        });
    }

    /// Acknowledges, in order, the messages whose events every local group
    /// has consumed: every `ACK_EVERY`, or once `ACK_BATCH` are ready, or at
    /// once when `now`. The chains' positions are saved first.
    async fn acknowledge_consumed(&mut self, now: bool) {
        // Decided before walking `pending`: this runs after every message.
        if self.pending.is_empty()
            || !(now || self.pending.len() >= ACK_BATCH || self.last_ack.elapsed() >= ACK_EVERY)
        {
            return;
        }
        let consumed = self.topic.inner().consumed(self.partition);
        let ready = self
            .pending
            .iter()
            .take_while(|p| p.end <= consumed)
            .count();
        if ready == 0 {
            return;
        }
        for p in self.pending.iter().take(ready) {
            if let Some(place) = &p.place {
                self.positions.advance(&place.chain, place.sequence);
            }
        }
        if let Err(error) = self.positions.save().await {
            // Not acknowledged then: redelivered, and dropped as copies by
            // the id window (or imported again by the next import).
            self.stats
                .errors
                .record(format!("partition {}: {error}", self.partition));
            return;
        }
        self.last_ack = Instant::now();
        for p in self.pending.drain(..ready) {
            match p.message.ack_with(p.ack).await {
                Ok(()) => self.stats.partitions[self.partition as usize].acked.add(1),
                Err(error) => self.stats.errors.record(format!(
                    "partition {}: acknowledgement failed (the message will be redelivered and dropped as a duplicate): {error}",
                    self.partition
                )),
            }
        }
    }
}

/// A header's value.
fn header<'m>(message: &'m Message, name: &str) -> Option<&'m str> {
    message
        .headers
        .as_ref()
        .and_then(|h| h.get(name))
        .map(|v| v.as_str())
}

/// A message id as the window keeps it: 64 bits of a fixed-key hash.
fn id_hash(id: &str) -> u64 {
    let mut hasher = ahash::RandomState::with_seeds(1, 2, 3, 4).build_hasher();
    hasher.write(id.as_bytes());
    hasher.finish()
}
