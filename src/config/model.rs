//! The configuration types: a topology as data.
//!
//! Serialization is derived (so any serde format can print a
//! configuration, with every default written out). Deserialization of
//! these types and of the option types goes through
//! [`read`](super::read) ([`de`](super::de)), which checks the whole
//! schema and reports every mistake together instead of stopping at the
//! first.

use serde::Serialize;

use crate::{GroupOptions, PartitionerKind, TopicOptions};

/// A whole topology: topics and the groups reading them.
///
/// Read one from a file ([`Config::from_toml_str`], [`Config::from_json_str`],
/// [`Config::from_path`], or any serde format through `Deserialize`), or
/// build one in code. Either way, [`validate`](Self::validate) checks it and
/// [`bind`](Self::bind) turns it into a running engine.
///
/// # Examples
///
/// ```
/// use veltrix::config::{Config, GroupConfig, Partitioning, TopicConfig};
/// use veltrix::{GroupOptions, TopicOptions};
///
/// let config = Config::new()
///     .topic(TopicConfig::new("moves", TopicOptions::new(8)).partitioning(Partitioning::Key))
///     .group(GroupConfig::new("physics", "moves", GroupOptions::workers(2)));
/// assert!(config.validate().is_ok());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[non_exhaustive]
pub struct Config {
    /// Engine-wide settings (the `[engine]` table).
    pub engine: EngineConfig,
    /// The topics, in declaration order.
    pub topics: Vec<TopicConfig>,
    /// The listener groups, in declaration order.
    pub groups: Vec<GroupConfig>,
}

/// Engine-wide settings: the `[engine]` table of a file, every key
/// optional.
///
/// ```toml
/// [engine]
/// memory_budget = 2147483648   # bytes; default 1 GiB
/// metrics = true               # latency histograms; default true
/// latency_sampling = 64        # time one event in 64 per partition
/// latency_buckets = ["10us", "100us", "1ms", "10ms", "100ms", "1s"]
/// stall_threshold = "10s"      # or "off"; default 10s
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct EngineConfig {
    /// [`EngineBuilder::memory_budget`](crate::EngineBuilder::memory_budget),
    /// in bytes. Default [`DEFAULT_MEMORY_BUDGET`](crate::DEFAULT_MEMORY_BUDGET).
    pub memory_budget: u64,
    /// [`EngineBuilder::metrics`](crate::EngineBuilder::metrics). Default
    /// `true`.
    pub metrics: bool,
    /// [`EngineBuilder::latency_sampling`](crate::EngineBuilder::latency_sampling).
    /// Default [`DEFAULT_LATENCY_SAMPLING`](crate::DEFAULT_LATENCY_SAMPLING).
    pub latency_sampling: u32,
    /// [`EngineBuilder::latency_buckets`](crate::EngineBuilder::latency_buckets),
    /// as duration strings. Default
    /// [`DEFAULT_LATENCY_BUCKETS`](crate::metrics::DEFAULT_LATENCY_BUCKETS).
    #[serde(serialize_with = "crate::duration::serde_str::serialize_list")]
    pub latency_buckets: Vec<std::time::Duration>,
    /// [`EngineBuilder::stall_threshold`](crate::EngineBuilder::stall_threshold):
    /// a duration string, or `"off"` for `None`. Default
    /// [`DEFAULT_STALL_THRESHOLD`](crate::DEFAULT_STALL_THRESHOLD).
    #[serde(serialize_with = "crate::duration::serde_str::serialize_or_off")]
    pub stall_threshold: Option<std::time::Duration>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            memory_budget: crate::DEFAULT_MEMORY_BUDGET,
            metrics: true,
            latency_sampling: crate::DEFAULT_LATENCY_SAMPLING,
            latency_buckets: crate::metrics::DEFAULT_LATENCY_BUCKETS.to_vec(),
            stall_threshold: Some(crate::DEFAULT_STALL_THRESHOLD),
        }
    }
}

impl Config {
    /// An empty topology.
    #[must_use]
    pub fn new() -> Self {
        Config::default()
    }

    /// Adds a topic.
    #[must_use]
    pub fn topic(mut self, topic: TopicConfig) -> Self {
        self.topics.push(topic);
        self
    }

    /// Adds a group.
    #[must_use]
    pub fn group(mut self, group: GroupConfig) -> Self {
        self.groups.push(group);
        self
    }

    /// The topic called `name`.
    #[must_use]
    pub fn find_topic(&self, name: &str) -> Option<&TopicConfig> {
        self.topics.iter().find(|t| t.name == name)
    }

    /// The group called `name`.
    #[must_use]
    pub fn find_group(&self, name: &str) -> Option<&GroupConfig> {
        self.groups.iter().find(|g| g.name == name)
    }
}

