//! Filtered subscriptions: a listener that sees only the events a predicate
//! accepts.

use std::fmt;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::listener::{EventContext, Listener, ListenerError, WorkerInfo};

/// Wraps `listener` so it handles only the events for which `predicate`
/// returns `true`; the others are consumed without reaching it.
///
/// A filtered-out event counts as *handled* in the group's report (the
/// group consumed it successfully); to see how many were filtered out, pass
/// a counter to [`Filtered::count_into`].
///
/// # Examples
///
/// ```
/// use veltrix::router::filter;
/// use veltrix::{Engine, GroupOptions, TopicOptions};
///
/// let engine = Engine::builder()
///     .topic::<u32>("scores", TopicOptions::new(1))
///     .subscribe("high", "scores", GroupOptions::workers(1), |_| {
///         filter(|s: &u32| *s >= 100, veltrix::listener::from_fn(|s: &u32, _ctx| {
///             assert!(*s >= 100);
///             Ok(())
///         }))
///     })
///     .build()?;
/// let scores = engine.topic::<u32>("scores")?;
/// for s in [5, 150, 99, 100] {
///     scores.publish(s)?;
/// }
/// assert_eq!(engine.shutdown().group("high").unwrap().handled, 4);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn filter<E, P, L>(predicate: P, listener: L) -> Filtered<E, P, L>
where
    P: Fn(&E) -> bool + Send,
    L: Listener<E>,
{
    Filtered {
        predicate,
        listener,
        rejected: None,
        _event: PhantomData,
    }
}

/// A listener behind a predicate; see [`filter`].
pub struct Filtered<E, P, L> {
    predicate: P,
    listener: L,
    rejected: Option<Arc<AtomicU64>>,
    _event: PhantomData<fn(&E)>,
}

impl<E, P, L> Filtered<E, P, L> {
    /// Adds 1 to `counter` for every event the predicate turns away. Share
    /// one counter among the workers of a group and read it from anywhere.
    #[must_use]
    pub fn count_into(mut self, counter: Arc<AtomicU64>) -> Self {
        self.rejected = Some(counter);
        self
    }
}

impl<E, P, L> Listener<E> for Filtered<E, P, L>
where
    P: Fn(&E) -> bool + Send,
    L: Listener<E>,
{
    fn on_event(&mut self, event: &E, ctx: &EventContext<'_>) -> Result<(), ListenerError> {
        if (self.predicate)(event) {
            self.listener.on_event(event, ctx)
        } else {
            if let Some(counter) = &self.rejected {
                // A statistic: no other memory depends on it.
                counter.fetch_add(1, Ordering::Relaxed);
            }
            Ok(())
        }
    }

    fn on_start(&mut self, worker: &WorkerInfo) {
        self.listener.on_start(worker);
    }

    fn on_batch_end(&mut self) {
        self.listener.on_batch_end();
    }

    fn on_shutdown(&mut self) {
        self.listener.on_shutdown();
    }
}

impl<E, P, L> fmt::Debug for Filtered<E, P, L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Filtered")
            .field("counting", &self.rejected.is_some())
            .finish_non_exhaustive()
    }
}
