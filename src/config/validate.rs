//! The rules a configuration must follow, checked all at once: value ranges
//! of each topic and group, then cross-references between them. Each
//! finding names the path, the value, the rule and a fix.

use std::collections::HashMap;

use super::diagnostic::{Diagnostic, Diagnostics, Rule};
use super::model::{Config, GroupConfig, Partitioning, TopicConfig};
use super::read::join;
use super::suggest::did_you_mean;
use crate::{Exhausted, FullPolicy, GroupMode, Retries};

/// Whether the value at a path could not be read (so rules depending on it
/// are skipped rather than reporting a follow-up error).
pub(crate) type Poisoned<'a> = &'a dyn Fn(&str) -> bool;

impl Config {
    /// Checks every rule and returns every finding: errors (which
    /// [`bind`](Self::bind) refuses) and, separately, warnings. A
    /// configuration read from a file has already passed; one built in code
    /// is checked here and again by `bind`.
    ///
    /// The rules, with their [`Rule`] codes: names non-empty
    /// ([`EmptyName`](Rule::EmptyName)) and unique
    /// ([`DuplicateName`](Rule::DuplicateName)); `partitions >= 1`,
    /// `sticky.linger >= 1`, `fixed.partition < partitions`,
    /// `dedup_window >= 1`, `workers >= 1`, `max_batch >= 1`,
    /// `backoff.multiplier >= 1` ([`OutOfRange`](Rule::OutOfRange));
    /// capacity a power of two ([`NotPowerOfTwo`](Rule::NotPowerOfTwo));
    /// `backoff.max >= backoff.initial`; no `retries = "forever"` without
    /// backoff; every group's topic and dead-letter topic declared, and not
    /// the same; every topic read by some group. Warnings: more workers than
    /// partitions, an `on_exhausted` that `retries = "forever"` never
    /// reaches, a zero `block_timeout`.
    #[must_use]
    pub fn validate(&self) -> Diagnostics {
        Diagnostics::from_list(check(self, &|_| false))
    }
}

/// A topic or a group, checkable on its own.
pub(crate) trait Item {
    fn check(&self, path: &str, poisoned: Poisoned<'_>, out: &mut Vec<Diagnostic>);
}

impl Item for TopicConfig {
    fn check(&self, path: &str, poisoned: Poisoned<'_>, out: &mut Vec<Diagnostic>) {
        topic(self, path, poisoned, out);
    }
}

impl Item for GroupConfig {
    fn check(&self, path: &str, _poisoned: Poisoned<'_>, out: &mut Vec<Diagnostic>) {
        group(self, path, out);
    }
}

/// Every rule over a whole configuration.
pub(crate) fn check(config: &Config, poisoned: Poisoned<'_>) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for (i, t) in config.topics.iter().enumerate() {
        topic(t, &format!("topics[{i}]"), poisoned, &mut out);
    }
    for (i, g) in config.groups.iter().enumerate() {
        group(g, &format!("groups[{i}]"), &mut out);
    }
    cross_references(config, poisoned, &mut out);
    out
}

fn quoted(s: &str) -> String {
    format!("{s:?}")
}

