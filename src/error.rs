//! Every error veltrix returns. Publish errors hand the event back; build and
//! lookup errors name the item, the bad value and what would be valid.

use std::fmt;

use thiserror::Error;

/// Why an event was not published. Holds the event: nothing is dropped.
///
/// `Debug` does not require `E: Debug`.
///
/// # Examples
///
/// ```
/// use veltrix::{Engine, PublishError, TopicOptions};
///
/// let engine = Engine::builder()
///     .topic::<u64>("ticks", TopicOptions::new(1).capacity(2))
///     .subscribe("slow", "ticks", veltrix::GroupOptions::poll(), |_| {
///         |_: &u64, _: &veltrix::EventContext<'_>| Ok(())
///     })
///     .build()
///     .unwrap();
/// let ticks = engine.topic::<u64>("ticks").unwrap();
/// ticks.try_publish(1).unwrap();
/// ticks.try_publish(2).unwrap();
/// match ticks.try_publish(3) {
///     Err(PublishError::Full(event)) => assert_eq!(event, 3),
///     other => panic!("expected Full, got {other:?}"),
/// }
/// ```
#[derive(Error)]
#[non_exhaustive]
pub enum PublishError<E> {
    /// The partition is full and the call does not wait.
    #[error(
        "partition is full; retry later, use the blocking `publish`, or raise the topic's capacity"
    )]
    Full(E),
    /// The topic no longer accepts events (the engine was shut down).
    #[error("topic is closed: the engine has shut down and accepts no more events")]
    Closed(E),
    /// The partitioner returned an index outside `0..partitions`.
    #[error("partitioner returned partition {index}, but the topic has {partitions} partitions (valid: 0..{partitions})")]
    InvalidPartition {
        /// The event, handed back.
        event: E,
        /// The index the partitioner returned.
        index: u32,
        /// The topic's partition count.
        partitions: u32,
    },
    /// A validator of the topic rejected the event.
    #[error("event rejected by the topic's validator: {reason}")]
    Invalid {
        /// The event, handed back.
        event: E,
        /// The validator's reason.
        reason: String,
    },
    /// The partition stayed full for the whole timeout of
    /// [`FullPolicy::BlockTimeout`](crate::FullPolicy::BlockTimeout).
    #[error("partition stayed full for the whole publish timeout; raise the timeout or the capacity, or speed up the slowest group")]
    Timeout(E),
    /// A blocking publish from a worker (or poller) of a group that reads the
    /// full partition: waiting would wait on itself forever.
    #[error("partition is full and the publishing thread is one of its own readers; blocking would deadlock. Use `try_publish` and handle the event, or raise the capacity")]
    WouldDeadlock(E),
}

impl<E> PublishError<E> {
    /// The event that was not published.
    #[must_use]
    pub fn into_inner(self) -> E {
        match self {
            PublishError::Full(e)
            | PublishError::Closed(e)
            | PublishError::WouldDeadlock(e)
            | PublishError::Timeout(e)
            | PublishError::InvalidPartition { event: e, .. }
            | PublishError::Invalid { event: e, .. } => e,
        }
    }

    /// The error of `kind` holding `event` (an `InvalidPartition` or
    /// `Invalid` kind carries its details; `Invalid` gets a generic reason).
    pub(crate) fn from_kind(kind: PublishErrorKind, event: E) -> Self {
        match kind {
            PublishErrorKind::Full => PublishError::Full(event),
            PublishErrorKind::Closed => PublishError::Closed(event),
            PublishErrorKind::WouldDeadlock => PublishError::WouldDeadlock(event),
            PublishErrorKind::Timeout => PublishError::Timeout(event),
            PublishErrorKind::InvalidPartition { index, partitions } => {
                PublishError::InvalidPartition {
                    event,
                    index,
                    partitions,
                }
            }
            PublishErrorKind::Invalid => PublishError::Invalid {
                event,
                reason: "rejected by the topic's validator".to_owned(),
            },
        }
    }

