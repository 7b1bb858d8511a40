//! The rules a configuration must follow, checked all at once: value ranges
//! of each topic and group, then cross-references between them. Each
//! finding names the path, the value, the rule and a fix.

use std::collections::HashMap;

use super::diagnostic::{Diagnostic, Diagnostics, Rule};
use super::model::{Config, GroupConfig, Partitioning, TopicConfig};
use super::read::join;
use super::suggest::did_you_mean;
use crate::rules;
use crate::{Exhausted, GroupMode, PartitionerKind};

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
    let mut found = Vec::new();
    rules::latency_buckets(&config.engine.latency_buckets, &mut found);
    rules::stall_threshold(config.engine.stall_threshold, &mut found);
    place("engine", found, &mut out);
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

/// Findings of the shared rules, placed at their path under `path`.
fn place(path: &str, found: Vec<rules::Finding>, out: &mut Vec<Diagnostic>) {
    out.extend(found.into_iter().map(|f| {
        let mut d = if f.is_error() {
            Diagnostic::error(f.rule, join(path, f.field), f.message)
        } else {
            Diagnostic::warning(f.rule, join(path, f.field), f.message)
        };
        d.value = f.value;
        d.fix(f.fix)
    }));
}

fn topic(t: &TopicConfig, path: &str, poisoned: Poisoned<'_>, out: &mut Vec<Diagnostic>) {
    let partitioner = match t.partitioner {
        Partitioning::RoundRobin => Some(PartitionerKind::RoundRobin),
        Partitioning::Sticky { linger } => Some(PartitionerKind::Sticky { linger }),
        // A partition count that could not be read says nothing about
        // whether the fixed partition exists.
        Partitioning::Fixed { .. } if poisoned(&join(path, "partitions")) => None,
        Partitioning::Fixed { partition } => Some(PartitionerKind::Fixed { partition }),
        Partitioning::Key => None,
    };
    let values = rules::TopicValues {
        name: &t.name,
        partitions: t.partitions,
        capacity: t.capacity,
        partitioner,
        dedup_window: t.dedup_window,
        full_policy: t.full_policy,
        spare_groups: t.spare_groups,
    };
    let mut found = Vec::new();
    rules::topic(&values, &mut found);
    place(path, found, out);
}

fn group(g: &GroupConfig, path: &str, out: &mut Vec<Diagnostic>) {
    let mut found = Vec::new();
    rules::group(&g.name, &g.options, &mut found);
    place(path, found, out);
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
        let stages: Vec<rules::StageValues<'_>> = config
            .groups
            .iter()
            .map(|g| rules::StageValues {
                name: &g.name,
                topic: &g.topic,
                after: &g.options.after,
                lossy: !g.options.lag.is_backpressure(),
            })
            .collect();
        let mut found = Vec::new();
        rules::stages(&stages, &mut found);
        for (i, finding) in found {
            place(&format!("groups[{i}]"), vec![finding], out);
        }
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
