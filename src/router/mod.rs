//! Conditional routing: filtered subscriptions and a router that forwards
//! or transforms events from one topic into others.
//!
//! Both are plain [`Listener`](crate::Listener)s built on the engine's
//! public face (an edge, like `config`): nothing below
//! knows about them.
//!
//! * [`filter`] wraps a listener so that it only sees the events a predicate
//!   accepts — a group subscribed "where …".
//! * [`Router`] is a listener that, for each event, runs its rules in order;
//!   each rule maps the event to zero or one event for a target topic and
//!   publishes it there.
//!
//! ## Order
//!
//! A router group consumes each partition of its input in order, and one
//! worker owns a partition at a time, so the events it publishes from one
//! input partition leave in input order. Partition the targets by a key that
//! is a function of the input's key (usually the same key) and every key's
//! events keep their order end to end. `tests/config_routing.rs` checks it.
//!
//! ## Failures
//!
//! A publish a target refuses (full under `reject`, closed, timed out) makes
//! the router's `on_event` fail, and the group's
//! [`FailurePolicy`](crate::FailurePolicy) applies: retry with backoff, then
//! skip, dead-letter or halt. A retry resumes at the rule that failed, so
//! the targets that already took the event do not get it twice.
//!
//! ## Shutdown
//!
//! Declare each router's targets on the builder with
//! [`publishes_to`](crate::EngineBuilder::publishes_to): `Engine::shutdown`
//! then closes a target only after the router drained, so nothing it
//! forwards is refused (`Binder::router` declares them for you). Without
//! the edges, topics close together and a router forwarding during
//! shutdown gets `Closed`; [`drain`] (wait until the groups caught up) is
//! the older, polling way around that.
//!
//! # Examples
//!
//! ```
//! use veltrix::partitioner::by_key;
//! use veltrix::router::Router;
//! use veltrix::{Engine, GroupOptions, TopicOptions};
//!
//! #[derive(Clone, Debug)]
//! struct Entered { player: u64, zone: u32, has_key: bool }
//! #[derive(Debug)]
//! struct Spawn { player: u64, zone: u32 }
//!
//! let rules = Router::<Entered>::new()
//!     .route("spawns", |e: &Entered| (e.has_key && e.zone == 7).then_some(Spawn { player: e.player, zone: e.zone }));
//! let engine = Engine::builder()
//!     .topic_with::<Entered, _>("entered", TopicOptions::new(4), by_key(|e: &Entered| e.player))
//!     .topic_with::<Spawn, _>("spawns", TopicOptions::new(4), by_key(|s: &Spawn| s.player))
//!     .subscribe("router", "entered", GroupOptions::workers(1), {
//!         let rules = rules.clone();
//!         move |_| rules.clone()
//!     })
//!     .subscribe("spawner", "spawns", GroupOptions::workers(1), |_| {
//!         veltrix::listener::from_fn(|s: &Spawn, _ctx| { let _ = s.zone; Ok(()) })
//!     })
//!     .publishes_to("router", "spawns")
//!     .build()?;
//! rules.connect(&engine)?; // before the first publish
//!
//! let entered = engine.topic::<Entered>("entered")?;
//! entered.publish(Entered { player: 1, zone: 7, has_key: true })?;
//! entered.publish(Entered { player: 2, zone: 7, has_key: false })?;
//! let report = engine.shutdown(); // "router" drains before "spawns" closes
//! assert_eq!(report.group("spawner").unwrap().handled, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod drain;
mod filter;
mod route;

pub use drain::drain;
pub use filter::{filter, Filtered};
pub use route::{RouteError, Router};