    /// What went wrong, without the event.
    #[must_use]
    pub fn kind(&self) -> PublishErrorKind {
        match self {
            PublishError::Full(_) => PublishErrorKind::Full,
            PublishError::Closed(_) => PublishErrorKind::Closed,
            PublishError::WouldDeadlock(_) => PublishErrorKind::WouldDeadlock,
            PublishError::Timeout(_) => PublishErrorKind::Timeout,
            PublishError::Invalid { .. } => PublishErrorKind::Invalid,
            PublishError::InvalidPartition {
                index, partitions, ..
            } => PublishErrorKind::InvalidPartition {
                index: *index,
                partitions: *partitions,
            },
        }
    }
}

impl<E> fmt::Debug for PublishError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublishError::{:?}", self.kind())
    }
}

/// [`PublishError`] without its event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PublishErrorKind {
    /// See [`PublishError::Full`].
    Full,
    /// See [`PublishError::Closed`].
    Closed,
    /// See [`PublishError::InvalidPartition`].
    InvalidPartition {
        /// The index the partitioner returned.
        index: u32,
        /// The topic's partition count.
        partitions: u32,
    },
    /// See [`PublishError::WouldDeadlock`].
    WouldDeadlock,
    /// See [`PublishError::Timeout`].
    Timeout,
    /// See [`PublishError::Invalid`].
    Invalid,
}

impl fmt::Display for PublishErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            PublishErrorKind::Full => f.write_str("partition is full"),
            PublishErrorKind::Closed => f.write_str("topic is closed"),
            PublishErrorKind::InvalidPartition { index, partitions } => write!(
                f,
                "partitioner returned partition {index}, valid: 0..{partitions}"
            ),
            PublishErrorKind::Timeout => f.write_str("partition stayed full for the whole timeout"),
            PublishErrorKind::Invalid => f.write_str("rejected by the topic's validator"),
            PublishErrorKind::WouldDeadlock => {
                f.write_str("blocking publish from a reader of the full partition would deadlock")
            }
        }
    }
}

/// A batch publish stopped part-way. The events already accepted stay
/// published; every other event of the batch is handed back, in order.
#[derive(Error)]
#[error("batch publish stopped after {accepted} events: {kind}; {} events handed back", unpublished.len())]
pub struct BatchPublishError<E> {
    /// Events of the batch that were published.
    pub accepted: usize,
    /// Why the rest was not.
    pub kind: PublishErrorKind,
    /// The events that were not published, in batch order.
    pub unpublished: Vec<E>,
}

impl<E> fmt::Debug for BatchPublishError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BatchPublishError")
            .field("accepted", &self.accepted)
            .field("kind", &self.kind)
            .field("unpublished", &self.unpublished.len())
            .finish()
    }
}

/// One setting that breaks a rule: whose, which, the value, the rule and
/// what would be right. Inside [`BuildError::InvalidSetting`].
///
/// `Display` puts it on one line:
///
/// ```text
/// group "billing": max_batch = 0: a batch holds at least 1 event; use 1 or more (the default is 256)
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{owner}: {field}{}: {message}; {fix}", value.as_ref().map(|v| format!(" = {v}")).unwrap_or_default())]
#[non_exhaustive]
pub struct InvalidSetting {
    /// Whose setting: `topic "orders"` or `group "billing"`.
    pub owner: String,
    /// The setting, as a configuration file names it: `partitions`,
    /// `mode.workers`, `failure.backoff.max`.
    pub field: &'static str,
    /// The value given, as a file would write it, when there is one.
    pub value: Option<String>,
    /// Which rule it breaks.
    pub rule: crate::Rule,
    /// The rule in words.
    pub message: String,
    /// What would be right.
    pub fix: String,
}

