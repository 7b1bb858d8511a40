//! Listener groups: Kafka consumer groups inside one process.
//!
//! A group reads one topic through one cursor per partition. Its partitions
//! are assigned to its workers ([`assign`]); each worker ([`worker`]) or the
//! host's poller ([`poller`]) hands events to its own listener through the
//! group's failure policy ([`dispatch`], [`policy`]). Several groups on a
//! topic each read every event in place.

mod assign;
mod dead_letter;
mod dedup;
mod dispatch;
mod driving;
mod idle;
mod options;
mod policy;
mod poller;
mod rebalance;
mod stall;
mod worker;

pub use dead_letter::DeadLetter;
pub use idle::WaitStrategy;
pub use options::{Assignment, GroupMode, GroupOptions, LagPolicy};
pub use policy::{Backoff, Exhausted, FailurePolicy, Retries, MAX_BACKOFF};
pub use poller::Poller;
pub use stall::DEFAULT_STALL_THRESHOLD;

use crate::metrics::Histograms;
use crate::report::{GroupReport, StuckWorker};
pub(crate) use dedup::{DedupSpec, DedupWindow};
pub(crate) use driving::nesting;
pub(crate) use poller::PollDriver;
#[cfg(feature = "async")]
pub use poller::{Batches, PollEvents};

use std::any::{Any, TypeId};
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crossbeam_utils::CachePadded;
use parking_lot::Mutex;

use crate::error::BuildError;
use crate::listener::{Listener, WorkerInfo};
use crate::ring::{Reader, Ring};
use crate::topic::{Topic, TopicInner};
use dispatch::{Dispatcher, PartitionCursor};
use poller::PollGroup;

/// Counters one worker writes (and only that worker).
#[derive(Debug, Default)]
pub(crate) struct WorkerCounters {
    pub(crate) handled: AtomicU64,
    pub(crate) failures: AtomicU64,
    pub(crate) retried: AtomicU64,
    pub(crate) dead_lettered: AtomicU64,
    pub(crate) skipped: AtomicU64,
    pub(crate) deduplicated: AtomicU64,
    pub(crate) dead_letter_failed: AtomicU64,
    /// Listener errors and panic payloads whose `Drop` panicked.
    pub(crate) drop_panics: AtomicU64,
    /// Poll calls (poll mode).
    pub(crate) polls: AtomicU64,
    /// Poll calls that used their whole budget with events left.
    pub(crate) budget_exhausted: AtomicU64,
    /// Threaded workers: the partition (+ 1; 0 before the first) and
    /// sequence of the event last handed to the listener. Stored by the
    /// worker only (plain stores, per drain and per event, on its own
    /// line), read when a shutdown deadline finds the worker still busy.
    pub(crate) in_partition: AtomicU64,
    pub(crate) in_sequence: AtomicU64,
    /// Odd from the start of a batch the worker hands out until its
    /// `on_batch_end` returned (the stall watch: [`stall`]).
    pub(crate) epoch: AtomicU64,
}

/// What every worker of a group shares.
#[derive(Debug)]
pub(crate) struct GroupShared {
    pub(crate) name: Arc<str>,
    pub(crate) topic: Arc<str>,
    /// Engine-unique id, marking the group's threads as readers of its rings.
    pub(crate) id: u64,
    pub(crate) counters: Box<[CachePadded<WorkerCounters>]>,
    /// Drain what is left, then exit.
    pub(crate) stop: AtomicBool,
    /// Exit now (a shutdown deadline passed).
    pub(crate) abort: AtomicBool,
    /// Partitions halted by the failure policy (slow path only).
    pub(crate) halted: Mutex<Vec<u32>>,
    /// Workers a shutdown deadline left behind inside their listener.
    pub(crate) stuck: Mutex<Vec<StuckWorker>>,
    /// One set of latency histograms per worker; `None` with metrics off.
    pub(crate) histograms: Option<Box<[Mutex<Histograms>]>>,
    /// Events whose `sequence & sample_mask == 0` are timed.
    pub(crate) sample_mask: u64,
    /// Listeners inside one event too long.
    pub(crate) stalls: stall::StallWatch,
}

