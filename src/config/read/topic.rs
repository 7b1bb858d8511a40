//! What the keys of a `[[topics]]` table mean, and of the option types a
//! topic is made of ([`TopicOptions`], [`PartitionerKind`], [`Producers`],
//! [`FullPolicy`]) when they are read on their own.

use super::values::{field, table, unit, Table, Variant};
use super::Reader;
use crate::config::model::{Partitioning, TopicConfig};
use crate::config::node::Node;
use crate::{FullPolicy, PartitionerKind, Producers, TopicOptions};

/// The keys of a `[[topics]]` table, in the order the reference documents
/// them.
const TOPIC_KEYS: &[&str] = &[
    "name",
    "partitions",
    "capacity",
    "partitioner",
    "timestamps",
    "producers",
    "full_policy",
    "spare_groups",
    "dedup_window",
];
/// The keys of [`TopicOptions`]: a topic's but its name and de-duplication.
const TOPIC_OPTION_KEYS: &[&str] = &[
    "partitions",
    "capacity",
    "partitioner",
    "timestamps",
    "producers",
    "full_policy",
    "spare_groups",
];

pub(crate) fn topic(reader: &mut Reader, node: &Node, path: &str) -> TopicConfig {
    let Some(mut table) = reader.table(node, path, "a table such as { name = \"orders\" }") else {
        return TopicConfig::default();
    };
    let mut name = String::new();
    if let Some((node, path)) = table.require(reader, "name", "\"orders\"") {
        if let Some(read) = reader.string(node, &path) {
            name = read;
        }
    }
    let mut options = TopicOptions::default();
    let partitioner = topic_layout(reader, &mut table, &mut options, KEYED);
    let dedup_window = field(reader, &mut table, "dedup_window", |r, n, p| {
        r.uint(n, p, usize::MAX as u128)
    })
    .map(|n| n as usize);
    table.finish(reader, TOPIC_KEYS);
    TopicConfig {
        partitioner: partitioner.unwrap_or_default(),
        dedup_window,
        ..TopicConfig::new(name, options)
    }
}

/// [`TopicOptions`] on its own: the keys of a `[[topics]]` table but the
/// name and de-duplication, and no `"key"` partitioner.
pub(crate) fn topic_options(reader: &mut Reader, node: &Node, path: &str) -> Option<TopicOptions> {
    let mut table = reader.table(node, path, "a table such as { partitions = 4 }")?;
    let mut options = TopicOptions::default();
    if let Some(partitioning) = topic_layout(reader, &mut table, &mut options, KEYLESS) {
        options.partitioner = partitioning.builtin().unwrap_or_default();
    }
    table.finish(reader, TOPIC_OPTION_KEYS);
    Some(options)
}

/// The keys a `[[topics]]` table shares with [`TopicOptions`], read into
/// `options`; the partitioner, one of `variants`, is returned apart (a
/// topic's may be `"key"`, which [`TopicOptions`] cannot hold).
fn topic_layout(
    reader: &mut Reader,
    table: &mut Table<'_>,
    options: &mut TopicOptions,
    variants: &[Variant],
) -> Option<Partitioning> {
    if let Some(n) = field(reader, table, "partitions", |r, n, p| {
        r.uint(n, p, u32::MAX.into())
    }) {
        options.partitions = n as u32;
    }
    if let Some(n) = field(reader, table, "capacity", |r, n, p| {
        r.uint(n, p, usize::MAX as u128)
    }) {
        options.capacity = n as usize;
    }
    let partitioner = field(reader, table, "partitioner", |r, n, p| {
        partitioner(r, n, p, variants)
    });
    if let Some(b) = field(reader, table, "timestamps", Reader::bool) {
        options.timestamps = b;
    }
    if let Some(producers) = field(reader, table, "producers", producers) {
        options.producers = producers;
    }
    if let Some(policy) = field(reader, table, "full_policy", full_policy) {
        options.full_policy = policy;
    }
    if let Some(n) = field(reader, table, "spare_groups", |r, n, p| {
        r.uint(n, p, usize::MAX as u128)
    }) {
        options.spare_groups = n as usize;
    }
    partitioner
}

/// The partitioners of a configured topic: the built-ins and `"key"`.
const KEYED: &[Variant] = &[
    unit("round_robin", "\"round_robin\""),
    unit("key", "\"key\""),
    table("sticky", "{ sticky = { linger = 16 } }"),
    table("fixed", "{ fixed = { partition = 0 } }"),
];

/// The built-in partitioners ([`PartitionerKind`]).
const KEYLESS: &[Variant] = &[
    unit("round_robin", "\"round_robin\""),
    table("sticky", "{ sticky = { linger = 16 } }"),
    table("fixed", "{ fixed = { partition = 0 } }"),
];

/// A configured topic's [`Partitioning`].
pub(crate) fn partitioning(reader: &mut Reader, node: &Node, path: &str) -> Option<Partitioning> {
    partitioner(reader, node, path, KEYED)
}

/// A built-in [`PartitionerKind`].
pub(crate) fn partitioner_kind(
    reader: &mut Reader,
    node: &Node,
    path: &str,
) -> Option<PartitionerKind> {
    partitioner(reader, node, path, KEYLESS).map(|p| p.builtin().unwrap_or_default())
}

/// One of the partitioners `variants` names.
fn partitioner(
    reader: &mut Reader,
    node: &Node,
    path: &str,
    variants: &[Variant],
) -> Option<Partitioning> {
    let (name, settings) = reader.choice(node, path, variants)?;
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

pub(crate) fn producers(reader: &mut Reader, node: &Node, path: &str) -> Option<Producers> {
    const VARIANTS: &[Variant] = &[unit("multi", "\"multi\""), unit("single", "\"single\"")];
    match reader.choice(node, path, VARIANTS)? {
        ("multi", _) => Some(Producers::Multi),
        ("single", _) => Some(Producers::Single),
        _ => None,
    }
}

pub(crate) fn full_policy(reader: &mut Reader, node: &Node, path: &str) -> Option<FullPolicy> {
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
