//! What the keys of the top level and of the `[engine]` table mean; the
//! `[[topics]]` and `[[groups]]` tables are read by [`topic`](super::topic)
//! and [`group`](super::group). Every table's keys are read in the order
//! the reference documents them: the order findings come in where the
//! format keeps no positions.

use std::time::Duration;

use super::values::field;
use super::{group, topic, Reader};
use crate::config::model::{Config, EngineConfig};
use crate::config::node::{Node, Value};

/// Keys of each table, in the order the reference documents them.
const ROOT_KEYS: &[&str] = &["engine", "topics", "groups"];
const ENGINE_KEYS: &[&str] = &[
    "memory_budget",
    "metrics",
    "latency_sampling",
    "latency_buckets",
    "stall_threshold",
];

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
            .map(|(i, item)| topic::topic(reader, item, &format!("topics[{i}]")))
            .collect();
    }
    if let Some(items) = field(reader, &mut table, "groups", array_of_tables) {
        config.groups = items
            .iter()
            .enumerate()
            .map(|(i, item)| group::group(reader, item, &format!("groups[{i}]")))
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
    if let Some(threshold) = field(reader, &mut table, "stall_threshold", duration_or_off) {
        engine.stall_threshold = threshold;
    }
    table.finish(reader, ENGINE_KEYS);
    engine
}

/// A duration string, or `"off"` (`Some(None)`); `None` (reported) if it
/// is neither.
fn duration_or_off(reader: &mut Reader, node: &Node, path: &str) -> Option<Option<Duration>> {
    match &node.value {
        Value::Str(s) if s == "off" => Some(None),
        _ => reader.duration(node, path).map(Some),
    }
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
