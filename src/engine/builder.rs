//! Declaring a topology and building it into a running engine.

use std::any::{Any, TypeId};
use std::collections::HashSet;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::{Engine, TopicEntry};
use crate::error::{BuildError, InvalidSetting};
use crate::group::{
    DeadLetter, DedupSpec, DedupWindow, Exhausted, GroupBlueprint, GroupControl, GroupMode,
    GroupOptions, StartContext, TypedGroup,
};
use crate::listener::{Listener, WorkerInfo};
use crate::metrics::{Histograms, MetricsSettings, DEFAULT_LATENCY_BUCKETS};
use crate::partitioner::Partitioner;
use crate::ring::Claimers;
use crate::ring::Ring;
use crate::rules;
use crate::topic::{stamped_sequences, PartitionerKind, Topic, TopicOptions, Validator};
use crate::topic::{Producer, Producers, Route};

/// Per-worker bookkeeping besides the histograms (counters, thread-local
/// state), for the memory budget: a generous round figure.
const WORKER_STATE_BYTES: u128 = 4096;

/// One partition cursor of one group (cache-line aligned, with its reader
/// and retry state), for the memory budget.
const CURSOR_BYTES: u128 = 256;

/// Engine-unique group ids (0 means "no group").
static NEXT_GROUP_ID: AtomicU64 = AtomicU64::new(1);

/// Default of [`EngineBuilder::latency_sampling`]: one event in 64 per
/// partition is timed, which keeps the cost of metrics under 1 ns per event
/// and still gives hundreds of thousands of samples per second at speed.
pub const DEFAULT_LATENCY_SAMPLING: u32 = 64;

/// Default of [`EngineBuilder::memory_budget`]: 1 GiB.
///
/// Fixed rather than a share of the machine's memory, so one topology
/// builds, or is refused, the same way on every machine it is deployed to.
/// The default topology (1024-slot rings) needs well under a MiB per topic;
/// 1 GiB is, for example, 64 partitions of 1 Mi slots of 8-byte events.
pub const DEFAULT_MEMORY_BUDGET: u64 = 1 << 30;

/// Declares topics and groups, then [`build`](Self::build)s the engine.
///
/// Mistakes are collected, not raised one at a time: `build` reports all of
/// them together. The topology is fixed once built, like a Disruptor's.
///
/// # Examples
///
/// ```
/// use veltrix::partitioner::by_key;
/// use veltrix::{Engine, GroupOptions, TopicOptions};
///
/// struct Move { player: u64, x: i32 }
///
/// let engine = Engine::builder()
///     .topic_with::<Move, _>("moves", TopicOptions::new(4), by_key(|m: &Move| m.player))
///     .subscribe("physics", "moves", GroupOptions::workers(2), |_worker| {
///         veltrix::listener::from_fn(|m: &Move, _ctx| {
///             let _ = m.x;
///             Ok(())
///         })
///     })
///     .build()?;
/// engine.topic::<Move>("moves")?.publish(Move { player: 7, x: 1 })?;
/// let report = engine.shutdown();
/// assert_eq!(report.group("physics").unwrap().handled, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "a builder does nothing until `build` is called"]
pub struct EngineBuilder {
    topics: Vec<Box<dyn TopicBlueprint>>,
    groups: Vec<Box<dyn GroupBlueprint>>,
    dedups: Vec<PendingDedup>,
    validators: Vec<PendingValidator>,
    metrics: bool,
    latency_sampling: u32,
    latency_buckets: Vec<Duration>,
    memory_budget: u64,
    /// `publishes_to` edges: (group, topic).
    edges: Vec<(String, String)>,
    /// The exports added to this builder (the engine's imports join later).
    #[cfg(feature = "nats")]
    bridges: Arc<crate::bridge::Registry>,
}

