//! Groups that join a running topic and leave it: an analytics group that
//! subscribes late, a debugging tap, a consumer that comes and goes.
//!
//! A ring's cursors are fixed when it is made, so a topic keeps
//! [`spare_groups`](crate::TopicOptions::spare_groups) cursor slots for
//! them (see the ring's `spare` module for how a slot is attached and
//! detached without a lock on publish or read). Subscribing takes a free
//! slot on every partition's ring and starts the group as `build` would;
//! unsubscribing stops the group, joins its workers and gives the slots
//! back, after which the group no longer gates producers.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::builder::NEXT_GROUP_ID;
use super::Engine;
use crate::error::{BuildError, SubscribeError, UnsubscribeError};
use crate::group::{
    Exhausted, GroupBlueprint, GroupMode, GroupOptions, LagPolicy, StartContext, TopicReaders,
    TypedGroup,
};
use crate::listener::{Listener, WorkerInfo};
use crate::report::GroupReport;
use crate::ring::{AttachRefused, ReaderSpec, StartAt};
use crate::topic::Topic;

/// The spare cursor slots of a topic's rings: the same indices on every
/// partition, after those of the groups declared on the builder.
#[derive(Debug)]
pub(crate) struct Spares {
    /// Index of the first spare cursor.
    first: usize,
    /// `taken[i]`: cursor `first + i` is held by a subscribed group.
    taken: parking_lot::Mutex<Vec<bool>>,
}

impl Spares {
    /// The spare slots among a ring's reader specs (which end with them).
    pub(crate) fn new(specs: &[ReaderSpec]) -> Self {
        let first = specs.iter().take_while(|s| !s.spare).count();
        Spares {
            first,
            taken: parking_lot::Mutex::new(vec![false; specs.len() - first]),
        }
    }

    /// Takes a free slot: its cursor index.
    fn take(&self) -> Option<usize> {
        let mut taken = self.taken.lock();
        let free = taken.iter().position(|t| !t)?;
        taken[free] = true;
        Some(self.first + free)
    }

    /// Gives slot `index` back.
    fn give_back(&self, index: usize) {
        self.taken.lock()[index - self.first] = false;
    }

    fn count(&self) -> usize {
        self.taken.lock().len()
    }
}

/// A group added with [`Engine::subscribe`].
#[derive(Debug)]
pub(crate) struct Joined {
    pub(crate) group: String,
    pub(crate) topic: String,
    /// Its cursor index in each of the topic's rings.
    slot: usize,
}

/// How [`Engine::unsubscribe`] lets a group go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Leave {
    /// Handle every event published before the call (in each partition,
    /// up to the producers' position at the call; a halted partition
    /// counts as done), then leave. Waits as long as that takes.
    Drain,
    /// As `Drain`, for at most this long; then leave as `Now` does.
    DrainFor(Duration),
    /// Leave after the batch each worker is in: what the group has not
    /// handled is its `lag` in the report.
    Now,
}

