//! Histogram buckets for the latency metrics: the bounds, and the
//! cumulative counts read from a worker's HdrHistogram.

use std::time::Duration;

use hdrhistogram::Histogram;

/// The most bucket bounds a latency histogram may have
/// ([`EngineBuilder::latency_buckets`](crate::EngineBuilder::latency_buckets)):
/// each is a time series per group in Prometheus.
pub const MAX_LATENCY_BUCKETS: usize = 64;

/// Default upper bounds of the latency histogram buckets
/// ([`EngineBuilder::latency_buckets`](crate::EngineBuilder::latency_buckets)):
/// 1, 2 and 5 of each decade from 1 µs to 10 s (22 bounds, plus `+Inf`),
/// which covers an in-process hand-off (about a microsecond) and a listener
/// stalled for seconds alike, at three buckets per decade.
pub const DEFAULT_LATENCY_BUCKETS: [Duration; 22] = [
    Duration::from_micros(1),
    Duration::from_micros(2),
    Duration::from_micros(5),
    Duration::from_micros(10),
    Duration::from_micros(20),
    Duration::from_micros(50),
    Duration::from_micros(100),
    Duration::from_micros(200),
    Duration::from_micros(500),
    Duration::from_millis(1),
    Duration::from_millis(2),
    Duration::from_millis(5),
    Duration::from_millis(10),
    Duration::from_millis(20),
    Duration::from_millis(50),
    Duration::from_millis(100),
    Duration::from_millis(200),
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(5),
    Duration::from_secs(10),
];

/// One bucket of a latency histogram, Prometheus style: how many recorded
/// values were at most `le` (cumulative, so counts never decrease from one
/// bucket to the next).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct Bucket {
    /// The bucket's upper bound (inclusive).
    pub le: Duration,
    /// Values recorded at or below `le`, to the histogram's resolution
    /// (1 %: a value within 1 % of a bound may fall on either side).
    pub count: u64,
}

/// The cumulative buckets of `h` (nanoseconds) at `bounds`.
pub(crate) fn cumulative(h: &Histogram<u64>, bounds: &[Duration]) -> Vec<Bucket> {
    bounds
        .iter()
        .map(|&le| {
            let nanos = u64::try_from(le.as_nanos()).unwrap_or(u64::MAX);
            Bucket {
                le,
                // Values are recorded from 1 ns on.
                count: h.count_between(0, nanos),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_bounds_increase_and_fit() {
        assert!(DEFAULT_LATENCY_BUCKETS.windows(2).all(|w| w[0] < w[1]));
        assert!(DEFAULT_LATENCY_BUCKETS.len() <= MAX_LATENCY_BUCKETS);
    }

    #[test]
    fn buckets_count_values_at_or_below_their_bound() {
        let mut h = Histogram::<u64>::new_with_bounds(1, 600_000_000_000, 2).unwrap();
        for nanos in [500, 1_500, 1_500, 30_000, 2_000_000_000, 599_000_000_000] {
            h.record(nanos).unwrap();
        }
        let buckets = cumulative(
            &h,
            &[
                Duration::from_micros(1),
                Duration::from_micros(2),
                Duration::from_millis(1),
                Duration::from_secs(10),
            ],
        );
        let counts: Vec<u64> = buckets.iter().map(|b| b.count).collect();
        assert_eq!(counts, [1, 3, 4, 5], "the 599 s value is only in +Inf");
    }
}