/// A `validate` call, applied to its topic at build.
struct PendingValidator {
    topic: String,
    event: (TypeId, &'static str),
    /// The `Box<dyn Validator<E>>`.
    validator: Box<dyn Any + Send>,
}

/// A `deduplicate` call, applied to its topic at build.
struct PendingDedup {
    topic: String,
    window: usize,
    event: (TypeId, &'static str),
    /// The `DedupSpec<E>`, shared by every group of the topic.
    spec: Arc<dyn Any + Send + Sync>,
}

impl std::fmt::Debug for EngineBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineBuilder")
            .field(
                "topics",
                &self.topics.iter().map(|t| t.name()).collect::<Vec<_>>(),
            )
            .field(
                "groups",
                &self.groups.iter().map(|g| g.name()).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl EngineBuilder {
    pub(super) fn new() -> Self {
        EngineBuilder {
            topics: Vec::new(),
            groups: Vec::new(),
            dedups: Vec::new(),
            validators: Vec::new(),
            metrics: true,
            latency_sampling: DEFAULT_LATENCY_SAMPLING,
            latency_buckets: DEFAULT_LATENCY_BUCKETS.to_vec(),
            memory_budget: DEFAULT_MEMORY_BUDGET,
            edges: Vec::new(),
            #[cfg(feature = "nats")]
            bridges: Arc::default(),
        }
    }

    /// Declares topic `name` carrying events of type `E`, partitioned by the
    /// options' built-in keyless partitioner.
    pub fn topic<E: Send + Sync + 'static>(self, name: &str, options: TopicOptions) -> Self {
        let route = Route::<E>::builtin(options.partitioner);
        self.topic_routed(name, options, route, true)
    }

    /// Declares topic `name` with a partitioner of your own: a key
    /// ([`by_key`](crate::partitioner::by_key)), a closure or any
    /// [`Partitioner`].
    pub fn topic_with<E, P>(self, name: &str, options: TopicOptions, partitioner: P) -> Self
    where
        E: Send + Sync + 'static,
        P: Partitioner<E>,
    {
        self.topic_routed(name, options, Route::Custom(Box::new(partitioner)), false)
    }

    fn topic_routed<E: Send + Sync + 'static>(
        mut self,
        name: &str,
        options: TopicOptions,
        route: Route<E>,
        builtin: bool,
    ) -> Self {
        self.topics.push(Box::new(TypedTopic {
            name: name.to_owned(),
            options,
            route,
            builtin,
            validators: Vec::new(),
            clone: None,
        }));
        self
    }

    /// Declares topic `name` as a dead-letter topic for groups whose events
    /// are `E`: it carries [`DeadLetter<E>`] (a copy of the failed event —
    /// hence `E: Clone` — with the error, attempts and origin). Name it in a
    /// group's [`Exhausted::DeadLetter`] policy and subscribe a group to it
    /// like any other topic.
    pub fn dead_letter_topic<E>(mut self, name: &str, options: TopicOptions) -> Self
    where
        E: Clone + Send + Sync + 'static,
    {
        let clone: fn(&E) -> E = E::clone;
        self.topics.push(Box::new(TypedTopic::<DeadLetter<E>> {
            name: name.to_owned(),
            route: Route::builtin(options.partitioner),
            builtin: true,
            options,
            validators: Vec::new(),
            clone: Some(Box::new(clone)),
        }));
        self
    }

    /// Turns latency recording on (the default) or off for the whole engine.
    /// Counters, depth and lag are always kept.
    pub fn metrics(mut self, on: bool) -> Self {
        self.metrics = on;
        self
    }

    /// Times one handled event in `every` per partition (rounded up to a
    /// power of two; default [`DEFAULT_LATENCY_SAMPLING`], 1 times every
    /// event). Each timed event costs three clock reads (one at publish, two
    /// around the handler) and two histogram increments, about 40 ns; counts
    /// stay exact whatever the sampling.
    pub fn latency_sampling(mut self, every: u32) -> Self {
        self.latency_sampling = every.max(1).checked_next_power_of_two().unwrap_or(1 << 31);
        self
    }

