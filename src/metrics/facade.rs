//! Feeding the `metrics` facade (feature `metrics`).

use super::MetricsSnapshot;

impl MetricsSnapshot {
    /// Sends the snapshot to the `metrics` facade, so whatever exporter the
    /// host installed (Prometheus, StatsD, …) publishes it. Counters are set
    /// to their absolute values, gauges to their current values, latency
    /// percentiles as gauges in seconds with a `quantile` label. Call it
    /// periodically (say once a second) from any thread, with a snapshot from
    /// a [`MetricsHandle`](super::MetricsHandle).
    pub fn record_to_metrics(&self) {
        for t in &self.topics {
            let topic = t.report.name.clone();
            for p in &t.partitions {
                let labels = [
                    ("topic", topic.clone()),
                    ("partition", p.partition.to_string()),
                ];
                metrics::counter!("veltrix_published_total", &labels).absolute(p.published);
                metrics::gauge!("veltrix_partition_depth", &labels).set(p.depth as f64);
            }
            metrics::counter!("veltrix_dropped_total", "topic" => topic.clone())
                .absolute(t.report.dropped_full);
            metrics::counter!("veltrix_refused_total", "topic" => topic)
                .absolute(t.report.refused());
        }
        for g in &self.groups {
            let r = &g.report;
            let labels = [("group", r.name.clone()), ("topic", r.topic.clone())];
            metrics::counter!("veltrix_handled_total", &labels).absolute(r.handled);
            metrics::counter!("veltrix_failures_total", &labels).absolute(r.failures);
            metrics::counter!("veltrix_retried_total", &labels).absolute(r.retried);
            metrics::counter!("veltrix_dead_lettered_total", &labels).absolute(r.dead_lettered);
            metrics::counter!("veltrix_skipped_total", &labels).absolute(r.skipped);
            metrics::counter!("veltrix_deduplicated_total", &labels).absolute(r.deduplicated);
            metrics::gauge!("veltrix_lag_max", &labels).set(g.lag_max as f64);
            metrics::gauge!("veltrix_halted_partitions", &labels).set(r.halted.len() as f64);
            metrics::gauge!("veltrix_stuck_workers", &labels).set(r.stuck.len() as f64);
            for (name, summary) in [
                ("veltrix_event_latency_seconds", g.latency),
                ("veltrix_handler_duration_seconds", g.handler),
            ] {
                let Some(s) = summary else { continue };
                for (q, v) in [
                    ("0.5", s.p50),
                    ("0.9", s.p90),
                    ("0.99", s.p99),
                    ("0.999", s.p999),
                ] {
                    let labels = [
                        ("group", r.name.clone()),
                        ("topic", r.topic.clone()),
                        ("quantile", q.to_owned()),
                    ];
                    metrics::gauge!(name, &labels).set(v as f64 / 1e9);
                }
            }
        }
    }
}
