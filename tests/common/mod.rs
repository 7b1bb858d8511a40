//! Helpers shared by the integration tests. Each test file compiles its own
//! copy and uses only part of it.
#![allow(dead_code)]

pub mod dashboard;
pub mod exposition;

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

/// A list that listeners (on worker threads) and the test thread share.
#[derive(Debug)]
pub struct Shared<T>(Arc<Mutex<Vec<T>>>);

impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        Shared(Arc::clone(&self.0))
    }
}

impl<T> Default for Shared<T> {
    fn default() -> Self {
        Shared(Arc::new(Mutex::new(Vec::new())))
    }
}

impl<T> Shared<T> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&self, item: T) {
        self.0.lock().unwrap().push(item);
    }

    pub fn extend(&self, items: impl IntoIterator<Item = T>) {
        self.0.lock().unwrap().extend(items);
    }

    pub fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Takes everything recorded so far.
    pub fn take(&self) -> Vec<T> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

impl<T: Clone> Shared<T> {
    pub fn snapshot(&self) -> Vec<T> {
        self.0.lock().unwrap().clone()
    }
}

/// One hit counter per event id, shared between threads.
#[derive(Debug, Clone)]
pub struct Tally(Arc<[AtomicU8]>);

impl Tally {
    pub fn new(ids: usize) -> Self {
        Tally((0..ids).map(|_| AtomicU8::new(0)).collect())
    }

    /// Counts one sighting of `id` (saturating, so a flood of duplicates
    /// cannot wrap back to 1).
    pub fn hit(&self, id: usize) {
        let _ = self.0[id].fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
            Some(n.saturating_add(1))
        });
    }

    pub fn count(&self, id: usize) -> u8 {
        self.0[id].load(Ordering::Relaxed)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Panics, naming the first offenders, unless every id was hit exactly
    /// once.
    pub fn assert_each_once(&self, what: &str) {
        let wrong: Vec<(usize, u8)> = (0..self.len())
            .map(|id| (id, self.count(id)))
            .filter(|&(_, n)| n != 1)
            .collect();
        assert!(
            wrong.is_empty(),
            "{what}: {} of {} ids not seen exactly once; first (id, times): {:?}",
            wrong.len(),
            self.len(),
            &wrong[..wrong.len().min(10)]
        );
    }
}

/// Asserts that `seen` holds exactly the ids of `expected`, each once,
/// whatever their order; names the first missing and duplicated ids.
pub fn assert_same_ids(what: &str, mut seen: Vec<u64>, mut expected: Vec<u64>) {
    seen.sort_unstable();
    expected.sort_unstable();
    if seen == expected {
        return;
    }
    let mut duplicated: Vec<u64> = seen
        .windows(2)
        .filter(|w| w[0] == w[1])
        .map(|w| w[0])
        .collect();
    duplicated.dedup();
    let seen_set: std::collections::HashSet<u64> = seen.iter().copied().collect();
    let expected_set: std::collections::HashSet<u64> = expected.iter().copied().collect();
    let mut missing: Vec<u64> = expected_set.difference(&seen_set).copied().collect();
    let mut unexpected: Vec<u64> = seen_set.difference(&expected_set).copied().collect();
    missing.sort_unstable();
    unexpected.sort_unstable();
    panic!(
        "{what}: saw {} events, expected {}; missing {:?}, duplicated {:?}, unexpected {:?} (first 10 each)",
        seen.len(),
        expected.len(),
        &missing[..missing.len().min(10)],
        &duplicated[..duplicated.len().min(10)],
        &unexpected[..unexpected.len().min(10)],
    );
}

/// The setting errors of a build that must fail: each `InvalidSetting` of
/// `result` (one error, or all of a `Multiple`). Panics if the build
/// succeeded or failed with another kind of error.
pub fn setting_errors(
    result: Result<veltrix::Engine, veltrix::BuildError>,
) -> Vec<veltrix::InvalidSetting> {
    let errors = match result {
        Ok(_) => panic!("the build should have been refused"),
        Err(veltrix::BuildError::Multiple(errors)) => errors,
        Err(error) => vec![error],
    };
    errors
        .into_iter()
        .map(|e| match e {
            veltrix::BuildError::InvalidSetting(setting) => *setting,
            other => panic!("not a setting error: {other}"),
        })
        .collect()
}