    /// Sets the upper bounds of the latency histogram buckets (publish →
    /// handle latency and handler duration): increasing, above zero, at
    /// most [`MAX_LATENCY_BUCKETS`](crate::metrics::MAX_LATENCY_BUCKETS);
    /// Prometheus adds `+Inf`. Default
    /// [`DEFAULT_LATENCY_BUCKETS`](crate::metrics::DEFAULT_LATENCY_BUCKETS),
    /// 1-2-5 per decade from 1 µs to 10 s. Bounds only shape what is
    /// exported: the workers record into HdrHistograms (1 % resolution)
    /// whatever they are, so they cost nothing per event.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use veltrix::{Engine, GroupOptions, TopicOptions};
    ///
    /// let engine = Engine::builder()
    ///     .latency_buckets([Duration::from_micros(10), Duration::from_millis(1)])
    ///     .topic::<u32>("t", TopicOptions::new(1))
    ///     .subscribe("g", "t", GroupOptions::poll(), |_| veltrix::listener::from_fn(|_: &u32, _| Ok(())))
    ///     .build()?;
    /// let text = engine.metrics().to_prometheus();
    /// assert!(text.contains("veltrix_event_latency_seconds_bucket{group=\"g\",topic=\"t\",le=\"0.00001\"} 0"));
    /// assert!(text.contains("veltrix_event_latency_seconds_bucket{group=\"g\",topic=\"t\",le=\"+Inf\"} 0"));
    ///
    /// // Bounds that do not increase are a typed error.
    /// let refused = Engine::builder()
    ///     .latency_buckets([Duration::from_millis(1), Duration::from_micros(10)])
    ///     .topic::<u32>("t", TopicOptions::new(1))
    ///     .subscribe("g", "t", GroupOptions::poll(), |_| veltrix::listener::from_fn(|_: &u32, _| Ok(())))
    ///     .build();
    /// assert!(refused.unwrap_err().to_string().contains("latency_buckets"));
    /// # Ok::<(), veltrix::BuildError>(())
    /// ```
    pub fn latency_buckets(mut self, bounds: impl IntoIterator<Item = Duration>) -> Self {
        self.latency_buckets = bounds.into_iter().collect();
        self
    }

    /// Sets the most memory, in bytes, the engine may allocate for its own
    /// structures: the partition rings (slots of every topic), the
    /// de-duplication windows and each worker's state (counters, latency
    /// histograms, cursors). Default [`DEFAULT_MEMORY_BUDGET`] (1 GiB).
    ///
    /// `build` adds these up from the topology and the event types' sizes
    /// before allocating anything, and refuses a topology over the budget
    /// with [`BuildError::OverBudget`], naming its largest item. What
    /// listeners and events allocate on the heap themselves is theirs, and
    /// not counted.
    pub fn memory_budget(mut self, bytes: u64) -> Self {
        self.memory_budget = bytes;
        self
    }

    /// Adds a validator to topic `topic`: every publish runs it first, and a
    /// rejected event comes back in [`PublishError::Invalid`](crate::PublishError::Invalid)
    /// with the reason. Several validators run in the order added.
    pub fn validate<E, V>(mut self, topic: &str, validator: V) -> Self
    where
        E: Send + Sync + 'static,
        V: Validator<E>,
    {
        let boxed: Box<dyn Validator<E>> = Box::new(validator);
        self.validators.push(PendingValidator {
            topic: topic.to_owned(),
            event: (TypeId::of::<E>(), std::any::type_name::<E>()),
            validator: Box::new(boxed),
        });
        self
    }

    /// De-duplicates topic `topic`: an event whose `id` is among the last
    /// `window` ids of its partition is not delivered to any group, and is
    /// counted as `deduplicated` by each group. Events with one id must go
    /// to one partition (partition by the id, or a key it depends on).
    pub fn deduplicate<E, F>(mut self, topic: &str, window: usize, id: F) -> Self
    where
        E: Send + Sync + 'static,
        F: Fn(&E) -> u64 + Send + Sync + 'static,
    {
        self.dedups.push(PendingDedup {
            topic: topic.to_owned(),
            window,
            event: (TypeId::of::<E>(), std::any::type_name::<E>()),
            spec: Arc::new(DedupSpec::<E> {
                window,
                id: Box::new(id),
            }),
        });
        self
    }

