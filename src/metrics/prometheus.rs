//! The Prometheus text exposition format (version 0.0.4).

use std::fmt::Write;

use super::families::{families, histogram_series, Kind, Part, Value};
use super::{LatencySummary, MetricsSnapshot};

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

    /// The samples of one histogram (see [`histogram_series`]).
    fn histogram(&mut self, name: &str, labels: &[(&str, &str)], h: &LatencySummary) {
        histogram_series(name, h, |series, part| match part {
            Part::Bucket { le, count } => {
                let with_le: Vec<(&str, &str)> =
                    labels.iter().copied().chain([("le", le)]).collect();
                self.sample(series, &with_le, count as f64);
            }
            Part::Sum(seconds) => self.sample(series, labels, seconds),
            Part::Count(n) => self.sample(series, labels, n as f64),
        });
    }
}

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
    /// in `_total`; latencies are histograms in seconds (`_bucket` with `le`
    /// at the engine's bounds and `+Inf`, an exact `_sum`, and `_count`, which
    /// counts the timed events: one in
    /// [`latency_sampling`](crate::EngineBuilder::latency_sampling) per
    /// partition). The README lists every family.
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
        for family in families() {
            e.family(family.name, family.kind.prometheus(), family.help);
            family.samples(self, &mut |values, value| {
                let labels: Vec<(&str, &str)> = family
                    .labels()
                    .iter()
                    .copied()
                    .zip(values.iter().copied())
                    .collect();
                match (family.kind, value) {
                    (Kind::Counter | Kind::Gauge, Value::Count(n)) => {
                        e.sample(family.name, &labels, n as f64);
                    }
                    (Kind::Histogram, Value::Latency(h)) => e.histogram(family.name, &labels, h),
                    (kind, value) => {
                        debug_assert!(false, "{}: {kind:?} with {value:?}", family.name);
                    }
                }
            });
        }
        e.out
    }
}
