//! Observability: what the engine measures and the ways it goes out.
//!
//! [`Engine::metrics`](crate::Engine::metrics) (or a [`MetricsHandle`] from
//! any thread) returns a [`MetricsSnapshot`]: every counter of the
//! conservation report, depth per partition, lag per group and partition
//! (Kafka's `records-lag` / `records-lag-max`), and per group the
//! publish → handle latency and the handler duration as percentiles of
//! HdrHistograms recorded by each worker. Render it with
//! [`MetricsSnapshot::to_prometheus`], serialize it (feature `serde`), or
//! feed the `metrics` facade (feature `metrics`).
//!
//! This module sits below the engine: the workers record into its
//! histograms, and a [`MetricsHandle`] reads the engine through a small
//! interface the engine implements; nothing here reaches up into the
//! engine or the groups.

mod buckets;
mod families;
#[cfg(feature = "http")]
mod http;
mod prometheus;
mod recorder;
mod snapshot;

#[cfg(feature = "metrics")]
mod facade;

pub use buckets::{Bucket, DEFAULT_LATENCY_BUCKETS, MAX_LATENCY_BUCKETS};
#[cfg(feature = "http")]
pub use http::MetricsServer;
pub(crate) use recorder::Histograms;
pub use snapshot::{
    GroupMetrics, LatencySummary, MetricsHandle, MetricsSnapshot, PartitionLag, PartitionMetrics,
    TopicMetrics,
};
pub(crate) use snapshot::{GroupReading, MetricsSettings, Source};
