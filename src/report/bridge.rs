//! What a bridge to NATS JetStream reports, per bridged topic and
//! partition (feature `nats`), and the check of an export against an import.

use std::fmt;

/// One partition of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct ExportFlow {
    /// The partition (and subject suffix).
    pub partition: u32,
    /// Events the export took from the topic and sent at least once.
    pub exported: u64,
    /// Of those, acknowledged by JetStream: stored in the stream (or found
    /// there already, see `duplicates`).
    pub acked: u64,
    /// Sent, neither acknowledged nor given up yet.
    pub in_flight: u64,
    /// Given up: not encodable, larger than the server accepts, or still
    /// unacknowledged when the export stopped (each with an error in
    /// [`ExportReport::errors`]).
    pub failed: u64,
    /// Messages sent again after a failed or timed-out acknowledgement.
    pub resent: u64,
    /// Acknowledgements that said the stream had the message already (a
    /// re-send JetStream's duplicate window removed).
    pub duplicates: u64,
}

/// One partition of an import.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct ImportFlow {
    /// The partition (and subject suffix).
    pub partition: u32,
    /// Messages delivered by the consumer, redeliveries included.
    pub received: u64,
    /// Events published into the local partition.
    pub imported: u64,
    /// Messages acknowledged to JetStream: each after every local group
    /// handled its event (or at once, for a duplicate whose first copy was
    /// handled, and for an undecodable message).
    pub acked: u64,
    /// Deliveries JetStream marked as redeliveries.
    pub redelivered: u64,
    /// Messages not imported because their event was imported already
    /// (same `Nats-Msg-Id`, or same stream sequence for a message without
    /// one, within the window).
    pub duplicates: u64,
    /// Messages that could not be decoded (or that the topic's validators
    /// refused): terminated, or sent to the import's undecodable topic.
    pub undecodable: u64,
    /// Places where an export's order had a hole that did not fill within
    /// the gap timeout (events its exporter never got acknowledged), passed
    /// over; each with an error in [`ImportReport::errors`].
    pub gaps: u64,
}

/// What an export did, per partition: `exported = acked + in_flight + failed`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct ExportReport {
    /// The local topic.
    pub topic: String,
    /// The JetStream stream.
    pub stream: String,
    /// One entry per partition.
    pub partitions: Vec<ExportFlow>,
    /// The latest errors (at most 16), oldest first.
    pub errors: Vec<String>,
}

/// What an import did, per partition.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct ImportReport {
    /// The local topic.
    pub topic: String,
    /// The JetStream stream.
    pub stream: String,
    /// One entry per partition.
    pub partitions: Vec<ImportFlow>,
    /// The latest errors (at most 16), oldest first.
    pub errors: Vec<String>,
}

impl ExportReport {
    /// Sums over the partitions.
    #[must_use]
    pub fn total(&self) -> ExportFlow {
        self.partitions
            .iter()
            .fold(ExportFlow::default(), |a, f| ExportFlow {
                partition: 0,
                exported: a.exported + f.exported,
                acked: a.acked + f.acked,
                in_flight: a.in_flight + f.in_flight,
                failed: a.failed + f.failed,
                resent: a.resent + f.resent,
                duplicates: a.duplicates + f.duplicates,
            })
    }

    /// Events of `partition` this export knows to be in the stream: each
    /// acknowledged event is there at least once (an acknowledgement that
    /// said "duplicate" is for a copy it stored earlier).
    fn stored(&self, partition: usize) -> u64 {
        self.partitions.get(partition).map_or(0, |f| f.acked)
    }
}

impl ImportReport {
    /// Sums over the partitions.
    #[must_use]
    pub fn total(&self) -> ImportFlow {
        self.partitions
            .iter()
            .fold(ImportFlow::default(), |a, f| ImportFlow {
                partition: 0,
                received: a.received + f.received,
                imported: a.imported + f.imported,
                acked: a.acked + f.acked,
                redelivered: a.redelivered + f.redelivered,
                duplicates: a.duplicates + f.duplicates,
                undecodable: a.undecodable + f.undecodable,
                gaps: a.gaps + f.gaps,
            })
    }

    /// Checks the two sides of one bridged topic against each other, the way
    /// [`Report::check_conservation`](crate::Report::check_conservation) does
    /// inside one process: for every partition, the events the export got
    /// acknowledged equal the events this import imported plus the messages
    /// it found undecodable (copies the stream holds twice count once, as
    /// the import's duplicates). Meaningful once both sides have finished,
    /// for a stream that held nothing else.
    ///
    /// # Errors
    ///
    /// The partitions where the counts differ, with both sides' numbers.
    pub fn check_against(&self, export: &ExportReport) -> Result<(), BridgeImbalance> {
        let partitions = self.partitions.len().max(export.partitions.len());
        let differences: Vec<String> = (0..partitions)
            .filter_map(|p| {
                let stored = export.stored(p);
                let (imported, undecodable) = self
                    .partitions
                    .get(p)
                    .map_or((0, 0), |f| (f.imported, f.undecodable));
                (stored != imported + undecodable).then(|| {
                    format!(
                        "partition {p}: the export stored {stored}, the import imported {imported} and found {undecodable} undecodable"
                    )
                })
            })
            .collect();
        if differences.is_empty() {
            Ok(())
        } else {
            Err(BridgeImbalance { differences })
        }
    }
}

/// The partitions where an export and an import of one topic disagree.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct BridgeImbalance {
    /// One line per partition that differs.
    pub differences: Vec<String>,
}

impl fmt::Display for BridgeImbalance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "export and import disagree: {}",
            self.differences.join("; ")
        )
    }
}
