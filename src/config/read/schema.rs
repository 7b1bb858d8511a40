//! What each key of each table means: the configuration schema, one
//! function per table or value, each reading its keys in the order the
//! reference documents them (the order findings come in where the format
//! keeps no positions).

use std::time::Duration;

use super::values::{field, table, unit, Variant};
use super::Reader;
use crate::config::diagnostic::{Diagnostic, Rule};
use crate::config::model::{Config, EngineConfig, GroupConfig, Partitioning, TopicConfig};
use crate::config::node::{Node, Value};
use crate::config::suggest::did_you_mean;
use crate::{
    Assignment, Backoff, Exhausted, FailurePolicy, FullPolicy, GroupMode, Producers, Retries,
    WaitStrategy,
};

/// Keys of each table, in the order the reference documents them.
const ROOT_KEYS: &[&str] = &["engine", "topics", "groups"];
const ENGINE_KEYS: &[&str] = &[
    "memory_budget",
    "metrics",
    "latency_sampling",
    "latency_buckets",
];
const TOPIC_KEYS: &[&str] = &[
    "name",
    "partitions",
    "capacity",
    "partitioner",
    "timestamps",
    "producers",
    "full_policy",
    "dedup_window",
];
const GROUP_KEYS: &[&str] = &[
    "name",
    "topic",
    "mode",
    "assignment",
    "wait",
    "max_batch",
    "failure",
];
const FAILURE_KEYS: &[&str] = &["retries", "backoff", "on_exhausted"];
const BACKOFF_KEYS: &[&str] = &["initial", "max", "multiplier"];
const ADAPTIVE_KEYS: &[&str] = &["spins", "yields"];
pub(super) fn root(reader: &mut Reader, node: &Node) -> Config {
    let mut config = Config::default();
    let Some(mut table) = reader.table(node, "", "a table with `topics` and `groups` arrays")
    else {
        return config;
    };
    if let Some((node, path)) = table.get(reader, "engine") {
        config.engine = engine(reader, node, &path);
    }
    if let Some(items) = field(reader, &mut table, "topics", array_of_tables) {
        config.topics = items
            .iter()
            .enumerate()
            .map(|(i, item)| topic(reader, item, &format!("topics[{i}]")))
            .collect();
    }
    if let Some(items) = field(reader, &mut table, "groups", array_of_tables) {
        config.groups = items
            .iter()
            .enumerate()
            .map(|(i, item)| group(reader, item, &format!("groups[{i}]")))
            .collect();
    }
    table.finish(reader, ROOT_KEYS);
    config
}

fn engine(reader: &mut Reader, node: &Node, path: &str) -> EngineConfig {
    let mut engine = EngineConfig::default();
    let Some(mut table) =
        reader.table(node, path, "a table such as { memory_budget = 1073741824 }")
    else {
        return engine;
    };
    if let Some(n) = field(reader, &mut table, "memory_budget", |r, n, p| {
        r.uint(n, p, u64::MAX.into())
    }) {
        engine.memory_budget = n as u64;
    }
    if let Some(b) = field(reader, &mut table, "metrics", Reader::bool) {
        engine.metrics = b;
    }
    if let Some(n) = field(reader, &mut table, "latency_sampling", |r, n, p| {
        r.uint(n, p, u32::MAX.into())
    }) {
        engine.latency_sampling = n as u32;
    }
    if let Some(bounds) = field(reader, &mut table, "latency_buckets", durations) {
        engine.latency_buckets = bounds;
    }
    table.finish(reader, ENGINE_KEYS);
    engine
}

/// An array of duration strings; `None` (with the findings reported) if
/// it is not one or an element cannot be read.
fn durations(reader: &mut Reader, node: &Node, path: &str) -> Option<Vec<Duration>> {
    let Value::Array(items) = &node.value else {
        reader.wrong_type(
            node,
            path,
            "an array of duration strings",
            "write e.g. [\"10us\", \"1ms\", \"100ms\"]",
        );
        return None;
    };
    let read: Vec<Option<Duration>> = items
        .iter()
        .enumerate()
        .map(|(i, item)| reader.duration(item, &format!("{path}[{i}]")))
        .collect();
    read.into_iter().collect()
}

fn array_of_tables<'n>(reader: &mut Reader, node: &'n Node, path: &str) -> Option<&'n [Node]> {
    match &node.value {
        Value::Array(items) => Some(items),
        _ => {
            reader.wrong_type(
                node,
                path,
                "an array of tables",
                format!("declare each entry as a [[{path}]] table"),
            );
            None
        }
    }
}

