//! The rules every option value must follow, in one place.
//!
//! Both ways of describing an engine run these same functions: the builder
//! ([`EngineBuilder::build`](crate::EngineBuilder::build), which turns each
//! error into a [`BuildError::InvalidSetting`](crate::BuildError)) and the
//! configuration checker (`config::Config::validate`, which turns each
//! finding into a `Diagnostic` at its path in the file). A rule, its limit
//! and its wording therefore cannot drift between the two.
//!
//! Rules about one topic or one group live here, and the rules of stage
//! dependencies ([`stages`]), which need only names and topics, which both
//! paths know. Other rules across items (a group's topic exists and
//! carries its event type, names are unique) depend on what each path
//! knows — event types in code, names and positions in a file — and stay
//! with it; the memory budget, which needs the event types' sizes, is the
//! builder's.

use std::fmt;
use std::time::Duration;

use crate::group::{Exhausted, GroupMode, GroupOptions, LagPolicy, Retries, MAX_BACKOFF};
use crate::topic::{FullPolicy, PartitionerKind};

/// Whether a finding stops the engine from being built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum Severity {
    /// The configuration is invalid; nothing is built.
    Error,
    /// The configuration works but probably not as meant (idle workers, a
    /// setting that can never take effect). Reported separately; never
    /// stops a build.
    Warning,
}

/// Which rule a finding is about. Stable, for tools that filter or count
/// findings; the text of a finding is for people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum Rule {
    /// A key the schema does not know (a typo, usually: the fix suggests the
    /// closest known key).
    UnknownKey,
    /// A key given twice in one table.
    DuplicateKey,
    /// A required key is missing (`name`, a group's `topic`).
    MissingKey,
    /// A value of the wrong type (a string where a number belongs, …).
    WrongType,
    /// A name that is not one of the allowed choices (`full_policy = "blok"`).
    UnknownVariant,
    /// A number outside its valid range.
    OutOfRange,
    /// A ring capacity that is not a power of two.
    NotPowerOfTwo,
    /// A duration string that cannot be read (`"5 sec"`).
    InvalidDuration,
    /// An empty topic or group name.
    EmptyName,
    /// A name a thread name or a metric label cannot carry: a control
    /// character (such as NUL or a newline), or longer than
    /// [`MAX_NAME_BYTES`].
    InvalidName,
    /// Two topics, or two groups, with one name.
    DuplicateName,
    /// A group subscribed to a topic that is not declared.
    UnknownTopic,
    /// A group's dead-letter topic is not declared.
    MissingDeadLetterTopic,
    /// A group dead-letters into the topic it reads.
    DeadLetterLoop,
    /// A topic no group reads.
    TopicWithoutGroup,
    /// `retries = "forever"` with a zero initial backoff.
    RetryWithoutBackoff,
    /// A backoff whose `max` is below its `initial`.
    BackoffMaxBelowInitial,
    /// What the engine would allocate is over its memory budget.
    OverBudget,
    /// A group runs after (`after`) a group that is not declared.
    UnknownStage,
    /// A group runs after a group of another topic: stages share one
    /// topic's ring.
    StageOnOtherTopic,
    /// A group runs after itself, directly or through other groups.
    StageCycle,
    /// A lossy group ([`LagPolicy::Lossy`](crate::LagPolicy::Lossy)) takes
    /// part in stage dependencies: it would skip events its later stages
    /// wait for, or see events before its upstream.
    LossyStage,
    /// Latency histogram bucket bounds that are empty, too many, zero or
    /// not increasing.
    BucketBounds,
    /// Warning: more workers than the topic has partitions.
    IdleWorkers,
    /// Warning: `on_exhausted` is set but `retries = "forever"` never
    /// exhausts.
    UnreachableExhausted,
    /// Warning: `block_timeout` of zero: every full publish times out at
    /// once.
    ZeroTimeout,
}

/// The longest topic or group name, in bytes: names become thread names
/// (`veltrix-<group>-<worker>`) and metric label values.
pub const MAX_NAME_BYTES: usize = 255;

/// The most worker threads one group may have. Workers beyond the topic's
/// partition count sit idle (a partition has one worker at a time), and
/// each is an operating-system thread.
pub const MAX_WORKERS: usize = 1024;

/// The most groups that may subscribe to one topic while the engine runs
/// ([`TopicOptions::spare_groups`](crate::TopicOptions::spare_groups)):
/// every producer's gate looks at each slot.
pub const MAX_SPARE_GROUPS: usize = 64;