    /// Subscribes group `group` to topic `topic`. `factory` makes one
    /// listener per worker (one in total for a poll-mode group), on the
    /// building thread, given the worker's identity and partitions.
    pub fn subscribe<E, L, F>(
        mut self,
        group: &str,
        topic: &str,
        options: GroupOptions,
        factory: F,
    ) -> Self
    where
        E: Send + Sync + 'static,
        L: Listener<E> + 'static,
        F: FnMut(&WorkerInfo) -> L + Send + 'static,
    {
        self.groups.push(Box::new(TypedGroup {
            name: group.to_owned(),
            topic: topic.to_owned(),
            options,
            factory,
            _types: PhantomData,
        }));
        self
    }

    /// Where the engine built from this builder keeps its bridges' counts.
    #[cfg(feature = "nats")]
    pub(crate) fn bridges(&self) -> &Arc<crate::bridge::Registry> {
        &self.bridges
    }

    /// The partition count of topic `name`, if it has been declared.
    #[cfg(feature = "nats")]
    pub(crate) fn partitions_of(&self, name: &str) -> Option<u32> {
        self.topics
            .iter()
            .find(|t| t.name() == name)
            .map(|t| t.options().partitions)
    }

    /// Declares that the listener of group `group` publishes into topic
    /// `topic` (a router, a stage of a pipeline). Shutdown then closes
    /// `topic` only after `group` has drained, so the events `group`
    /// forwards while it drains are accepted rather than refused with
    /// `Closed`; without the edge, topics close all at once. Dead-letter
    /// topics need no edge: the failure policy declares them. A cycle of
    /// edges closes together.
    ///
    /// # Examples
    ///
    /// ```
    /// use veltrix::{Engine, GroupOptions, TopicOptions};
    ///
    /// let engine = Engine::builder()
    ///     .topic::<u64>("raw", TopicOptions::new(1))
    ///     .topic::<u64>("clean", TopicOptions::new(1))
    ///     .subscribe("store", "clean", GroupOptions::workers(1), |_| {
    ///         veltrix::listener::from_fn(|_: &u64, _| Ok(()))
    ///     })
    ///     // Set after build, below: the stage forwards into "clean".
    ///     .subscribe("stage", "raw", GroupOptions::workers(1), {
    ///         let clean = std::sync::Arc::new(std::sync::OnceLock::<veltrix::Topic<u64>>::new());
    ///         move |_| {
    ///             let clean = clean.clone();
    ///             veltrix::listener::from_fn(move |e: &u64, _| {
    ///                 if let Some(clean) = clean.get() {
    ///                     clean.publish(*e)?;
    ///                 }
    ///                 Ok(())
    ///             })
    ///         }
    ///     })
    ///     .publishes_to("stage", "clean")
    ///     .build()?;
    /// let report = engine.shutdown();
    /// assert!(report.is_drained());
    /// # Ok::<(), veltrix::BuildError>(())
    /// ```
    pub fn publishes_to(mut self, group: &str, topic: &str) -> Self {
        self.edges.push((group.to_owned(), topic.to_owned()));
        self
    }