pub(crate) fn topic(reader: &mut Reader, node: &Node, path: &str) -> TopicConfig {
    let mut topic = TopicConfig::default();
    let Some(mut table) = reader.table(node, path, "a table such as { name = \"orders\" }") else {
        return topic;
    };
    if let Some((node, path)) = table.require(reader, "name", "\"orders\"") {
        if let Some(name) = reader.string(node, &path) {
            topic.name = name;
        }
    }
    if let Some(n) = field(reader, &mut table, "partitions", |r, n, p| {
        r.uint(n, p, u32::MAX.into())
    }) {
        topic.partitions = n as u32;
    }
    if let Some(n) = field(reader, &mut table, "capacity", |r, n, p| {
        r.uint(n, p, usize::MAX as u128)
    }) {
        topic.capacity = n as usize;
    }
    if let Some(p) = field(reader, &mut table, "partitioner", partitioning) {
        topic.partitioner = p;
    }
    if let Some(b) = field(reader, &mut table, "timestamps", Reader::bool) {
        topic.timestamps = b;
    }
    if let Some(producers) = field(reader, &mut table, "producers", producers) {
        topic.producers = producers;
    }
    if let Some(policy) = field(reader, &mut table, "full_policy", full_policy) {
        topic.full_policy = policy;
    }
    if let Some(n) = field(reader, &mut table, "dedup_window", |r, n, p| {
        r.uint(n, p, usize::MAX as u128)
    }) {
        topic.dedup_window = Some(n as usize);
    }
    table.finish(reader, TOPIC_KEYS);
    topic
}

fn partitioning(reader: &mut Reader, node: &Node, path: &str) -> Option<Partitioning> {
    const VARIANTS: &[Variant] = &[
        unit("round_robin", "\"round_robin\""),
        unit("key", "\"key\""),
        table("sticky", "{ sticky = { linger = 16 } }"),
        table("fixed", "{ fixed = { partition = 0 } }"),
    ];
    let (name, settings) = reader.choice(node, path, VARIANTS)?;
    match (name, settings) {
        ("round_robin", _) => Some(Partitioning::RoundRobin),
        ("key", _) => Some(Partitioning::Key),
        ("sticky", Some((node, path))) => {
            let mut table = reader.table(node, &path, "{ linger = 16 }")?;
            let linger = table
                .require(reader, "linger", "16")
                .and_then(|(n, p)| reader.uint(n, &p, u64::MAX.into()));
            table.finish(reader, &["linger"]);
            Some(Partitioning::Sticky {
                linger: linger? as u64,
            })
        }
        (_, Some((node, path))) => {
            let mut table = reader.table(node, &path, "{ partition = 0 }")?;
            let partition = table
                .require(reader, "partition", "0")
                .and_then(|(n, p)| reader.uint(n, &p, u32::MAX.into()));
            table.finish(reader, &["partition"]);
            Some(Partitioning::Fixed {
                partition: partition? as u32,
            })
        }
        _ => None,
    }
}

fn producers(reader: &mut Reader, node: &Node, path: &str) -> Option<Producers> {
    const VARIANTS: &[Variant] = &[unit("multi", "\"multi\""), unit("single", "\"single\"")];
    match reader.choice(node, path, VARIANTS)? {
        ("multi", _) => Some(Producers::Multi),
        ("single", _) => Some(Producers::Single),
        _ => None,
    }
}

fn full_policy(reader: &mut Reader, node: &Node, path: &str) -> Option<FullPolicy> {
    const VARIANTS: &[Variant] = &[
        unit("block", "\"block\""),
        unit("reject", "\"reject\""),
        unit("drop_newest", "\"drop_newest\""),
        table("block_timeout", "{ block_timeout = \"5ms\" }"),
    ];
    match reader.choice(node, path, VARIANTS)? {
        ("block", _) => Some(FullPolicy::Block),
        ("reject", _) => Some(FullPolicy::Reject),
        ("drop_newest", _) => Some(FullPolicy::DropNewest),
        (_, Some((node, path))) => reader.duration(node, &path).map(FullPolicy::BlockTimeout),
        _ => None,
    }
}

pub(crate) fn group(reader: &mut Reader, node: &Node, path: &str) -> GroupConfig {
    let mut group = GroupConfig::new("", "", crate::GroupOptions::default());
    let Some(mut table) = reader.table(
        node,
        path,
        "a table such as { name = \"billing\", topic = \"orders\" }",
    ) else {
        return group;
    };
    if let Some((node, path)) = table.require(reader, "name", "\"billing\"") {
        if let Some(name) = reader.string(node, &path) {
            group.name = name;
        }
    }
    if let Some((node, path)) = table.require(reader, "topic", "\"orders\"") {
        if let Some(topic) = reader.string(node, &path) {
            group.topic = topic;
        }
    }
    let options = &mut group.options;
    if let Some(mode) = field(reader, &mut table, "mode", mode) {
        options.mode = mode;
    }
    if let Some(a) = field(reader, &mut table, "assignment", assignment) {
        options.assignment = a;
    }
    if let Some(w) = field(reader, &mut table, "wait", wait) {
        options.wait = w;
    }
    if let Some(n) = field(reader, &mut table, "max_batch", |r, n, p| {
        r.uint(n, p, usize::MAX as u128)
    }) {
        options.max_batch = n as usize;
    }
    if let Some(f) = field(reader, &mut table, "failure", failure) {
        options.failure = f;
    }
    table.finish(reader, GROUP_KEYS);
    group
}

