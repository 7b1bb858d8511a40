//! Feeding the `metrics` facade (feature `metrics`).

use super::families::{families, histogram_series, Kind, Part, Value};
use super::MetricsSnapshot;

impl MetricsSnapshot {
    /// Sends the snapshot to the `metrics` facade, so whatever exporter the
    /// host installed (Prometheus, StatsD, …) publishes it: the same
    /// families, names and labels as [`to_prometheus`](Self::to_prometheus).
    /// Counters are set to their absolute values and gauges to their
    /// current values. The facade's histograms take single observations,
    /// not buckets, so a latency histogram goes out as the series
    /// Prometheus would scrape: `<name>_bucket` counters with an `le` label
    /// (seconds, and `+Inf`), a `<name>_count` counter and a `<name>_sum`
    /// gauge in seconds; `histogram_quantile` works on them as on the
    /// native exposition. Call it periodically (say once a second) from any
    /// thread, with a snapshot from a [`MetricsHandle`](super::MetricsHandle).
    pub fn record_to_metrics(&self) {
        for family in families() {
            family.samples(self, &mut |values, value| {
                let labels: Vec<(&'static str, String)> = family
                    .labels()
                    .iter()
                    .zip(values)
                    .map(|(k, v)| (*k, (*v).to_owned()))
                    .collect();
                match (family.kind, value) {
                    (Kind::Counter, Value::Count(n)) => {
                        metrics::counter!(family.name, &labels).absolute(n);
                    }
                    (Kind::Gauge, Value::Count(n)) => {
                        metrics::gauge!(family.name, &labels).set(n as f64);
                    }
                    (Kind::Histogram, Value::Latency(h)) => {
                        histogram_series(family.name, h, |series, part| {
                            let name = series.to_owned();
                            match part {
                                Part::Bucket { le, count } => {
                                    let mut with_le = labels.clone();
                                    with_le.push(("le", le.to_owned()));
                                    metrics::counter!(name, &with_le).absolute(count);
                                }
                                // Seconds: the facade's counters are whole.
                                Part::Sum(seconds) => metrics::gauge!(name, &labels).set(seconds),
                                Part::Count(n) => metrics::counter!(name, &labels).absolute(n),
                            }
                        });
                    }
                    (kind, value) => {
                        debug_assert!(false, "{}: {kind:?} with {value:?}", family.name);
                    }
                }
            });
        }
    }
}