    /// Checks the whole topology, allocates every ring and starts every
    /// worker.
    ///
    /// # Errors
    ///
    /// Every mistake found, together ([`BuildError::Multiple`] when more than
    /// one): zero partitions, a capacity that is zero or not a power of two,
    /// rings too large to allocate, duplicate or empty names, a group on an
    /// unknown topic or with the wrong event type, zero workers, a topic no
    /// group reads, a worker thread that could not start.
    pub fn build(mut self) -> Result<Engine, BuildError> {
        if let Some(error) = BuildError::from_list(self.check()) {
            return Err(error);
        }
        self.within_budget()?;
        for pending in std::mem::take(&mut self.validators) {
            let topic = self
                .topics
                .iter_mut()
                .find(|t| t.name() == pending.topic)
                .expect("validated: the topic exists");
            topic.add_validator(pending.validator);
        }
        crate::clock::warm_up();
        let group_ids: Vec<u64> = self
            .groups
            .iter()
            .map(|_| NEXT_GROUP_ID.fetch_add(1, Ordering::Relaxed))
            .collect();
        let mut topics: Vec<TopicEntry> = Vec::with_capacity(self.topics.len());
        // readers[g]: the readers made for group g.
        let mut readers: Vec<Option<Box<dyn Any>>> = self.groups.iter().map(|_| None).collect();
        for blueprint in self.topics {
            let members: Vec<usize> = (0..self.groups.len())
                .filter(|&g| self.groups[g].topic() == blueprint.name())
                .collect();
            let sampling = self.metrics.then_some(self.latency_sampling);
            let built = match blueprint.instantiate(members.len(), sampling) {
                Ok(built) => built,
                Err(error) => {
                    close_all(&topics, &[]);
                    return Err(error);
                }
            };
            for (slot, group_readers) in members.into_iter().zip(built.readers) {
                readers[slot] = Some(group_readers);
            }
            topics.push(built.entry);
        }
        let topic_index = |name: &str| topics.iter().position(|t| t.name == name);
        let mut plan = super::ShutdownPlan::default();
        let mut groups: Vec<Arc<dyn GroupControl>> = Vec::with_capacity(self.groups.len());
        for ((blueprint, id), group_readers) in self.groups.into_iter().zip(group_ids).zip(readers)
        {
            let topic = topic_index(blueprint.topic()).expect("validated: the topic exists");
            let dead_letter_topic = match &blueprint.options().failure.exhausted {
                Exhausted::DeadLetter { topic } => topic_index(topic),
                _ => None,
            };
            plan.group_topic.push(topic);
            let mut feeds: Vec<usize> = self
                .edges
                .iter()
                .filter(|(group, _)| group == blueprint.name())
                .filter_map(|(_, target)| topic_index(target))
                .collect();
            feeds.extend(dead_letter_topic);
            plan.feeds.push(feeds);
            let ctx = StartContext {
                id,
                topic: topics[topic].handle.as_ref(),
                readers: group_readers.expect("validated: every group has readers"),
                dead_letter: dead_letter_topic.map(|t| {
                    let entry = &topics[t];
                    let clone = entry
                        .clone
                        .as_deref()
                        .expect("validated: a dead-letter topic");
                    (entry.handle.as_ref() as &dyn Any, clone as &dyn Any)
                }),
                dedup: self
                    .dedups
                    .iter()
                    .find(|d| d.topic == blueprint.topic())
                    .map(|d| Arc::clone(&d.spec)),
                metrics: self.metrics,
                latency_sampling: self.latency_sampling,
            };
            match blueprint.start(ctx) {
                Ok(group) => groups.push(group),
                Err(error) => {
                    close_all(&topics, &groups);
                    return Err(error);
                }
            }
        }
        let metrics = MetricsSettings {
            sampling: self.latency_sampling,
            buckets: self.latency_buckets,
        };
        Ok(Engine::from_parts(
            topics,
            groups,
            plan,
            Arc::new(metrics),
            #[cfg(feature = "nats")]
            self.bridges,
        ))
    }

