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

/// Where a failed event came from, for its dead letter.
pub(crate) struct Origin<'a> {
    pub(crate) topic: &'a str,
    pub(crate) group: &'a str,
    pub(crate) partition: u32,
    pub(crate) sequence: u64,
}

impl<E: Send + Sync + 'static> DeadLetterSink<E> {
    /// Publishes a copy of `event` as a dead letter; `wait` chooses the
    /// blocking `publish` (the topic's full policy) over `try_publish`.
    /// Returns whether the topic accepted it. The copy and the publish run
    /// user code (`Clone`, the dead-letter topic's partitioner and
    /// validators): a panic there counts as a refusal.
    pub(crate) fn send(
        &self,
        event: &E,
        error: String,
        attempts: u32,
        from: &Origin<'_>,
        wait: bool,
    ) -> bool {
        crate::panics::catch(|| {
            let letter = DeadLetter {
                event: (self.clone)(event),
                error,
                attempts,
                topic: from.topic.to_owned(),
                partition: from.partition,
                sequence: from.sequence,
                group: from.group.to_owned(),
            };
            if wait {
                self.topic.publish(letter).is_ok_and(|r| !r.is_dropped())
            } else {
                self.topic.try_publish(letter).is_ok()
            }
        })
        .unwrap_or(false)
    }
}