/// How a topic picks partitions: a built-in keyless partitioner, or `key`,
/// meaning the partitioner the code binds
/// ([`Binder::keyed_topic`](super::Binder::keyed_topic), typically
/// [`by_key`](crate::partitioner::by_key)).
///
/// In a file: `"round_robin"`, `"key"`, `{ sticky = { linger = 16 } }`,
/// `{ fixed = { partition = 0 } }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Partitioning {
    /// Even spread ([`RoundRobin`](crate::partitioner::RoundRobin)). The
    /// default.
    #[default]
    RoundRobin,
    /// Runs of `linger` events per partition
    /// ([`Sticky`](crate::partitioner::Sticky)).
    Sticky {
        /// Events per partition before moving on (at least 1).
        linger: u64,
    },
    /// Everything to one partition ([`Fixed`](crate::partitioner::Fixed)).
    Fixed {
        /// The partition, in `0..partitions`.
        partition: u32,
    },
    /// By the key the code binds: one key, one partition, order kept per key.
    Key,
}

impl Partitioning {
    /// The built-in partitioner, or `None` for [`Partitioning::Key`].
    #[must_use]
    pub fn builtin(self) -> Option<PartitionerKind> {
        match self {
            Partitioning::RoundRobin => Some(PartitionerKind::RoundRobin),
            Partitioning::Sticky { linger } => Some(PartitionerKind::Sticky { linger }),
            Partitioning::Fixed { partition } => Some(PartitionerKind::Fixed { partition }),
            Partitioning::Key => None,
        }
    }
}

impl From<PartitionerKind> for Partitioning {
    fn from(kind: PartitionerKind) -> Self {
        match kind {
            PartitionerKind::Sticky { linger } => Partitioning::Sticky { linger },
            PartitionerKind::Fixed { partition } => Partitioning::Fixed { partition },
            _ => Partitioning::RoundRobin,
        }
    }
}

/// One topic: its name and layout.
///
/// In a file, a `[[topics]]` table; only `name` is required.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct TopicConfig {
    /// Unique, non-empty.
    pub name: String,
    /// At least 1. Default 1.
    pub partitions: u32,
    /// Slots per partition ring: a power of two. Default 1024.
    pub capacity: usize,
    /// Default round robin.
    pub partitioner: Partitioning,
    /// Stamp every event with its publish time. Default `false` (only the
    /// events the latency metrics sample).
    pub timestamps: bool,
    /// `"multi"` (the default) or `"single"`: one exclusive
    /// [`Producer`](crate::Producer), taken with
    /// [`Engine::producer`](crate::Engine::producer).
    pub producers: crate::Producers,
    /// What `publish` does on a full partition. Default `block`.
    pub full_policy: crate::FullPolicy,
    /// Groups that may subscribe while the engine runs
    /// ([`TopicOptions::spare_groups`]). Default 0.
    pub spare_groups: usize,
    /// De-duplicate by the id the code binds
    /// ([`Binder::dedup_id`](super::Binder::dedup_id)) over the last this
    /// many ids per partition. Absent (the default): no de-duplication.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dedup_window: Option<usize>,
}

impl TopicConfig {
    /// Topic `name` laid out as `options` says (its built-in partitioner
    /// included), without de-duplication.
    #[must_use]
    pub fn new(name: impl Into<String>, options: TopicOptions) -> Self {
        TopicConfig {
            name: name.into(),
            partitions: options.partitions,
            capacity: options.capacity,
            partitioner: options.partitioner.into(),
            timestamps: options.timestamps,
            producers: options.producers,
            full_policy: options.full_policy,
            spare_groups: options.spare_groups,
            dedup_window: None,
        }
    }

    /// Sets the partitioning (use [`Partitioning::Key`] for keyed topics).
    #[must_use]
    pub fn partitioning(mut self, partitioning: Partitioning) -> Self {
        self.partitioner = partitioning;
        self
    }

    /// Turns on de-duplication over the last `window` ids per partition.
    #[must_use]
    pub fn dedup_window(mut self, window: usize) -> Self {
        self.dedup_window = Some(window);
        self
    }

    /// The engine's options for this topic. For a keyed topic the
    /// `partitioner` field is the default; the bound key partitioner is used
    /// instead.
    #[must_use]
    pub fn options(&self) -> TopicOptions {
        TopicOptions::new(self.partitions)
            .capacity(self.capacity)
            .partitioner(self.partitioner.builtin().unwrap_or_default())
            .timestamps(self.timestamps)
            .producers(self.producers)
            .full_policy(self.full_policy)
            .spare_groups(self.spare_groups)
    }
}

impl Default for TopicConfig {
    /// An unnamed topic with every default.
    fn default() -> Self {
        TopicConfig::new("", TopicOptions::default())
    }
}

/// One listener group: its name, the topic it reads, and how.
///
/// In a file, a `[[groups]]` table; `name` and `topic` are required, every
/// [`GroupOptions`] field is optional.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct GroupConfig {
    /// Unique, non-empty.
    pub name: String,
    /// The topic it reads; must be declared.
    pub topic: String,
    /// Mode, assignment, wait strategy, batch size, failure policy.
    #[serde(flatten)]
    pub options: GroupOptions,
}

impl GroupConfig {
    /// Group `name` reading `topic` with `options`.
    #[must_use]
    pub fn new(name: impl Into<String>, topic: impl Into<String>, options: GroupOptions) -> Self {
        GroupConfig {
            name: name.into(),
            topic: topic.into(),
            options,
        }
    }
}
