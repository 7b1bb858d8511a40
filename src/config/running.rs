//! An engine built from a configuration, which remembers it.

use std::fmt;
use std::ops::Deref;
use std::time::Duration;

use super::model::Config;
use crate::{Engine, Report, Shutdown};

/// A running [`Engine`] built by [`Binder::build`](super::Binder::build),
/// with the configuration it runs.
///
/// It dereferences to the [`Engine`]: `topic`, `poller`, `report` work as
/// usual. Router groups are declared as publishing into their targets
/// ([`publishes_to`](crate::EngineBuilder::publishes_to)), so shutdown
/// closes those only after the routers drained.
pub struct ConfiguredEngine {
    engine: Engine,
    config: Config,
}

impl fmt::Debug for ConfiguredEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfiguredEngine")
            .field("engine", &self.engine)
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
    pub(super) fn new(engine: Engine, config: Config) -> Self {
        ConfiguredEngine { engine, config }
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

    /// The engine and its configuration, apart.
    #[must_use]
    pub fn into_parts(self) -> (Engine, Config) {
        (self.engine, self.config)
    }

    /// Shuts the engine down, draining: see [`Engine::shutdown`].
    #[must_use = "the report says whether every event was handled"]
    pub fn shutdown(self) -> Report {
        self.engine.shutdown()
    }

    /// Shuts the engine down within `timeout`: see
    /// [`Engine::shutdown_timeout`].
    pub fn shutdown_timeout(self, timeout: Duration) -> Shutdown {
        self.engine.shutdown_timeout(timeout)
    }
}
