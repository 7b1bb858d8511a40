//! The router: rules that map each event of one topic to events of others.

use std::fmt;
use std::marker::PhantomData;
use std::sync::{Arc, OnceLock};

use thiserror::Error;

use crate::listener::{EventContext, Listener, ListenerError};
use crate::{Engine, LookupError, PublishErrorKind, Topic};

/// Why a rule could not hand its event to its target.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum RouteError {
    /// [`Router::connect`] was not called (or failed) before events flowed.
    #[error("route to topic '{target}' is not connected; call Router::connect(&engine) after build and before publishing")]
    NotConnected {
        /// The target topic.
        target: String,
    },
    /// The target refused the event (its
    /// [`FullPolicy`](crate::FullPolicy), or the engine is shutting down).
    #[error("route to topic '{target}': {kind}")]
    Publish {
        /// The target topic.
        target: String,
        /// Why it refused.
        kind: PublishErrorKind,
    },
}

/// One rule, type-erased over its target's event type.
trait Rule<E>: Send + Sync {
    fn target(&self) -> &str;
    fn connect(&self, engine: &Engine) -> Result<(), LookupError>;
    fn apply(&self, event: &E) -> Result<(), RouteError>;
}

struct MapRule<E, T, F> {
    target: String,
    topic: OnceLock<Topic<T>>,
    map: F,
    _event: PhantomData<fn(&E)>,
}

impl<E, T, F> Rule<E> for MapRule<E, T, F>
where
    E: 'static,
    T: Send + Sync + 'static,
    F: Fn(&E) -> Option<T> + Send + Sync,
{
    fn target(&self) -> &str {
        &self.target
    }

    fn connect(&self, engine: &Engine) -> Result<(), LookupError> {
        let topic = engine.topic::<T>(&self.target)?;
        // Already connected (a second `connect`) keeps the first handle.
        let _ = self.topic.set(topic);
        Ok(())
    }

    fn apply(&self, event: &E) -> Result<(), RouteError> {
        let Some(out) = (self.map)(event) else {
            return Ok(());
        };
        let topic = self.topic.get().ok_or_else(|| RouteError::NotConnected {
            target: self.target.clone(),
        })?;
        topic
            .publish(out)
            .map(|_receipt| ())
            .map_err(|error| RouteError::Publish {
                target: self.target.clone(),
                kind: error.kind(),
            })
    }
}

/// A listener that routes events of type `E` to other topics by rules.
///
/// Each rule maps an event to zero or one event of its target topic's type
/// (`None`: the rule does not apply). Every rule runs, in the order added,
/// so one event can fan out to several targets. Targets are named, and
/// resolved by [`connect`](Self::connect) once the engine is built (a
/// config-built engine connects its routers itself).
///
/// Clone it into each worker (the clones share the rules and the
/// connection). See the [module docs](crate::router) for order, failures
/// and shutdown, and an example.
pub struct Router<E> {
    rules: Vec<Arc<dyn Rule<E>>>,
    /// Per input partition: `(partition, sequence, rule)` of an event whose
    /// rule `rule` failed, so its retry resumes there instead of sending the
    /// earlier rules' events twice.
    resume: Vec<(u32, u64, usize)>,
}

impl<E: 'static> Router<E> {
    /// A router with no rules.
    #[must_use]
    pub fn new() -> Self {
        Router {
            rules: Vec::new(),
            resume: Vec::new(),
        }
    }

    /// Adds a rule: events for which `map` returns `Some(out)` send `out` to
    /// topic `target`, which carries `T`.
    #[must_use]
    pub fn route<T, F>(mut self, target: &str, map: F) -> Self
    where
        T: Send + Sync + 'static,
        F: Fn(&E) -> Option<T> + Send + Sync + 'static,
    {
        self.rules.push(Arc::new(MapRule {
            target: target.to_owned(),
            topic: OnceLock::new(),
            map,
            _event: PhantomData,
        }));
        self
    }

    /// Adds a rule forwarding a copy of each event `predicate` accepts to
    /// topic `target`, which carries `E` too.
    #[must_use]
    pub fn forward_if<P>(self, target: &str, predicate: P) -> Self
    where
        E: Clone + Send + Sync,
        P: Fn(&E) -> bool + Send + Sync + 'static,
    {
        self.route(target, move |e: &E| predicate(e).then(|| e.clone()))
    }

    /// The target topics, in rule order.
    pub fn targets(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().map(|r| r.target())
    }

    /// Looks up every target on `engine`. Call it after `build` and before
    /// the first event reaches the router; connecting one clone connects
    /// them all.
    ///
    /// # Errors
    ///
    /// The first target that is not a topic of `engine`, or carries another
    /// type than its rule produces.
    pub fn connect(&self, engine: &Engine) -> Result<(), LookupError> {
        self.rules.iter().try_for_each(|rule| rule.connect(engine))
    }
}

impl<E: 'static> Default for Router<E> {
    fn default() -> Self {
        Router::new()
    }
}

impl<E> Clone for Router<E> {
    /// Shares the rules and their connections; the retry state is per clone.
    fn clone(&self) -> Self {
        Router {
            rules: self.rules.clone(),
            resume: Vec::new(),
        }
    }
}

impl<E> fmt::Debug for Router<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Router")
            .field(
                "targets",
                &self.rules.iter().map(|r| r.target()).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl<E: 'static> Listener<E> for Router<E> {
    fn on_event(&mut self, event: &E, ctx: &EventContext<'_>) -> Result<(), ListenerError> {
        let (partition, sequence) = (ctx.partition(), ctx.sequence());
        let mut start = 0;
        if let Some(i) = self.resume.iter().position(|r| r.0 == partition) {
            let (_, failed_sequence, rule) = self.resume.swap_remove(i);
            if failed_sequence == sequence {
                start = rule;
            }
        }
        for (index, rule) in self.rules.iter().enumerate().skip(start) {
            if let Err(error) = rule.apply(event) {
                self.resume.push((partition, sequence, index));
                return Err(Box::new(error));
            }
        }
        Ok(())
    }
}
