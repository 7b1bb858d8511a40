//! Settings of a listener group.

use super::idle::WaitStrategy;
use super::FailurePolicy;

/// How a group's partitions are split among its workers.
///
/// With the `serde` feature: `"range"` or `"round_robin"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "snake_case")
)]
#[non_exhaustive]
pub enum Assignment {
    /// Contiguous ranges, like Kafka's `RangeAssignor`: with 8 partitions and
    /// 3 workers, worker 0 gets 0..3, worker 1 gets 3..6, worker 2 gets 6..8.
    #[default]
    Range,
    /// Dealt out in turn, like Kafka's `RoundRobinAssignor`: worker `w` gets
    /// partitions `w, w + workers, …`.
    RoundRobin,
}

/// Who drives a group.
///
/// With the `serde` feature: `{ workers = 4 }` or `"poll"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "snake_case")
)]
#[non_exhaustive]
pub enum GroupMode {
    /// The engine runs this many worker threads.
    Workers(usize),
    /// No threads: the host drives the group's [`Poller`](crate::Poller).
    Poll,
}

/// What a group does when it falls behind its topic's producers.
///
/// With the `serde` feature: `"backpressure"` or `{ lossy = 4096 }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "snake_case")
)]
#[non_exhaustive]
pub enum LagPolicy {
    /// The group sees every event: a producer that needs a slot the group
    /// has not released waits for it (its topic's
    /// [`FullPolicy`](crate::FullPolicy) decides how). Kafka's consumers
    /// never slow producers; this is the Disruptor's gating instead, and
    /// the default.
    #[default]
    Backpressure,
    /// The group never holds producers back between its batches: a producer
    /// that needs a slot the group has not released laps it (moves its
    /// cursor past the events it overwrites), and at the start of each
    /// batch the group skips ahead to stay at most this many events (at
    /// least 1) behind in a partition. Skipped events are counted as the
    /// group's [`lagged`](crate::GroupReport::lagged) (also
    /// `veltrix_lagged_total`) and are part of the conservation equation;
    /// what the group does see keeps its order. Like tokio's broadcast
    /// `Lagged`, for a group that must not stall the others: a dashboard, a
    /// sampler, a replay buffer. A listener inside a batch still holds the
    /// slots of that batch (it borrows them): a group stuck inside
    /// `on_event` holds producers as any group does.
    Lossy(u64),
}

impl LagPolicy {
    /// Whether this is [`LagPolicy::Backpressure`] (the default).
    #[must_use]
    pub fn is_backpressure(&self) -> bool {
        *self == LagPolicy::Backpressure
    }
}

/// How a listener group consumes its topic.
///
/// # Examples
///
/// ```
/// use veltrix::{Assignment, GroupOptions, WaitStrategy};
///
/// let threaded = GroupOptions::workers(4)
///     .assignment(Assignment::RoundRobin)
///     .wait_strategy(WaitStrategy::BusySpin);
/// let polled = GroupOptions::poll().max_batch(64);
/// # let _ = (threaded, polled);
/// ```
///
/// With the `serde` feature: the keys of a configuration file's
/// `[[groups]]` table but `name` and `topic`, read by the same checks
/// (`veltrix::config`): every key optional (missing ones take the
/// defaults), unknown keys rejected with a did-you-mean, every problem
/// reported at once; `failure` is a [`FailurePolicy`] table. In a
/// configuration file, prefer `config::GroupConfig`: it adds the group's
/// name and topic, and is validated.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct GroupOptions {
    /// Worker threads or poll mode. Default: one worker.
    pub mode: GroupMode,
    /// Partition assignment among workers. Default [`Assignment::Range`].
    pub assignment: Assignment,
    /// How idle workers wait. Default [`WaitStrategy::default`] (adaptive).
    pub wait: WaitStrategy,
    /// Most events handed out from one partition before the worker moves to
    /// its next partition (fairness) and calls `on_batch_end`. Default 256.
    pub max_batch: usize,
    /// What happens when the listener returns an error or panics. Default:
    /// no retry, skip (counted).
    pub failure: FailurePolicy,
    /// Groups of the same topic that must have finished with an event
    /// before this group sees it (stage dependencies: see
    /// [`after`](Self::after)). Default: none.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Vec::is_empty"))]
    pub after: Vec<String>,
    /// What the group does when it falls behind. Default
    /// [`LagPolicy::Backpressure`].
    #[cfg_attr(
        feature = "serde",
        serde(skip_serializing_if = "LagPolicy::is_backpressure")
    )]
    pub lag: LagPolicy,
    /// The most workers [`Engine::scale`](crate::Engine::scale) may give a
    /// threaded group (see [`max_workers`](Self::max_workers)). Default
    /// `None`: its initial count.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub max_workers: Option<usize>,
}

impl Default for GroupOptions {
    fn default() -> Self {
        GroupOptions {
            mode: GroupMode::Workers(1),
            assignment: Assignment::Range,
            wait: WaitStrategy::default(),
            max_batch: 256,
            failure: FailurePolicy::default(),
            after: Vec::new(),
            lag: LagPolicy::Backpressure,
            max_workers: None,
        }
    }
}

impl GroupOptions {
    /// A group of `workers` threads.
    #[must_use]
    pub fn workers(workers: usize) -> Self {
        GroupOptions {
            mode: GroupMode::Workers(workers),
            ..GroupOptions::default()
        }
    }

    /// A group with no threads, driven by the host through its
    /// [`Poller`](crate::Poller).
    #[must_use]
    pub fn poll() -> Self {
        GroupOptions {
            mode: GroupMode::Poll,
            ..GroupOptions::default()
        }
    }

