//! # veltrix
//!
//! Kafka's topics, partitions, keyed ordering and consumer groups — at memory
//! speed, inside one process.
//!
//! A host (a game server, a trading gateway) declares **topics** of typed
//! events split into **partitions** (lock-free ring buffers), and **listener
//! groups** that consume them on worker threads or from the host's own loop.
//! Events travel by move into a preallocated slot and are read in place by
//! every group: no serialization, no allocation and no lock per event.
//!
//! ## Quickstart
//!
//! ```
//! use veltrix::partitioner::by_key;
//! use veltrix::{Engine, EventContext, GroupOptions, Listener, ListenerError, TopicOptions};
//!
//! #[derive(Debug)]
//! struct PlayerMoved { player: u64, x: f32, y: f32 }
//!
//! /// One instance per worker; `&mut self`, no locking.
//! #[derive(Default)]
//! struct Physics { moves: u64 }
//!
//! impl Listener<PlayerMoved> for Physics {
//!     fn on_event(&mut self, e: &PlayerMoved, ctx: &EventContext<'_>) -> Result<(), ListenerError> {
//!         // Events of one player arrive in publish order: they share a partition.
//!         let _ = (e.x, e.y, ctx.partition(), ctx.sequence());
//!         self.moves += 1;
//!         Ok(())
//!     }
//! }
//!
//! let engine = Engine::builder()
//!     // 8 partitions of 1024 slots, keyed by player id (Kafka's murmur2).
//!     .topic_with::<PlayerMoved, _>(
//!         "moves",
//!         TopicOptions::new(8).capacity(1024),
//!         by_key(|e: &PlayerMoved| e.player),
//!     )
//!     // Two worker threads share the 8 partitions.
//!     .subscribe("physics", "moves", GroupOptions::workers(2), |_| Physics::default())
//!     // A poll-mode group: no threads, the game loop drives it.
//!     .subscribe("replication", "moves", GroupOptions::poll(), |_| {
//!         veltrix::listener::from_fn(|_e: &PlayerMoved, _ctx| Ok(()))
//!     })
//!     .build()?;
//!
//! let moves = engine.topic::<PlayerMoved>("moves")?;
//! let mut replication = engine.poller("replication")?;
//! for i in 0..100 {
//!     moves.publish(PlayerMoved { player: i % 10, x: 0.0, y: 1.0 })?;
//!     replication.poll(16); // once per tick, bounded work
//! }
//!
//! let report = engine.shutdown(); // drains every group, joins every worker
//! assert_eq!(report.group("physics").unwrap().handled, 100);
//! assert_eq!(report.group("replication").unwrap().handled, 100);
//! assert!(report.is_drained());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Concepts
//!
//! | concept | type |
//! | --- | --- |
//! | engine: owns everything, shuts down draining | [`Engine`], [`EngineBuilder`] |
//! | topic: typed handle producers publish through | [`Topic`], [`TopicOptions`] |
//! | single-producer topic: one exclusive producer, plain stores | [`Producer`], [`Producers`] |
//! | partitioner: which partition an event goes to | [`Partitioner`], [`partitioner`] |
//! | listener: handles events | [`Listener`], [`EventContext`] |
//! | group: a consumer group, threads or poll mode | [`GroupOptions`], [`Poller`] |
//! | configuration: the topology as data, checked, bound to code (feature `serde`) | `config::Config`, `config::Binder` |
//! | routing: filtered subscriptions, a router forwarding to other topics | [`router::Router`], [`router::filter`] |
//!
//! ## Failures, backpressure and nothing lost
//!
//! ```
//! use std::time::Duration;
//! use veltrix::{DeadLetter, Engine, Exhausted, FailurePolicy, FullPolicy, GroupOptions, Retries, TopicOptions};
//!
//! let policy = FailurePolicy::default()
//!     .retries(Retries::Limited(2)) // then:
//!     .on_exhausted(Exhausted::DeadLetter { topic: "orders.dlq".into() });
//! let engine = Engine::builder()
//!     .topic::<u64>("orders", TopicOptions::new(2).full_policy(FullPolicy::BlockTimeout(Duration::from_secs(1))))
//!     .dead_letter_topic::<u64>("orders.dlq", TopicOptions::new(1))
//!     .subscribe("billing", "orders", GroupOptions::workers(1).failure_policy(policy), |_| {
//!         veltrix::listener::from_fn(|order: &u64, _| {
//!             if *order == 13 { return Err("unlucky order".into()); }
//!             Ok(())
//!         })
//!     })
//!     .subscribe("dlq", "orders.dlq", GroupOptions::poll(), |_| {
//!         veltrix::listener::from_fn(|letter: &DeadLetter<u64>, _| {
//!             assert_eq!((letter.event, letter.attempts), (13, 3));
//!             Ok(())
//!         })
//!     })
//!     .build()?;
//! engine.topic::<u64>("orders")?.publish_batch(0..100)?;
//! let report = engine.shutdown();
//! report.check_conservation().expect("published = handled + dead-lettered + skipped + deduplicated + lag");
//! assert_eq!(report.group("billing").unwrap().dead_lettered, 1);
//! assert_eq!(report.group("dlq").unwrap().handled, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## One producer, no CAS
//!
//! A topic is multi-producer by default: any clone of its [`Topic`] handle
//! publishes, each claim one CAS. A topic declared with
//! [`Producers::Single`] has instead one [`Producer`], handed out once by
//! [`Engine::producer`]; it is not `Clone` and publishes through `&mut self`,
//! so the compiler keeps a second producer out and the ring needs no atomic
//! read-modify-write at all (the LMAX single-producer sequencer). Its batches
//! are written straight into the slots and show up to readers whole.
//!
//! ```
//! use veltrix::{Engine, GroupOptions, Producers, TopicOptions};
//!
//! let engine = Engine::builder()
//!     .topic::<u64>("ticks", TopicOptions::new(1).producers(Producers::Single))
//!     .subscribe("physics", "ticks", GroupOptions::workers(1), |_| {
//!         veltrix::listener::from_fn(|_tick: &u64, _ctx| Ok(()))
//!     })
//!     .build()?;
//! let mut ticks = engine.producer::<u64>("ticks")?;
//! std::thread::spawn(move || {
//!     for t in 0..1000 {
//!         ticks.publish(t).expect("engine running");
//!     }
//! })
//! .join()
//! .unwrap();
//! assert_eq!(engine.shutdown().group("physics").unwrap().handled, 1000);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Metrics
//!
//! [`Engine::metrics`] returns a [`metrics::MetricsSnapshot`]: counters,
//! depth and lag per partition, latency percentiles per group;
//! [`metrics::MetricsSnapshot::to_prometheus`] renders it for Prometheus.
//!
//! ## Configuration and routing
//!
//! With the `toml` or `json` feature, the topology can come from a file:
//! `config::Config::from_path` reads it and reports every mistake at once
//! (path, value, rule, fix, line), `Config::bind` binds event types and
//! listeners to its names, and the resulting engine prints its effective
//! configuration with every default filled in. [`router::Router`] forwards
//! or transforms events into other topics by rules, keeping per-key order;
//! [`router::filter`] subscribes a group to the events a predicate accepts.
//! See the `config` module (feature `serde`) and `examples/treasure_hunt.rs`.
//!
//! ## Guarantees
//!
//! * **Order**: one partition's events reach each group in publish order;
//!   with a key partitioner, one key's events keep their order.
//! * **Exactly once per group**: each group consumes each accepted event
//!   once; groups are independent and each reads every event.
//! * **Backpressure, not loss**: a full partition makes `publish` wait and
//!   `try_publish` hand the event back; a slow group slows producers, it never
//!   loses events.
//! * **Bad input is an error, never a panic**: build errors name the item,
//!   the value and the fix; publish errors hand the event back.
//! * **No self-deadlock**: a listener that publishes, blocking, into a full
//!   partition its own group reads gets [`PublishError::WouldDeadlock`] with
//!   the event instead of waiting forever.
//! * **Draining shutdown**: after [`Engine::shutdown`] every accepted event
//!   has been handled by every group and every worker has exited.
//! * **Idle costs nothing**: idle workers spin briefly, yield, then park.

