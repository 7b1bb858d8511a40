//! What the engine reports: per-topic and per-group counts, and (feature
//! `nats`) per bridged topic and partition.
//!
//! Plain values with no reference to the running engine: every layer that
//! counts (topics, groups, bridges) fills them in, and the engine, the
//! metrics and the edges read them.

use std::fmt;

#[cfg(feature = "nats")]
mod bridge;
mod group;

#[cfg(feature = "nats")]
pub use bridge::{BridgeImbalance, ExportFlow, ExportReport, ImportFlow, ImportReport};
pub use group::{GroupReport, StalledListener, StuckWorker};

/// Counts of one topic.
///
/// The refusal counters (`invalid_partition`, `rejected_full`,
/// `rejected_closed`, `would_deadlock`, `timed_out`, `invalid`) count events
/// handed back to the publisher, by reason; a batch that stops counts every
/// event it hands back under the reason it stopped for.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct TopicReport {
    /// The topic.
    pub name: String,
    /// Its partition count.
    pub partitions: u32,
    /// Events accepted into its partitions.
    pub published: u64,
    /// Events in its partitions not yet released by the slowest group.
    pub depth: u64,
    /// Publishes refused because the partitioner returned a bad index.
    pub invalid_partition: u64,
    /// `try_publish` calls refused because the partition was full.
    pub rejected_full: u64,
    /// Publishes refused because the topic was closed.
    pub rejected_closed: u64,
    /// Blocking publishes refused because they would have deadlocked.
    pub would_deadlock: u64,
    /// Publishes that gave up after the timeout of `FullPolicy::BlockTimeout`.
    pub timed_out: u64,
    /// Events dropped by `FullPolicy::DropNewest` (never published).
    pub dropped_full: u64,
    /// Events rejected by the topic's validators (handed back).
    pub invalid: u64,
    /// Events whose `Drop` panicked when a partition ring dropped them (as a
    /// later publish overwrote their slot). Each panic was caught: the
    /// publish went on and the event's life ended. (The default panic hook
    /// still prints each one.) Events still in the rings when the engine
    /// and every topic handle go away are dropped after the last report can
    /// be made, so their panics are caught but counted nowhere.
    pub drop_panics: u64,
}

impl TopicReport {
    /// Publishes refused with the event handed back to the caller.
    #[must_use]
    pub fn refused(&self) -> u64 {
        self.refusals().iter().map(|(_, n)| n).sum()
    }

    /// Each refusal count with its reason, as the `reason` label of
    /// `veltrix_refused_total` names it.
    pub(crate) fn refusals(&self) -> [(&'static str, u64); 6] {
        [
            ("full", self.rejected_full),
            ("timeout", self.timed_out),
            ("closed", self.rejected_closed),
            ("invalid_partition", self.invalid_partition),
            ("invalid", self.invalid),
            ("would_deadlock", self.would_deadlock),
        ]
    }
}

/// A group whose counts do not add up (see [`Report::check_conservation`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("group '{group}': published {published} != joined at {joined_at} + handled {handled} + dead-lettered {dead_lettered} + skipped {skipped} + deduplicated {deduplicated} + lagged {lagged} + lag {lag}")]
#[non_exhaustive]
pub struct ConservationError {
    /// The group.
    pub group: String,
    /// Events published to its topic.
    pub published: u64,
    /// Its handled count.
    pub handled: u64,
    /// Its dead-lettered count.
    pub dead_lettered: u64,
    /// Its skipped count.
    pub skipped: u64,
    /// Its de-duplicated count.
    pub deduplicated: u64,
    /// Its lagged count (lossy groups).
    pub lagged: u64,
    /// Its lag.
    pub lag: u64,
    /// Events published before it joined.
    pub joined_at: u64,
}

/// A snapshot of every topic and group, or the final account at shutdown.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct Report {
    /// One entry per topic, in declaration order.
    pub topics: Vec<TopicReport>,
    /// One entry per group, in declaration order.
    pub groups: Vec<GroupReport>,
    /// One entry per topic exported to NATS JetStream (feature `nats`), in
    /// the order the exports were added: per partition exported, acked, in
    /// flight, failed.
    #[cfg(feature = "nats")]
    pub exports: Vec<ExportReport>,
    /// One entry per import from NATS JetStream into this engine (feature
    /// `nats`): per partition received, imported, acked, redelivered,
    /// duplicates removed.
    #[cfg(feature = "nats")]
    pub imports: Vec<ImportReport>,
}

impl Report {
    /// The report of topic `name`.
    #[must_use]
    pub fn topic(&self, name: &str) -> Option<&TopicReport> {
        self.topics.iter().find(|t| t.name == name)
    }

    /// The report of group `name`.
    #[must_use]
    pub fn group(&self, name: &str) -> Option<&GroupReport> {
        self.groups.iter().find(|g| g.name == name)
    }

    /// Whether every group has consumed every event published to its topic
    /// (no lag, and the counts add up). True for the report of
    /// [`Engine::shutdown`](crate::Engine::shutdown) unless a partition was
    /// halted.
    #[must_use]
    pub fn is_drained(&self) -> bool {
        self.check_conservation().is_ok() && self.groups.iter().all(|g| g.lag == 0)
    }

    /// Checks that nothing was lost: for every group,
    /// `published = handled + dead_lettered + skipped + deduplicated +
    /// lagged + lag` (`lagged` is 0 but for lossy groups).
    /// On a live engine counters are read one after another, so check a
    /// quiescent engine or the final report.
    ///
    /// # Errors
    ///
    /// Every group whose counts do not add up.
    pub fn check_conservation(&self) -> Result<(), Vec<ConservationError>> {
        let broken: Vec<ConservationError> = self
            .groups
            .iter()
            .filter_map(|g| {
                let published = self.topic(&g.topic).map_or(0, |t| t.published);
                (published != g.accounted()).then(|| ConservationError {
                    group: g.name.clone(),
                    published,
                    handled: g.handled,
                    dead_lettered: g.dead_lettered,
                    skipped: g.skipped,
                    deduplicated: g.deduplicated,
                    lagged: g.lagged,
                    lag: g.lag,
                    joined_at: g.joined_at,
                })
            })
            .collect();
        if broken.is_empty() {
            Ok(())
        } else {
            Err(broken)
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<20} {:>5} {:>12} {:>9} {:>9}",
            "topic", "parts", "published", "refused", "dropped"
        )?;
        for t in &self.topics {
            writeln!(
                f,
                "{:<20} {:>5} {:>12} {:>9} {:>9}",
                t.name,
                t.partitions,
                t.published,
                t.refused(),
                t.dropped_full
            )?;
        }
        writeln!(
            f,
            "{:<16} {:<16} {:>7} {:>11} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}",
            "group",
            "topic",
            "mode",
            "handled",
            "retried",
            "dead",
            "skipped",
            "dedup",
            "lagged",
            "lag"
        )?;
        for g in &self.groups {
            writeln!(
                f,
                "{:<16} {:<16} {:>7} {:>11} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}{}",
                g.name,
                g.topic,
                g.mode,
                g.handled,
                g.retried,
                g.dead_lettered,
                g.skipped,
                g.deduplicated,
                g.lagged,
                g.lag,
                if g.halted.is_empty() {
                    String::new()
                } else {
                    format!("  HALTED partitions {:?}", g.halted)
                }
            )?;
            for s in &g.stuck {
                writeln!(
                    f,
                    "  STUCK worker {} of {}: listener still running at the shutdown deadline (partition {}, sequence {})",
                    s.worker, g.name, s.partition, s.sequence
                )?;
            }
        }
        Ok(())
    }
}