    fn check(&self) -> Vec<BuildError> {
        let mut errors = Vec::new();
        let mut found = Vec::new();
        rules::latency_buckets(&self.latency_buckets, &mut found);
        invalid_settings("engine", None, found, &mut errors);
        let mut names = HashSet::new();
        for topic in &self.topics {
            let options = topic.options();
            let values = rules::TopicValues {
                name: topic.name(),
                partitions: options.partitions,
                capacity: options.capacity,
                partitioner: topic.builtin_partitioner(),
                dedup_window: self
                    .dedups
                    .iter()
                    .find(|d| d.topic == topic.name())
                    .map(|d| d.window),
                full_policy: options.full_policy,
            };
            let mut found = Vec::new();
            rules::topic(&values, &mut found);
            invalid_settings("topic", Some(topic.name()), found, &mut errors);
            if !topic.name().is_empty() && !names.insert(topic.name()) {
                errors.push(BuildError::DuplicateTopic {
                    name: topic.name().to_owned(),
                });
            }
            if !self.groups.iter().any(|g| g.topic() == topic.name()) {
                errors.push(BuildError::TopicWithoutGroups {
                    topic: topic.name().to_owned(),
                });
            }
        }
        let known: Vec<String> = self.topics.iter().map(|t| t.name().to_owned()).collect();
        let mut group_names = HashSet::new();
        for group in &self.groups {
            let mut found = Vec::new();
            rules::group(group.name(), group.options(), &mut found);
            invalid_settings("group", Some(group.name()), found, &mut errors);
            if !group.name().is_empty() && !group_names.insert(group.name()) {
                errors.push(BuildError::DuplicateGroup {
                    name: group.name().to_owned(),
                });
            }
            self.validate_policy(group.as_ref(), &mut errors);
            match self.topics.iter().find(|t| t.name() == group.topic()) {
                None => errors.push(BuildError::UnknownTopic {
                    group: group.name().to_owned(),
                    topic: group.topic().to_owned(),
                    known: known.clone(),
                }),
                Some(topic) => {
                    let (found_id, found) = group.event_type();
                    let (expected_id, expected) = topic.event_type();
                    if found_id != expected_id {
                        errors.push(BuildError::TypeMismatch {
                            group: group.name().to_owned(),
                            topic: topic.name().to_owned(),
                            expected,
                            found,
                        });
                    }
                }
            }
        }
        for (group, topic) in &self.edges {
            let missing = if !self.groups.iter().any(|g| g.name() == group) {
                Some((
                    "group",
                    self.groups.iter().map(|g| g.name().to_owned()).collect(),
                ))
            } else if !self.topics.iter().any(|t| t.name() == topic) {
                Some(("topic", known.clone()))
            } else {
                None
            };
            if let Some((missing, known)) = missing {
                errors.push(BuildError::UnknownEdge {
                    group: group.clone(),
                    topic: topic.clone(),
                    missing,
                    known,
                });
            }
        }
        for dedup in &self.dedups {
            let problem = self.attachment_problem(&dedup.topic, dedup.event, "extracts ids from");
            if let Some(problem) = problem {
                errors.push(BuildError::InvalidDedup {
                    topic: dedup.topic.clone(),
                    problem,
                });
            }
        }
        for pending in &self.validators {
            let problem = self.attachment_problem(&pending.topic, pending.event, "checks");
            if let Some(problem) = problem {
                errors.push(BuildError::InvalidValidator {
                    topic: pending.topic.clone(),
                    problem,
                });
            }
        }
        errors
    }

    /// Adds up what the topology would allocate (see
    /// [`memory_budget`](Self::memory_budget)) and refuses it, naming its
    /// largest item, when that is over the budget. Runs after `check`, so
    /// every size is in range, and before anything is allocated.
    fn within_budget(&self) -> Result<(), BuildError> {
        let mut items: Vec<(String, u128)> = Vec::new();
        for topic in &self.topics {
            let readers = self
                .groups
                .iter()
                .filter(|g| g.topic() == topic.name())
                .count();
            let o = topic.options();
            items.push((
                format!(
                    "topic {:?} ({} partitions of {} slots)",
                    topic.name(),
                    o.partitions,
                    o.capacity
                ),
                topic.footprint(readers),
            ));
        }
        let per_worker = WORKER_STATE_BYTES
            + if self.metrics {
                Histograms::footprint()
            } else {
                0
            };
        for group in &self.groups {
            let Some(topic) = self.topics.iter().find(|t| t.name() == group.topic()) else {
                continue;
            };
            let partitions = u128::from(topic.options().partitions);
            let workers = match group.options().mode {
                GroupMode::Workers(n) => n as u128,
                GroupMode::Poll => 1,
            };
            let window = self
                .dedups
                .iter()
                .find(|d| d.topic == group.topic())
                .map_or(0, |d| DedupWindow::footprint(d.window));
            items.push((
                format!("group {:?} ({workers} workers)", group.name()),
                workers * per_worker + partitions * (CURSOR_BYTES + window),
            ));
        }
        let total: u128 = items.iter().map(|(_, bytes)| bytes).sum();
        let budget = u128::from(self.memory_budget);
        if total <= budget {
            return Ok(());
        }
        let (item, bytes) = items
            .into_iter()
            .max_by_key(|(_, bytes)| *bytes)
            .expect("a topology over budget has an item");
        Err(BuildError::OverBudget {
            item,
            bytes,
            total,
            budget,
        })
    }

