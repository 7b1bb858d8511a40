//! Dead letters: events that failed every attempt, with why.

use std::fmt;

use crate::topic::Topic;

/// An event that failed every attempt of a group, published to the group's
/// dead-letter topic. Subscribe to that topic like any other.
#[derive(Clone)]
#[non_exhaustive]
pub struct DeadLetter<E> {
    /// A copy of the event.
    pub event: E,
    /// The last error (or panic message) of the listener.
    pub error: String,
    /// How many times the listener was tried.
    pub attempts: u32,
    /// The topic it came from.
    pub topic: String,
    /// Its partition there.
    pub partition: u32,
    /// Its sequence in that partition.
    pub sequence: u64,
    /// The group that gave up on it.
    pub group: String,
}

impl<E: fmt::Debug> fmt::Debug for DeadLetter<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeadLetter")
            .field("event", &self.event)
            .field("error", &self.error)
            .field("attempts", &self.attempts)
            .field("topic", &self.topic)
            .field("partition", &self.partition)
            .field("sequence", &self.sequence)
            .field("group", &self.group)
            .finish()
    }
}

/// Where a group sends its dead letters.
pub(crate) struct DeadLetterSink<E> {
    pub(crate) topic: Topic<DeadLetter<E>>,
    pub(crate) clone: fn(&E) -> E,
}
