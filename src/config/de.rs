//! `Deserialize` for the configuration and every option type, through the
//! [`read`](super::read)er: one schema, whether a value comes from a
//! configuration file, from any serde format on its own, or nested in a
//! host's own serde type.
//!
//! Each impl reads the input into a format-neutral [`Node`] and hands it to
//! the reader's function for its type, which checks the whole value and
//! reports every problem together; the findings become one serde error
//! (serde errors are strings), each with its path, value, rule and fix.
//! The shapes are the ones the derived `Serialize` writes, so whatever is
//! printed reads back (`tests/config_options.rs`). As [`Node`] is read with
//! `deserialize_any`, the format must be self-describing (TOML, JSON, YAML,
//! …; not bincode or postcard).

use serde::{Deserialize, Deserializer};

use super::diagnostic::Diagnostics;
use super::model::{Config, GroupConfig, Partitioning, TopicConfig};
use super::node::Node;
use super::read::{self, group, topic};
use crate::{
    Assignment, Backoff, Exhausted, FailurePolicy, FullPolicy, GroupMode, GroupOptions, LagPolicy,
    PartitionerKind, Producers, Retries, TopicOptions, WaitStrategy,
};

/// Reads the input into a [`Node`] and `read`s it; the findings, if any,
/// are joined into one error.
fn through_reader<'de, D, T>(
    deserializer: D,
    read: impl FnOnce(&Node) -> Result<T, Diagnostics>,
) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
{
    let node = Node::deserialize(deserializer)?;
    read(&node).map_err(serde::de::Error::custom)
}

/// Deserializes through the all-errors reader: unknown keys, wrong types and
/// broken rules are reported together (joined in one message, as serde
/// errors are strings).
impl<'de> Deserialize<'de> for Config {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        through_reader(deserializer, |node| read::config(node, None))
    }
}

/// Like [`Config`]'s: structural and range checks of one topic, all errors
/// together (cross-references need the whole [`Config`]).
impl<'de> Deserialize<'de> for TopicConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        through_reader(deserializer, |node| read::single(node, topic::topic))
    }
}

/// Like [`Config`]'s: structural and range checks of one group, all errors
/// together (cross-references need the whole [`Config`]).
impl<'de> Deserialize<'de> for GroupConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        through_reader(deserializer, |node| read::single(node, group::group))
    }
}

/// A topic's `partitioner`: `"round_robin"`, `"key"`,
/// `{ sticky = { linger = 16 } }`, `{ fixed = { partition = 0 } }`.
impl<'de> Deserialize<'de> for Partitioning {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        through_reader(deserializer, |node| read::value(node, topic::partitioning))
    }
}

/// A `[[topics]]` table without `name` and `dedup_window`, every key
/// optional, unknown keys refused with a did-you-mean.
impl<'de> Deserialize<'de> for TopicOptions {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        through_reader(deserializer, |node| read::value(node, topic::topic_options))
    }
}

/// Like a topic's `partitioner`, without `"key"`.
impl<'de> Deserialize<'de> for PartitionerKind {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        through_reader(deserializer, |node| {
            read::value(node, topic::partitioner_kind)
        })
    }
}

/// A topic's `producers`: `"multi"` or `"single"`.
impl<'de> Deserialize<'de> for Producers {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        through_reader(deserializer, |node| read::value(node, topic::producers))
    }
}

/// A topic's `full_policy`: `"block"`, `"reject"`, `"drop_newest"`,
/// `{ block_timeout = "5ms" }`.
impl<'de> Deserialize<'de> for FullPolicy {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        through_reader(deserializer, |node| read::value(node, topic::full_policy))
    }
}

/// A `[[groups]]` table without `name` and `topic`, every key optional,
/// unknown keys refused with a did-you-mean.
impl<'de> Deserialize<'de> for GroupOptions {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        through_reader(deserializer, |node| read::value(node, group::group_options))
    }
}

/// A group's `mode`: `{ workers = 2 }` or `"poll"`.
impl<'de> Deserialize<'de> for GroupMode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        through_reader(deserializer, |node| read::value(node, group::mode))
    }
}

/// A group's `lag`: `"backpressure"` or `{ lossy = 4096 }`.
impl<'de> Deserialize<'de> for LagPolicy {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        through_reader(deserializer, |node| read::value(node, group::lag))
    }
}

/// A group's `assignment`: `"range"` or `"round_robin"`.
impl<'de> Deserialize<'de> for Assignment {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        through_reader(deserializer, |node| read::value(node, group::assignment))
    }
}

/// A group's `wait`: `"adaptive"` (the defaults),
/// `{ adaptive = { spins = 100, yields = 8 } }` (either key optional) or
/// `"busy_spin"`.
impl<'de> Deserialize<'de> for WaitStrategy {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        through_reader(deserializer, |node| read::value(node, group::wait))
    }
}

/// A group's `failure` table: `retries`, `backoff`, `on_exhausted`, every
/// key optional.
impl<'de> Deserialize<'de> for FailurePolicy {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        through_reader(deserializer, |node| read::value(node, group::failure))
    }
}

/// `failure.retries`: a count (`3`) or `"forever"`.
impl<'de> Deserialize<'de> for Retries {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        through_reader(deserializer, |node| read::value(node, group::retries))
    }
}

/// `failure.backoff`: `{ initial = "1ms", max = "1s", multiplier = 2 }`,
/// every key optional.
impl<'de> Deserialize<'de> for Backoff {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        through_reader(deserializer, |node| read::value(node, group::backoff))
    }
}

/// `failure.on_exhausted`: `"skip"`, `"halt"` or
/// `{ dead_letter = "orders.dlq" }`.
impl<'de> Deserialize<'de> for Exhausted {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        through_reader(deserializer, |node| read::value(node, group::exhausted))
    }
}