impl Engine {
    /// Subscribes group `group` to topic `topic` of this running engine,
    /// reading each partition from where `start` says: a late analytics
    /// group, a tap. The group runs as one declared on the builder does
    /// (its failure policy, de-duplication, metrics, scaling with
    /// [`scale`](Self::scale)) and gates producers like them, until
    /// [`unsubscribe`](Self::unsubscribe) lets it go. Its report counts the
    /// events before its start as [`GroupReport::joined_at`], so
    /// [`Report::check_conservation`](crate::Report::check_conservation)
    /// holds for it too.
    ///
    /// The topic must have been declared with room for it:
    /// [`TopicOptions::spare_groups`](crate::TopicOptions::spare_groups)
    /// slots, made at build. Taking one is lock-free for the topic's
    /// producers and other groups: nobody waits, nothing is copied.
    ///
    /// # Errors
    ///
    /// [`SubscribeError::Lookup`] for an unknown topic or another event
    /// type; [`SubscribeError::NoSpareSlot`] when every spare slot is
    /// taken; [`SubscribeError::Unsupported`] for a poll-mode group, stage
    /// dependencies ([`GroupOptions::after`]) or a lossy lag policy, which
    /// only groups declared on the builder can have;
    /// [`SubscribeError::Build`] for what `build` refuses (a bad name or
    /// setting, a name the engine already has, a bad dead-letter topic, a
    /// worker that could not start); [`SubscribeError::FromListener`] from
    /// inside a listener; [`SubscribeError::Closed`] once the topic closed.
    ///
    /// # Examples
    ///
    /// ```
    /// use veltrix::{Engine, EventContext, GroupOptions, Leave, StartAt, TopicOptions};
    ///
    /// let mut engine = Engine::builder()
    ///     .topic::<u64>("moves", TopicOptions::new(2).spare_groups(1))
    ///     .subscribe("physics", "moves", GroupOptions::workers(1), |_| {
    ///         |_: &u64, _: &EventContext<'_>| Ok(())
    ///     })
    ///     .build()?;
    /// let moves = engine.topic::<u64>("moves")?;
    /// moves.publish(1)?;
    /// engine.subscribe("replay", "moves", GroupOptions::workers(1), StartAt::Newest, |_| {
    ///     |_: &u64, _: &EventContext<'_>| Ok(())
    /// })?;
    /// moves.publish(2)?;
    /// let left = engine.unsubscribe("replay", Leave::Drain)?;
    /// assert_eq!((left.joined_at, left.handled, left.lag), (1, 1, 0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn subscribe<E, L, F>(
        &mut self,
        group: &str,
        topic: &str,
        options: GroupOptions,
        start: StartAt,
        factory: F,
    ) -> Result<(), SubscribeError>
    where
        E: Send + Sync + 'static,
        L: Listener<E> + 'static,
        F: FnMut(&WorkerInfo) -> L + Send + 'static,
    {
        if crate::group::nesting() > 0 {
            return Err(SubscribeError::FromListener {
                group: group.to_owned(),
            });
        }
        self.entry::<E>(topic)?;
        let t = self.topic_index(topic)?;
        unsupported(group, &options)?;
        let blueprint: Box<dyn GroupBlueprint> = Box::new(TypedGroup {
            name: group.to_owned(),
            topic: topic.to_owned(),
            options,
            factory,
            _types: std::marker::PhantomData::<fn(&E) -> L>,
        });
        let dead_letter = self.check_new_group(blueprint.as_ref())?;
        let entry = &self.topics[t];
        let slot = entry
            .spares
            .take()
            .ok_or_else(|| SubscribeError::NoSpareSlot {
                topic: topic.to_owned(),
                group: group.to_owned(),
                spare_groups: entry.spares.count(),
            })?;
        let handle = entry
            .handle
            .downcast_ref::<Topic<E>>()
            .expect("type id checked by `entry`");
        let inner = Arc::clone(handle.inner());
        let readers: Result<Vec<_>, AttachRefused> = inner
            .rings
            .iter()
            .map(|ring| crate::ring::Ring::attach(ring, slot, start))
            .collect();
        let readers = match readers {
            Ok(readers) => readers,
            // Those attached are dropped (detached) with the error.
            Err(AttachRefused::Closed) => {
                entry.spares.give_back(slot);
                return Err(SubscribeError::Closed {
                    topic: topic.to_owned(),
                });
            }
            // A slot the books call free is always detached (an
            // unsubscribed group's readers are dropped before its slot is
            // given back); if one were not, it stays taken.
            Err(refused @ (AttachRefused::InUse | AttachRefused::NotSpare)) => {
                debug_assert!(false, "spare slot {slot}: {refused:?}");
                return Err(SubscribeError::NoSpareSlot {
                    topic: topic.to_owned(),
                    group: group.to_owned(),
                    spare_groups: entry.spares.count(),
                });
            }
        };
        let mut for_group = TopicReaders {
            topic: inner,
            readers: vec![Some(readers)],
        };
        let ctx = StartContext {
            id: NEXT_GROUP_ID.fetch_add(1, Ordering::Relaxed),
            topic: &mut for_group,
            slot: 0,
            dead_letter: dead_letter.map(|d| self.topics[d].dead_letter_parts()),
            dedup: entry.dedup.clone(),
            metrics: self.metrics.on,
            latency_sampling: self.metrics.sampling,
            stall_threshold: self.stall_threshold,
        };
        let started = blueprint.start(ctx);
        // Whatever happened, the readers are the group's now or dropped
        // (detached) with `for_group`.
        drop(for_group);
        let control = match started {
            Ok(control) => control,
            Err(error) => {
                self.topics[t].spares.give_back(slot);
                return Err(error.into());
            }
        };
        self.plan.group_topic.push(t);
        self.plan.feeds.push(dead_letter.into_iter().collect());
        self.plan.after.push(Vec::new());
        self.groups.push(control);
        self.joined.push(Joined {
            group: group.to_owned(),
            topic: topic.to_owned(),
            slot,
        });
        self.topology_changed();
        #[cfg(feature = "tracing")]
        tracing::info!(group, topic, ?start, "veltrix: group subscribed");
        Ok(())
    }

    /// Lets group `group`, added with [`subscribe`](Self::subscribe), go:
    /// stops it as `leave` says, runs each listener's `on_shutdown`, joins
    /// its workers, and gives its slots back, after which it no longer
    /// gates the topic's producers. Returns its final counts (what it did
    /// not handle is its `lag`; nothing is dead-lettered for leaving).
    ///
    /// # Errors
    ///
    /// [`UnsubscribeError::Lookup`] for an unknown group;
    /// [`UnsubscribeError::DeclaredAtBuild`] for a group declared on the
    /// builder; [`UnsubscribeError::FromListener`] from inside one of the
    /// group's listeners. The engine is left as it was.
    pub fn unsubscribe(
        &mut self,
        group: &str,
        leave: Leave,
    ) -> Result<GroupReport, UnsubscribeError> {
        let g = self.group_index(group)?;
        let j = self
            .joined
            .iter()
            .position(|j| j.group == group)
            .ok_or_else(|| UnsubscribeError::DeclaredAtBuild {
                group: group.to_owned(),
            })?;
        let control = Arc::clone(&self.groups[g]);
        if control.driven_here() {
            return Err(UnsubscribeError::FromListener {
                group: group.to_owned(),
            });
        }
        let deadline = match leave {
            Leave::Drain => Some(None),
            Leave::DrainFor(limit) => Some(Instant::now().checked_add(limit)),
            Leave::Now => None,
        };
        if let Some(deadline) = deadline {
            drain_to_now(control.as_ref(), deadline);
        }
        control.abort();
        control.join(None);
        let report = control.report();
        control.release_readers();
        let joined = self.joined.remove(j);
        if let Some(entry) = self.topics.iter().find(|t| t.name == joined.topic) {
            entry.spares.give_back(joined.slot);
        }
        self.plan.remove_group(g);
        self.groups.remove(g);
        self.topology_changed();
        #[cfg(feature = "tracing")]
        tracing::info!(group, lag = report.lag, "veltrix: group unsubscribed");
        Ok(report)
    }

    /// What `build` checks of a group, against this engine: its settings,
    /// its name, its dead-letter topic (returned, by index).
    fn check_new_group(&self, group: &dyn GroupBlueprint) -> Result<Option<usize>, BuildError> {
        let mut errors = Vec::new();
        let mut found = Vec::new();
        crate::rules::group(group.name(), group.options(), &mut found);
        super::builder::invalid_settings("group", Some(group.name()), found, &mut errors);
        if self.groups.iter().any(|g| g.name() == group.name()) {
            errors.push(BuildError::DuplicateGroup {
                name: group.name().to_owned(),
            });
        }
        let mut dead_letter = None;
        if let Exhausted::DeadLetter { topic } = &group.options().failure.exhausted {
            let found = self.topics.iter().position(|t| &t.name == topic);
            let problem = super::builder::dead_letter_problem(
                found.map(|d| {
                    let t = &self.topics[d];
                    ((t.type_id, t.type_name), t.clone.is_some(), t.is_single())
                }),
                group.dead_letter_type(),
            );
            match problem {
                Some(problem) => errors.push(BuildError::InvalidDeadLetterTopic {
                    group: group.name().to_owned(),
                    topic: topic.clone(),
                    problem,
                    event: group.event_type().1,
                }),
                None => dead_letter = found,
            }
        }
        match BuildError::from_list(errors) {
            Some(error) => Err(error),
            None => Ok(dead_letter),
        }
    }
}