/// The most partitions one topic may have.
pub const MAX_PARTITIONS: u32 = 1 << 20;

/// One broken rule (or a warning) about one setting of one topic or group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Finding {
    pub(crate) severity: Severity,
    pub(crate) rule: Rule,
    /// The setting, relative to its topic or group: `partitions`,
    /// `mode.workers`, `failure.backoff.max`.
    pub(crate) field: &'static str,
    /// The offending value, as a file would write it.
    pub(crate) value: Option<String>,
    /// What is wrong, stated as the rule it breaks.
    pub(crate) message: String,
    /// What would be right.
    pub(crate) fix: String,
}

impl Finding {
    fn error(rule: Rule, field: &'static str, message: impl Into<String>) -> Self {
        Finding {
            severity: Severity::Error,
            rule,
            field,
            value: None,
            message: message.into(),
            fix: String::new(),
        }
    }

    fn warning(rule: Rule, field: &'static str, message: impl Into<String>) -> Self {
        Finding {
            severity: Severity::Warning,
            ..Finding::error(rule, field, message)
        }
    }

    fn value(mut self, value: impl fmt::Display) -> Self {
        self.value = Some(value.to_string());
        self
    }

    fn fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = fix.into();
        self
    }

    /// Whether this stops a build.
    pub(crate) fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// The settings of one topic that its own rules look at.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TopicValues<'a> {
    pub(crate) name: &'a str,
    pub(crate) partitions: u32,
    pub(crate) capacity: usize,
    /// The built-in partitioner, when the topic uses one (not a key or a
    /// partitioner of the host's own).
    pub(crate) partitioner: Option<PartitionerKind>,
    pub(crate) dedup_window: Option<usize>,
    pub(crate) full_policy: FullPolicy,
    pub(crate) spare_groups: usize,
}

/// A name as a file writes it.
fn quoted(s: &str) -> String {
    format!("{s:?}")
}

/// A duration as a file writes it: `"5ms"`.
fn duration(d: Duration) -> String {
    quoted(&crate::duration::format(d))
}

/// The rules of the latency histogram's bucket bounds
/// (`EngineBuilder::latency_buckets`).
pub(crate) fn latency_buckets(bounds: &[Duration], out: &mut Vec<Finding>) {
    use crate::metrics::MAX_LATENCY_BUCKETS;
    let list = || {
        let shown: Vec<String> = bounds.iter().take(8).map(|d| duration(*d)).collect();
        let more = if bounds.len() > 8 { ", …" } else { "" };
        format!("[{}{more}]", shown.join(", "))
    };
    let fix = "give 1 to 64 increasing bounds above zero, e.g. [\"10us\", \"1ms\", \"100ms\"] (the default is 1-2-5 per decade from 1us to 10s)";
    let message = if bounds.is_empty() {
        "a latency histogram needs at least one bucket bound besides +Inf".to_owned()
    } else if bounds.len() > MAX_LATENCY_BUCKETS {
        format!(
            "{} bucket bounds, more than {MAX_LATENCY_BUCKETS}: each is a time series per group",
            bounds.len()
        )
    } else if bounds[0].is_zero() {
        "a bucket bound of zero holds no latency (every value is at least 1 ns)".to_owned()
    } else if let Some(w) = bounds.windows(2).find(|w| w[0] >= w[1]) {
        format!(
            "bucket bounds must increase, but {} comes after {}",
            duration(w[1]),
            duration(w[0])
        )
    } else {
        return;
    };
    out.push(
        Finding::error(Rule::BucketBounds, "latency_buckets", message)
            .value(list())
            .fix(fix),
    );
}

/// Shortest stall threshold: under it, ordinary events would be reported.
pub(crate) const MIN_STALL_THRESHOLD: Duration = Duration::from_millis(1);

/// The rule of the engine's stall threshold (`None`, not watched, is fine).
pub(crate) fn stall_threshold(threshold: Option<Duration>, out: &mut Vec<Finding>) {
    let Some(threshold) = threshold.filter(|t| *t < MIN_STALL_THRESHOLD) else {
        return;
    };
    out.push(
        Finding::error(
            Rule::OutOfRange,
            "stall_threshold",
            format!(
                "a stall threshold under {} would report ordinary events as stalled",
                duration(MIN_STALL_THRESHOLD)
            ),
        )
        .value(duration(threshold))
        .fix(
            "give a threshold of at least 1ms (the default is 10s), or None to turn the watch off",
        ),
    );
}