    /// What is wrong with attaching something for events of type `event` to
    /// topic `topic` (a de-dup id function, a validator), if anything.
    fn attachment_problem(
        &self,
        topic: &str,
        event: (TypeId, &'static str),
        verb: &str,
    ) -> Option<String> {
        match self.topics.iter().find(|t| t.name() == topic) {
            None => {
                let known: Vec<&str> = self.topics.iter().map(|t| t.name()).collect();
                Some(format!(
                    "names an unknown topic; declared topics: [{}]",
                    known.join(", ")
                ))
            }
            Some(t) if t.event_type().0 != event.0 => Some(format!(
                "{verb} {}, but the topic carries {}",
                event.1,
                t.event_type().1
            )),
            Some(_) => None,
        }
    }

    fn validate_policy(&self, group: &dyn GroupBlueprint, errors: &mut Vec<BuildError>) {
        let policy = &group.options().failure;
        let Exhausted::DeadLetter { topic } = &policy.exhausted else {
            return;
        };
        let (expected_id, expected) = group.dead_letter_type();
        let problem = match self.topics.iter().find(|t| t.name() == topic) {
            None => Some("does not exist".to_owned()),
            Some(t) if t.event_type().0 != expected_id => {
                Some(format!("carries {}, not {expected}", t.event_type().1))
            }
            Some(t) if !t.is_dead_letter() => {
                Some("was declared as a plain topic, so it cannot copy failed events".to_owned())
            }
            Some(t) if t.options().producers == Producers::Single => Some(
                "is single-producer, but every failing group must be able to publish into it; declare it with Producers::Multi (the default)".to_owned(),
            ),
            Some(_) => None,
        };
        if let Some(problem) = problem {
            errors.push(BuildError::InvalidDeadLetterTopic {
                group: group.name().to_owned(),
                topic: topic.clone(),
                problem,
                event: group.event_type().1,
            });
        }
    }
}

/// The errors among `found`, the findings of the shared rules about the
/// settings of `what` (`"topic"`, `"group"`, `"engine"`) `name`. Warnings
/// do not stop a build from code; `Config::validate` reports them for files.
fn invalid_settings(
    what: &str,
    name: Option<&str>,
    found: Vec<rules::Finding>,
    errors: &mut Vec<BuildError>,
) {
    let owner = match name {
        Some(name) => format!("{what} {name:?}"),
        None => what.to_owned(),
    };
    errors.extend(found.into_iter().filter(rules::Finding::is_error).map(|f| {
        BuildError::InvalidSetting(Box::new(InvalidSetting {
            owner: owner.clone(),
            field: f.field,
            value: f.value,
            rule: f.rule,
            message: f.message,
            fix: f.fix,
        }))
    }));
}

/// Closes every topic and drains every started group: used when a build
/// fails half-way, so no thread is left behind.
fn close_all(topics: &[TopicEntry], groups: &[Arc<dyn GroupControl>]) {
    for topic in topics {
        topic.control.close();
    }
    for group in groups {
        group.request_stop();
    }
    for group in groups {
        group.join(None);
    }
}

/// A topic once its rings exist.
pub(super) struct BuiltTopic {
    pub(super) entry: TopicEntry,
    /// One `Box<Vec<Reader<E>>>` per reading group, in order.
    pub(super) readers: Vec<Box<dyn Any>>,
}

/// A topic declared on the builder.
trait TopicBlueprint: Send {
    fn name(&self) -> &str;
    fn options(&self) -> &TopicOptions;
    /// The built-in partitioner it routes with, if it uses one.
    fn builtin_partitioner(&self) -> Option<PartitionerKind>;
    /// Bytes its rings take with `readers` groups reading them (see
    /// [`EngineBuilder::memory_budget`]).
    fn footprint(&self, readers: usize) -> u128;
    fn event_type(&self) -> (TypeId, &'static str);
    fn is_dead_letter(&self) -> bool;
    /// Adds a `Box<dyn Validator<E>>` (type checked by the builder).
    fn add_validator(&mut self, validator: Box<dyn Any + Send>);
    /// Builds the rings; `sampling` is the groups' latency sampling period
    /// (`None` with metrics off), which decides which events get timestamps.
    fn instantiate(
        self: Box<Self>,
        readers: usize,
        sampling: Option<u32>,
    ) -> Result<BuiltTopic, BuildError>;
}

struct TypedTopic<E> {
    name: String,
    options: TopicOptions,
    route: Route<E>,
    /// Whether `route` is the options' built-in partitioner.
    builtin: bool,
    validators: Vec<Box<dyn Validator<E>>>,
    /// For dead-letter topics (`E = DeadLetter<X>`): the `fn(&X) -> X`
    /// copying failed events.
    clone: Option<Box<dyn Any + Send + Sync>>,
}

impl<E> TypedTopic<E> {
    /// Who claims the sequences of its rings.
    fn claimers(&self) -> Claimers {
        match self.options.producers {
            Producers::Multi => Claimers::Shared,
            Producers::Single => Claimers::Sole,
        }
    }
}

impl<E: Send + Sync + 'static> TopicBlueprint for TypedTopic<E> {
    fn name(&self) -> &str {
        &self.name
    }

