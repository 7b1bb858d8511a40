//! The Prometheus text exposition format (version 0.0.4).

use std::fmt::Write;

use super::{GroupMetrics, LatencySummary, MetricsSnapshot};

/// Writes metric families: `# HELP`, `# TYPE`, then samples.
struct Exposition {
    out: String,
}

impl Exposition {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {help}");
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (key, val)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{key}=\"{}\"", escape(val));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {value}");
    }
}

/// A group counter family: name, help, and how to read it from a report.
type GroupCounter = (&'static str, &'static str, fn(&crate::GroupReport) -> u64);

/// A per-group family: name, type, help, and how to read it.
type GroupFamily = (
    &'static str,
    &'static str,
    &'static str,
    fn(&GroupMetrics) -> f64,
);

/// Label values escape backslash, double quote and newline.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl MetricsSnapshot {
    /// Renders the snapshot in the Prometheus text exposition format: names
    /// prefixed `veltrix_`, labels `topic`, `partition`, `group`; counters end
    /// in `_total`; latencies are summaries in seconds (quantiles 0.5, 0.9,
    /// 0.99, 0.999, plus `_sum` and `_count`). The README lists every metric.
    ///
    /// # Examples
    ///
    /// ```
    /// use veltrix::{Engine, GroupOptions, TopicOptions};
    ///
    /// let engine = Engine::builder()
    ///     .topic::<u32>("orders", TopicOptions::new(1))
    ///     .subscribe("billing", "orders", GroupOptions::poll(), |_| veltrix::listener::from_fn(|_: &u32, _| Ok(())))
    ///     .build()?;
    /// engine.topic::<u32>("orders")?.publish(1)?;
    /// let text = engine.metrics().to_prometheus();
    /// assert!(text.contains("veltrix_published_total{topic=\"orders\",partition=\"0\"} 1"));
    /// assert!(text.contains("veltrix_lag{group=\"billing\",topic=\"orders\",partition=\"0\"} 1"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn to_prometheus(&self) -> String {
        let mut e = Exposition { out: String::new() };
        e.family(
            "veltrix_published_total",
            "counter",
            "Events accepted into a partition.",
        );
        for t in &self.topics {
            for p in &t.partitions {
                let partition = p.partition.to_string();
                e.sample(
                    "veltrix_published_total",
                    &[("topic", &t.report.name), ("partition", &partition)],
                    p.published as f64,
                );
            }
        }
        e.family(
            "veltrix_partition_depth",
            "gauge",
            "Events in a partition not yet released by its slowest group.",
        );
        for t in &self.topics {
            for p in &t.partitions {
                let partition = p.partition.to_string();
                e.sample(
                    "veltrix_partition_depth",
                    &[("topic", &t.report.name), ("partition", &partition)],
                    p.depth as f64,
                );
            }
        }
        e.family(
            "veltrix_refused_total",
            "counter",
            "Publishes refused with the event handed back, by reason.",
        );
        for t in &self.topics {
            let r = &t.report;
            for (reason, n) in [
                ("full", r.rejected_full),
                ("timeout", r.timed_out),
                ("closed", r.rejected_closed),
                ("invalid_partition", r.invalid_partition),
                ("invalid", r.invalid),
                ("would_deadlock", r.would_deadlock),
            ] {
                e.sample(
                    "veltrix_refused_total",
                    &[("topic", &r.name), ("reason", reason)],
                    n as f64,
                );
            }
        }
        e.family(
            "veltrix_dropped_total",
            "counter",
            "Events dropped by the DropNewest full-ring policy.",
        );
        for t in &self.topics {
            e.sample(
                "veltrix_dropped_total",
                &[("topic", &t.report.name)],
                t.report.dropped_full as f64,
            );
        }
        let group_counters: [GroupCounter; 6] = [
            (
                "veltrix_handled_total",
                "Events a group's listener handled successfully.",
                |g| g.handled,
            ),
            (
                "veltrix_failures_total",
                "Failed listener attempts (errors and panics).",
                |g| g.failures,
            ),
            (
                "veltrix_retried_total",
                "Attempts scheduled again after a failure.",
                |g| g.retried,
            ),
            (
                "veltrix_dead_lettered_total",
                "Events sent to the dead-letter topic.",
                |g| g.dead_lettered,
            ),
            (
                "veltrix_skipped_total",
                "Events skipped after failing every attempt.",
                |g| g.skipped,
            ),
            (
                "veltrix_deduplicated_total",
                "Events not delivered: id inside the de-dup window.",
                |g| g.deduplicated,
            ),
        ];
        for (name, help, value) in group_counters {
            e.family(name, "counter", help);
            for g in &self.groups {
                let r = &g.report;
                e.sample(
                    name,
                    &[("group", &r.name), ("topic", &r.topic)],
                    value(r) as f64,
                );
            }
        }
        e.family(
            "veltrix_lag",
            "gauge",
            "Events of a partition a group has not consumed (records-lag).",
        );
        for g in &self.groups {
            for l in &g.lag {
                let partition = l.partition.to_string();
                e.sample(
                    "veltrix_lag",
                    &[
                        ("group", &g.report.name),
                        ("topic", &g.report.topic),
                        ("partition", &partition),
                    ],
                    l.lag as f64,
                );
            }
        }
        let per_group: [GroupFamily; 5] = [
            (
                "veltrix_lag_max",
                "gauge",
                "Largest partition lag of a group (records-lag-max).",
                |g| g.lag_max as f64,
            ),
            (
                "veltrix_halted_partitions",
                "gauge",
                "Partitions a group stopped reading (failure policy Halt).",
                |g| g.report.halted.len() as f64,
            ),
            (
                "veltrix_stuck_workers",
                "gauge",
                "Workers a shutdown deadline left inside their listener.",
                |g| g.report.stuck.len() as f64,
            ),
            (
                "veltrix_polls_total",
                "counter",
                "Poll calls of a poll-mode group.",
                |g| g.polls as f64,
            ),
            (
                "veltrix_polls_budget_exhausted_total",
                "counter",
                "Poll calls that used their whole budget and left events behind.",
                |g| g.polls_budget_exhausted as f64,
            ),
        ];
        for (name, kind, help, value) in per_group {
            e.family(name, kind, help);
            for g in &self.groups {
                let labels = [
                    ("group", g.report.name.as_str()),
                    ("topic", g.report.topic.as_str()),
                ];
                e.sample(name, &labels, value(g));
            }
        }
        for (name, help, pick) in [
            (
                "veltrix_event_latency_seconds",
                "Time from publish to the start of handling.",
                (|g| g.latency) as fn(&super::GroupMetrics) -> Option<LatencySummary>,
            ),
            (
                "veltrix_handler_duration_seconds",
                "Time spent inside the listener's on_event.",
                |g| g.handler,
            ),
        ] {
            e.family(name, "summary", help);
            for g in &self.groups {
                let Some(s) = pick(g) else { continue };
                let (group, topic) = (g.report.name.as_str(), g.report.topic.as_str());
                for (q, v) in [
                    ("0.5", s.p50),
                    ("0.9", s.p90),
                    ("0.99", s.p99),
                    ("0.999", s.p999),
                ] {
                    e.sample(
                        name,
                        &[("group", group), ("topic", topic), ("quantile", q)],
                        v as f64 / 1e9,
                    );
                }
                let labels = [("group", group), ("topic", topic)];
                e.sample(
                    &format!("{name}_sum"),
                    &labels,
                    s.mean * s.count as f64 / 1e9,
                );
                e.sample(&format!("{name}_count"), &labels, s.count as f64);
            }
        }
        e.out
    }
}
