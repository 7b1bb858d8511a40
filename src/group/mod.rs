//! Listener groups: Kafka consumer groups inside one process.
//!
//! A group reads one topic through one cursor per partition. Its partitions
//! are assigned to its workers ([`assign`]); each worker ([`worker`]) or the
//! host's poller ([`poller`]) hands events to its own listener
//! ([`dispatch`]). Several groups on a topic each read every event in place.

mod assign;
mod dispatch;
mod options;
mod poller;
mod worker;

pub use options::{Assignment, GroupMode, GroupOptions};
pub use poller::Poller;

pub(crate) use poller::PollDriver;

use std::any::{Any, TypeId};
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use crossbeam_utils::CachePadded;
use parking_lot::Mutex;

use crate::error::BuildError;
use crate::listener::{Listener, WorkerInfo};
use crate::ring::{Reader, Ring};
use crate::topic::{Entry, Topic};

/// Counters one worker writes (and only that worker).
#[derive(Debug, Default)]
pub(crate) struct WorkerCounters {
    pub(crate) handled: AtomicU64,
    pub(crate) failed: AtomicU64,
}

/// What every worker of a group shares.
#[derive(Debug)]
pub(crate) struct GroupShared {
    pub(crate) name: Arc<str>,
    pub(crate) topic: Arc<str>,
    /// Engine-unique id, marking the group's threads as readers of its rings.
    pub(crate) id: u64,
    pub(crate) counters: Box<[CachePadded<WorkerCounters>]>,
    pub(crate) stop: AtomicBool,
}

/// A group's shared state plus its view of the topic's rings.
pub(crate) struct GroupCore<E> {
    pub(crate) shared: GroupShared,
    rings: Vec<Arc<Ring<Entry<E>>>>,
    /// This group's cursor index in each ring.
    reader_index: usize,
}

impl<E> GroupCore<E> {
    /// Events published and not yet consumed by this group, all partitions.
    pub(crate) fn lag(&self) -> u64 {
        self.rings
            .iter()
            .map(|r| r.claimed().saturating_sub(r.cursor(self.reader_index)))
            .sum()
    }

    fn report(&self, mode: &'static str) -> GroupReport {
        let (handled, failed) = self
            .shared
            .counters
            .iter()
            .fold((0, 0), |(h, f), c| {
                (h + c.handled.load(Ordering::Relaxed), f + c.failed.load(Ordering::Relaxed))
            });
        GroupReport {
            name: self.shared.name.to_string(),
            topic: self.shared.topic.to_string(),
            mode,
            handled,
            failed,
            lag: self.lag(),
        }
    }
}

/// Counts of one group.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GroupReport {
    /// The group.
    pub name: String,
    /// The topic it reads.
    pub topic: String,
    /// `"threads"` or `"poll"`.
    pub mode: &'static str,
    /// Events its listeners handled successfully.
    pub handled: u64,
    /// Events whose listener returned an error or panicked.
    pub failed: u64,
    /// Events published to the topic and not yet consumed by this group.
    pub lag: u64,
}

impl GroupReport {
    /// Events consumed: `handled + failed`.
    #[must_use]
    pub fn consumed(&self) -> u64 {
        self.handled + self.failed
    }
}

/// The engine's type-erased handle on a running group.
pub(crate) trait GroupControl: Send + Sync {
    /// Asks the group to finish: drain what is left and exit.
    fn request_stop(&self);
    /// Waits until the group has drained and its workers have exited (for a
    /// poll-mode group: drains it on the calling thread).
    fn join(&self);
    fn report(&self) -> GroupReport;
    fn as_poll(&self) -> Option<Arc<dyn PollDriver>>;
}

