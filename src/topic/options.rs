//! Settings of a topic.

use crate::partitioner::{Fixed, Partitioner, RoundRobin, Sticky};

/// The keyless built-in partitioners, selectable by value (for keyed or
/// custom partitioning pass a [`Partitioner`] to
/// [`EngineBuilder::topic_with`](crate::EngineBuilder::topic_with)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum PartitionerKind {
    /// [`RoundRobin`]: even spread.
    #[default]
    RoundRobin,
    /// [`Sticky`]: runs of `linger` events per partition.
    Sticky {
        /// Events per partition before moving on.
        linger: u64,
    },
    /// [`Fixed`]: one partition for everything.
    Fixed {
        /// The partition.
        partition: u32,
    },
}

impl PartitionerKind {
    pub(crate) fn build<E>(self) -> Box<dyn Partitioner<E>> {
        match self {
            PartitionerKind::RoundRobin => Box::new(RoundRobin::new()),
            PartitionerKind::Sticky { linger } => Box::new(Sticky::new(linger)),
            PartitionerKind::Fixed { partition } => Box::new(Fixed(partition)),
        }
    }
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
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TopicOptions {
    /// Number of partitions (at least 1). Default 1.
    pub partitions: u32,
    /// Slots per partition ring: a power of two. Default 1024.
    pub capacity: usize,
    /// Built-in partitioner used by [`EngineBuilder::topic`](crate::EngineBuilder::topic).
    pub partitioner: PartitionerKind,
    /// Stamp each event with its publish time (one TSC read per publish
    /// call). Default `true`.
    pub timestamps: bool,
}

impl Default for TopicOptions {
    fn default() -> Self {
        TopicOptions {
            partitions: 1,
            capacity: 1024,
            partitioner: PartitionerKind::RoundRobin,
            timestamps: true,
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

    /// Turns publish timestamps on or off.
    #[must_use]
    pub fn timestamps(mut self, on: bool) -> Self {
        self.timestamps = on;
        self
    }
}
