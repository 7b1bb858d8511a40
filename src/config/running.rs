//! An engine built from a configuration, which remembers it.

use std::fmt;
use std::ops::Deref;
use std::time::{Duration, Instant};

use super::model::Config;
use crate::{Engine, GroupMode, Report, Shutdown};

/// How long [`ConfiguredEngine::shutdown`] lets routers catch up.
const ROUTER_DRAIN: Duration = Duration::from_secs(30);

/// A running [`Engine`] built by [`Binder::build`](super::Binder::build),
/// with the configuration it runs.
///
/// It dereferences to the [`Engine`]: `topic`, `poller`, `report` work as
/// usual. Its [`shutdown`](Self::shutdown) first lets router groups catch up
/// so the events they forward are not refused by topics closing under them.
pub struct ConfiguredEngine {
    engine: Engine,
    config: Config,
    /// Threaded router groups, waited for at shutdown.
    routers: Vec<String>,
}

impl fmt::Debug for ConfiguredEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfiguredEngine")
            .field("engine", &self.engine)
            .field("routers", &self.routers)
            .finish_non_exhaustive()
    }
}

impl Deref for ConfiguredEngine {
    type Target = Engine;

    fn deref(&self) -> &Engine {
        &self.engine
    }
}

impl ConfiguredEngine {
    pub(super) fn new(engine: Engine, config: Config, routers: Vec<String>) -> Self {
        let routers = routers
            .into_iter()
            .filter(|name| {
                config
                    .find_group(name)
                    .is_some_and(|g| g.options.mode != GroupMode::Poll)
            })
            .collect();
        ConfiguredEngine {
            engine,
            config,
            routers,
        }
    }

    /// The configuration the engine runs, with every default filled in:
    /// serialize it (`to_toml_string`, `to_json_string`, any serde format)
    /// to see exactly what is in force; parsing that text gives back an
    /// equal [`Config`].
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(feature = "toml")] {
    /// use veltrix::config::Config;
    ///
    /// let engine = Config::from_toml_str("[[topics]]\nname = \"ticks\"\n[[groups]]\nname = \"clock\"\ntopic = \"ticks\"\n")?
    ///     .bind()
    ///     .topic::<u64>("ticks")
    ///     .group("clock", |_| veltrix::listener::from_fn(|_: &u64, _ctx| Ok(())))
    ///     .build()?;
    /// let printed = engine.effective_config().to_toml_string()?;
    /// assert!(printed.contains("capacity = 1024")); // the default, spelled out
    /// assert!(printed.contains("on_exhausted = \"skip\""));
    /// assert_eq!(&Config::from_toml_str(&printed)?, engine.effective_config());
    /// let _ = engine.shutdown();
    /// # }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn effective_config(&self) -> &Config {
        &self.config
    }

    /// The engine.
    #[must_use]
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The engine and its configuration, apart. Shutting the engine down
    /// directly skips waiting for routers (see [`router::drain`](crate::router::drain)).
    #[must_use]
    pub fn into_parts(self) -> (Engine, Config) {
        (self.engine, self.config)
    }

    /// Lets router groups catch up (up to 30 s; stop producers first), then
    /// shuts the engine down, draining: see [`Engine::shutdown`].
    #[must_use = "the report says whether every event was handled"]
    pub fn shutdown(self) -> Report {
        let names: Vec<&str> = self.routers.iter().map(String::as_str).collect();
        let _caught_up = crate::router::drain(&self.engine, &names, ROUTER_DRAIN);
        self.engine.shutdown()
    }

    /// Like [`shutdown`](Self::shutdown) within `timeout` overall: routers
    /// catch up for at most `timeout`, then [`Engine::shutdown_timeout`]
    /// drains for what is left of it.
    pub fn shutdown_timeout(self, timeout: Duration) -> Shutdown {
        let deadline = crate::clock::deadline_after(timeout);
        let names: Vec<&str> = self.routers.iter().map(String::as_str).collect();
        let _caught_up = crate::router::drain(&self.engine, &names, timeout);
        let left = deadline.map_or(Duration::MAX, |d| {
            d.saturating_duration_since(Instant::now())
        });
        self.engine.shutdown_timeout(left)
    }
}