/// Refuses what only a group declared on the builder can have.
fn unsupported(group: &str, options: &GroupOptions) -> Result<(), SubscribeError> {
    let refuse = |option, fix| {
        Err(SubscribeError::Unsupported {
            group: group.to_owned(),
            option,
            fix,
        })
    };
    if options.mode == GroupMode::Poll {
        return refuse(
            "GroupOptions::poll()",
            "use worker threads (GroupOptions::workers), or declare the poll-mode group on the builder",
        );
    }
    if !options.after.is_empty() {
        return refuse(
            "stage dependencies (GroupOptions::after)",
            "declare the pipeline's groups on the builder",
        );
    }
    if options.lag != LagPolicy::Backpressure {
        return refuse(
            "a lossy lag policy",
            "use LagPolicy::Backpressure (the default), or declare the lossy group on the builder",
        );
    }
    Ok(())
}

/// Waits until `group` has consumed, in every partition, what was published
/// when this was called (a halted partition counts as done), or `deadline`
/// passes (`None`: no deadline).
fn drain_to_now(group: &dyn crate::group::GroupControl, deadline: Option<Instant>) {
    let targets: Vec<u64> = group
        .progress()
        .into_iter()
        .map(|(_, claimed)| claimed)
        .collect();
    let mut pause = Duration::from_micros(50);
    loop {
        let halted = group.report().halted;
        let done = group
            .progress()
            .iter()
            .zip(&targets)
            .enumerate()
            .all(|(p, ((cursor, _), target))| cursor >= target || halted.contains(&(p as u32)));
        if done || deadline.is_some_and(|d| Instant::now() >= d) {
            return;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(5));
    }
}