/// A topology that cannot be built. Each variant names the item, the value
/// and what would be valid.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum BuildError {
    /// A setting of one topic or group breaks one of the rules shared with
    /// configuration files ([`Rule`](crate::Rule)): a count or size out of
    /// range, a capacity that is not a power of two, a name a thread or a
    /// metric label cannot carry, a backoff that cannot work.
    #[error(transparent)]
    InvalidSetting(Box<InvalidSetting>),
    /// What the engine would allocate is more than its memory budget
    /// ([`EngineBuilder::memory_budget`](crate::EngineBuilder::memory_budget)).
    /// Checked before anything is allocated.
    #[error("{item} needs {bytes} bytes, and the whole topology {total} bytes: over the memory budget of {budget} bytes; make it smaller (capacity, partitions, workers, dedup window) or raise the budget with EngineBuilder::memory_budget")]
    OverBudget {
        /// The largest single item, e.g. `topic "orders" (64 partitions of 1048576 slots)`.
        item: String,
        /// Bytes that item needs.
        bytes: u128,
        /// Bytes the whole topology needs.
        total: u128,
        /// The budget.
        budget: u128,
    },
    /// The rings of a topic could not be allocated.
    #[error("topic '{topic}': {partitions} partitions x capacity {capacity} need {bytes} bytes, which cannot be allocated; lower the capacity or the partition count")]
    CapacityTooLarge {
        /// The topic.
        topic: String,
        /// The capacity per partition.
        capacity: usize,
        /// The partition count.
        partitions: u32,
        /// Bytes the rings would need.
        bytes: u128,
    },
    /// A [`publishes_to`](crate::EngineBuilder::publishes_to) edge names a
    /// group or topic that was not declared.
    #[error("publishes_to(\"{group}\", \"{topic}\"): no {missing} of that name is declared; declared: [{}]", known.join(", "))]
    UnknownEdge {
        /// The group named.
        group: String,
        /// The topic named.
        topic: String,
        /// `"group"` or `"topic"`: which one is missing.
        missing: &'static str,
        /// The declared names of that kind.
        known: Vec<String>,
    },
    /// Two topics with one name.
    #[error("topic '{name}' is declared twice; topic names must be unique")]
    DuplicateTopic {
        /// The name.
        name: String,
    },
    /// Two groups with one name.
    #[error("group '{name}' is declared twice; group names must be unique")]
    DuplicateGroup {
        /// The name.
        name: String,
    },
    /// A group subscribed to a topic that was not declared.
    #[error("group '{group}' subscribes to unknown topic '{topic}'; declared topics: [{}]", known.join(", "))]
    UnknownTopic {
        /// The group.
        group: String,
        /// The topic it named.
        topic: String,
        /// The topics that exist.
        known: Vec<String>,
    },
    /// A group's listener handles a different event type than its topic carries.
    #[error(
        "group '{group}' handles events of type {found}, but topic '{topic}' carries {expected}"
    )]
    TypeMismatch {
        /// The group.
        group: String,
        /// The topic.
        topic: String,
        /// The topic's event type.
        expected: &'static str,
        /// The group's event type.
        found: &'static str,
    },
    /// A topic no group reads: its events would have nowhere to go.
    #[error("topic '{topic}' has no listener group; subscribe a group to it or remove it")]
    TopicWithoutGroups {
        /// The topic.
        topic: String,
    },
    /// A failure policy names a dead-letter topic that cannot take the group's
    /// dead letters.
    #[error("group '{group}': dead-letter topic '{topic}' {problem}; declare it with EngineBuilder::dead_letter_topic::<{event}>(\"{topic}\", ..)")]
    InvalidDeadLetterTopic {
        /// The group.
        group: String,
        /// The dead-letter topic it names.
        topic: String,
        /// What is wrong with it.
        problem: String,
        /// The group's event type.
        event: &'static str,
    },
    /// A de-duplication setting that cannot work.
    #[error("topic '{topic}': de-duplication {problem}")]
    InvalidDedup {
        /// The topic.
        topic: String,
        /// What is wrong and what would be right.
        problem: String,
    },
    /// A validator that cannot apply to its topic.
    #[error("topic '{topic}': validator {problem}")]
    InvalidValidator {
        /// The topic.
        topic: String,
        /// What is wrong and what would be right.
        problem: String,
    },
    /// A worker thread could not be started.
    #[error("group '{group}': could not start a worker thread: {reason}; lower the worker count or raise the process's thread limit")]
    Spawn {
        /// The group.
        group: String,
        /// The operating system's reason.
        reason: String,
    },
    /// More than one of the above.
    #[error("{} errors:\n{}", .0.len(), .0.iter().map(|e| format!("  - {e}")).collect::<Vec<_>>().join("\n"))]
    Multiple(Vec<BuildError>),
}

