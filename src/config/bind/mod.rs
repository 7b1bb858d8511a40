//! Binding the names of a configuration to code: event types, partition
//! keys, validators, id functions and listener factories.

use std::any::{type_name, TypeId};
use std::fmt;
use std::sync::Arc;

mod check;

use super::error::BindError;
use super::model::{Config, GroupConfig, TopicConfig};
use super::running::ConfiguredEngine;
use crate::listener::{Listener, WorkerInfo};
use crate::partitioner::Partitioner;
use crate::router::{filter, Router};
use crate::{DeadLetter, Engine, EngineBuilder, LookupError, Validator};

/// An event type, comparable and printable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct EventType {
    id: TypeId,
    name: &'static str,
}

fn event_type<E: 'static>() -> EventType {
    EventType {
        id: TypeId::of::<E>(),
        name: type_name::<E>(),
    }
}

type DeclareTopic = Box<dyn FnOnce(EngineBuilder, &TopicConfig) -> EngineBuilder + Send>;
type DeclareGroup = Box<dyn FnOnce(EngineBuilder, &GroupConfig) -> EngineBuilder + Send>;
type Connect = Box<dyn FnOnce(&Engine) -> Result<(), LookupError> + Send>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TopicKind {
    Plain,
    Keyed,
    DeadLetter,
}

struct TopicBinding {
    name: String,
    event: EventType,
    kind: TopicKind,
    declare: DeclareTopic,
}

/// A validator or a de-duplication id function of a topic.
struct ExtraBinding {
    topic: String,
    what: &'static str,
    event: EventType,
    apply: DeclareTopic,
}

struct GroupBinding {
    name: String,
    event: EventType,
    subscribe: DeclareGroup,
    /// For routers: connecting their targets once the engine is built.
    connect: Option<Connect>,
    /// For routers: the topics it publishes into (shutdown edges).
    targets: Vec<String>,
}

/// Binds a [`Config`]'s names to code, then [`build`](Self::build)s the
/// engine. Get one from [`Config::bind`].
///
/// The configuration says *how* (partitions, capacities, workers, policies);
/// the binder says *what*: the event type of each topic, its key or custom
/// partitioner, its validators and de-duplication id, and the listener of
/// each group. `build` checks that the two agree — every topic and group
/// bound, no name bound that the configuration lacks, event types matching
/// — and reports every disagreement at once.
///
/// # Examples
///
/// ```
/// # #[cfg(feature = "toml")] {
/// use veltrix::config::Config;
/// use veltrix::partitioner::by_key;
///
/// #[derive(Debug)]
/// struct Order { customer: u64, cents: i64 }
///
/// let config = Config::from_toml_str(r#"
///     [[topics]]
///     name = "orders"
///     partitions = 4
///     partitioner = "key"
///
///     [[groups]]
///     name = "billing"
///     topic = "orders"
///     mode = { workers = 2 }
/// "#)?;
/// let engine = config
///     .bind()
///     .keyed_topic::<Order, _>("orders", by_key(|o: &Order| o.customer))
///     .validator::<Order, _>("orders", |o: &Order| {
///         if o.cents > 0 { Ok(()) } else { Err(format!("amount {} must be positive", o.cents)) }
///     })
///     .group("billing", |_worker| veltrix::listener::from_fn(|o: &Order, _ctx| {
///         let _ = o.cents;
///         Ok(())
///     }))
///     .build()?;
/// engine.topic::<Order>("orders")?.publish(Order { customer: 7, cents: 250 })?;
/// let report = engine.shutdown();
/// assert_eq!(report.group("billing").unwrap().handled, 1);
/// # }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "a binder does nothing until `build` is called"]
pub struct Binder {
    config: Config,
    topics: Vec<TopicBinding>,
    extras: Vec<ExtraBinding>,
    groups: Vec<GroupBinding>,
}