/// A group's shared state plus its view of the topic's rings.
pub(crate) struct GroupCore<E> {
    pub(crate) shared: GroupShared,
    rings: Vec<Arc<Ring<E>>>,
    /// This group's cursor index in each ring.
    reader_index: usize,
    /// Where its readers started, all partitions added: the events before
    /// it joined (0 for a group declared on the builder).
    joined_at: u64,
}

impl GroupShared {
    /// Records worker `worker` (0 for a poll group: the thread inside its
    /// poll), still inside its listener after a shutdown deadline and its
    /// grace, as stuck.
    pub(crate) fn left_behind(&self, worker: usize) {
        let counters = &self.counters[worker];
        let partition = counters
            .in_partition
            .load(Ordering::Relaxed)
            .saturating_sub(1) as u32;
        let sequence = counters.in_sequence.load(Ordering::Relaxed);
        #[cfg(feature = "tracing")]
        tracing::error!(group = %self.name, worker, partition, sequence, "veltrix: shutdown deadline passed with a listener still running; left behind");
        self.stuck.lock().push(StuckWorker {
            worker,
            partition,
            sequence,
        });
    }
}

impl<E> GroupCore<E> {
    /// Events published to each partition and not yet consumed by this group.
    fn partition_lags(&self) -> impl Iterator<Item = u64> + '_ {
        self.rings
            .iter()
            .map(|r| r.claimed().saturating_sub(r.cursor(self.reader_index)))
    }

    /// Whether any partition of the group may have an event to read (a
    /// hint read without the readers: one cursor and one stamp per
    /// partition).
    pub(crate) fn any_ready(&self) -> bool {
        self.rings.iter().any(|r| r.has_next_for(self.reader_index))
    }

    /// `(cursor, claimed)` of each partition: where this group is, and how
    /// far the producers are.
    pub(crate) fn progress(&self) -> Vec<(u64, u64)> {
        self.rings
            .iter()
            .map(|r| (r.cursor(self.reader_index), r.claimed()))
            .collect()
    }

    /// Events published and not yet consumed by this group, all partitions.
    pub(crate) fn lag(&self) -> u64 {
        self.partition_lags().sum()
    }

    /// Events producers lapped this group past (lossy groups), all
    /// partitions.
    fn lagged(&self) -> u64 {
        self.rings.iter().map(|r| r.lagged(self.reader_index)).sum()
    }

    /// `(partition, lag)` for every partition, and the workers' histograms
    /// merged.
    fn metrics(&self) -> (Vec<(u32, u64)>, Option<Histograms>) {
        let lags = (0u32..).zip(self.partition_lags()).collect();
        let histograms = self.shared.histograms.as_deref().map(|all| {
            let mut merged = Histograms::new();
            for h in all {
                merged.merge(&h.lock());
            }
            for c in self.shared.counters.iter() {
                merged.polls += c.polls.load(Ordering::Relaxed);
                merged.budget_exhausted += c.budget_exhausted.load(Ordering::Relaxed);
            }
            merged
        });
        (lags, histograms)
    }

    fn report(&self, mode: &'static str) -> GroupReport {
        let sum = |field: fn(&WorkerCounters) -> &AtomicU64| -> u64 {
            self.shared
                .counters
                .iter()
                .map(|c| field(c).load(Ordering::Relaxed))
                .sum()
        };
        let mut halted = self.shared.halted.lock().clone();
        halted.sort_unstable();
        // The lag first: counts are stored before a cursor moves (Release),
        // and the lag loads the cursors (Acquire), so the counts read after
        // it cover at least what the lag says is consumed (or lapped).
        let lag = self.lag();
        let lagged = self.lagged();
        GroupReport {
            name: self.shared.name.to_string(),
            topic: self.shared.topic.to_string(),
            mode,
            handled: sum(|c| &c.handled),
            failures: sum(|c| &c.failures),
            retried: sum(|c| &c.retried),
            dead_lettered: sum(|c| &c.dead_lettered),
            skipped: sum(|c| &c.skipped),
            deduplicated: sum(|c| &c.deduplicated),
            dead_letter_failed: sum(|c| &c.dead_letter_failed),
            drop_panics: sum(|c| &c.drop_panics),
            lagged,
            lag,
            joined_at: self.joined_at,
            halted,
            stuck: self.shared.stuck.lock().clone(),
            stalled: self
                .shared
                .stalls
                .observe(&self.shared.counters, &self.shared.name),
        }
    }
}

