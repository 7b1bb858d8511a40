//! Every metric family veltrix exports, in one table: name, type, help,
//! labels and how to read its samples from a snapshot. The Prometheus text
//! ([`MetricsSnapshot::to_prometheus`]) and the `metrics` facade
//! (`MetricsSnapshot::record_to_metrics`) both walk this table, so the two
//! cannot export different families; a test checks that the README's table
//! lists each one.

use super::{GroupMetrics, LatencySummary, MetricsSnapshot, PartitionMetrics, TopicMetrics};

/// What kind of metric a family is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Only grows (while the engine lives).
    Counter,
    /// Goes up and down.
    Gauge,
    /// Cumulative buckets, `_sum` and `_count`, in seconds.
    Histogram,
}

impl Kind {
    /// The Prometheus `# TYPE` of the family.
    pub(crate) fn prometheus(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// One sample's value.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Value<'a> {
    /// A count (counters, and gauges that count things).
    Count(u64),
    /// A latency histogram (nanoseconds inside).
    Latency(&'a LatencySummary),
}

/// Where a family's samples go: label values (in the order of the family's
/// `labels()`) and the value.
pub(crate) type Emit<'e> = dyn FnMut(&[&str], Value<'_>) + 'e;

/// One metric family.
pub(crate) struct Family {
    /// Full name, `veltrix_` prefixed; counters end in `_total`.
    pub(crate) name: &'static str,
    pub(crate) kind: Kind,
    pub(crate) help: &'static str,
    source: Source,
}

/// Where a family's samples come from.
enum Source {
    /// One count per topic, labelled `topic`.
    PerTopic(fn(&TopicMetrics) -> u64),
    /// One count per partition of each topic, labelled `topic`, `partition`.
    PerPartition(fn(&PartitionMetrics) -> u64),
    /// One count per group, labelled `group`, `topic`.
    PerGroup(fn(&GroupMetrics) -> u64),
    /// One histogram per group, labelled `group`, `topic` (none with
    /// metrics off).
    PerGroupLatency(fn(&GroupMetrics) -> Option<&LatencySummary>),
    /// Any other shape: its label names, and what emits its samples.
    Custom(&'static [&'static str], fn(&MetricsSnapshot, &mut Emit<'_>)),
    /// One count per partition of each export, labelled `topic`, `stream`,
    /// `partition`.
    #[cfg(feature = "nats")]
    PerExport(fn(&crate::report::ExportFlow) -> u64),
    /// One count per partition of each import, labelled `topic`, `stream`,
    /// `partition`.
    #[cfg(feature = "nats")]
    PerImport(fn(&crate::report::ImportFlow) -> u64),
}

impl Family {
    /// Label names, in the order [`samples`](Self::samples) gives their
    /// values.
    pub(crate) fn labels(&self) -> &'static [&'static str] {
        match self.source {
            Source::PerTopic(_) => &["topic"],
            Source::PerPartition(_) => &["topic", "partition"],
            Source::PerGroup(_) | Source::PerGroupLatency(_) => &["group", "topic"],
            Source::Custom(labels, _) => labels,
            #[cfg(feature = "nats")]
            Source::PerExport(_) | Source::PerImport(_) => &["topic", "stream", "partition"],
        }
    }