impl fmt::Debug for Binder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Binder")
            .field(
                "topics",
                &self.topics.iter().map(|t| &t.name).collect::<Vec<_>>(),
            )
            .field(
                "groups",
                &self.groups.iter().map(|g| &g.name).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl Config {
    /// Starts binding this configuration's names to code.
    pub fn bind(self) -> Binder {
        Binder {
            config: self,
            topics: Vec::new(),
            extras: Vec::new(),
            groups: Vec::new(),
        }
    }
}

impl Binder {
    /// Changes the engine-wide settings (the file's `[engine]` table) from
    /// code: what the file says is passed in, and the result is validated
    /// with the rest of the configuration at [`build`](Self::build) and
    /// shows in [`ConfiguredEngine::effective_config`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use veltrix::config::{Config, GroupConfig, TopicConfig};
    /// use veltrix::{GroupOptions, TopicOptions};
    ///
    /// let config = Config::new()
    ///     .topic(TopicConfig::new("t", TopicOptions::new(1)))
    ///     .group(GroupConfig::new("g", "t", GroupOptions::poll()));
    /// let engine = config
    ///     .bind()
    ///     .engine(|e| {
    ///         e.latency_sampling = 1;
    ///         e.latency_buckets = vec![Duration::from_micros(10), Duration::from_millis(1)];
    ///     })
    ///     .topic::<u32>("t")
    ///     .group("g", |_| veltrix::listener::from_fn(|_: &u32, _| Ok(())))
    ///     .build()?;
    /// assert_eq!(engine.effective_config().engine.latency_sampling, 1);
    /// # Ok::<(), veltrix::config::BindError>(())
    /// ```
    pub fn engine(mut self, change: impl FnOnce(&mut super::EngineConfig)) -> Self {
        change(&mut self.config.engine);
        self
    }

    /// Topic `name` carries events of type `E`, partitioned by its
    /// configured built-in partitioner (`round_robin`, `sticky`, `fixed`).
    pub fn topic<E: Send + Sync + 'static>(mut self, name: &str) -> Self {
        self.topics.push(TopicBinding {
            name: name.to_owned(),
            event: event_type::<E>(),
            kind: TopicKind::Plain,
            declare: Box::new(|builder, t| builder.topic::<E>(&t.name, t.options())),
        });
        self
    }

    /// Topic `name` carries events of type `E`, partitioned by
    /// `partitioner` — usually [`by_key`](crate::partitioner::by_key). The
    /// configuration must say `partitioner = "key"`.
    pub fn keyed_topic<E, P>(mut self, name: &str, partitioner: P) -> Self
    where
        E: Send + Sync + 'static,
        P: Partitioner<E>,
    {
        self.topics.push(TopicBinding {
            name: name.to_owned(),
            event: event_type::<E>(),
            kind: TopicKind::Keyed,
            declare: Box::new(move |builder, t| {
                builder.topic_with::<E, P>(&t.name, t.options(), partitioner)
            }),
        });
        self
    }

    /// Topic `name` is a dead-letter topic for groups handling `E`: it
    /// carries [`DeadLetter<E>`](crate::DeadLetter) (see
    /// [`EngineBuilder::dead_letter_topic`]).
    pub fn dead_letter_topic<E>(mut self, name: &str) -> Self
    where
        E: Clone + Send + Sync + 'static,
    {
        self.topics.push(TopicBinding {
            name: name.to_owned(),
            event: event_type::<DeadLetter<E>>(),
            kind: TopicKind::DeadLetter,
            declare: Box::new(|builder, t| builder.dead_letter_topic::<E>(&t.name, t.options())),
        });
        self
    }

    /// Runs `validator` on every publish to topic `topic`: a rejected event
    /// comes back to the publisher in
    /// [`PublishError::Invalid`](crate::PublishError::Invalid) with the
    /// reason, and is counted in the topic's `invalid` count. Several
    /// validators run in the order bound.
    pub fn validator<E, V>(mut self, topic: &str, validator: V) -> Self
    where
        E: Send + Sync + 'static,
        V: Validator<E>,
    {
        self.extras.push(ExtraBinding {
            topic: topic.to_owned(),
            what: "validator",
            event: event_type::<E>(),
            apply: Box::new(move |builder, t| builder.validate::<E, V>(&t.name, validator)),
        });
        self
    }

    /// The id de-duplication of topic `topic` compares. De-duplication is
    /// on when the configuration sets the topic's `dedup_window`; without
    /// it, `id` is not used.
    pub fn dedup_id<E, F>(mut self, topic: &str, id: F) -> Self
    where
        E: Send + Sync + 'static,
        F: Fn(&E) -> u64 + Send + Sync + 'static,
    {
        self.extras.push(ExtraBinding {
            topic: topic.to_owned(),
            what: "dedup id",
            event: event_type::<E>(),
            apply: Box::new(move |builder, t| match t.dedup_window {
                Some(window) => builder.deduplicate::<E, F>(&t.name, window, id),
                None => builder,
            }),
        });
        self
    }

    /// Group `name`'s listener: `factory` makes one per worker (one in all
    /// for a poll-mode group), given the worker's identity and partitions.
    pub fn group<E, L, F>(self, name: &str, factory: F) -> Self
    where
        E: Send + Sync + 'static,
        L: Listener<E> + 'static,
        F: FnMut(&WorkerInfo) -> L + Send + 'static,
    {
        self.push_group::<E, L, F>(name, factory, None, Vec::new())
    }

    /// Group `name` sees only the events `predicate` accepts (a filtered
    /// subscription, see [`router::filter`](crate::router::filter)); the
    /// others count as handled without reaching the listener.
    pub fn group_where<E, P, L, F>(self, name: &str, predicate: P, mut factory: F) -> Self
    where
        E: Send + Sync + 'static,
        P: Fn(&E) -> bool + Send + Sync + 'static,
        L: Listener<E> + 'static,
        F: FnMut(&WorkerInfo) -> L + Send + 'static,
    {
        let predicate = Arc::new(predicate);
        self.group::<E, _, _>(name, move |worker: &WorkerInfo| {
            let predicate = Arc::clone(&predicate);
            filter(move |e: &E| predicate(e), factory(worker))
        })
    }

    /// Group `name` is a router: each worker runs a clone of `router`, whose
    /// targets are connected when the engine is built. Its targets close at
    /// shutdown only after it drained
    /// ([`publishes_to`](crate::EngineBuilder::publishes_to)).
    pub fn router<E>(self, name: &str, router: Router<E>) -> Self
    where
        E: Send + Sync + 'static,
    {
        let rules = router.clone();
        let targets = router.targets().map(str::to_owned).collect();
        let connect: Connect = Box::new(move |engine| rules.connect(engine));
        self.push_group::<E, Router<E>, _>(
            name,
            move |_: &WorkerInfo| router.clone(),
            Some(connect),
            targets,
        )
    }

    fn push_group<E, L, F>(
        mut self,
        name: &str,
        factory: F,
        connect: Option<Connect>,
        targets: Vec<String>,
    ) -> Self
    where
        E: Send + Sync + 'static,
        L: Listener<E> + 'static,
        F: FnMut(&WorkerInfo) -> L + Send + 'static,
    {
        self.groups.push(GroupBinding {
            name: name.to_owned(),
            event: event_type::<E>(),
            subscribe: Box::new(move |builder, g| {
                builder.subscribe::<E, L, F>(&g.name, &g.topic, g.options.clone(), factory)
            }),
            connect,
            targets,
        });
        self
    }

    /// Validates the configuration, checks the bindings against it, builds
    /// the engine, connects the routers, and starts every worker.
    ///
    /// # Errors
    ///
    /// Every problem found, together ([`BindError::Multiple`] when more than
    /// one): an invalid configuration ([`BindError::Invalid`], with every
    /// finding); a topic with no event type or a group with no listener
    /// bound; a name bound that the configuration does not declare, or bound
    /// twice; a listener, validator or id function of another event type
    /// than its topic; `partitioner = "key"` without a key bound, or a key
    /// bound to a topic that is not `"key"`; `dedup_window` without an id
    /// function; whatever the engine refuses ([`BindError::Build`]); a
    /// router target that is not a topic of the right type.
    pub fn build(self) -> Result<ConfiguredEngine, BindError> {
        let found = self.config.validate();
        if !found.is_ok() {
            return Err(BindError::Invalid(found));
        }
        if let Some(error) = BindError::from_list(self.check()) {
            return Err(error);
        }
        let Binder {
            config,
            mut topics,
            extras,
            mut groups,
        } = self;
        let mut builder = Engine::builder()
            .memory_budget(config.engine.memory_budget)
            .metrics(config.engine.metrics)
            .latency_sampling(config.engine.latency_sampling)
            .latency_buckets(config.engine.latency_buckets.iter().copied())
            .stall_threshold(config.engine.stall_threshold);
        for t in &config.topics {
            let i = topics
                .iter()
                .position(|b| b.name == t.name)
                .expect("checked: every topic is bound");
            builder = (topics.swap_remove(i).declare)(builder, t);
        }
        for extra in extras {
            let t = config
                .find_topic(&extra.topic)
                .expect("checked: extras name declared topics");
            builder = (extra.apply)(builder, t);
        }
        let mut connects = Vec::new();
        for g in &config.groups {
            let i = groups
                .iter()
                .position(|b| b.name == g.name)
                .expect("checked: every group is bound");
            let binding = groups.swap_remove(i);
            builder = (binding.subscribe)(builder, g);
            // Shutdown closes a router's targets after the router drained.
            // (A target that is no topic is refused by `connect` below.)
            for target in &binding.targets {
                if config.find_topic(target).is_some() {
                    builder = builder.publishes_to(&g.name, target);
                }
            }
            if let Some(connect) = binding.connect {
                connects.push((g.name.clone(), connect));
            }
        }
        let engine = builder.build()?;
        for (group, connect) in connects {
            if let Err(source) = connect(&engine) {
                drop(engine.shutdown());
                return Err(BindError::Route { group, source });
            }
        }
        Ok(ConfiguredEngine::new(engine, config))
    }
}