    fn options(&self) -> &TopicOptions {
        &self.options
    }

    fn builtin_partitioner(&self) -> Option<PartitionerKind> {
        self.builtin.then_some(self.options.partitioner)
    }

    fn footprint(&self, readers: usize) -> u128 {
        let TopicOptions {
            partitions,
            capacity,
            ..
        } = self.options;
        Ring::<E>::footprint(capacity, readers, self.claimers()) * u128::from(partitions)
    }

    fn event_type(&self) -> (TypeId, &'static str) {
        (TypeId::of::<E>(), std::any::type_name::<E>())
    }

    fn is_dead_letter(&self) -> bool {
        self.clone.is_some()
    }

    fn add_validator(&mut self, validator: Box<dyn Any + Send>) {
        let validator = validator
            .downcast::<Box<dyn Validator<E>>>()
            .expect("builder checked the event type");
        self.validators.push(*validator);
    }

    fn instantiate(
        self: Box<Self>,
        readers: usize,
        sampling: Option<u32>,
    ) -> Result<BuiltTopic, BuildError> {
        let TopicOptions {
            partitions,
            capacity,
            ..
        } = self.options;
        let too_large = |bytes| BuildError::CapacityTooLarge {
            topic: self.name.clone(),
            capacity,
            partitions,
            bytes,
        };
        // Refuse sizes no allocator could satisfy before trying: a 64-bit
        // address space cannot hold more than isize::MAX bytes per allocation.
        let total = self.footprint(readers);
        let claimers = self.claimers();
        if Ring::<E>::footprint(capacity, readers, claimers) > isize::MAX as u128 {
            return Err(too_large(total));
        }
        let timed = stamped_sequences(self.options.timestamps, sampling);
        let mut rings = Vec::with_capacity(partitions as usize);
        let mut lanes = Vec::new();
        let mut per_group: Vec<Vec<_>> = (0..readers).map(|_| Vec::new()).collect();
        for _ in 0..partitions {
            let (ring, readers, sole) =
                Ring::<E>::new(capacity, readers, claimers, timed).map_err(|_| too_large(total))?;
            rings.push(ring);
            lanes.extend(sole);
            for (list, reader) in per_group.iter_mut().zip(readers) {
                list.push(reader);
            }
        }
        let name: Arc<str> = self.name.as_str().into();
        let topic = Topic::from_parts(
            Arc::clone(&name),
            rings.into_boxed_slice(),
            self.route,
            &self.options,
            self.validators,
        );
        let producer: Option<Box<dyn Any + Send>> = (claimers == Claimers::Sole)
            .then(|| Box::new(Producer::new(Arc::clone(topic.inner()), lanes)) as _);
        let control: Arc<dyn super::TopicControl> = Arc::new(topic.clone());
        Ok(BuiltTopic {
            entry: TopicEntry {
                name: self.name,
                type_id: TypeId::of::<E>(),
                type_name: std::any::type_name::<E>(),
                handle: Box::new(topic),
                producer: parking_lot::Mutex::new(producer),
                control,
                clone: self.clone,
            },
            readers: per_group
                .into_iter()
                .map(|list| Box::new(list) as Box<dyn Any>)
                .collect(),
        })
    }
}
