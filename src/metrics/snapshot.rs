//! The snapshot types and how a snapshot is taken.

use std::sync::Arc;

use std::time::Duration;

use hdrhistogram::Histogram;

use super::buckets::{self, Bucket};
use super::recorder::Histograms;
use crate::report::{GroupReport, TopicReport};

/// What a snapshot reads: the live counters of one engine, behind one
/// interface, so that this module knows nothing of the engine (the engine
/// implements it).
pub(crate) trait Source: Send + Sync {
    /// Every topic, in declaration order.
    fn topics(&self) -> Vec<TopicMetrics>;
    /// Every group, in declaration order.
    fn groups(&self) -> Vec<GroupReading>;
    /// The engine's exports to NATS JetStream.
    #[cfg(feature = "nats")]
    fn exports(&self) -> Vec<crate::report::ExportReport>;
    /// The engine's imports from NATS JetStream.
    #[cfg(feature = "nats")]
    fn imports(&self) -> Vec<crate::report::ImportReport>;
}

/// One group as a [`Source`] reads it.
pub(crate) struct GroupReading {
    pub(crate) report: GroupReport,
    /// `(partition, lag)` of every partition the group reads.
    pub(crate) lags: Vec<(u32, u64)>,
    /// Its workers' histograms merged; `None` with metrics off.
    pub(crate) histograms: Option<Histograms>,
}

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
    source: Arc<dyn Source>,
    settings: Arc<MetricsSettings>,
}

/// The engine-wide settings of its latency metrics.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct MetricsSettings {
    /// Whether groups record latency histograms (`EngineBuilder::metrics`).
    pub(crate) on: bool,
    /// One event in this many per partition is timed.
    pub(crate) sampling: u32,
    /// Upper bounds of the latency histogram buckets, increasing.
    pub(crate) buckets: Vec<Duration>,
}

impl std::fmt::Debug for MetricsHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsHandle")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl MetricsHandle {
    pub(crate) fn new(source: Arc<dyn Source>, settings: Arc<MetricsSettings>) -> Self {
        MetricsHandle { source, settings }
    }

    /// Reads every counter and merges every worker's histograms. Counters are
    /// read one after another while the engine runs, so the snapshot is not
    /// one atomic instant.
    #[must_use]
    pub fn snapshot(&self) -> MetricsSnapshot {
        let bounds = &self.settings.buckets;
        let groups = self
            .source
            .groups()
            .into_iter()
            .map(|g| {
                let lag_max = g.lags.iter().map(|(_, lag)| *lag).max().unwrap_or(0);
                let histograms = g.histograms.as_ref();
                GroupMetrics {
                    report: g.report,
                    lag: g
                        .lags
                        .into_iter()
                        .map(|(partition, lag)| PartitionLag { partition, lag })
                        .collect(),
                    lag_max,
                    latency: histograms
                        .map(|h| LatencySummary::of(&h.latency, h.latency_sum, bounds)),
                    handler: histograms
                        .map(|h| LatencySummary::of(&h.handler, h.handler_sum, bounds)),
                    polls: histograms.map_or(0, |h| h.polls),
                    polls_budget_exhausted: histograms.map_or(0, |h| h.budget_exhausted),
                }
            })
            .collect();
        MetricsSnapshot {
            topics: self.source.topics(),
            groups,
            latency_sampling: self.settings.sampling,
            #[cfg(feature = "nats")]
            exports: self.source.exports(),
            #[cfg(feature = "nats")]
            imports: self.source.imports(),
        }
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
    /// One handled event in this many per partition is timed for the
    /// latency histograms
    /// ([`EngineBuilder::latency_sampling`](crate::EngineBuilder::latency_sampling)).
    pub latency_sampling: u32,
    /// The engine's exports to NATS JetStream (feature `nats`).
    #[cfg(feature = "nats")]
    pub exports: Vec<crate::report::ExportReport>,
    /// The imports from NATS JetStream into the engine (feature `nats`).
    #[cfg(feature = "nats")]
    pub imports: Vec<crate::report::ImportReport>,
}

