//! Outgrowing one process: topics continued on NATS JetStream (feature
//! `nats`).
//!
//! A host that grows past one process keeps its topics: an **export** (a
//! listener group of the engine) sends a topic's events into a JetStream
//! stream, and an **import** in another process (or the same) feeds them
//! into a topic of its engine, where its groups consume them as if they had
//! been published there.
//!
//! ## Subject layout
//!
//! A [`StreamSpec`] names a stream and a subject prefix: partition `p` of
//! the topic is subject `<prefix>.<p>`, and the stream holds `<prefix>.*`.
//! The import reads subject `<prefix>.<p>` into local partition `p` through
//! durable pull consumer `<durable>-<p>`. Both sides use the same
//! partitioners (Kafka's murmur2 for keys), so a key keeps its partition,
//! and its order, end to end. Each message carries a `Nats-Msg-Id` header
//! (`<instance>:<topic>:<partition>:<sequence>`) and a `Veltrix` header
//! naming its [`Codec`] and the sequence of its predecessor in the same
//! partition (`<codec> <previous>`), with which the import puts back in
//! order what a re-send after a lost connection stored out of order.
//!
//! ## Guarantees
//!
//! * **At least once, duplicates removed.** The export's cursor passes an
//!   event only after JetStream acknowledged it; a failed or timed-out
//!   acknowledgement is re-sent with the same id (the stream's duplicate
//!   window drops copies it stored already), until it is acknowledged or a
//!   shutdown deadline passes. The import acknowledges a message only after
//!   every local group consumed its event, and drops copies by message id;
//!   before acknowledging it saves where each export's order stands (stream
//!   `veltrix-import-<stream>`), so the next import of the same durable
//!   drops what was handled and waits for what was not. A crash means
//!   redelivery, never loss.
//! * **Order per partition**, from the exporting topic's partition to the
//!   importing topic's, across server restarts.
//! * **Counted on both sides**: [`ExportReport`] and [`ImportReport`] give,
//!   per partition, exported / acknowledged / in flight / failed and
//!   received / imported / acknowledged / redelivered / duplicates /
//!   undecodable; [`ImportReport::check_against`] checks one against the
//!   other.
//! * **Clear errors**: an unreachable server at start is retried until a
//!   deadline, then [`BridgeError::Unreachable`]; a stream with other
//!   settings is [`BridgeError::StreamMismatch`] naming the setting; an
//!   event too large for the server or refused by the codec goes through the
//!   export group's failure policy; a message the import cannot decode is
//!   counted, recorded as an [`Undecodable`] with its subject and stream
//!   sequence, and terminated (or sent to a topic), never retried forever.
//!
//! # Examples
//!
//! ```no_run
//! use std::time::Duration;
//! use veltrix::bridge::{ExportOptions, ImportOptions, Json, Nats, NatsOptions, StreamSpec};
//! use veltrix::partitioner::by_key;
//! use veltrix::{Engine, GroupOptions, TopicOptions};
//!
//! #[derive(serde::Serialize, serde::Deserialize)]
//! struct Input { player: u64, command: u8 }
//!
//! let nats = Nats::connect(NatsOptions::new("nats://127.0.0.1:4222"))?;
//! let spec = StreamSpec::new("INPUT", "game.input");
//!
//! // The edge process: players' input goes out.
//! let builder = Engine::builder().topic_with::<Input, _>("input", TopicOptions::new(8), by_key(|i: &Input| i.player));
//! let (builder, export) = nats.export::<Input, _>(builder, "input", Json, ExportOptions::new(spec.clone()))?;
//! let edge = builder.build()?;
//! edge.topic::<Input>("input")?.publish(Input { player: 7, command: 1 })?;
//!
//! // The simulation process: it comes in, partition by partition.
//! let sim = Engine::builder()
//!     .topic::<Input>("input", TopicOptions::new(8))
//!     .subscribe("physics", "input", GroupOptions::workers(1), |_| {
//!         veltrix::listener::from_fn(|_input: &Input, _ctx| Ok(()))
//!     })
//!     .build()?;
//! let import = nats.import::<Input, _>(&sim, "input", Json, ImportOptions::new(spec, "sim"))?;
//!
//! edge.shutdown(); // every event exported is acknowledged by then
//! # std::thread::sleep(Duration::from_millis(100));
//! let imported = import.shutdown(Duration::from_secs(5));
//! imported.check_against(&export.report())?;
//! sim.shutdown();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod codec;
mod connection;
mod error;
mod export;
mod import;
mod order;
mod registry;
mod stats;
mod stream;

pub use crate::report::{BridgeImbalance, ExportFlow, ExportReport, ImportFlow, ImportReport};
pub use codec::{Codec, CodecError, Json, Postcard};
pub use connection::{Nats, NatsOptions};
pub use error::BridgeError;
pub use export::{Export, ExportOptions};
pub use import::{Import, ImportOptions, Undecodable};
pub use stream::{Retention, Storage, StreamSpec};

pub(crate) use registry::Registry;
