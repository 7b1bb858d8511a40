//! The engine's live counters as the metrics read them: the engine's side
//! of [`metrics::Source`](crate::metrics::Source).

use std::sync::Arc;

use parking_lot::RwLock;

use super::TopicControl;
use crate::group::GroupControl;
use crate::metrics::{GroupReading, PartitionMetrics, Source, TopicMetrics};

/// Every topic and group of one engine (and its bridges), shared by its
/// metrics handles and its watchdog; it outlives the engine, reading final
/// counts after shutdown. The engine rewrites the lists (with
/// [`set`](Self::set)) whenever a topic is attached or removed, so a
/// handle taken earlier sees the topology as it is now.
pub(crate) struct Live {
    topics: RwLock<Vec<Arc<dyn TopicControl>>>,
    groups: RwLock<Vec<Arc<dyn GroupControl>>>,
    #[cfg(feature = "nats")]
    pub(crate) bridges: Arc<crate::bridge::Registry>,
}

impl Live {
    pub(crate) fn new(#[cfg(feature = "nats")] bridges: Arc<crate::bridge::Registry>) -> Self {
        Live {
            topics: RwLock::new(Vec::new()),
            groups: RwLock::new(Vec::new()),
            #[cfg(feature = "nats")]
            bridges,
        }
    }

    /// The engine's topics and groups now.
    pub(crate) fn set(
        &self,
        topics: Vec<Arc<dyn TopicControl>>,
        groups: Vec<Arc<dyn GroupControl>>,
    ) {
        *self.topics.write() = topics;
        *self.groups.write() = groups;
    }

    /// The groups now (a copy: no lock is held while they are read).
    pub(crate) fn group_list(&self) -> Vec<Arc<dyn GroupControl>> {
        self.groups.read().clone()
    }
}

impl Source for Live {
    fn topics(&self) -> Vec<TopicMetrics> {
        let topics = self.topics.read().clone();
        topics
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
        self.group_list()
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