impl MetricsSnapshot {
    /// The measurements of group `name`, if there is one.
    #[must_use]
    pub fn group(&self, name: &str) -> Option<&GroupMetrics> {
        self.groups.iter().find(|g| g.report.name == name)
    }

    /// The measurements of topic `name`, if there is one.
    #[must_use]
    pub fn topic(&self, name: &str) -> Option<&TopicMetrics> {
        self.topics.iter().find(|t| t.report.name == name)
    }
}

/// A nanosecond count as microseconds, for people.
fn micros(nanos: u64) -> String {
    format!("{:.1}", nanos as f64 / 1e3)
}

/// A table for people: per topic its published count and depth, per group
/// its handled count, lag and latency percentiles (µs; `-` with metrics
/// off).
///
/// ```
/// use veltrix::{Engine, GroupOptions, TopicOptions};
///
/// let engine = Engine::builder()
///     .topic::<u32>("orders", TopicOptions::new(2))
///     .subscribe("billing", "orders", GroupOptions::poll(), |_| veltrix::listener::from_fn(|_: &u32, _| Ok(())))
///     .build()?;
/// engine.topic::<u32>("orders")?.publish_batch(0..10)?;
/// let snapshot = engine.metrics();
/// assert_eq!(snapshot.group("billing").unwrap().lag_max, 5);
/// let table = snapshot.to_string();
/// assert!(table.contains("orders"), "{table}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
impl std::fmt::Display for MetricsSnapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "{:<20} {:>12} {:>9}", "topic", "published", "depth")?;
        for t in &self.topics {
            let depth: u64 = t.partitions.iter().map(|p| p.depth).sum();
            writeln!(
                f,
                "{:<20} {:>12} {:>9}",
                t.report.name, t.report.published, depth
            )?;
        }
        writeln!(
            f,
            "{:<16} {:<16} {:>11} {:>8} {:>10} {:>10} {:>10} {:>10}",
            "group", "topic", "handled", "lag max", "p50 us", "p99 us", "p99.9 us", "max us"
        )?;
        for g in &self.groups {
            let [p50, p99, p999, max] = match &g.latency {
                Some(l) => [l.p50, l.p99, l.p999, l.max].map(micros),
                None => ["-", "-", "-", "-"].map(String::from),
            };
            writeln!(
                f,
                "{:<16} {:<16} {:>11} {:>8} {:>10} {:>10} {:>10} {:>10}",
                g.report.name, g.report.topic, g.report.handled, g.lag_max, p50, p99, p999, max
            )?;
        }
        write!(
            f,
            "latency: publish -> handle, one event in {} per partition timed",
            self.latency_sampling
        )
    }
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

/// A latency histogram of one group: the events it timed (one in
/// [`MetricsSnapshot::latency_sampling`] per partition), as percentiles in
/// nanoseconds (1 % resolution), an exact sum, and cumulative buckets at
/// the engine's bounds
/// ([`EngineBuilder::latency_buckets`](crate::EngineBuilder::latency_buckets)).
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct LatencySummary {
    /// Events timed (sampled), not events handled: about
    /// `handled / latency_sampling`.
    pub count: u64,
    /// Sum of the timed values, nanoseconds (exact).
    pub sum: u64,
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
    /// Values at or below each bound, cumulative; values above the last
    /// bound are counted in `count` only (Prometheus's `+Inf` bucket).
    pub buckets: Vec<Bucket>,
}

impl LatencySummary {
    fn of(h: &Histogram<u64>, sum: u64, bounds: &[Duration]) -> LatencySummary {
        LatencySummary {
            count: h.len(),
            sum,
            buckets: buckets::cumulative(h, bounds),
            mean: if h.is_empty() { 0.0 } else { h.mean() },
            p50: h.value_at_quantile(0.5),
            p90: h.value_at_quantile(0.9),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
        }
    }
}