fn mode(reader: &mut Reader, node: &Node, path: &str) -> Option<GroupMode> {
    const VARIANTS: &[Variant] = &[
        table("workers", "{ workers = 2 }"),
        unit("poll", "\"poll\""),
    ];
    match reader.choice(node, path, VARIANTS)? {
        ("poll", _) => Some(GroupMode::Poll),
        (_, Some((node, path))) => reader
            .uint(node, &path, usize::MAX as u128)
            .map(|n| GroupMode::Workers(n as usize)),
        _ => None,
    }
}

fn assignment(reader: &mut Reader, node: &Node, path: &str) -> Option<Assignment> {
    const VARIANTS: &[Variant] = &[
        unit("range", "\"range\""),
        unit("round_robin", "\"round_robin\""),
    ];
    match reader.choice(node, path, VARIANTS)? {
        ("range", _) => Some(Assignment::Range),
        _ => Some(Assignment::RoundRobin),
    }
}

fn wait(reader: &mut Reader, node: &Node, path: &str) -> Option<WaitStrategy> {
    const VARIANTS: &[Variant] = &[
        Variant {
            name: "adaptive",
            unit: true,
            table: true,
            example: "\"adaptive\" or { adaptive = { spins = 100, yields = 8 } }",
        },
        unit("busy_spin", "\"busy_spin\""),
    ];
    let default = WaitStrategy::default();
    let WaitStrategy::Adaptive {
        mut spins,
        mut yields,
    } = default
    else {
        return Some(default);
    };
    match reader.choice(node, path, VARIANTS)? {
        ("busy_spin", _) => Some(WaitStrategy::BusySpin),
        (_, None) => Some(default),
        (_, Some((node, path))) => {
            let mut table = reader.table(node, &path, "{ spins = 100, yields = 8 }")?;
            if let Some(n) = field(reader, &mut table, "spins", |r, n, p| {
                r.uint(n, p, u32::MAX.into())
            }) {
                spins = n as u32;
            }
            if let Some(n) = field(reader, &mut table, "yields", |r, n, p| {
                r.uint(n, p, u32::MAX.into())
            }) {
                yields = n as u32;
            }
            table.finish(reader, ADAPTIVE_KEYS);
            Some(WaitStrategy::Adaptive { spins, yields })
        }
    }
}

fn failure(reader: &mut Reader, node: &Node, path: &str) -> Option<FailurePolicy> {
    let mut policy = FailurePolicy::default();
    let mut table = reader.table(node, path, "{ retries = 3, on_exhausted = \"skip\" }")?;
    if let Some(r) = field(reader, &mut table, "retries", retries) {
        policy.retries = r;
    }
    if let Some(b) = field(reader, &mut table, "backoff", backoff) {
        policy.backoff = b;
    }
    if let Some(e) = field(reader, &mut table, "on_exhausted", exhausted) {
        policy.exhausted = e;
    }
    table.finish(reader, FAILURE_KEYS);
    Some(policy)
}

fn retries(reader: &mut Reader, node: &Node, path: &str) -> Option<Retries> {
    match &node.value {
        Value::Str(s) if s == "forever" => Some(Retries::Forever),
        Value::Str(s) if did_you_mean(s, ["forever"]).is_some() => {
            reader.bad(
                Diagnostic::error(
                    Rule::UnknownVariant,
                    path,
                    format!("unknown choice \"{s}\""),
                )
                .value(node)
                .fix("did you mean \"forever\"? or write a retry count such as 3"),
            );
            None
        }
        Value::Int(_) => reader
            .uint(node, path, u32::MAX.into())
            .map(|n| Retries::Limited(n as u32)),
        _ => {
            reader.wrong_type(
                node,
                path,
                "a retry count or \"forever\"",
                "write a count such as 3, or \"forever\"",
            );
            None
        }
    }
}

fn backoff(reader: &mut Reader, node: &Node, path: &str) -> Option<Backoff> {
    let mut backoff = Backoff::default();
    let mut table = reader.table(
        node,
        path,
        "{ initial = \"1ms\", max = \"1s\", multiplier = 2 }",
    )?;
    if let Some(d) = field(reader, &mut table, "initial", Reader::duration) {
        backoff.initial = d;
    }
    if let Some(d) = field(reader, &mut table, "max", Reader::duration) {
        backoff.max = d;
    }
    if let Some(n) = field(reader, &mut table, "multiplier", |r, n, p| {
        r.uint(n, p, u32::MAX.into())
    }) {
        backoff.multiplier = n as u32;
    }
    table.finish(reader, BACKOFF_KEYS);
    Some(backoff)
}

fn exhausted(reader: &mut Reader, node: &Node, path: &str) -> Option<Exhausted> {
    const VARIANTS: &[Variant] = &[
        unit("skip", "\"skip\""),
        unit("halt", "\"halt\""),
        table("dead_letter", "{ dead_letter = \"orders.dlq\" }"),
    ];
    match reader.choice(node, path, VARIANTS)? {
        ("skip", _) => Some(Exhausted::Skip),
        ("halt", _) => Some(Exhausted::Halt),
        (_, Some((node, path))) => reader
            .string(node, &path)
            .map(|topic| Exhausted::DeadLetter { topic }),
        _ => None,
    }
}