#![deny(missing_docs, missing_debug_implementations, unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]
#![cfg_attr(veltrix_loom, allow(dead_code, unused_imports, missing_docs))]

mod loom;
mod ring;

#[cfg(all(feature = "nats", not(veltrix_loom)))]
pub mod bridge;
#[cfg(not(veltrix_loom))]
mod clock;
// Behind `serde`: every config type is a serde type, and a build without
// files to read stays lean. The formats (`toml`, `json`) are features of
// their own; routing needs none.
#[cfg(all(feature = "serde", not(veltrix_loom)))]
pub mod config;
#[cfg(not(veltrix_loom))]
mod duration;
#[cfg(not(veltrix_loom))]
mod engine;
#[cfg(not(veltrix_loom))]
mod error;
#[cfg(all(feature = "async", not(veltrix_loom)))]
pub mod future;
#[cfg(not(veltrix_loom))]
mod group;
#[cfg(not(veltrix_loom))]
pub mod listener;
#[cfg(not(veltrix_loom))]
pub mod metrics;
#[cfg(not(veltrix_loom))]
mod panics;
#[cfg(not(veltrix_loom))]
pub mod partitioner;
#[cfg(not(veltrix_loom))]
mod report;
#[cfg(not(veltrix_loom))]
pub mod router;
#[cfg(not(veltrix_loom))]
mod rules;
#[cfg(not(veltrix_loom))]
mod topic;

#[cfg(not(veltrix_loom))]
pub use clock::Timestamp;
#[cfg(not(veltrix_loom))]
pub use engine::{
    Engine, EngineBuilder, Leave, Leftovers, Shutdown, Unhandled, DEFAULT_LATENCY_SAMPLING,
    DEFAULT_MEMORY_BUDGET, DROP_TIMEOUT, STUCK_GRACE,
};
#[cfg(not(veltrix_loom))]
pub use error::{
    BatchPublishError, BuildError, InvalidSetting, LookupError, PublishError, PublishErrorKind,
    RemoveError, ScaleError, SubscribeError, UnsubscribeError,
};
#[cfg(not(veltrix_loom))]
pub use group::{
    Assignment, Backoff, DeadLetter, Exhausted, FailurePolicy, GroupMode, GroupOptions, LagPolicy,
    Poller, Retries, WaitStrategy, DEFAULT_STALL_THRESHOLD, MAX_BACKOFF,
};
#[cfg(not(veltrix_loom))]
pub use listener::{EventContext, Listener, ListenerError, WorkerInfo};
#[cfg(not(veltrix_loom))]
pub use panics::quiet_listener_panics;
#[cfg(not(veltrix_loom))]
pub use partitioner::Partitioner;
#[cfg(not(veltrix_loom))]
pub use report::{
    ConservationError, GroupReport, Report, StalledListener, StuckWorker, TopicReport,
};
#[cfg(not(veltrix_loom))]
pub use ring::StartAt;
#[cfg(not(veltrix_loom))]
pub use rules::{Rule, Severity, MAX_NAME_BYTES, MAX_PARTITIONS, MAX_SPARE_GROUPS, MAX_WORKERS};
#[cfg(not(veltrix_loom))]
pub use topic::{
    FullPolicy, PartitionerKind, Producer, Producers, Receipt, Topic, TopicOptions, Validator,
};
