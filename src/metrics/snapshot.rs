//! The snapshot types and how a snapshot is taken.

use std::sync::Arc;

use hdrhistogram::Histogram;

use crate::engine::{TopicControl, TopicReport};
use crate::group::{GroupControl, GroupReport};

/// Takes [`MetricsSnapshot`]s of one engine from any thread.
///
/// # Examples
///
/// ```
/// use veltrix::{Engine, GroupOptions, TopicOptions};
///
/// let engine = Engine::builder()
///     .topic::<u32>("t", TopicOptions::new(2))
///     .subscribe("g", "t", GroupOptions::poll(), |_| veltrix::listener::from_fn(|_: &u32, _| Ok(())))
///     .build()?;
/// let handle = engine.metrics_handle();
/// engine.topic::<u32>("t")?.publish_batch(0..10)?;
/// let snapshot = std::thread::spawn(move || handle.snapshot()).join().unwrap();
/// assert_eq!(snapshot.topics[0].report.published, 10);
/// assert_eq!(snapshot.groups[0].lag_max, 5);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct MetricsHandle {
    topics: Vec<Arc<dyn TopicControl>>,
    groups: Vec<Arc<dyn GroupControl>>,
}

impl std::fmt::Debug for MetricsHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsHandle")
            .field("topics", &self.topics.len())
            .field("groups", &self.groups.len())
            .finish()
    }
}

impl MetricsHandle {
    pub(crate) fn new(
        topics: Vec<Arc<dyn TopicControl>>,
        groups: Vec<Arc<dyn GroupControl>>,
    ) -> Self {
        MetricsHandle { topics, groups }
    }

    /// Reads every counter and merges every worker's histograms. Counters are
    /// read one after another while the engine runs, so the snapshot is not
    /// one atomic instant.
    #[must_use]
    pub fn snapshot(&self) -> MetricsSnapshot {
        let topics = self
            .topics
            .iter()
            .map(|t| TopicMetrics {
                report: t.report(),
                partitions: t
                    .partitions()
                    .into_iter()
                    .enumerate()
                    .map(|(p, (published, depth))| PartitionMetrics {
                        partition: p as u32,
                        published,
                        depth,
                    })
                    .collect(),
            })
            .collect();
        let groups = self
            .groups
            .iter()
            .map(|g| {
                let (lags, histograms) = g.metrics();
                let lag_max = lags.iter().map(|(_, lag)| *lag).max().unwrap_or(0);
                GroupMetrics {
                    report: g.report(),
                    lag: lags
                        .into_iter()
                        .map(|(partition, lag)| PartitionLag { partition, lag })
                        .collect(),
                    lag_max,
                    latency: histograms.as_ref().map(|h| LatencySummary::of(&h.latency)),
                    handler: histograms.as_ref().map(|h| LatencySummary::of(&h.handler)),
                    polls: histograms.as_ref().map_or(0, |h| h.polls),
                    polls_budget_exhausted: histograms.as_ref().map_or(0, |h| h.budget_exhausted),
                }
            })
            .collect();
        MetricsSnapshot { topics, groups }
    }
}

/// Everything the engine measures, at one moment.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct MetricsSnapshot {
    /// One entry per topic, in declaration order.
    pub topics: Vec<TopicMetrics>,
    /// One entry per group, in declaration order.
    pub groups: Vec<GroupMetrics>,
}

/// The measurements of one topic.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct TopicMetrics {
    /// The topic's counters.
    pub report: TopicReport,
    /// Published count and depth of each partition.
    pub partitions: Vec<PartitionMetrics>,
}

/// One partition of a topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct PartitionMetrics {
    /// The partition.
    pub partition: u32,
    /// Events published to it.
    pub published: u64,
    /// Events in it not yet released by the slowest group.
    pub depth: u64,
}

/// The measurements of one group.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct GroupMetrics {
    /// The group's counters.
    pub report: GroupReport,
    /// Lag of each partition (Kafka's `records-lag`).
    pub lag: Vec<PartitionLag>,
    /// The largest partition lag (Kafka's `records-lag-max`).
    pub lag_max: u64,
    /// Publish → start of handling, all events handled since start (`None`
    /// with metrics off).
    pub latency: Option<LatencySummary>,
    /// Time inside `on_event` (`None` with metrics off).
    pub handler: Option<LatencySummary>,
    /// Poll-mode groups: `poll` calls.
    pub polls: u64,
    /// Poll-mode groups: `poll` calls that used their whole budget and left
    /// events behind (the tick could not keep up).
    pub polls_budget_exhausted: u64,
}

/// The lag of one partition for one group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct PartitionLag {
    /// The partition.
    pub partition: u32,
    /// Events published to it that the group has not consumed.
    pub lag: u64,
}

/// Percentiles of a latency histogram, in nanoseconds (1 % resolution).
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct LatencySummary {
    /// Values recorded.
    pub count: u64,
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Largest value.
    pub max: u64,
}

impl LatencySummary {
    fn of(h: &Histogram<u64>) -> LatencySummary {
        LatencySummary {
            count: h.len(),
            mean: if h.is_empty() { 0.0 } else { h.mean() },
            p50: h.value_at_quantile(0.5),
            p90: h.value_at_quantile(0.9),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
        }
    }
}
