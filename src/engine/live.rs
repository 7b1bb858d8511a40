//! The engine's live counters as the metrics read them: the engine's side
//! of [`metrics::Source`](crate::metrics::Source).

use std::sync::Arc;

use super::TopicControl;
use crate::group::GroupControl;
use crate::metrics::{GroupReading, PartitionMetrics, Source, TopicMetrics};

/// Every topic and group of one engine (and its bridges), shared by its
/// metrics handles; it outlives the engine, reading final counts after
/// shutdown.
pub(crate) struct Live {
    pub(crate) topics: Vec<Arc<dyn TopicControl>>,
    pub(crate) groups: Vec<Arc<dyn GroupControl>>,
    #[cfg(feature = "nats")]
    pub(crate) bridges: Arc<crate::bridge::Registry>,
}

impl Source for Live {
    fn topics(&self) -> Vec<TopicMetrics> {
        self.topics
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
            .collect()
    }

    fn groups(&self) -> Vec<GroupReading> {
        self.groups
            .iter()
            .map(|g| {
                let (lags, histograms) = g.metrics();
                GroupReading {
                    report: g.report(),
                    lags,
                    histograms,
                }
            })
            .collect()
    }

    #[cfg(feature = "nats")]
    fn exports(&self) -> Vec<crate::report::ExportReport> {
        self.bridges.exports()
    }

    #[cfg(feature = "nats")]
    fn imports(&self) -> Vec<crate::report::ImportReport> {
        self.bridges.imports()
    }
}