/// The rules of a topic or group name.
pub(crate) fn name(what: &str, name: &str, out: &mut Vec<Finding>) {
    if name.is_empty() {
        out.push(
            Finding::error(Rule::EmptyName, "name", format!("a {what} needs a name"))
                .value("\"\"")
                .fix(format!(
                    "give it a unique name, e.g. name = \"{}\"",
                    example(what)
                )),
        );
    } else if name.len() > MAX_NAME_BYTES {
        out.push(
            Finding::error(
                Rule::InvalidName,
                "name",
                format!(
                    "a {what} name is {} bytes long; at most {MAX_NAME_BYTES} fit in thread names and metric labels",
                    name.len()
                ),
            )
            .fix(format!("use a name of at most {MAX_NAME_BYTES} bytes")),
        );
    } else if let Some(c) = name.chars().find(|c| c.is_control()) {
        out.push(
            Finding::error(
                Rule::InvalidName,
                "name",
                format!(
                    "a {what} name cannot hold the control character {c:?}: names become thread names and metric labels"
                ),
            )
            .value(quoted(name))
            .fix("use printable characters only, e.g. letters, digits, '.', '-' and '_'"),
        );
    }
}

fn example(what: &str) -> &'static str {
    if what == "topic" {
        "orders"
    } else {
        "billing"
    }
}

/// Every rule about one topic's own settings.
pub(crate) fn topic(t: &TopicValues<'_>, out: &mut Vec<Finding>) {
    name("topic", t.name, out);
    if t.partitions == 0 || t.partitions > MAX_PARTITIONS {
        out.push(
            Finding::error(
                Rule::OutOfRange,
                "partitions",
                format!("a topic has from 1 to {MAX_PARTITIONS} partitions"),
            )
            .value(t.partitions)
            .fix(format!(
                "use partitions = 1 or more, up to {MAX_PARTITIONS}"
            )),
        );
    }
    if t.spare_groups > MAX_SPARE_GROUPS {
        out.push(
            Finding::error(
                Rule::OutOfRange,
                "spare_groups",
                format!("a topic has at most {MAX_SPARE_GROUPS} spare group slots"),
            )
            .value(t.spare_groups)
            .fix(format!(
                "use spare_groups = 0 (the default) up to {MAX_SPARE_GROUPS}"
            )),
        );
    }
    if !t.capacity.is_power_of_two() {
        let fix = match (t.capacity, t.capacity.checked_next_power_of_two()) {
            (0, _) => "use 1024 (the default) or another power of two".to_owned(),
            (_, Some(up)) => format!("use {up} (or {})", up / 2),
            (_, None) => format!("use {}", 1usize << (usize::BITS - 1)),
        };
        out.push(
            Finding::error(
                Rule::NotPowerOfTwo,
                "capacity",
                format!("capacity {} is not a power of two", t.capacity),
            )
            .value(t.capacity)
            .fix(fix),
        );
    }
    match t.partitioner {
        Some(PartitionerKind::Sticky { linger: 0 }) => out.push(
            Finding::error(
                Rule::OutOfRange,
                "partitioner.sticky.linger",
                "linger must be at least 1 event",
            )
            .value(0)
            .fix("use linger = 1 or more (e.g. 16)"),
        ),
        Some(PartitionerKind::Fixed { partition })
            if t.partitions > 0 && partition >= t.partitions =>
        {
            out.push(
                Finding::error(
                    Rule::OutOfRange,
                    "partitioner.fixed.partition",
                    format!(
                        "partition {partition} does not exist: the topic has {} partitions",
                        t.partitions
                    ),
                )
                .value(partition)
                .fix(format!(
                    "use a partition from 0 to {}, or raise partitions to {}",
                    t.partitions - 1,
                    u64::from(partition) + 1
                )),
            );
        }
        _ => {}
    }
    if t.dedup_window == Some(0) {
        out.push(
            Finding::error(
                Rule::OutOfRange,
                "dedup_window",
                "a window of 0 ids would remember nothing",
            )
            .value(0)
            .fix("use 1 or more (e.g. 1024), or remove dedup_window to turn de-duplication off"),
        );
    }
    if t.full_policy == FullPolicy::BlockTimeout(Duration::ZERO) {
        out.push(
            Finding::warning(
                Rule::ZeroTimeout,
                "full_policy.block_timeout",
                "a zero timeout makes every publish to a full partition fail at once",
            )
            .value("\"0s\"")
            .fix("use full_policy = \"reject\" for that, or a timeout such as \"10ms\""),
        );
    }
}

