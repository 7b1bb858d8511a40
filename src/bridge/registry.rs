//! The bridges of one engine, so that its report and its metrics show them.

use std::sync::Arc;

use parking_lot::Mutex;

use super::stats::{ExportStats, ImportStats};
use crate::report::{ExportReport, ImportReport};

/// Every export and import an engine has had, in the order they started.
/// An engine and its metrics handles share one.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    exports: Mutex<Vec<Arc<ExportStats>>>,
    imports: Mutex<Vec<Arc<ImportStats>>>,
}

impl Registry {
    pub(crate) fn add_export(&self, stats: Arc<ExportStats>) {
        self.exports.lock().push(stats);
    }

    pub(crate) fn add_import(&self, stats: Arc<ImportStats>) {
        self.imports.lock().push(stats);
    }

    /// Takes over `other`'s exports and imports (an engine attaching what
    /// another builder declared).
    pub(crate) fn absorb(&self, other: &Registry) {
        self.exports.lock().append(&mut other.exports.lock());
        self.imports.lock().append(&mut other.imports.lock());
    }

    pub(crate) fn exports(&self) -> Vec<ExportReport> {
        self.exports.lock().iter().map(|s| s.report()).collect()
    }

    pub(crate) fn imports(&self) -> Vec<ImportReport> {
        self.imports.lock().iter().map(|s| s.report()).collect()
    }
}