/// A group declared on the builder, before its topic exists.
pub(crate) trait GroupBlueprint: Send {
    fn name(&self) -> &str;
    fn topic(&self) -> &str;
    fn options(&self) -> &GroupOptions;
    fn event_type(&self) -> (TypeId, &'static str);
    /// Starts the group. `topic` is the `Topic<E>` and `readers` the
    /// `Vec<Reader<Entry<E>>>` (one per partition) made for it; both have
    /// the right type because the builder checked `event_type` first.
    fn start(
        self: Box<Self>,
        id: u64,
        topic: &dyn Any,
        readers: Box<dyn Any>,
    ) -> Result<Arc<dyn GroupControl>, BuildError>;
}

pub(crate) struct TypedGroup<E, L, F> {
    pub(crate) name: String,
    pub(crate) topic: String,
    pub(crate) options: GroupOptions,
    pub(crate) factory: F,
    pub(crate) _types: PhantomData<fn(&E) -> L>,
}

impl<E, L, F> GroupBlueprint for TypedGroup<E, L, F>
where
    E: Send + Sync + 'static,
    L: Listener<E> + 'static,
    F: FnMut(&WorkerInfo) -> L + Send + 'static,
{
    fn name(&self) -> &str {
        &self.name
    }

    fn topic(&self) -> &str {
        &self.topic
    }

    fn options(&self) -> &GroupOptions {
        &self.options
    }

    fn event_type(&self) -> (TypeId, &'static str) {
        (TypeId::of::<E>(), std::any::type_name::<E>())
    }

    fn start(
        mut self: Box<Self>,
        id: u64,
        topic: &dyn Any,
        readers: Box<dyn Any>,
    ) -> Result<Arc<dyn GroupControl>, BuildError> {
        let topic = topic
            .downcast_ref::<Topic<E>>()
            .expect("builder checked the event type");
        let readers = *readers
            .downcast::<Vec<Reader<Entry<E>>>>()
            .expect("builder checked the event type");
        let rings: Vec<_> = topic.inner().rings.iter().cloned().collect();
        let reader_index = readers.first().map_or(0, |r| r.index());
        let workers = match self.options.mode {
            GroupMode::Workers(n) => n,
            GroupMode::Poll => 1,
        };
        let core = Arc::new(GroupCore {
            shared: GroupShared {
                name: self.name.as_str().into(),
                topic: self.topic.as_str().into(),
                id,
                counters: (0..workers).map(|_| CachePadded::default()).collect(),
                stop: AtomicBool::new(false),
            },
            rings,
            reader_index,
        });
        let assignment = assign::assign(topic.partitions(), workers, self.options.assignment);
        let mut readers: Vec<Option<Reader<Entry<E>>>> = readers.into_iter().map(Some).collect();
        let info_for = |worker: usize, partitions: &[u32]| WorkerInfo {
            group: self.name.clone(),
            topic: self.topic.clone(),
            worker,
            workers,
            partitions: partitions.to_vec(),
        };
        match self.options.mode {
            GroupMode::Poll => {
                let info = info_for(0, &assignment[0]);
                let listener = (self.factory)(&info);
                let mine = take_readers(&mut readers, &assignment[0]);
                let group = PollGroup::new(core, info, self.options.max_batch, mine, listener);
                Ok(Arc::new(poller::SharedPollGroup(Arc::new(group))))
            }
            GroupMode::Workers(_) => {
                let group = Arc::new(worker::ThreadedGroup {
                    core: Arc::clone(&core),
                    handles: Mutex::new(Vec::with_capacity(workers)),
                });
                for (index, partitions) in assignment.iter().enumerate() {
                    let info = info_for(index, partitions);
                    let listener = (self.factory)(&info);
                    let setup = worker::WorkerSetup {
                        index,
                        partitions: partitions.clone(),
                        readers: take_readers(&mut readers, partitions),
                        listener,
                        info,
                        wait: self.options.wait,
                        max_batch: self.options.max_batch,
                    };
                    match worker::spawn(Arc::clone(&core), setup) {
                        Ok(handle) => group.handles.lock().push(handle),
                        Err(e) => {
                            group.request_stop();
                            return Err(BuildError::Spawn {
                                group: self.name.clone(),
                                reason: e.to_string(),
                            });
                        }
                    }
                }
                Ok(group)
            }
        }
    }
}

use poller::PollGroup;

fn take_readers<T>(readers: &mut [Option<Reader<T>>], partitions: &[u32]) -> Vec<Reader<T>> {
    partitions
        .iter()
        .map(|&p| readers[p as usize].take().expect("each partition assigned once"))
        .collect()
}
