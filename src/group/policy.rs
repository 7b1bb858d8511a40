//! What a group does when its listener fails.

use std::time::Duration;

/// How many times a failed event is tried again before the group gives up on
/// it.
///
/// With the `serde` feature: an integer (`3`, for `Limited(3)`) or
/// `"forever"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Retries {
    /// Up to this many retries (0: give up after the first failure).
    Limited(u32),
    /// Until the listener succeeds. Needs a non-zero backoff.
    Forever,
}

/// Exponential backoff between the attempts of one event.
///
/// While an event waits for its next attempt, its partition waits too (order
/// is kept); the worker goes on with its other partitions, and a poller's
/// `poll` never sleeps.
///
/// With the `serde` feature: `{ initial = "1ms", max = "1s", multiplier = 2 }`,
/// every key optional (defaults as below), unknown keys rejected, durations
/// as strings of an integer and a unit (`ns`, `us`, `ms`, `s`, `m`, `h`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Backoff {
    /// Wait before the first retry.
    #[cfg_attr(
        feature = "serde",
        serde(serialize_with = "crate::duration::serde_str::serialize")
    )]
    pub initial: Duration,
    /// Longest wait between attempts.
    #[cfg_attr(
        feature = "serde",
        serde(serialize_with = "crate::duration::serde_str::serialize")
    )]
    pub max: Duration,
    /// Factor applied to the wait after each retry (at least 1).
    pub multiplier: u32,
}

impl Default for Backoff {
    /// 1 ms, doubling, at most 1 s.
    fn default() -> Self {
        Backoff::doubling(Duration::from_millis(1), Duration::from_secs(1))
    }
}

/// The longest wait a [`Backoff`] may set (`initial` and `max`): one hour.
/// A partition held longer than that is stuck rather than backing off
/// (use [`Exhausted::Halt`] for that), and a bound keeps every retry
/// deadline representable.
pub const MAX_BACKOFF: Duration = Duration::from_secs(3600);

impl Backoff {
    /// Waits of `initial`, doubling after each retry, at most `max`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use veltrix::Backoff;
    ///
    /// let backoff = Backoff::doubling(Duration::from_millis(5), Duration::from_millis(100));
    /// assert_eq!(backoff.multiplier, 2);
    /// ```
    #[must_use]
    pub const fn doubling(initial: Duration, max: Duration) -> Self {
        Backoff {
            initial,
            max,
            multiplier: 2,
        }
    }

    /// The wait before retry number `retry` (1-based).
    pub(crate) fn delay(&self, retry: u32) -> Duration {
        let factor = self
            .multiplier
            .max(1)
            .checked_pow(retry.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.initial.saturating_mul(factor).min(self.max)
    }
}

/// What happens to an event that failed every attempt.
///
/// With the `serde` feature: `"skip"`, `"halt"` or
/// `{ dead_letter = "orders.dlq" }`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Exhausted {
    /// Count it as skipped and go on. The default.
    #[default]
    Skip,
    /// Publish a [`DeadLetter`](crate::DeadLetter) (a copy of the event,
    /// the error, the attempts, where it came from) to this topic, declared
    /// with [`EngineBuilder::dead_letter_topic`](crate::EngineBuilder::dead_letter_topic).
    DeadLetter {
        /// The dead-letter topic.
        topic: String,
    },
    /// Stop consuming the event's partition and report it (see
    /// [`GroupReport::halted`](crate::GroupReport::halted)). The event and
    /// those after it stay in the partition; producers to it fill it up and
    /// then feel backpressure.
    Halt,
}

/// A group's answer to a listener that returns an error or panics.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use veltrix::{Backoff, Exhausted, FailurePolicy, Retries};
///
/// let policy = FailurePolicy::default()
///     .retries(Retries::Limited(3))
///     .backoff(Backoff { initial: Duration::from_millis(5), max: Duration::from_millis(100), multiplier: 2 })
///     .on_exhausted(Exhausted::DeadLetter { topic: "orders.dlq".into() });
/// # let _ = policy;
/// ```
///
/// With the `serde` feature: a table with the optional keys `retries`,
/// `backoff` and `on_exhausted` (the field `exhausted`); unknown keys are
/// rejected.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct FailurePolicy {
    /// Retries per event. Default none.
    pub retries: Retries,
    /// Waits between attempts.
    pub backoff: Backoff,
    /// What to do once retries are used up. Default [`Exhausted::Skip`].
    #[cfg_attr(feature = "serde", serde(rename = "on_exhausted"))]
    pub exhausted: Exhausted,
}

impl Default for Retries {
    fn default() -> Self {
        Retries::Limited(0)
    }
}

impl FailurePolicy {
    /// Sets the retries.
    #[must_use]
    pub fn retries(mut self, retries: Retries) -> Self {
        self.retries = retries;
        self
    }

    /// Sets the backoff.
    #[must_use]
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Sets what happens once retries are used up.
    #[must_use]
    pub fn on_exhausted(mut self, exhausted: Exhausted) -> Self {
        self.exhausted = exhausted;
        self
    }

    /// Whether an event that has failed `failures` times gets another try.
    pub(crate) fn may_retry(&self, failures: u32) -> bool {
        match self.retries {
            Retries::Limited(n) => failures <= n,
            Retries::Forever => true,
        }
    }
}

/// The hand-written `Serialize` forms: `Retries` as `3` or `"forever"`,
/// `Exhausted` as `"skip"`, `"halt"` or `{ dead_letter = "topic" }` — what a
/// person would write, rather than the derive's externally tagged shapes.
/// (`config`'s reader deserializes the same shapes.)
#[cfg(feature = "serde")]
mod serde_impls {
    use serde::ser::SerializeMap;
    use serde::{Serialize, Serializer};

    use super::{Exhausted, Retries};

    impl Serialize for Retries {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            match *self {
                Retries::Limited(n) => s.serialize_u32(n),
                Retries::Forever => s.serialize_str("forever"),
            }
        }
    }

    impl Serialize for Exhausted {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            match self {
                Exhausted::Skip => s.serialize_str("skip"),
                Exhausted::Halt => s.serialize_str("halt"),
                Exhausted::DeadLetter { topic } => {
                    let mut map = s.serialize_map(Some(1))?;
                    map.serialize_entry("dead_letter", topic)?;
                    map.end()
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_max() {
        let b = Backoff {
            initial: Duration::from_millis(10),
            max: Duration::from_millis(50),
            multiplier: 2,
        };
        let delays: Vec<_> = (1..=5).map(|r| b.delay(r).as_millis()).collect();
        assert_eq!(delays, vec![10, 20, 40, 50, 50]);
    }

    #[test]
    fn limited_retries_allow_exactly_n() {
        let p = FailurePolicy::default().retries(Retries::Limited(2));
        assert!(p.may_retry(1));
        assert!(p.may_retry(2));
        assert!(!p.may_retry(3));
    }
}