/// The engine's type-erased handle on a running group.
pub(crate) trait GroupControl: Send + Sync {
    fn name(&self) -> &str;
    /// Whether the calling thread is inside one of this group's listeners
    /// (its worker, or one of its polls): it cannot wait for the group.
    fn driven_here(&self) -> bool;
    /// Whether every worker thread has exited (but one running the calling
    /// thread's listener, which cannot be waited for). Poll mode: true.
    fn workers_done(&self) -> bool {
        true
    }
    /// Poll mode: handles a bounded batch of what is ready, if no other
    /// thread is polling the group right now, and returns how many events
    /// it handled; a shutdown waiting for other groups does this so that a
    /// poll group no host polls any more cannot hold them up. Threads: 0.
    fn assist(&self) -> usize {
        0
    }
    /// Asks the group to finish: drain what is left and exit.
    fn request_stop(&self);
    /// Tells the group to exit now, leaving what is left.
    fn abort(&self);
    /// Waits until the group has drained and its workers have exited (for a
    /// poll-mode group: drains it on the calling thread, until `deadline`).
    fn join(&self, deadline: Option<Instant>);
    /// After `join`: publishes every event this group did not consume to its
    /// dead-letter topic (if its policy names one); returns how many.
    fn dead_letter_rest(&self) -> u64;
    /// Last, after `join` (and `dead_letter_rest`): drops the readers of
    /// the workers that exited (poll mode: of a finished group not held by
    /// another thread's poll), so that the rings no one reads any more can
    /// hand back what is left ([`Ring::take_unconsumed`](crate::ring::Ring::take_unconsumed)).
    /// Readers still in use (a worker left behind, the calling thread's
    /// own) stay where they are.
    fn release_readers(&self);
    fn report(&self) -> GroupReport;
    /// Looks for stalled listeners (announcing each new stall): what the
    /// engine's watchdog calls.
    fn watch(&self);
    /// Per-partition lag and the merged histograms (`None` with metrics off).
    fn metrics(&self) -> (Vec<(u32, u64)>, Option<Histograms>);
    /// `(cursor, claimed)` of each partition (see [`GroupCore::progress`]).
    fn progress(&self) -> Vec<(u64, u64)>;
    /// Threads: moves the group's partitions to `workers` workers (see
    /// [`Engine::scale`](crate::Engine::scale)). Poll mode: an error.
    fn scale(&self, workers: usize) -> Result<(), crate::error::ScaleError> {
        let _ = workers;
        Err(crate::error::ScaleError::PollMode {
            group: self.name().to_owned(),
        })
    }
    /// Poll mode: the group as the driver a [`Poller`] holds. Threads:
    /// `None`.
    fn as_poll(self: Arc<Self>) -> Option<Arc<dyn PollDriver>> {
        None
    }
}

/// A built topic as the groups reading it start: its shared state and,
/// for each of those groups in the order they were declared, the readers
/// made for it, one per partition, until that group takes them. The
/// builder holds it type-erased beside the topic's entry, until every
/// group has started.
pub(crate) struct TopicReaders<E> {
    /// The topic's state (its rings).
    pub(crate) topic: Arc<TopicInner<E>>,
    /// `readers[i]`: those of the topic's `i`-th group, until it starts.
    pub(crate) readers: Vec<Option<Vec<Reader<E>>>>,
}