impl BuildError {
    /// The individual errors (one, unless this is [`BuildError::Multiple`]).
    #[must_use]
    pub fn errors(&self) -> Vec<&BuildError> {
        match self {
            BuildError::Multiple(all) => all.iter().collect(),
            one => vec![one],
        }
    }

    pub(crate) fn from_list(mut errors: Vec<BuildError>) -> Option<BuildError> {
        match errors.len() {
            0 => None,
            1 => errors.pop(),
            _ => Some(BuildError::Multiple(errors)),
        }
    }
}

/// Why [`Engine::scale`](crate::Engine::scale) could not change a group's
/// worker count. The group is left as it was.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ScaleError {
    /// No group of that name.
    #[error(transparent)]
    Lookup(#[from] LookupError),
    /// The group is driven by the host's poller: it has no workers.
    #[error("group '{group}' is in poll mode: the host's poller is its one consumer, it has no workers to scale; only groups declared with GroupOptions::workers(n) scale")]
    PollMode {
        /// The group.
        group: String,
    },
    /// A count of workers the group cannot have.
    #[error("group '{group}' can have from 1 to {max} workers, not {requested}; declare GroupOptions::max_workers({requested}) (config key max_workers) to scale it that far")]
    OutOfRange {
        /// The group.
        group: String,
        /// The count asked for.
        requested: usize,
        /// Its `max_workers` (its initial count when not declared).
        max: usize,
    },
    /// Called from inside a listener: a scale waits for the group's
    /// workers to finish their batches, which a listener must not do.
    #[error("group '{group}' cannot be scaled from inside a listener (a scale waits for the group's workers between batches); call Engine::scale from a host thread")]
    FromListener {
        /// The group.
        group: String,
    },
    /// The engine is shutting down.
    #[error("group '{group}' is shutting down; it can no longer be scaled")]
    ShuttingDown {
        /// The group.
        group: String,
    },
    /// The operating system refused a new worker thread. The group runs
    /// with the workers that did start.
    #[error("group '{group}': the operating system refused worker thread {worker} ({reason}); the group runs with {workers} workers")]
    Spawn {
        /// The group.
        group: String,
        /// The worker that did not start.
        worker: usize,
        /// The workers the group has now.
        workers: usize,
        /// The operating system's error.
        reason: String,
    },
}

/// Why [`Engine::remove_topic`](crate::Engine::remove_topic) could not
/// remove a topic. The engine is left as it was.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum RemoveError {
    /// No topic of that name.
    #[error(transparent)]
    Lookup(#[from] LookupError),
    /// A group of another topic publishes into it (its dead-letter topic,
    /// or a `publishes_to` target): removing it would refuse that group's
    /// events.
    #[error("topic '{topic}' is fed by group '{group}' of another topic (a dead-letter topic or a publishes_to target); remove group '{group}'s topic first")]
    InUse {
        /// The topic.
        topic: String,
        /// A group that publishes into it.
        group: String,
    },
    /// Called from inside a listener of one of the topic's groups, which
    /// the removal would have to wait for.
    #[error("topic '{topic}' cannot be removed from inside a listener of its group '{group}' (the removal waits for that group to drain); remove it from a host thread")]
    FromListener {
        /// The topic.
        topic: String,
        /// The group whose listener called.
        group: String,
    },
}

