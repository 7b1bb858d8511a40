//! Declaring a topology and building it into a running engine.

mod check;

pub(in crate::engine) use check::{dead_letter_problem, invalid_settings};

use std::any::{Any, TypeId};
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::blueprint::{TopicBlueprint, TypedTopic};
use super::{Engine, TopicEntry};
use crate::error::BuildError;
use crate::group::{
    DeadLetter, DedupSpec, Exhausted, GroupBlueprint, GroupControl, GroupOptions, LagPolicy,
    StartContext, TypedGroup,
};
use crate::listener::{Listener, WorkerInfo};
use crate::metrics::{MetricsSettings, DEFAULT_LATENCY_BUCKETS};
use crate::partitioner::Partitioner;
use crate::ring::ReaderSpec;
use crate::topic::{Route, TopicOptions, Validator};

/// Engine-unique group ids (0 means "no group").
pub(in crate::engine) static NEXT_GROUP_ID: AtomicU64 = AtomicU64::new(1);

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
    stall_threshold: Option<Duration>,
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
            stall_threshold: Some(crate::group::DEFAULT_STALL_THRESHOLD),
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

    /// Reports a listener that stays inside one event (or in its batch's
    /// `on_batch_end`) for `threshold` or longer: in
    /// [`GroupReport::stalled`](crate::GroupReport::stalled), the
    /// `veltrix_stalled_listeners` gauge and a tracing warning (feature
    /// `tracing`), while the engine runs. A watchdog thread looks every
    /// quarter of the threshold; `None` turns watching off (no thread).
    /// Default [`DEFAULT_STALL_THRESHOLD`](crate::DEFAULT_STALL_THRESHOLD),
    /// 10 s; a threshold under 1 ms is refused at build.
    pub fn stall_threshold(mut self, threshold: Option<Duration>) -> Self {
        self.stall_threshold = threshold;
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

    /// The names of the topics and of the groups declared so far.
    pub(in crate::engine) fn declared(&self) -> (Vec<String>, Vec<String>) {
        (
            self.topics.iter().map(|t| t.name().to_owned()).collect(),
            self.groups.iter().map(|g| g.name().to_owned()).collect(),
        )
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
        // readers[t]: the `TopicReaders<E>` of topic t, which its groups
        // start from.
        let mut readers: Vec<Box<dyn Any>> = Vec::with_capacity(self.topics.len());
        for blueprint in self.topics {
            let mut specs = reader_specs(&self.groups, blueprint.name());
            specs.extend((0..blueprint.options().spare_groups).map(|_| ReaderSpec {
                spare: true,
                ..ReaderSpec::default()
            }));
            let dedup = self
                .dedups
                .iter()
                .find(|d| d.topic == blueprint.name())
                .map(|d| Arc::clone(&d.spec));
            let sampling = self.metrics.then_some(self.latency_sampling);
            let mut built = match blueprint.instantiate(&specs, sampling) {
                Ok(built) => built,
                Err(error) => {
                    close_all(&topics, &[]);
                    return Err(error);
                }
            };
            built.entry.dedup = dedup;
            topics.push(built.entry);
            readers.push(built.readers);
        }
        let topic_index = |name: &str| topics.iter().position(|t| t.name == name);
        // started[t]: how many of topic t's groups have started, so the
        // next one (in declaration order) takes the readers made next.
        let mut started = vec![0usize; topics.len()];
        let mut plan = super::ShutdownPlan {
            after: self
                .groups
                .iter()
                .map(|g| {
                    let after = &g.options().after;
                    (0..self.groups.len())
                        .filter(|&u| after.iter().any(|name| name == self.groups[u].name()))
                        .collect()
                })
                .collect(),
            ..super::ShutdownPlan::default()
        };
        let mut groups: Vec<Arc<dyn GroupControl>> = Vec::with_capacity(self.groups.len());
        for (blueprint, id) in self.groups.into_iter().zip(group_ids) {
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
                topic: readers[topic].as_mut(),
                slot: started[topic],
                dead_letter: dead_letter_topic.map(|t| topics[t].dead_letter_parts()),
                dedup: topics[topic].dedup.clone(),
                metrics: self.metrics,
                latency_sampling: self.latency_sampling,
                stall_threshold: self.stall_threshold,
            };
            started[topic] += 1;
            match blueprint.start(ctx) {
                Ok(group) => groups.push(group),
                Err(error) => {
                    close_all(&topics, &groups);
                    return Err(error);
                }
            }
        }
        let metrics = MetricsSettings {
            on: self.metrics,
            sampling: self.latency_sampling,
            buckets: self.latency_buckets,
        };
        Ok(Engine::from_parts(
            topics,
            groups,
            plan,
            Arc::new(metrics),
            self.stall_threshold,
            #[cfg(feature = "nats")]
            self.bridges,
        ))
    }
}

/// For each group of topic `topic`, in declaration order (the order of its
/// readers on the topic's rings), what its reader is: the positions among
/// those groups of the groups it runs after ([`GroupOptions::after`];
/// `check` made sure each name is a group of this topic and that there is
/// no cycle) and its lossy bound ([`LagPolicy::Lossy`]).
fn reader_specs(groups: &[Box<dyn GroupBlueprint>], topic: &str) -> Vec<ReaderSpec> {
    let members: Vec<&dyn GroupBlueprint> = groups
        .iter()
        .filter(|g| g.topic() == topic)
        .map(|g| &**g)
        .collect();
    members
        .iter()
        .map(|g| {
            let mut upstream: Vec<usize> = g
                .options()
                .after
                .iter()
                .filter_map(|name| members.iter().position(|m| m.name() == name))
                .collect();
            upstream.sort_unstable();
            upstream.dedup();
            let lossy = match g.options().lag {
                LagPolicy::Backpressure => None,
                LagPolicy::Lossy(bound) => Some(bound),
            };
            ReaderSpec {
                after: upstream,
                lossy,
                spare: false,
            }
        })
        .collect()
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
