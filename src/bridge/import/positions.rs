//! Where an import's chains stand, kept in a JetStream stream of their own
//! (`veltrix-import-<stream>`, subject
//! `veltrix.import.<stream>.<durable>.<partition>`, one message kept per
//! subject: a key-value store by hand, which JetStream 2.9 servers accept),
//! so that the next import of the same durable starts from there.
//!
//! The position of a chain is the last sequence whose message the import
//! acknowledged. It is saved before those acknowledgements are sent: after a
//! crash, a message at or before its chain's position was handled, and its
//! redelivery is dropped as a copy; a message after it was not, and its
//! successors wait for it.

use std::collections::HashMap;

use async_nats::jetstream::stream::{Config, DiscardPolicy, LastRawMessageErrorKind, Stream};
use async_nats::jetstream::Context;
use bytes::Bytes;

/// The saved positions of one partition's chains.
pub(super) struct Positions {
    js: Context,
    subject: String,
    acked: HashMap<String, u64>,
    dirty: bool,
}

/// The stream holding the positions of the imports of stream `stream`,
/// created if missing.
pub(super) async fn bucket(js: &Context, stream: &str, replicas: usize) -> Result<Stream, String> {
    let name = format!("veltrix-import-{stream}");
    js.get_or_create_stream(Config {
        name: name.clone(),
        subjects: vec![format!("veltrix.import.{stream}.>")],
        max_messages_per_subject: 1,
        discard: DiscardPolicy::Old,
        num_replicas: replicas,
        description: Some("where veltrix imports stand in their exports' order".into()),
        ..Config::default()
    })
    .await
    .map_err(|error| format!("creating stream {name:?} for the import positions: {error}"))
}

impl Positions {
    /// Reads the positions of `durable`'s `partition` (none yet: empty).
    pub(super) async fn load(
        js: &Context,
        bucket: &Stream,
        stream: &str,
        durable: &str,
        partition: u32,
    ) -> Result<Positions, String> {
        let subject = format!("veltrix.import.{stream}.{durable}.{partition}");
        let acked = match bucket.get_last_raw_message_by_subject(&subject).await {
            Ok(message) => parse(&message.payload),
            Err(error) if matches!(error.kind(), LastRawMessageErrorKind::NoMessageFound) => {
                HashMap::new()
            }
            Err(error) => return Err(format!("reading import positions {subject:?}: {error}")),
        };
        Ok(Positions {
            js: js.clone(),
            subject,
            acked,
            dirty: false,
        })
    }

    /// The positions, chain → last acknowledged sequence.
    pub(super) fn acked(&self) -> &HashMap<String, u64> {
        &self.acked
    }

    /// Records that the message at `sequence` of `chain` is about to be
    /// acknowledged.
    pub(super) fn advance(&mut self, chain: &str, sequence: u64) {
        match self.acked.get_mut(chain) {
            Some(last) if *last >= sequence => {}
            Some(last) => {
                *last = sequence;
                self.dirty = true;
            }
            None => {
                self.acked.insert(chain.to_owned(), sequence);
                self.dirty = true;
            }
        }
    }

    /// Writes the positions if they moved.
    pub(super) async fn save(&mut self) -> Result<(), String> {
        if !self.dirty {
            return Ok(());
        }
        let failed = |error: &dyn std::fmt::Display| {
            format!("saving import positions {:?}: {error}", self.subject)
        };
        self.js
            .publish(self.subject.clone(), Bytes::from(render(&self.acked)))
            .await
            .map_err(|e| failed(&e))?
            .await
            .map_err(|e| failed(&e))?;
        self.dirty = false;
        Ok(())
    }
}

/// One line per chain: `<sequence> <chain>`.
fn render(acked: &HashMap<String, u64>) -> String {
    let mut text = String::new();
    for (chain, sequence) in acked {
        text.push_str(&format!("{sequence} {chain}\n"));
    }
    text
}

fn parse(bytes: &[u8]) -> HashMap<String, u64> {
    String::from_utf8_lossy(bytes)
        .lines()
        .filter_map(|line| {
            let (sequence, chain) = line.split_once(' ')?;
            Some((chain.to_owned(), sequence.parse().ok()?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_round_trip_through_their_text() {
        let acked = HashMap::from([("a1b2:input".to_owned(), 41), ("c3 d4:x".to_owned(), 0)]);
        assert_eq!(parse(render(&acked).as_bytes()), acked);
        assert_eq!(
            parse(b"garbage\n7 ok\n"),
            HashMap::from([("ok".to_owned(), 7)])
        );
    }
}
