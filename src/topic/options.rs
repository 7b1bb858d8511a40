//! Settings of a topic.

/// The keyless built-in partitioners, selectable by value (for keyed or
/// custom partitioning pass a [`Partitioner`](crate::Partitioner) to
/// [`EngineBuilder::topic_with`](crate::EngineBuilder::topic_with)).
///
/// Selected this way, round robin and sticky keep their position in each
/// producer handle (every `Topic` clone, the `Producer`), so producers never
/// share a counter; fresh handles start at different partitions. (The
/// [`RoundRobin`](crate::partitioner::RoundRobin) and
/// [`Sticky`](crate::partitioner::Sticky) types passed as custom
/// partitioners keep one shared counter per topic instead.)
///
/// With the `serde` feature: `"round_robin"`, `{ sticky = { linger = 16 } }`,
/// `{ fixed = { partition = 0 } }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "snake_case")
)]
#[non_exhaustive]
pub enum PartitionerKind {
    /// Round robin: even spread.
    #[default]
    RoundRobin,
    /// Sticky: runs of `linger` events per partition, moving on at each
    /// batch.
    Sticky {
        /// Events per partition before moving on.
        linger: u64,
    },
    /// [`Fixed`](crate::partitioner::Fixed): one partition for everything.
    Fixed {
        /// The partition.
        partition: u32,
    },
}

/// Who may publish into a topic.
///
/// With the `serde` feature: `"multi"` or `"single"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "snake_case")
)]
#[non_exhaustive]
pub enum Producers {
    /// Any thread, through any clone of the [`Topic`](crate::Topic) handle
    /// ([`Engine::topic`](crate::Engine::topic)); one CAS per claim. The
    /// default.
    #[default]
    Multi,
    /// One [`Producer`](crate::Producer), handed out once by
    /// [`Engine::producer`](crate::Engine::producer); it publishes with
    /// plain stores (no CAS, no locked instruction). The topic has no
    /// `Topic` handle, so it cannot be a dead-letter or routing target.
    Single,
}

/// What `publish` does when the event's partition is full. Chosen per topic.
///
/// `try_publish` never waits whatever the policy: it hands the event back in
/// [`PublishError::Full`](crate::PublishError::Full).
///
/// With the `serde` feature: `"block"`, `"reject"`, `"drop_newest"`,
/// `{ block_timeout = "5ms" }` (a duration string: an integer and one of
/// `ns`, `us`, `ms`, `s`, `m`, `h`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "snake_case")
)]
#[non_exhaustive]
pub enum FullPolicy {
    /// Wait (spin, yield, then sleep) until there is room. The default.
    #[default]
    Block,
    /// Wait at most this long, then hand the event back in
    /// [`PublishError::Timeout`](crate::PublishError::Timeout).
    BlockTimeout(
        #[cfg_attr(
            feature = "serde",
            serde(serialize_with = "crate::duration::serde_str::serialize")
        )]
        std::time::Duration,
    ),
    /// Never wait: every `publish` behaves like `try_publish`.
    Reject,
    /// Drop the new event and count it (`dropped_full`), returning
    /// [`Receipt::Dropped`](crate::Receipt::Dropped): for telemetry where
    /// freshness beats completeness.
    DropNewest,
}

/// How a topic is laid out: partitions, ring capacity, partitioner,
/// timestamps.
///
/// # Examples
///
/// ```
/// use veltrix::TopicOptions;
///
/// let options = TopicOptions::new(8).capacity(4096).timestamps(false);
/// assert_eq!(options.partitions, 8);
/// assert_eq!(options.capacity, 4096);
/// ```
///
/// With the `serde` feature: the keys of a configuration file's
/// `[[topics]]` table but `name` and `dedup_window`, read by the same
/// checks (`veltrix::config`): every key optional (missing ones take the
/// defaults), unknown keys rejected with a did-you-mean, every problem
/// reported at once; `partitioner` is a [`PartitionerKind`] (no `"key"`).
/// In a configuration file, prefer `config::TopicConfig`: it adds the name,
/// key partitioning and de-duplication, and is validated.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct TopicOptions {
    /// Number of partitions (at least 1). Default 1.
    pub partitions: u32,
    /// Slots per partition ring: a power of two. Default 1024.
    pub capacity: usize,
    /// Built-in partitioner used by [`EngineBuilder::topic`](crate::EngineBuilder::topic).
    pub partitioner: PartitionerKind,
    /// Stamp every event with its publish time
    /// ([`EventContext::published_at`](crate::EventContext::published_at)):
    /// one clock read per publish call, about as much as the rest of a
    /// hand-off. Default `false`: only the events whose latency the engine
    /// samples carry one (those whose sequence is a multiple of
    /// [`latency_sampling`](crate::EngineBuilder::latency_sampling); none
    /// with metrics off). A `publish_batch` reads the clock once and gives
    /// that time to each of its events that carries one. Publish times are
    /// kept beside the ring, one word per timed sequence, so a ring slot
    /// holds the bare event either way.
    pub timestamps: bool,
    /// What `publish` does when a partition is full. Default
    /// [`FullPolicy::Block`].
    pub full_policy: FullPolicy,
    /// Who publishes: any clone of the `Topic` handle, or one exclusive
    /// [`Producer`](crate::Producer). Default [`Producers::Multi`].
    pub producers: Producers,
    /// How many groups may subscribe to the topic while the engine runs
    /// ([`Engine::subscribe`](crate::Engine::subscribe)): each is a cursor
    /// slot on every partition's ring, made at build. A slot no group holds
    /// costs producers a lap of it (one CAS) at most once per half ring, and
    /// holds nobody back. Default 0.
    pub spare_groups: usize,
}

impl Default for TopicOptions {
    fn default() -> Self {
        TopicOptions {
            partitions: 1,
            capacity: 1024,
            partitioner: PartitionerKind::RoundRobin,
            timestamps: false,
            full_policy: FullPolicy::Block,
            producers: Producers::Multi,
            spare_groups: 0,
        }
    }
}

impl TopicOptions {
    /// Defaults with `partitions` partitions.
    #[must_use]
    pub fn new(partitions: u32) -> Self {
        TopicOptions {
            partitions,
            ..TopicOptions::default()
        }
    }

    /// Sets the slots per partition (a power of two).
    #[must_use]
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity;
        self
    }

    /// Sets the built-in partitioner.
    #[must_use]
    pub fn partitioner(mut self, kind: PartitionerKind) -> Self {
        self.partitioner = kind;
        self
    }

    /// Sets what `publish` does when a partition is full.
    #[must_use]
    pub fn full_policy(mut self, policy: FullPolicy) -> Self {
        self.full_policy = policy;
        self
    }

    /// Sets who publishes (see [`Producers`]).
    #[must_use]
    pub fn producers(mut self, producers: Producers) -> Self {
        self.producers = producers;
        self
    }

    /// Makes room for `n` groups subscribed while the engine runs (see
    /// the field).
    #[must_use]
    pub fn spare_groups(mut self, n: usize) -> Self {
        self.spare_groups = n;
        self
    }

    /// Stamps every event with its publish time (`true`), or only the
    /// events the latency metrics sample (`false`, the default).
    #[must_use]
    pub fn timestamps(mut self, on: bool) -> Self {
        self.timestamps = on;
        self
    }
}