/// Every rule about one group's own settings.
pub(crate) fn group(group_name: &str, o: &GroupOptions, out: &mut Vec<Finding>) {
    name("group", group_name, out);
    if let GroupMode::Workers(workers) = o.mode {
        if workers == 0 || workers > MAX_WORKERS {
            out.push(
                Finding::error(
                    Rule::OutOfRange,
                    "mode.workers",
                    format!("a threaded group has from 1 to {MAX_WORKERS} workers"),
                )
                .value(workers)
                .fix(format!(
                    "use mode = {{ workers = 1 }} or more, up to {MAX_WORKERS} (one per partition at most does work), or mode = \"poll\" for a group the host drives"
                )),
            );
        }
    }
    if let Some(max) = o.max_workers {
        match o.mode {
            GroupMode::Poll => out.push(
                Finding::error(
                    Rule::OutOfRange,
                    "max_workers",
                    "a poll-mode group has no workers to scale",
                )
                .value(max)
                .fix("remove max_workers, or use mode = { workers = n } for a threaded group"),
            ),
            GroupMode::Workers(workers) if max < workers || max > MAX_WORKERS => out.push(
                Finding::error(
                    Rule::OutOfRange,
                    "max_workers",
                    format!(
                        "max_workers is at least the group's initial {workers} workers and at most {MAX_WORKERS}"
                    ),
                )
                .value(max)
                .fix(format!(
                    "use max_workers = {} or more, up to {MAX_WORKERS}, or remove it (the default is the initial count)",
                    workers.max(1)
                )),
            ),
            GroupMode::Workers(_) => {}
        }
    }
    if o.lag == LagPolicy::Lossy(0) {
        out.push(
            Finding::error(
                Rule::OutOfRange,
                "lag.lossy",
                "a lossy group stays at most this many events behind, and at least 1",
            )
            .value(0)
            .fix("use lag = { lossy = 1 } or more (the topic's capacity laps only as producers need room)"),
        );
    }
    if o.max_batch == 0 {
        out.push(
            Finding::error(
                Rule::OutOfRange,
                "max_batch",
                "a batch holds at least 1 event",
            )
            .value(0)
            .fix("use 1 or more (the default is 256)"),
        );
    }
    let backoff = &o.failure.backoff;
    if backoff.multiplier == 0 {
        out.push(
            Finding::error(
                Rule::OutOfRange,
                "failure.backoff.multiplier",
                "the multiplier must be at least 1",
            )
            .value(0)
            .fix("use 1 for a constant wait, 2 to double it after each retry"),
        );
    }
    for (field, value) in [
        ("failure.backoff.initial", backoff.initial),
        ("failure.backoff.max", backoff.max),
    ] {
        if value > MAX_BACKOFF {
            out.push(
                Finding::error(
                    Rule::OutOfRange,
                    field,
                    format!(
                        "a backoff waits at most {}: a partition held longer is stuck, not backing off",
                        duration(MAX_BACKOFF)
                    ),
                )
                .value(duration(value))
                .fix(format!(
                    "use a wait of at most {}, or on_exhausted = \"halt\" to stop the partition",
                    duration(MAX_BACKOFF)
                )),
            );
        }
    }
    if backoff.max < backoff.initial {
        out.push(
            Finding::error(
                Rule::BackoffMaxBelowInitial,
                "failure.backoff.max",
                format!(
                    "max is below initial ({}), so the backoff could never grow",
                    duration(backoff.initial)
                ),
            )
            .value(duration(backoff.max))
            .fix(format!("set max to at least {}", duration(backoff.initial))),
        );
    }
    if o.failure.retries == Retries::Forever && backoff.initial.is_zero() {
        out.push(
            Finding::error(
                Rule::RetryWithoutBackoff,
                "failure.backoff.initial",
                "retries = \"forever\" with no wait would spin a core on a failing event",
            )
            .value("\"0s\"")
            .fix("set initial to a wait such as \"1ms\", or retries to a count"),
        );
    }
    if o.failure.retries == Retries::Forever && o.failure.exhausted != Exhausted::Skip {
        out.push(
            Finding::warning(
                Rule::UnreachableExhausted,
                "failure.on_exhausted",
                "never used: retries = \"forever\" never gives up on an event",
            )
            .fix("remove on_exhausted, or set retries to a count"),
        );
    }
}

