//! Configuration as the single source of truth: a topology declared in a
//! file (or in code with the same types), checked all at once, bound to
//! code by name, and printable back with every default filled in.
//!
//! Needs the `serde` feature; `toml` and `json` add the file formats.
//!
//! ## The three steps
//!
//! 1. **Read** — [`Config::from_toml_str`], [`Config::from_json_str`],
//!    [`Config::from_path`], or any serde format through `Deserialize`. A
//!    syntax error keeps its line and column ([`ConfigError::Syntax`]);
//!    otherwise *every* problem is reported together
//!    ([`ConfigError::Invalid`]), each a [`Diagnostic`] with the path
//!    (`topics[2].capacity`), the value, the rule and a fix, and warnings
//!    apart from errors. Unknown keys get a did-you-mean. A huge broken
//!    file is read in linear time and reported in bounded space: the first
//!    [`MAX_DIAGNOSTICS`] errors and warnings are kept, the rest counted
//!    ([`Diagnostics::omitted_errors`]). The engine's option types
//!    ([`GroupOptions`](crate::GroupOptions),
//!    [`WaitStrategy`](crate::WaitStrategy),
//!    [`FullPolicy`](crate::FullPolicy), …) deserialize through the same
//!    reader: a host's own serde configuration that holds one gets the same
//!    checks and messages as a file.
//! 2. **Bind** — [`Config::bind`] gives a [`Binder`]: name each topic's event
//!    type ([`Binder::topic`], [`Binder::keyed_topic`],
//!    [`Binder::dead_letter_topic`]), its [`validator`](Binder::validator)s
//!    and [`dedup_id`](Binder::dedup_id), and each group's listener
//!    ([`Binder::group`], [`Binder::group_where`], [`Binder::router`]).
//! 3. **Build** — [`Binder::build`] checks that configuration and code
//!    agree (an unbound topic, a group with no listener, a type mismatch:
//!    [`BindError`]), builds the [`Engine`](crate::Engine) and returns a
//!    [`ConfiguredEngine`], whose
//!    [`effective_config`](ConfiguredEngine::effective_config) prints what
//!    runs.
//!
//! ## The file
//!
//! ```toml
//! [[topics]]
//! name = "zone-entries"
//! partitions = 8            # default 1
//! capacity = 1024           # a power of two; default 1024
//! partitioner = "key"       # "round_robin" (default), "key", { sticky = { linger = 16 } }, { fixed = { partition = 0 } }
//! full_policy = "block"     # "block" (default), "reject", "drop_newest", { block_timeout = "5ms" }
//! timestamps = true         # every event stamped; default false (only sampled ones)
//! producers = "multi"       # "multi" (default) or "single": one exclusive Producer
//! spare_groups = 2          # groups that may subscribe while it runs; default 0
//! dedup_window = 4096       # optional: de-duplicate by the bound id over the last N ids
//!
//! [[groups]]
//! name = "treasure-router"
//! topic = "zone-entries"
//! mode = { workers = 2 }    # default { workers = 1 }; or "poll"
//! assignment = "range"      # "range" (default) or "round_robin"
//! wait = "adaptive"         # "adaptive" (the default spins and yields), { adaptive = { spins = 100, yields = 8 } }, "busy_spin"
//! max_batch = 256           # default 256
//! after = []                # groups of the same topic that see each event first (stages)
//! max_workers = 2           # most workers Engine::scale may give it; default its initial count
//!
//! [groups.failure]
//! retries = 3               # default 0; or "forever"
//! backoff = { initial = "1ms", max = "1s", multiplier = 2 }   # the defaults
//! on_exhausted = { dead_letter = "zone-entries.dlq" }         # "skip" (default), "halt", { dead_letter = "topic" }
//! ```
//!
//! Durations are strings: an integer and one unit of `ns`, `us`, `ms`, `s`,
//! `m`, `h` (`"250us"`, `"5ms"`, `"1s"`); no fractions (`"1500ms"`, not
//! `"1.5s"`). The README has the full reference with every range.
//!
//! ## Example
//!
//! ```
//! # #[cfg(feature = "toml")] {
//! use veltrix::config::{Config, ConfigError, Rule};
//!
//! let text = r#"
//! [[topics]]
//! name = "moves"
//! partitions = 4
//! capacity = 1000
//!
//! [[groups]]
//! name = "physics"
//! topic = "movs"
//! mode = { workers = 8 }
//! "#;
//! let Err(ConfigError::Invalid(found)) = Config::from_toml_str(text) else { panic!() };
//! let messages: Vec<String> = found.errors.iter().map(|e| e.to_string()).collect();
//! // In source order, each with its line.
//! assert_eq!(messages, [
//!     "topics[0] = \"moves\": no group reads topic \"moves\": its events would have nowhere \
//!      to go; add a [[groups]] entry with topic = \"moves\", or remove the topic (line 2, column 1)",
//!     "topics[0].capacity = 1000: capacity 1000 is not a power of two; use 1024 (or 512) \
//!      (line 5, column 12)",
//!     "groups[0].topic = \"movs\": group \"physics\" reads a topic that is not declared; \
//!      did you mean \"moves\"? declared topics: moves (line 9, column 9)",
//! ]);
//! assert_eq!(found.errors[0].rule, Rule::TopicWithoutGroup);
//! assert!(found.warnings.is_empty()); // 8 workers, but on no known topic
//! # }
//! ```

mod bind;
mod de;
mod diagnostic;
mod error;
mod format;
mod model;
mod node;
mod read;
mod running;
mod suggest;
mod validate;

pub use bind::Binder;
pub use diagnostic::{Diagnostic, Diagnostics, Location, Rule, Severity, MAX_DIAGNOSTICS};
pub use error::{BindError, ConfigError};
pub use model::{Config, EngineConfig, GroupConfig, Partitioning, TopicConfig};
pub use running::ConfiguredEngine;
