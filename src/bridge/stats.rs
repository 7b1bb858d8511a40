//! The bridge's live counts, per bridged topic and partition; the reports
//! made of them are in [`crate::report`].

use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use crate::report::{ExportFlow, ExportReport, ImportFlow, ImportReport};

/// How many of the latest errors a report keeps.
const KEPT_ERRORS: usize = 16;

/// A counter, written by one task or worker at a time.
#[derive(Debug, Default)]
pub(crate) struct Count(AtomicU64);

impl Count {
    pub(crate) fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// The export counts of one partition.
#[derive(Debug, Default)]
pub(crate) struct ExportCounts {
    pub(crate) exported: Count,
    pub(crate) acked: Count,
    pub(crate) failed: Count,
    pub(crate) resent: Count,
    pub(crate) duplicates: Count,
}

/// The import counts of one partition.
#[derive(Debug, Default)]
pub(crate) struct ImportCounts {
    pub(crate) received: Count,
    pub(crate) imported: Count,
    pub(crate) acked: Count,
    pub(crate) redelivered: Count,
    pub(crate) duplicates: Count,
    pub(crate) undecodable: Count,
    pub(crate) gaps: Count,
}

/// The latest errors of an export or import, newest last.
#[derive(Debug, Default)]
pub(crate) struct Errors(Mutex<Vec<String>>);

impl Errors {
    pub(crate) fn record(&self, error: String) {
        #[cfg(feature = "tracing")]
        tracing::warn!(%error, "veltrix: bridge");
        let mut errors = self.0.lock();
        if errors.len() == KEPT_ERRORS {
            errors.remove(0);
        }
        errors.push(error);
    }

    fn latest(&self) -> Vec<String> {
        self.0.lock().clone()
    }
}

/// Everything an export counts, shared by its workers and its handle.
#[derive(Debug)]
pub(crate) struct ExportStats {
    pub(crate) topic: String,
    pub(crate) stream: String,
    pub(crate) partitions: Box<[ExportCounts]>,
    pub(crate) errors: Errors,
}

impl ExportStats {
    pub(crate) fn new(topic: &str, stream: &str, partitions: u32) -> Self {
        ExportStats {
            topic: topic.to_owned(),
            stream: stream.to_owned(),
            partitions: (0..partitions).map(|_| ExportCounts::default()).collect(),
            errors: Errors::default(),
        }
    }

    pub(crate) fn report(&self) -> ExportReport {
        let partitions = self
            .partitions
            .iter()
            .enumerate()
            .map(|(p, c)| {
                let (exported, acked, failed) = (c.exported.get(), c.acked.get(), c.failed.get());
                ExportFlow {
                    partition: p as u32,
                    exported,
                    acked,
                    in_flight: exported.saturating_sub(acked + failed),
                    failed,
                    resent: c.resent.get(),
                    duplicates: c.duplicates.get(),
                }
            })
            .collect();
        ExportReport {
            topic: self.topic.clone(),
            stream: self.stream.clone(),
            partitions,
            errors: self.errors.latest(),
        }
    }
}

/// Everything an import counts, shared by its tasks and its handle.
#[derive(Debug)]
pub(crate) struct ImportStats {
    pub(crate) topic: String,
    pub(crate) stream: String,
    pub(crate) partitions: Box<[ImportCounts]>,
    pub(crate) errors: Errors,
}

impl ImportStats {
    pub(crate) fn new(topic: &str, stream: &str, partitions: u32) -> Self {
        ImportStats {
            topic: topic.to_owned(),
            stream: stream.to_owned(),
            partitions: (0..partitions).map(|_| ImportCounts::default()).collect(),
            errors: Errors::default(),
        }
    }

    pub(crate) fn report(&self) -> ImportReport {
        let partitions = self
            .partitions
            .iter()
            .enumerate()
            .map(|(p, c)| ImportFlow {
                partition: p as u32,
                received: c.received.get(),
                imported: c.imported.get(),
                acked: c.acked.get(),
                redelivered: c.redelivered.get(),
                duplicates: c.duplicates.get(),
                undecodable: c.undecodable.get(),
                gaps: c.gaps.get(),
            })
            .collect();
        ImportReport {
            topic: self.topic.clone(),
            stream: self.stream.clone(),
            partitions,
            errors: self.errors.latest(),
        }
    }
}
