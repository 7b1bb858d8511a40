//! What the engine reports: per-topic and per-group counts.

use std::fmt;

use crate::group::GroupReport;

/// Counts of one topic.
#[derive(Debug, Clone, PartialEq, Eq)]
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
}

/// A snapshot of every topic and group, or the final account at shutdown.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Report {
    /// One entry per topic, in declaration order.
    pub topics: Vec<TopicReport>,
    /// One entry per group, in declaration order.
    pub groups: Vec<GroupReport>,
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
    /// (`handled + failed == published` and no lag). Always true for the
    /// report returned by [`Engine::shutdown`](crate::Engine::shutdown).
    #[must_use]
    pub fn is_drained(&self) -> bool {
        self.groups.iter().all(|g| {
            let published = self.topic(&g.topic).map_or(0, |t| t.published);
            g.lag == 0 && g.consumed() == published
        })
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{:<20} {:>10} {:>12} {:>10}", "topic", "partitions", "published", "refused")?;
        for t in &self.topics {
            let refused = t.invalid_partition + t.rejected_full + t.rejected_closed + t.would_deadlock;
            writeln!(f, "{:<20} {:>10} {:>12} {:>10}", t.name, t.partitions, t.published, refused)?;
        }
        writeln!(
            f,
            "{:<20} {:<20} {:>7} {:>12} {:>8} {:>8}",
            "group", "topic", "mode", "handled", "failed", "lag"
        )?;
        for g in &self.groups {
            writeln!(
                f,
                "{:<20} {:<20} {:>7} {:>12} {:>8} {:>8}",
                g.name, g.topic, g.mode, g.handled, g.failed, g.lag
            )?;
        }
        Ok(())
    }
}