/// One group as the stage rules see it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StageValues<'a> {
    pub(crate) name: &'a str,
    pub(crate) topic: &'a str,
    /// The groups it runs after ([`GroupOptions::after`]).
    pub(crate) after: &'a [String],
    /// Whether it is lossy ([`LagPolicy::Lossy`]).
    pub(crate) lossy: bool,
}

/// The rules of stage dependencies, across groups: every group a group runs
/// after is declared, reads the same topic, and no chain of them leads back
/// to the group. Each finding comes with the index of its group in
/// `groups` (field `after`).
pub(crate) fn stages(groups: &[StageValues<'_>], out: &mut Vec<(usize, Finding)>) {
    let find = |name: &str| groups.iter().position(|g| g.name == name);
    let peers = |topic: &str, except: &str| -> String {
        let names: Vec<String> = groups
            .iter()
            .filter(|g| g.topic == topic && g.name != except)
            .map(|g| quoted(g.name))
            .collect();
        if names.is_empty() {
            format!("topic {} has no other group", quoted(topic))
        } else {
            format!("groups of topic {}: {}", quoted(topic), names.join(", "))
        }
    };
    for (i, g) in groups.iter().enumerate() {
        for name in g.after {
            let finding = match find(name) {
                None => Finding::error(
                    Rule::UnknownStage,
                    "after",
                    format!("group {} runs after a group that is not declared", quoted(g.name)),
                )
                .fix(format!("name a declared group; {}", peers(g.topic, g.name))),
                Some(j) if j == i => Finding::error(
                    Rule::StageCycle,
                    "after",
                    "a group cannot run after itself: it would wait for its own handling",
                )
                .fix("remove its own name from after"),
                Some(j) if groups[j].topic != g.topic => Finding::error(
                    Rule::StageOnOtherTopic,
                    "after",
                    format!(
                        "group {} reads topic {}, not {}: stages run on one topic's ring",
                        quoted(name),
                        quoted(groups[j].topic),
                        quoted(g.topic)
                    ),
                )
                .fix(format!(
                    "name a group of the same topic ({}), or forward events between topics with a router",
                    peers(g.topic, g.name)
                )),
                Some(j) if g.lossy || groups[j].lossy => Finding::error(
                    Rule::LossyStage,
                    "after",
                    format!(
                        "group {} is lossy: a stage must see every event its upstream handled, and a lossy group skips events",
                        quoted(if g.lossy { g.name } else { name })
                    ),
                )
                .fix("remove the lossy group from the stages, or give it lag = \"backpressure\""),
                Some(_) => continue,
            };
            out.push((i, finding.value(quoted(name))));
        }
        if let Some(cycle) = cycle_through(groups, i) {
            let chain: Vec<&str> = cycle.iter().map(|&k| groups[k].name).collect();
            out.push((
                i,
                Finding::error(
                    Rule::StageCycle,
                    "after",
                    format!(
                        "a cycle of stages: {} — none of them could see an event first",
                        chain.join(" runs after ")
                    ),
                )
                .value(format!("{:?}", g.after))
                .fix("remove one of the names on the cycle"),
            ));
        }
    }
}

/// A chain `i, a, b, …, i` of valid stage edges (same topic, not a group's
/// own name, which `stages` reports on its own), if group `i` lies on a
/// cycle: a depth-first walk, each group visited once.
fn cycle_through(groups: &[StageValues<'_>], i: usize) -> Option<Vec<usize>> {
    let edges = |k: usize| {
        groups[k].after.iter().filter_map(move |name| {
            let j = groups.iter().position(|g| g.name == name)?;
            (j != k && groups[j].topic == groups[k].topic).then_some(j)
        })
    };
    let mut visited = vec![false; groups.len()];
    // The path from `i` to the group on top, each with the edges left.
    let mut path: Vec<(usize, Vec<usize>)> = vec![(i, edges(i).collect())];
    visited[i] = true;
    while let Some((_, next)) = path.last_mut() {
        let Some(j) = next.pop() else {
            path.pop();
            continue;
        };
        if j == i {
            let mut chain: Vec<usize> = path.iter().map(|(k, _)| *k).collect();
            chain.push(i);
            return Some(chain);
        }
        if !visited[j] {
            visited[j] = true;
            path.push((j, edges(j).collect()));
        }
    }
    None
}