/// What the builder hands a group when starting it.
pub(crate) struct StartContext<'a> {
    /// The group's engine-unique id.
    pub(crate) id: u64,
    /// The `TopicReaders<E>` of the topic the group reads.
    pub(crate) topic: &'a mut dyn Any,
    /// Which of that topic's groups this one is (in declaration order):
    /// where its readers are in `TopicReaders::readers`.
    pub(crate) slot: usize,
    /// The dead-letter `Topic<DeadLetter<E>>` and its `fn(&E) -> E`, when the
    /// policy names one.
    pub(crate) dead_letter: Option<(&'a dyn Any, &'a dyn Any)>,
    /// The `Arc<DedupSpec<E>>` of a de-duplicated topic.
    pub(crate) dedup: Option<Arc<dyn Any + Send + Sync>>,
    /// Whether to record latency histograms.
    pub(crate) metrics: bool,
    /// Time one event in this many per partition (a power of two).
    pub(crate) latency_sampling: u32,
    /// A listener inside one event this long is stalled; `None`: not
    /// watched.
    pub(crate) stall_threshold: Option<std::time::Duration>,
}

/// A group declared on the builder, before its topic exists.
pub(crate) trait GroupBlueprint: Send {
    fn name(&self) -> &str;
    fn topic(&self) -> &str;
    fn options(&self) -> &GroupOptions;
    fn event_type(&self) -> (TypeId, &'static str);
    /// The type its dead-letter topic must carry: `DeadLetter<E>`.
    fn dead_letter_type(&self) -> (TypeId, &'static str);
    /// Starts the group. The builder checked `event_type` and
    /// `dead_letter_type` first, so everything in `ctx` has the right type.
    fn start(self: Box<Self>, ctx: StartContext<'_>) -> Result<Arc<dyn GroupControl>, BuildError>;
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

    fn dead_letter_type(&self) -> (TypeId, &'static str) {
        (
            TypeId::of::<DeadLetter<E>>(),
            std::any::type_name::<DeadLetter<E>>(),
        )
    }

    fn start(
        mut self: Box<Self>,
        ctx: StartContext<'_>,
    ) -> Result<Arc<dyn GroupControl>, BuildError> {
        let topic = ctx
            .topic
            .downcast_mut::<TopicReaders<E>>()
            .expect("builder checked the event type");
        let readers = topic.readers[ctx.slot]
            .take()
            .expect("each group takes its readers once");
        let topic = &topic.topic;
        let dead_letters = ctx
            .dead_letter
            .map(|(topic, clone)| dead_letter::DeadLetterSink {
                topic: topic
                    .downcast_ref::<Topic<DeadLetter<E>>>()
                    .expect("builder checked the dead-letter type")
                    .clone(),
                clone: *clone
                    .downcast_ref::<fn(&E) -> E>()
                    .expect("dead-letter topics carry their event's clone function"),
            });
        let dedup = ctx.dedup.map(|spec| {
            spec.downcast::<DedupSpec<E>>()
                .expect("builder checked the event type")
        });
        let dedup_window = dedup.as_ref().map(|spec| spec.window);
        let dispatcher = Dispatcher {
            policy: self.options.failure.clone(),
            dead_letters,
            dedup,
        };
        let workers = match self.options.mode {
            GroupMode::Workers(n) => n,
            GroupMode::Poll => 1,
        };
        // Counters, histograms and stall records for every worker the group
        // may be scaled to.
        let slots = self.options.worker_slots();
        let core = Arc::new(GroupCore {
            shared: GroupShared {
                name: self.name.as_str().into(),
                topic: self.topic.as_str().into(),
                id: ctx.id,
                counters: (0..slots).map(|_| CachePadded::default()).collect(),
                stop: AtomicBool::new(false),
                abort: AtomicBool::new(false),
                halted: Mutex::new(Vec::new()),
                stuck: Mutex::new(Vec::new()),
                histograms: ctx
                    .metrics
                    .then(|| (0..slots).map(|_| Mutex::new(Histograms::new())).collect()),
                sample_mask: crate::clock::sample_mask(ctx.latency_sampling),
                stalls: stall::StallWatch::new(slots, ctx.stall_threshold),
            },
            rings: topic.rings.to_vec(),
            reader_index: readers.first().map_or(0, Reader::index),
            joined_at: readers.iter().map(Reader::next).sum(),
        });
        let partitions = topic.rings.len() as u32;
        let assignment = assign::assign(partitions, workers, self.options.assignment);
        let mut readers: Vec<Option<Reader<E>>> = readers.into_iter().map(Some).collect();
        let (name, topic_name) = (self.name.clone(), self.topic.clone());
        let info_for = move |worker: usize, workers: usize, partitions: &[u32]| WorkerInfo {
            group: name.clone(),
            topic: topic_name.clone(),
            worker,
            workers,
            partitions: partitions.to_vec(),
        };
        if self.options.mode == GroupMode::Poll {
            let info = info_for(0, 1, &assignment[0]);
            let listener = (self.factory)(&info);
            let cursors = take_cursors(&mut readers, &assignment[0], dedup_window);
            let max_batch = self.options.max_batch;
            let group = PollGroup::new(core, dispatcher, info, max_batch, cursors, listener);
            return Ok(Arc::new(group));
        }
        let dispatcher = Arc::new(dispatcher);
        let moves = Arc::new(rebalance::Moves::new(assignment.clone(), slots));
        let (wait, max_batch) = (self.options.wait, self.options.max_batch);
        let mut factory = self.factory;
        // Starts worker `index` of `workers` holding `cursors`.
        let mut spawn = {
            let (core, dispatcher, moves) = (
                Arc::clone(&core),
                Arc::clone(&dispatcher),
                Arc::clone(&moves),
            );
            move |index: usize, workers: usize, cursors: Vec<PartitionCursor<E>>| {
                let partitions: Vec<u32> = cursors.iter().map(|c| c.partition).collect();
                let info = info_for(index, workers, &partitions);
                let setup = worker::WorkerSetup {
                    index,
                    listener: factory(&info),
                    cursors,
                    info,
                    wait,
                    max_batch,
                    moves: Arc::clone(&moves),
                };
                worker::spawn(Arc::clone(&core), Arc::clone(&dispatcher), setup)
            }
        };
        let mut handles = Vec::with_capacity(workers);
        let mut failed = None;
        for (index, partitions) in assignment.iter().enumerate() {
            match spawn(
                index,
                workers,
                take_cursors(&mut readers, partitions, dedup_window),
            ) {
                Ok(handle) => handles.push((index, handle)),
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        let group = Arc::new(worker::ThreadedGroup {
            core: Arc::clone(&core),
            dispatcher,
            handles: Mutex::new(handles),
            returned: Mutex::new(Vec::new()),
            moves,
            spawner: Mutex::new(Box::new(move |index, workers| {
                spawn(index, workers, Vec::new())
            })),
            slots,
            partitions,
            scaling: Mutex::new(()),
        });
        if let Some(e) = failed {
            group.abort();
            group.join(None);
            return Err(BuildError::Spawn {
                group: self.name.clone(),
                reason: e.to_string(),
            });
        }
        Ok(group)
    }
}

fn take_cursors<E>(
    readers: &mut [Option<Reader<E>>],
    partitions: &[u32],
    dedup_window: Option<usize>,
) -> Vec<PartitionCursor<E>> {
    partitions
        .iter()
        .map(|&p| {
            let reader = readers[p as usize]
                .take()
                .expect("each partition is assigned once");
            PartitionCursor::new(p, reader, dedup_window)
        })
        .collect()
}
