//! What the keys of a `[[groups]]` table mean, and of the option types a
//! group is made of ([`GroupOptions`], [`GroupMode`], [`Assignment`],
//! [`WaitStrategy`], [`FailurePolicy`], [`Retries`], [`Backoff`],
//! [`Exhausted`]) when they are read on their own.

use super::values::{field, table, unit, Table, Variant};
use super::Reader;
use crate::config::diagnostic::{Diagnostic, Rule};
use crate::config::model::GroupConfig;
use crate::config::node::{Node, Value};
use crate::config::suggest::did_you_mean;
use crate::{
    Assignment, Backoff, Exhausted, FailurePolicy, GroupMode, GroupOptions, LagPolicy, Retries,
    WaitStrategy,
};

/// The keys of a `[[groups]]` table (and, below, of its inner tables), in
/// the order the reference documents them.
const GROUP_KEYS: &[&str] = &[
    "name",
    "topic",
    "mode",
    "assignment",
    "wait",
    "max_batch",
    "failure",
    "after",
    "lag",
    "max_workers",
];
/// The keys of [`GroupOptions`]: a group's but its name and topic.
const GROUP_OPTION_KEYS: &[&str] = &[
    "mode",
    "assignment",
    "wait",
    "max_batch",
    "failure",
    "after",
    "lag",
    "max_workers",
];
const FAILURE_KEYS: &[&str] = &["retries", "backoff", "on_exhausted"];
const BACKOFF_KEYS: &[&str] = &["initial", "max", "multiplier"];
const ADAPTIVE_KEYS: &[&str] = &["spins", "yields"];

pub(crate) fn group(reader: &mut Reader, node: &Node, path: &str) -> GroupConfig {
    let mut group = GroupConfig::new("", "", GroupOptions::default());
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
    group_option_fields(reader, &mut table, &mut group.options);
    table.finish(reader, GROUP_KEYS);
    group
}

/// [`GroupOptions`] on its own: the keys of a `[[groups]]` table but the
/// name and topic.
pub(crate) fn group_options(reader: &mut Reader, node: &Node, path: &str) -> Option<GroupOptions> {
    let mut table = reader.table(node, path, "a table such as { mode = { workers = 2 } }")?;
    let mut options = GroupOptions::default();
    group_option_fields(reader, &mut table, &mut options);
    table.finish(reader, GROUP_OPTION_KEYS);
    Some(options)
}

/// The keys of a `[[groups]]` table that make its [`GroupOptions`], read
/// into `options`.
fn group_option_fields(reader: &mut Reader, table: &mut Table<'_>, options: &mut GroupOptions) {
    if let Some(mode) = field(reader, table, "mode", mode) {
        options.mode = mode;
    }
    if let Some(a) = field(reader, table, "assignment", assignment) {
        options.assignment = a;
    }
    if let Some(w) = field(reader, table, "wait", wait) {
        options.wait = w;
    }
    if let Some(n) = field(reader, table, "max_batch", |r, n, p| {
        r.uint(n, p, usize::MAX as u128)
    }) {
        options.max_batch = n as usize;
    }
    if let Some(f) = field(reader, table, "failure", failure) {
        options.failure = f;
    }
    if let Some(after) = field(reader, table, "after", after) {
        options.after = after;
    }
    if let Some(lag) = field(reader, table, "lag", lag) {
        options.lag = lag;
    }
    if let Some(n) = field(reader, table, "max_workers", |r, n, p| {
        r.uint(n, p, usize::MAX as u128)
    }) {
        options.max_workers = Some(n as usize);
    }
}

/// `lag = "backpressure"` or `lag = { lossy = 4096 }`.
pub(crate) fn lag(reader: &mut Reader, node: &Node, path: &str) -> Option<LagPolicy> {
    const VARIANTS: &[Variant] = &[
        unit("backpressure", "\"backpressure\""),
        table("lossy", "{ lossy = 4096 }"),
    ];
    match reader.choice(node, path, VARIANTS)? {
        ("backpressure", _) => Some(LagPolicy::Backpressure),
        (_, Some((node, path))) => reader
            .uint(node, &path, u64::MAX.into())
            .map(|n| LagPolicy::Lossy(n as u64)),
        _ => None,
    }
}

/// `after = ["physics", "audit"]`: the groups a group runs after.
fn after(reader: &mut Reader, node: &Node, path: &str) -> Option<Vec<String>> {
    let Value::Array(items) = &node.value else {
        reader.wrong_type(
            node,
            path,
            "a list of group names",
            "write after = [\"physics\"]",
        );
        return None;
    };
    let read: Vec<Option<String>> = items
        .iter()
        .enumerate()
        .map(|(i, item)| reader.string(item, &format!("{path}[{i}]")))
        .collect();
    read.into_iter().collect()
}

pub(crate) fn mode(reader: &mut Reader, node: &Node, path: &str) -> Option<GroupMode> {
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

pub(crate) fn assignment(reader: &mut Reader, node: &Node, path: &str) -> Option<Assignment> {
    const VARIANTS: &[Variant] = &[
        unit("range", "\"range\""),
        unit("round_robin", "\"round_robin\""),
    ];
    match reader.choice(node, path, VARIANTS)? {
        ("range", _) => Some(Assignment::Range),
        _ => Some(Assignment::RoundRobin),
    }
}

pub(crate) fn wait(reader: &mut Reader, node: &Node, path: &str) -> Option<WaitStrategy> {
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

pub(crate) fn failure(reader: &mut Reader, node: &Node, path: &str) -> Option<FailurePolicy> {
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

pub(crate) fn retries(reader: &mut Reader, node: &Node, path: &str) -> Option<Retries> {
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

pub(crate) fn backoff(reader: &mut Reader, node: &Node, path: &str) -> Option<Backoff> {
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

pub(crate) fn exhausted(reader: &mut Reader, node: &Node, path: &str) -> Option<Exhausted> {
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
