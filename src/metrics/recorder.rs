//! Latency recording of one worker: publish → handle latency and handler
//! duration, in HdrHistograms.
//!
//! Each worker owns its histograms behind a lock it takes once per batch
//! (uncontended: only a metrics snapshot takes it too), so recording costs
//! one clock read and two histogram increments per event, and no shared
//! atomic.

use hdrhistogram::Histogram;

use crate::clock;

/// Longest latency recorded exactly: 10 minutes; longer values are clamped.
const MAX_NANOS: u64 = 600_000_000_000;

/// The histograms of one worker.
#[derive(Debug, Clone)]
pub(crate) struct Histograms {
    /// Publish → start of handling, nanoseconds.
    pub(crate) latency: Histogram<u64>,
    /// Handler duration, nanoseconds.
    pub(crate) handler: Histogram<u64>,
    /// Exact sums of the values recorded in `latency` and `handler`, in
    /// nanoseconds (a histogram keeps values to 1 %; a Prometheus `_sum`
    /// should not).
    pub(crate) latency_sum: u64,
    pub(crate) handler_sum: u64,
    /// Poll calls that used their whole budget with events left.
    pub(crate) budget_exhausted: u64,
    /// Poll calls.
    pub(crate) polls: u64,
}

impl Histograms {
    /// Bytes one worker's histograms allocate, for the memory budget.
    pub(crate) fn footprint() -> u128 {
        let counts =
            Histogram::<u64>::new_with_bounds(1, MAX_NANOS, 2).map_or(0, |h| h.distinct_values());
        2 * (counts as u128 * 8 + std::mem::size_of::<Histogram<u64>>() as u128)
    }

    pub(crate) fn new() -> Self {
        // Two significant digits (1 % resolution) keeps each histogram at a
        // few tens of KiB.
        let histogram =
            || Histogram::new_with_bounds(1, MAX_NANOS, 2).expect("bounds are valid constants");
        Histograms {
            latency: histogram(),
            handler: histogram(),
            latency_sum: 0,
            handler_sum: 0,
            budget_exhausted: 0,
            polls: 0,
        }
    }

    /// Records one event handled between raw clock readings `start` and
    /// `end`, published at raw reading `published` (0: no timestamp).
    #[inline]
    pub(crate) fn record(&mut self, published: u64, start: u64, end: u64) {
        if published != 0 {
            let latency = clock::nanos_between(published, start).clamp(1, MAX_NANOS);
            self.latency.saturating_record(latency);
            self.latency_sum = self.latency_sum.saturating_add(latency);
        }
        let handler = clock::nanos_between(start, end).clamp(1, MAX_NANOS);
        self.handler.saturating_record(handler);
        self.handler_sum = self.handler_sum.saturating_add(handler);
    }

    /// Adds `other` into `self`.
    pub(crate) fn merge(&mut self, other: &Histograms) {
        // Same bounds on both sides: `add` cannot fail.
        let _ = self.latency.add(&other.latency);
        let _ = self.handler.add(&other.handler);
        self.latency_sum = self.latency_sum.saturating_add(other.latency_sum);
        self.handler_sum = self.handler_sum.saturating_add(other.handler_sum);
        self.budget_exhausted += other.budget_exhausted;
        self.polls += other.polls;
    }
}