/// Why [`Engine::subscribe`](crate::Engine::subscribe) could not add a group
/// to a running topic. The engine is left as it was.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SubscribeError {
    /// No topic of that name, or it carries another event type.
    #[error(transparent)]
    Lookup(#[from] LookupError),
    /// What `build` would have refused: an invalid name or setting, a name
    /// the engine has already, a bad dead-letter topic, a worker thread
    /// that could not start ([`BuildError::Multiple`] for more than one).
    #[error(transparent)]
    Build(#[from] BuildError),
    /// Every spare slot of the topic is held by a group subscribed at
    /// runtime.
    #[error("topic '{topic}' has no free slot for group '{group}': its {spare_groups} spare slot(s) are taken; declare it with TopicOptions::spare_groups(n) (config key spare_groups) for up to n groups subscribed while it runs, or unsubscribe one first")]
    NoSpareSlot {
        /// The topic.
        topic: String,
        /// The group that could not subscribe.
        group: String,
        /// The topic's [`TopicOptions::spare_groups`](crate::TopicOptions::spare_groups).
        spare_groups: usize,
    },
    /// A group option that only a group declared on the builder can have.
    #[error("group '{group}' cannot subscribe to a running topic with {option}; {fix}")]
    Unsupported {
        /// The group.
        group: String,
        /// The option.
        option: &'static str,
        /// What to do instead.
        fix: &'static str,
    },
    /// Called from inside a listener: subscribe from a host thread.
    #[error(
        "group '{group}' cannot be subscribed from inside a listener; subscribe from a host thread"
    )]
    FromListener {
        /// The group.
        group: String,
    },
    /// The topic is shutting down.
    #[error("topic '{topic}' is closed; nothing can subscribe to it")]
    Closed {
        /// The topic.
        topic: String,
    },
}

/// Why [`Engine::unsubscribe`](crate::Engine::unsubscribe) could not remove
/// a group. The engine is left as it was.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum UnsubscribeError {
    /// No group of that name.
    #[error(transparent)]
    Lookup(#[from] LookupError),
    /// The group was declared on the builder: it reads its topic for as
    /// long as the topic lives.
    #[error("group '{group}' was declared on the builder and reads its topic until the topic is removed or the engine shut down; only groups added with Engine::subscribe can unsubscribe")]
    DeclaredAtBuild {
        /// The group.
        group: String,
    },
    /// Called from inside one of the group's listeners, which the call
    /// would have to wait for.
    #[error("group '{group}' cannot be unsubscribed from inside its own listener (unsubscribing waits for it); unsubscribe from a host thread")]
    FromListener {
        /// The group.
        group: String,
    },
}

/// A topic, group or poller that cannot be looked up on a running engine.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum LookupError {
    /// No topic of that name.
    #[error("unknown topic '{name}'; declared topics: [{}]", known.join(", "))]
    UnknownTopic {
        /// The name asked for.
        name: String,
        /// The topics that exist.
        known: Vec<String>,
    },
    /// The topic exists with another event type.
    #[error("topic '{topic}' carries events of type {actual}, not {requested}")]
    WrongType {
        /// The topic.
        topic: String,
        /// Its event type.
        actual: &'static str,
        /// The type asked for.
        requested: &'static str,
    },
    /// No group of that name.
    #[error("unknown group '{name}'; declared groups: [{}]", known.join(", "))]
    UnknownGroup {
        /// The name asked for.
        name: String,
        /// The groups that exist.
        known: Vec<String>,
    },
    /// The group runs its own worker threads; it has no poller.
    #[error("group '{group}' runs on worker threads; only groups declared with GroupOptions::poll() have a poller")]
    NotPollMode {
        /// The group.
        group: String,
    },
    /// The poller of that group was already taken.
    #[error(
        "the poller of group '{group}' was already taken; there is one poller per poll-mode group"
    )]
    PollerTaken {
        /// The group.
        group: String,
    },
    /// The topic is single-producer: it has no shared `Topic` handle.
    #[error("topic '{topic}' is single-producer (Producers::Single): publish through its one Producer, from Engine::producer, or declare it with Producers::Multi to share Topic handles")]
    SingleProducer {
        /// The topic.
        topic: String,
    },
    /// The topic is multi-producer: publish through `Engine::topic`.
    #[error("topic '{topic}' is multi-producer: get a Topic handle with Engine::topic, or declare it with Producers::Single to have one exclusive Producer")]
    NotSingleProducer {
        /// The topic.
        topic: String,
    },
    /// The producer of that topic was already taken.
    #[error("the producer of single-producer topic '{topic}' was already taken; there is one per topic (move it to the producing thread)")]
    ProducerTaken {
        /// The topic.
        topic: String,
    },
}
