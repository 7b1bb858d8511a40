//! The counts a group reports.

/// Counts of one group.
///
/// Every event published to the group's topic ends up in exactly one of
/// `handled`, `dead_lettered`, `skipped`, `deduplicated`, `lagged` — or is
/// still waiting (`lag`), or came before the group joined (`joined_at`):
/// `published = joined_at + handled + dead_lettered + skipped +
/// deduplicated + lagged + lag`.
/// [`Report::check_conservation`](crate::Report::check_conservation) checks
/// it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct GroupReport {
    /// The group.
    pub name: String,
    /// The topic it reads.
    pub topic: String,
    /// `"threads"` or `"poll"`.
    pub mode: &'static str,
    /// Events its listener handled successfully (on any attempt).
    pub handled: u64,
    /// Failed attempts: listener errors and panics, retried or not.
    pub failures: u64,
    /// Attempts scheduled again after a failure.
    pub retried: u64,
    /// Events that failed every attempt and went to the dead-letter topic.
    pub dead_lettered: u64,
    /// Events that failed every attempt and were skipped (policy `Skip`, or
    /// the dead-letter topic refused them — see `dead_letter_failed`).
    pub skipped: u64,
    /// Events not delivered because their id was in the de-duplication window.
    pub deduplicated: u64,
    /// Of `skipped`: events the dead-letter topic refused (closed, full under
    /// a non-blocking policy, or a self-deadlock).
    pub dead_letter_failed: u64,
    /// Values the group dropped whose `Drop` panicked: listener errors,
    /// panic payloads. Each panic was caught and the group carried on; a
    /// count above 0 points at a bug in that `Drop`.
    pub drop_panics: u64,
    /// Events a lossy group ([`LagPolicy::Lossy`](crate::LagPolicy::Lossy))
    /// skipped because it had fallen too far behind: never handed to its
    /// listener. 0 for every other group.
    pub lagged: u64,
    /// Events published to the topic and not yet consumed by this group
    /// (including those behind a halted partition).
    pub lag: u64,
    /// Events published to the topic before the group started reading it,
    /// all partitions: 0 for a group declared on the builder; for one
    /// added with [`Engine::subscribe`](crate::Engine::subscribe), the
    /// sequences below where it started
    /// ([`StartAt`](crate::StartAt)).
    pub joined_at: u64,
    /// Partitions halted by [`Exhausted::Halt`](crate::Exhausted::Halt): the
    /// group no longer reads them. Empty when healthy.
    pub halted: Vec<u32>,
    /// Workers a shutdown deadline found inside their listener and left
    /// behind (see [`Engine::shutdown_timeout`](crate::Engine::shutdown_timeout)).
    /// Empty unless a deadline passed with a listener that did not return.
    pub stuck: Vec<StuckWorker>,
    /// Listeners inside one event (or its batch's `on_batch_end`) for at
    /// least the engine's
    /// [`stall_threshold`](crate::EngineBuilder::stall_threshold) when this
    /// report was made: the workers they hold make no progress meanwhile.
    /// Also the `veltrix_stalled_listeners` gauge and a tracing warning per
    /// stall. Empty when every listener keeps moving.
    pub stalled: Vec<StalledListener>,
}

/// A listener found inside the same event for at least the stall
/// threshold, while the engine runs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct StalledListener {
    /// The worker's index in its group (its thread is
    /// `veltrix-<group>-<worker>`); 0 for a poll-mode group.
    pub worker: usize,
    /// The partition of the event it is on.
    pub partition: u32,
    /// The event's sequence (if it is in `on_batch_end`: the batch's last).
    pub sequence: u64,
    /// How long it has been there at least: since the first look that saw
    /// it there (the watchdog looks every quarter of the threshold).
    pub stalled_for: std::time::Duration,
}

/// A worker still inside its listener when a shutdown deadline passed (and
/// [`STUCK_GRACE`](crate::STUCK_GRACE) after it): the shutdown returned
/// without it. It exits by itself once its listener returns; the event it
/// was handling and the rest of its partitions are the group's `lag`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct StuckWorker {
    /// The worker's index in its group (its thread is
    /// `veltrix-<group>-<worker>`); 0 for a poll-mode group, whose stuck
    /// "worker" is a poll on a host thread.
    pub worker: usize,
    /// The partition of the event last handed to its listener.
    pub partition: u32,
    /// The sequence of that event: the one the listener is stuck in, or,
    /// if it is stuck in a hook after it (`on_batch_end`, `on_shutdown`),
    /// the last one it handled.
    pub sequence: u64,
}

impl GroupReport {
    /// Events consumed: `handled + dead_lettered + skipped + deduplicated`.
    #[must_use]
    pub fn consumed(&self) -> u64 {
        self.handled + self.dead_lettered + self.skipped + self.deduplicated
    }

    /// Every event of the topic this group accounts for: `joined_at +
    /// consumed() + lagged + lag`, which
    /// [`Report::check_conservation`](crate::Report::check_conservation)
    /// compares with the topic's published count.
    #[must_use]
    pub fn accounted(&self) -> u64 {
        self.joined_at + self.consumed() + self.lagged + self.lag
    }

    /// Whether no partition is halted and no worker was left stuck.
    #[must_use]
    pub fn is_healthy(&self) -> bool {
        self.halted.is_empty() && self.stuck.is_empty()
    }
}