fn topic(t: &TopicConfig, path: &str, poisoned: Poisoned<'_>, out: &mut Vec<Diagnostic>) {
    if t.name.is_empty() {
        out.push(
            Diagnostic::error(Rule::EmptyName, join(path, "name"), "a topic needs a name")
                .value("\"\"")
                .fix("give it a unique name, e.g. name = \"orders\""),
        );
    }
    if t.partitions == 0 {
        out.push(
            Diagnostic::error(
                Rule::OutOfRange,
                join(path, "partitions"),
                "a topic needs at least 1 partition",
            )
            .value(0)
            .fix("use partitions = 1 or more"),
        );
    }
    if !t.capacity.is_power_of_two() {
        let fix = match (t.capacity, t.capacity.checked_next_power_of_two()) {
            (0, _) => "use 1024 (the default) or another power of two".to_owned(),
            (_, Some(up)) if up / 2 >= 1 => format!("use {up} (or {})", up / 2),
            (_, Some(up)) => format!("use {up}"),
            (_, None) => format!("use {}", 1usize << (usize::BITS - 1)),
        };
        out.push(
            Diagnostic::error(
                Rule::NotPowerOfTwo,
                join(path, "capacity"),
                format!("capacity {} is not a power of two", t.capacity),
            )
            .value(t.capacity)
            .fix(fix),
        );
    }
    let partitioner = join(path, "partitioner");
    match t.partitioner {
        Partitioning::Sticky { linger: 0 } => out.push(
            Diagnostic::error(
                Rule::OutOfRange,
                join(&partitioner, "sticky.linger"),
                "linger must be at least 1 event",
            )
            .value(0)
            .fix("use linger = 1 or more (e.g. 16)"),
        ),
        Partitioning::Fixed { partition }
            if t.partitions > 0
                && partition >= t.partitions
                && !poisoned(&join(path, "partitions")) =>
        {
            out.push(
                Diagnostic::error(
                    Rule::OutOfRange,
                    join(&partitioner, "fixed.partition"),
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
            Diagnostic::error(
                Rule::OutOfRange,
                join(path, "dedup_window"),
                "a window of 0 ids would remember nothing",
            )
            .value(0)
            .fix("use 1 or more (e.g. 1024), or remove dedup_window to turn de-duplication off"),
        );
    }
    if t.full_policy == FullPolicy::BlockTimeout(std::time::Duration::ZERO) {
        out.push(
            Diagnostic::warning(
                Rule::ZeroTimeout,
                join(path, "full_policy.block_timeout"),
                "a zero timeout makes every publish to a full partition fail at once",
            )
            .value("\"0s\"")
            .fix("use full_policy = \"reject\" for that, or a timeout such as \"10ms\""),
        );
    }
}

fn group(g: &GroupConfig, path: &str, out: &mut Vec<Diagnostic>) {
    if g.name.is_empty() {
        out.push(
            Diagnostic::error(Rule::EmptyName, join(path, "name"), "a group needs a name")
                .value("\"\"")
                .fix("give it a unique name, e.g. name = \"billing\""),
        );
    }
    let o = &g.options;
    if o.mode == GroupMode::Workers(0) {
        out.push(
            Diagnostic::error(
                Rule::OutOfRange,
                join(path, "mode.workers"),
                "a threaded group needs at least 1 worker",
            )
            .value(0)
            .fix("use mode = { workers = 1 } or more, or mode = \"poll\" for a group the host drives"),
        );
    }
    if o.max_batch == 0 {
        out.push(
            Diagnostic::error(
                Rule::OutOfRange,
                join(path, "max_batch"),
                "a batch holds at least 1 event",
            )
            .value(0)
            .fix("use 1 or more (the default is 256)"),
        );
    }
    let failure = join(path, "failure");
    let backoff = &o.failure.backoff;
    if backoff.multiplier == 0 {
        out.push(
            Diagnostic::error(
                Rule::OutOfRange,
                join(&failure, "backoff.multiplier"),
                "the multiplier must be at least 1",
            )
            .value(0)
            .fix("use 1 for a constant wait, 2 to double it after each retry"),
        );
    }
    if backoff.max < backoff.initial {
        out.push(
            Diagnostic::error(
                Rule::BackoffMaxBelowInitial,
                join(&failure, "backoff.max"),
                format!(
                    "max is below initial ({}), so the backoff could never grow",
                    quoted(&crate::duration::format(backoff.initial))
                ),
            )
            .value(quoted(&crate::duration::format(backoff.max)))
            .fix(format!(
                "set max to at least {}",
                quoted(&crate::duration::format(backoff.initial))
            )),
        );
    }
    if o.failure.retries == Retries::Forever && backoff.initial.is_zero() {
        out.push(
            Diagnostic::error(
                Rule::RetryWithoutBackoff,
                join(&failure, "backoff.initial"),
                "retries = \"forever\" with no wait would spin a core on a failing event",
            )
            .value("\"0s\"")
            .fix("set initial to a wait such as \"1ms\", or retries to a count"),
        );
    }
    if o.failure.retries == Retries::Forever && o.failure.exhausted != Exhausted::Skip {
        out.push(
            Diagnostic::warning(
                Rule::UnreachableExhausted,
                join(&failure, "on_exhausted"),
                "never used: retries = \"forever\" never gives up on an event",
            )
            .fix("remove on_exhausted, or set retries to a count"),
        );
    }
}

fn cross_references(config: &Config, poisoned: Poisoned<'_>, out: &mut Vec<Diagnostic>) {
    let topic_name_ok = |i: usize| !poisoned(&format!("topics[{i}].name"));
    let group_topic_ok = |i: usize| !poisoned(&format!("groups[{i}].topic"));
    let all_topic_names_ok = !poisoned("topics") && (0..config.topics.len()).all(topic_name_ok);
    let all_group_topics_ok = !poisoned("groups") && (0..config.groups.len()).all(group_topic_ok);

    // Names are unique.
    let mut first: HashMap<&str, usize> = HashMap::new();
    for (i, t) in config.topics.iter().enumerate() {
        if t.name.is_empty() || !topic_name_ok(i) {
            continue;
        }
        if let Some(&j) = first.get(t.name.as_str()) {
            out.push(
                Diagnostic::error(
                    Rule::DuplicateName,
                    format!("topics[{i}].name"),
                    format!(
                        "topic {} is already declared at topics[{j}]",
                        quoted(&t.name)
                    ),
                )
                .value(quoted(&t.name))
                .fix("give each topic its own name"),
            );
        } else {
            first.insert(&t.name, i);
        }
    }
    let mut first: HashMap<&str, usize> = HashMap::new();
    for (i, g) in config.groups.iter().enumerate() {
        if g.name.is_empty() || poisoned(&format!("groups[{i}].name")) {
            continue;
        }
        if let Some(&j) = first.get(g.name.as_str()) {
            out.push(
                Diagnostic::error(
                    Rule::DuplicateName,
                    format!("groups[{i}].name"),
                    format!(
                        "group {} is already declared at groups[{j}]",
                        quoted(&g.name)
                    ),
                )
                .value(quoted(&g.name))
                .fix("give each group its own name"),
            );
        } else {
            first.insert(&g.name, i);
        }
    }
    if !all_topic_names_ok {
        // The set of topics is uncertain: lookups would report phantoms.
        return;
    }

    let names: Vec<&str> = config.topics.iter().map(|t| t.name.as_str()).collect();
    let unknown_fix = |name: &str, declare: &str| match did_you_mean(name, names.iter().copied()) {
        Some(close) => format!(
            "did you mean {}? declared topics: {}",
            quoted(close),
            names.join(", ")
        ),
        None if names.is_empty() => format!("declare it: [[topics]] name = {}", quoted(name)),
        None => format!(
            "declare it{declare}: [[topics]] name = {}; declared topics: {}",
            quoted(name),
            names.join(", ")
        ),
    };
    for (i, g) in config.groups.iter().enumerate() {
        let path = format!("groups[{i}]");
        let topic = config.find_topic(&g.topic);
        if topic.is_none() && group_topic_ok(i) {
            out.push(
                Diagnostic::error(
                    Rule::UnknownTopic,
                    join(&path, "topic"),
                    format!(
                        "group {} reads a topic that is not declared",
                        quoted(&g.name)
                    ),
                )
                .value(quoted(&g.topic))
                .fix(unknown_fix(&g.topic, "")),
            );
        }
        if let Exhausted::DeadLetter { topic: dlq } = &g.options.failure.exhausted {
            let dlq_path = join(&path, "failure.on_exhausted.dead_letter");
            if config.find_topic(dlq).is_none() {
                out.push(
                    Diagnostic::error(
                        Rule::MissingDeadLetterTopic,
                        dlq_path,
                        "the dead-letter topic is not declared",
                    )
                    .value(quoted(dlq))
                    .fix(unknown_fix(
                        dlq,
                        " (and bind it with dead_letter_topic::<E>)",
                    )),
                );
            } else if *dlq == g.topic {
                out.push(
                    Diagnostic::error(
                        Rule::DeadLetterLoop,
                        dlq_path,
                        "a group cannot dead-letter into the topic it reads: failed events would come back to it",
                    )
                    .value(quoted(dlq))
                    .fix(format!(
                        "declare a separate topic, e.g. {}",
                        quoted(&format!("{}.dlq", g.topic))
                    )),
                );
            }
        }
        if let (Some(topic), GroupMode::Workers(workers)) = (topic, g.options.mode) {
            let partitions = topic.partitions as usize;
            let t = config
                .topics
                .iter()
                .position(|t| t.name == g.topic)
                .unwrap_or(0);
            if partitions > 0
                && workers > partitions
                && !poisoned(&format!("topics[{t}].partitions"))
            {
                out.push(
                    Diagnostic::warning(
                        Rule::IdleWorkers,
                        join(&path, "mode.workers"),
                        format!(
                            "topic {} has {partitions} partitions, so {} of the {workers} workers would be idle (a partition has one worker at a time)",
                            quoted(&g.topic),
                            workers - partitions
                        ),
                    )
                    .value(workers)
                    .fix(format!(
                        "use at most {partitions} workers, or raise topics[{t}].partitions to {workers}"
                    )),
                );
            }
        }
    }

    if all_group_topics_ok {
        for (i, t) in config.topics.iter().enumerate() {
            if !t.name.is_empty() && !config.groups.iter().any(|g| g.topic == t.name) {
                out.push(
                    Diagnostic::error(
                        Rule::TopicWithoutGroup,
                        format!("topics[{i}]"),
                        format!(
                            "no group reads topic {}: its events would have nowhere to go",
                            quoted(&t.name)
                        ),
                    )
                    .value(quoted(&t.name))
                    .fix(format!(
                        "add a [[groups]] entry with topic = {}, or remove the topic",
                        quoted(&t.name)
                    )),
                );
            }
        }
    }
}