    /// Sets the partition assignment.
    #[must_use]
    pub fn assignment(mut self, assignment: Assignment) -> Self {
        self.assignment = assignment;
        self
    }

    /// Lets [`Engine::scale`](crate::Engine::scale) give this threaded group
    /// up to `max` workers while it runs (from its initial count, at least
    /// 1 and at most [`MAX_WORKERS`](crate::MAX_WORKERS)). Each possible worker
    /// is counted in the memory budget from the start (its counters and,
    /// with metrics, its latency histograms), so the default is the
    /// initial count: scaling down, and back up to it, needs no
    /// declaration. A poll-mode group has no workers: build error.
    #[must_use]
    pub fn max_workers(mut self, max: usize) -> Self {
        self.max_workers = Some(max);
        self
    }

    /// The worker slots this group has: its most workers (1 in poll
    /// mode).
    pub(crate) fn worker_slots(&self) -> usize {
        match self.mode {
            GroupMode::Workers(n) => self.max_workers.unwrap_or(n).max(n),
            GroupMode::Poll => 1,
        }
    }

    /// Sets the wait strategy of idle workers.
    #[must_use]
    pub fn wait_strategy(mut self, wait: WaitStrategy) -> Self {
        self.wait = wait;
        self
    }

    /// Sets the failure policy.
    #[must_use]
    pub fn failure_policy(mut self, policy: FailurePolicy) -> Self {
        self.failure = policy;
        self
    }

    /// Sets the largest batch per partition (at least 1).
    #[must_use]
    pub fn max_batch(mut self, max_batch: usize) -> Self {
        self.max_batch = max_batch.max(1);
        self
    }

    /// Sets what the group does when it falls behind (see [`LagPolicy`]).
    /// A lossy group cannot take part in stage dependencies (neither
    /// [`after`](Self::after) others nor named by one): build error.
    ///
    /// # Examples
    ///
    /// ```
    /// use veltrix::{Engine, GroupOptions, LagPolicy, TopicOptions};
    ///
    /// // A dashboard that must never slow the game down.
    /// let engine = Engine::builder()
    ///     .topic::<u64>("ticks", TopicOptions::new(1).capacity(8))
    ///     .subscribe("game", "ticks", GroupOptions::workers(1), |_| {
    ///         veltrix::listener::from_fn(|_: &u64, _| Ok(()))
    ///     })
    ///     .subscribe(
    ///         "dashboard",
    ///         "ticks",
    ///         GroupOptions::poll().lag(LagPolicy::Lossy(4)),
    ///         |_| veltrix::listener::from_fn(|_: &u64, _| Ok(())),
    ///     )
    ///     .build()?;
    /// let ticks = engine.topic::<u64>("ticks")?;
    /// // Nobody polls the dashboard: producers lap it instead of waiting.
    /// for t in 0..1000 {
    ///     ticks.publish(t)?;
    /// }
    /// let report = engine.shutdown();
    /// let dashboard = report.group("dashboard").unwrap();
    /// assert!(dashboard.lagged >= 1000 - 8);
    /// assert_eq!(dashboard.handled + dashboard.lagged, 1000);
    /// report.check_conservation().unwrap();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn lag(mut self, policy: LagPolicy) -> Self {
        self.lag = policy;
        self
    }

    /// Runs this group as a later stage of groups on the same topic: it
    /// sees event `s` of a partition only after every group named here has
    /// finished with it (handled, skipped or dead-lettered it), like the
    /// LMAX Disruptor's `handleEventsWith(a).then(b)`. Pipelines and
    /// diamonds run on the topic's one ring: nothing is copied, and
    /// producers wait for the last stage only.
    ///
    /// A later stage never gets ahead of its dependencies: a dependency's
    /// halted partition holds it there too (counted as its `lag`), and a
    /// dependency's retries hold it while they wait. Naming an unknown
    /// group, a group of another topic, or a chain that comes back to
    /// this group is refused at build ([`BuildError::InvalidSetting`](crate::BuildError::InvalidSetting),
    /// field `after`). A configuration file writes `after = ["physics"]`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use std::sync::Arc;
    /// use veltrix::{Engine, GroupOptions, TopicOptions};
    ///
    /// // Replication sends what physics has already applied.
    /// let applied = Arc::new(AtomicU64::new(0));
    /// let engine = Engine::builder()
    ///     .topic::<u64>("moves", TopicOptions::new(1))
    ///     .subscribe("physics", "moves", GroupOptions::workers(1), {
    ///         let applied = applied.clone();
    ///         move |_| {
    ///             let applied = applied.clone();
    ///             veltrix::listener::from_fn(move |_: &u64, ctx| {
    ///                 applied.store(ctx.sequence() + 1, Ordering::Release);
    ///                 Ok(())
    ///             })
    ///         }
    ///     })
    ///     .subscribe("replication", "moves", GroupOptions::workers(1).after(["physics"]), {
    ///         let applied = applied.clone();
    ///         move |_| {
    ///             let applied = applied.clone();
    ///             veltrix::listener::from_fn(move |_: &u64, ctx| {
    ///                 assert!(applied.load(Ordering::Acquire) > ctx.sequence());
    ///                 Ok(())
    ///             })
    ///         }
    ///     })
    ///     .build()?;
    /// let moves = engine.topic::<u64>("moves")?;
    /// for m in 0..1000 {
    ///     moves.publish(m)?;
    /// }
    /// let report = engine.shutdown();
    /// assert_eq!(report.group("replication").unwrap().handled, 1000);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn after<I, S>(mut self, groups: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.after = groups.into_iter().map(Into::into).collect();
        self
    }
}
