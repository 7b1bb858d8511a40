//! The engine: owns every topic, group and worker; builds, reports, shuts
//! down.

mod builder;
mod report;

pub use builder::EngineBuilder;
pub use report::{Report, TopicReport};

use std::any::{Any, TypeId};
use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::error::LookupError;
use crate::group::{GroupControl, Poller};
use crate::topic::Topic;

/// The type-erased face of a topic the engine needs.
pub(crate) trait TopicControl: Send + Sync {
    fn close(&self);
    fn report(&self) -> TopicReport;
}

impl<E: Send + Sync + 'static> TopicControl for Topic<E> {
    fn close(&self) {
        for ring in self.inner().rings.iter() {
            ring.close();
        }
    }

    fn report(&self) -> TopicReport {
        let counters = &self.inner().counters;
        TopicReport {
            name: self.name().to_owned(),
            partitions: self.partitions(),
            published: self.published(),
            depth: self.inner().rings.iter().map(|r| r.depth()).sum(),
            invalid_partition: counters.invalid_partition.load(Ordering::Relaxed),
            rejected_full: counters.rejected_full.load(Ordering::Relaxed),
            rejected_closed: counters.rejected_closed.load(Ordering::Relaxed),
            would_deadlock: counters.would_deadlock.load(Ordering::Relaxed),
        }
    }
}

pub(crate) struct TopicEntry {
    pub(crate) name: String,
    pub(crate) type_id: TypeId,
    pub(crate) type_name: &'static str,
    /// The `Topic<E>`.
    pub(crate) handle: Box<dyn Any + Send + Sync>,
    pub(crate) control: Arc<dyn TopicControl>,
}

/// A running engine: topics, listener groups and their workers.
///
/// Build one with [`Engine::builder`]; publish through the [`Topic`] handles
/// it gives out; end it with [`shutdown`](Self::shutdown), which drains every
/// event and returns the final [`Report`].
///
/// Dropping an engine without calling `shutdown` shuts it down the same way
/// (drains, runs `on_shutdown`, joins every worker) and discards the report.
/// Either way, `Topic` handles still held afterwards return
/// [`PublishError::Closed`](crate::PublishError::Closed) with the event.
pub struct Engine {
    topics: Vec<TopicEntry>,
    groups: Vec<Arc<dyn GroupControl>>,
    shut_down: bool,
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("topics", &self.topics.iter().map(|t| &t.name).collect::<Vec<_>>())
            .field("groups", &self.groups.len())
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// Starts declaring an engine.
    pub fn builder() -> EngineBuilder {
        EngineBuilder::new()
    }

    fn from_parts(topics: Vec<TopicEntry>, groups: Vec<Arc<dyn GroupControl>>) -> Self {
        Engine {
            topics,
            groups,
            shut_down: false,
        }
    }

    /// The handle of topic `name`, which carries events of type `E`.
    ///
    /// # Errors
    ///
    /// [`LookupError::UnknownTopic`] (listing the topics that exist) or
    /// [`LookupError::WrongType`] (naming the topic's actual event type).
    pub fn topic<E: Send + Sync + 'static>(&self, name: &str) -> Result<Topic<E>, LookupError> {
        let entry = self
            .topics
            .iter()
            .find(|t| t.name == name)
            .ok_or_else(|| LookupError::UnknownTopic {
                name: name.to_owned(),
                known: self.topics.iter().map(|t| t.name.clone()).collect(),
            })?;
        if entry.type_id != TypeId::of::<E>() {
            return Err(LookupError::WrongType {
                topic: name.to_owned(),
                actual: entry.type_name,
                requested: std::any::type_name::<E>(),
            });
        }
        Ok(entry
            .handle
            .downcast_ref::<Topic<E>>()
            .expect("type id checked above")
            .clone())
    }

    /// Takes the [`Poller`] of poll-mode group `group`; there is one per group.
    ///
    /// # Errors
    ///
    /// [`LookupError::UnknownGroup`], [`LookupError::NotPollMode`] for a
    /// threaded group, [`LookupError::PollerTaken`] on a second call.
    pub fn poller(&self, group: &str) -> Result<Poller, LookupError> {
        let control = self
            .groups
            .iter()
            .find(|g| g.report().name == group)
            .ok_or_else(|| LookupError::UnknownGroup {
                name: group.to_owned(),
                known: self.groups.iter().map(|g| g.report().name).collect(),
            })?;
        let driver = control.as_poll().ok_or_else(|| LookupError::NotPollMode {
            group: group.to_owned(),
        })?;
        if !driver.take() {
            return Err(LookupError::PollerTaken {
                group: group.to_owned(),
            });
        }
        Ok(Poller::new(driver))
    }

    /// A snapshot of every topic's and group's counts. Cheap: it reads
    /// counters, it does not stop anything.
    #[must_use]
    pub fn report(&self) -> Report {
        Report {
            topics: self.topics.iter().map(|t| t.control.report()).collect(),
            groups: self.groups.iter().map(|g| g.report()).collect(),
        }
    }

    /// Shuts down, draining: stops accepting events (later publishes get
    /// [`PublishError::Closed`](crate::PublishError::Closed) with their
    /// event), hands every accepted event to every group, runs each
    /// listener's `on_shutdown`, joins every worker thread, and returns the
    /// final counts. Poll-mode groups are drained on the calling thread.
    ///
    /// Events that listeners publish while the engine drains are refused with
    /// `Closed`, like any other publish after shutdown began.
    pub fn shutdown(mut self) -> Report {
        self.shutdown_inner()
    }

    fn shutdown_inner(&mut self) -> Report {
        if !self.shut_down {
            self.shut_down = true;
            for topic in &self.topics {
                topic.control.close();
            }
            for group in &self.groups {
                group.request_stop();
            }
            for group in &self.groups {
                group.join();
            }
        }
        self.report()
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.shutdown_inner();
    }
}