    /// Emits every sample of the family in `snapshot`.
    pub(crate) fn samples(&self, snapshot: &MetricsSnapshot, emit: &mut Emit<'_>) {
        match self.source {
            Source::PerTopic(read) => {
                for t in &snapshot.topics {
                    emit(&[&t.report.name], Value::Count(read(t)));
                }
            }
            Source::PerPartition(read) => {
                for t in &snapshot.topics {
                    for p in &t.partitions {
                        let partition = p.partition.to_string();
                        emit(&[&t.report.name, &partition], Value::Count(read(p)));
                    }
                }
            }
            Source::PerGroup(read) => {
                for g in &snapshot.groups {
                    emit(&[&g.report.name, &g.report.topic], Value::Count(read(g)));
                }
            }
            Source::PerGroupLatency(read) => {
                for g in &snapshot.groups {
                    if let Some(h) = read(g) {
                        emit(&[&g.report.name, &g.report.topic], Value::Latency(h));
                    }
                }
            }
            Source::Custom(_, samples) => samples(snapshot, emit),
            #[cfg(feature = "nats")]
            Source::PerExport(read) => {
                for e in &snapshot.exports {
                    for f in &e.partitions {
                        let partition = f.partition.to_string();
                        emit(&[&e.topic, &e.stream, &partition], Value::Count(read(f)));
                    }
                }
            }
            #[cfg(feature = "nats")]
            Source::PerImport(read) => {
                for i in &snapshot.imports {
                    for f in &i.partitions {
                        let partition = f.partition.to_string();
                        emit(&[&i.topic, &i.stream, &partition], Value::Count(read(f)));
                    }
                }
            }
        }
    }
}

/// A family with one count per group.
const fn per_group(
    name: &'static str,
    kind: Kind,
    help: &'static str,
    read: fn(&GroupMetrics) -> u64,
) -> Family {
    Family {
        name,
        kind,
        help,
        source: Source::PerGroup(read),
    }
}

/// A latency histogram family, one histogram per group.
const fn per_group_latency(
    name: &'static str,
    help: &'static str,
    read: fn(&GroupMetrics) -> Option<&LatencySummary>,
) -> Family {
    Family {
        name,
        kind: Kind::Histogram,
        help,
        source: Source::PerGroupLatency(read),
    }
}

/// One series of a histogram, as a Prometheus scrape sees it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Part<'a> {
    /// `<name>_bucket{le}`: values at or below `le` (seconds, or `+Inf`).
    Bucket { le: &'a str, count: u64 },
    /// `<name>_sum`, seconds.
    Sum(f64),
    /// `<name>_count`.
    Count(u64),
}

/// The series of one histogram `h` of family `name`: each cumulative
/// bucket, `+Inf`, `_sum` and `_count`, given to `emit` with their series
/// names. Both renderers expand histograms through this.
pub(crate) fn histogram_series(
    name: &str,
    h: &LatencySummary,
    mut emit: impl FnMut(&str, Part<'_>),
) {
    let bucket = format!("{name}_bucket");
    for b in &h.buckets {
        let le = b.le.as_secs_f64().to_string();
        emit(
            &bucket,
            Part::Bucket {
                le: &le,
                count: b.count,
            },
        );
    }
    emit(
        &bucket,
        Part::Bucket {
            le: "+Inf",
            count: h.count,
        },
    );
    emit(&format!("{name}_sum"), Part::Sum(h.sum as f64 / 1e9));
    emit(&format!("{name}_count"), Part::Count(h.count));
}

/// Every family, in the order they are exported: the engine's, then (with
/// the `nats` feature) the bridge's.
pub(crate) fn families() -> impl Iterator<Item = &'static Family> {
    let engine = FAMILIES.iter();
    #[cfg(feature = "nats")]
    let engine = engine.chain(BRIDGE_FAMILIES);
    engine
}

/// A bridge family: one sample per partition of each export or import.
#[cfg(feature = "nats")]
const fn bridge(name: &'static str, kind: Kind, help: &'static str, source: Source) -> Family {
    Family {
        name,
        kind,
        help,
        source,
    }
}

/// The NATS bridge's families.
#[cfg(feature = "nats")]
const BRIDGE_FAMILIES: &[Family] = &[
    bridge(
        "veltrix_bridge_exported_total",
        Kind::Counter,
        "Events an export took from its topic and sent to JetStream.",
        Source::PerExport(|f| f.exported),
    ),
    bridge(
        "veltrix_bridge_export_acked_total",
        Kind::Counter,
        "Exported events JetStream acknowledged (stored).",
        Source::PerExport(|f| f.acked),
    ),
    bridge(
        "veltrix_bridge_export_in_flight",
        Kind::Gauge,
        "Exported events sent and not yet acknowledged.",
        Source::PerExport(|f| f.in_flight),
    ),
    bridge(
        "veltrix_bridge_export_failed_total",
        Kind::Counter,
        "Events an export gave up on (unencodable, too large, unacknowledged at a shutdown deadline).",
        Source::PerExport(|f| f.failed),
    ),
    bridge(
        "veltrix_bridge_export_resent_total",
        Kind::Counter,
        "Messages sent again after a failed or timed-out acknowledgement.",
        Source::PerExport(|f| f.resent),
    ),
    bridge(
        "veltrix_bridge_received_total",
        Kind::Counter,
        "Messages an import's consumer delivered, redeliveries included.",
        Source::PerImport(|f| f.received),
    ),
    bridge(
        "veltrix_bridge_imported_total",
        Kind::Counter,
        "Events an import published into its local partition.",
        Source::PerImport(|f| f.imported),
    ),
    bridge(
        "veltrix_bridge_import_acked_total",
        Kind::Counter,
        "Imported messages acknowledged to JetStream once every local group consumed them.",
        Source::PerImport(|f| f.acked),
    ),
    bridge(
        "veltrix_bridge_redelivered_total",
        Kind::Counter,
        "Deliveries JetStream marked as redeliveries.",
        Source::PerImport(|f| f.redelivered),
    ),
    bridge(
        "veltrix_bridge_duplicates_total",
        Kind::Counter,
        "Messages an import dropped as copies of events it had imported.",
        Source::PerImport(|f| f.duplicates),
    ),
    bridge(
        "veltrix_bridge_undecodable_total",
        Kind::Counter,
        "Messages an import could not decode or validate (terminated or set aside).",
        Source::PerImport(|f| f.undecodable),
    ),
    bridge(
        "veltrix_bridge_gaps_total",
        Kind::Counter,
        "Holes in an export's order an import passed over after its gap timeout.",
        Source::PerImport(|f| f.gaps),
    ),
];

/// The engine's families, in the order they are exported.
const FAMILIES: &[Family] = &[
    Family {
        name: "veltrix_published_total",
        kind: Kind::Counter,
        help: "Events accepted into a partition.",
        source: Source::PerPartition(|p| p.published),
    },
    Family {
        name: "veltrix_partition_depth",
        kind: Kind::Gauge,
        help: "Events in a partition not yet released by its slowest group.",
        source: Source::PerPartition(|p| p.depth),
    },
    Family {
        name: "veltrix_refused_total",
        kind: Kind::Counter,
        help: "Publishes refused with the event handed back, by reason.",
        source: Source::Custom(&["topic", "reason"], |s, emit| {
            for t in &s.topics {
                for (reason, n) in t.report.refusals() {
                    emit(&[&t.report.name, reason], Value::Count(n));
                }
            }
        }),
    },
    Family {
        name: "veltrix_dropped_total",
        kind: Kind::Counter,
        help: "Events dropped by the DropNewest full-ring policy.",
        source: Source::PerTopic(|t| t.report.dropped_full),
    },
    Family {
        name: "veltrix_event_drop_panics_total",
        kind: Kind::Counter,
        help: "Events of a topic whose Drop panicked (caught and counted).",
        source: Source::PerTopic(|t| t.report.drop_panics),
    },
    per_group(
        "veltrix_handled_total",
        Kind::Counter,
        "Events a group's listener handled successfully.",
        |g| g.report.handled,
    ),
    per_group(
        "veltrix_failures_total",
        Kind::Counter,
        "Failed listener attempts (errors and panics).",
        |g| g.report.failures,
    ),
    per_group(
        "veltrix_retried_total",
        Kind::Counter,
        "Attempts scheduled again after a failure.",
        |g| g.report.retried,
    ),
    per_group(
        "veltrix_dead_lettered_total",
        Kind::Counter,
        "Events sent to the dead-letter topic.",
        |g| g.report.dead_lettered,
    ),
    per_group(
        "veltrix_skipped_total",
        Kind::Counter,
        "Events skipped after failing every attempt.",
        |g| g.report.skipped,
    ),
    per_group(
        "veltrix_deduplicated_total",
        Kind::Counter,
        "Events not delivered: id inside the de-dup window.",
        |g| g.report.deduplicated,
    ),
    per_group(
        "veltrix_lagged_total",
        Kind::Counter,
        "Events a lossy group skipped, having fallen too far behind.",
        |g| g.report.lagged,
    ),
    Family {
        name: "veltrix_lag",
        kind: Kind::Gauge,
        help: "Events of a partition a group has not consumed (records-lag).",
        source: Source::Custom(&["group", "topic", "partition"], |s, emit| {
            for g in &s.groups {
                for l in &g.lag {
                    let partition = l.partition.to_string();
                    emit(
                        &[&g.report.name, &g.report.topic, &partition],
                        Value::Count(l.lag),
                    );
                }
            }
        }),
    },
    per_group(
        "veltrix_lag_max",
        Kind::Gauge,
        "Largest partition lag of a group (records-lag-max).",
        |g| g.lag_max,
    ),
    per_group(
        "veltrix_halted_partitions",
        Kind::Gauge,
        "Partitions a group stopped reading (failure policy Halt).",
        |g| g.report.halted.len() as u64,
    ),
    per_group(
        "veltrix_stuck_workers",
        Kind::Gauge,
        "Workers a shutdown deadline left inside their listener.",
        |g| g.report.stuck.len() as u64,
    ),
    per_group(
        "veltrix_stalled_listeners",
        Kind::Gauge,
        "Listeners inside one event for at least the engine's stall threshold.",
        |g| g.report.stalled.len() as u64,
    ),
    per_group(
        "veltrix_polls_total",
        Kind::Counter,
        "Poll calls of a poll-mode group.",
        |g| g.polls,
    ),
    per_group(
        "veltrix_polls_budget_exhausted_total",
        Kind::Counter,
        "Poll calls cut off by their event or time budget with events left.",
        |g| g.polls_budget_exhausted,
    ),
    per_group_latency(
        "veltrix_event_latency_seconds",
        "Time from publish to the start of handling, of the timed events: one in latency_sampling per partition (_count counts those, not every handled event).",
        |g| g.latency.as_ref(),
    ),
    per_group_latency(
        "veltrix_handler_duration_seconds",
        "Time inside the listener's on_event, of the timed events: one in latency_sampling per partition (_count counts those, not every handled event).",
        |g| g.handler.as_ref(),
    ),
];
