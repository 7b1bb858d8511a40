//! Worker threads of a threaded group.

use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Instant;

use parking_lot::Mutex;

use super::dispatch::{add, guarded, Dispatcher, PartitionCursor};
use super::driving::enter_reader;
use super::idle::{Idle, WaitStrategy};
use super::rebalance::Moves;
use super::{GroupControl, GroupCore};
use crate::error::ScaleError;
use crate::listener::{Listener, WorkerInfo};
use crate::report::GroupReport;
use crate::ring::thread_token;

/// What one worker thread owns.
pub(crate) struct WorkerSetup<E, L> {
    pub(crate) index: usize,
    pub(crate) cursors: Vec<PartitionCursor<E>>,
    pub(crate) listener: L,
    pub(crate) info: WorkerInfo,
    pub(crate) wait: WaitStrategy,
    pub(crate) max_batch: usize,
    pub(crate) moves: Arc<Moves<E>>,
}

/// Starts the worker's thread.
pub(crate) fn spawn<E, L>(
    core: Arc<GroupCore<E>>,
    dispatcher: Arc<Dispatcher<E>>,
    setup: WorkerSetup<E, L>,
) -> io::Result<JoinHandle<Vec<PartitionCursor<E>>>>
where
    E: Send + Sync + 'static,
    L: Listener<E> + 'static,
{
    thread::Builder::new()
        .name(format!("veltrix-{}-{}", core.shared.name, setup.index))
        .spawn(move || run(&core, &dispatcher, setup))
}

/// The worker loop: round-robin over its partitions, a batch from each, idle
/// when none is ready, exit once stopped and every partition is drained (or
/// halted), or at once when aborted. Between rounds, it takes part in a
/// move of partitions ([`Moves`]), and exits when a scale retires it.
fn run<E, L>(
    core: &GroupCore<E>,
    dispatcher: &Dispatcher<E>,
    setup: WorkerSetup<E, L>,
) -> Vec<PartitionCursor<E>>
where
    E: Send + Sync + 'static,
    L: Listener<E>,
{
    let WorkerSetup {
        index,
        mut cursors,
        mut listener,
        info,
        wait,
        max_batch,
        moves,
    } = setup;
    let shared = &core.shared;
    let _reader = enter_reader(shared.id);
    let token = thread_token();
    moves.set_thread(index, Some(thread::current()));
    for cursor in &cursors {
        cursor.set_driver(token);
    }
    Idle::register(cursors.iter().map(PartitionCursor::ring));
    let counters = &shared.counters[index];
    add(&counters.drop_panics, guarded(|| listener.on_start(&info)));
    let mut idle = Idle::new(wait);
    let mut start = 0usize;
    let mut n = cursors.len();
    // The generation of the assignment this worker holds all of.
    let mut synced = 0u64;
    loop {
        if shared.abort.load(Ordering::SeqCst) {
            break;
        }
        if moves.changed(synced) {
            let outcome = moves.sync(index, &mut cursors, &mut listener, token, counters);
            if let Some(generation) = outcome.generation {
                synced = generation;
            }
            if outcome.retire {
                break;
            }
            n = cursors.len();
            start = 0;
        }
        let mut consumed = 0usize;
        for i in 0..n {
            let at = (start + i) % n;
            consumed += dispatcher.drain(&mut cursors[at], &mut listener, shared, index, max_batch);
        }
        if n > 0 {
            start = (start + 1) % n;
        }
        if consumed > 0 {
            idle.reset();
            continue;
        }
        if shared.stop.load(Ordering::SeqCst)
            && !moves.changed(synced)
            && cursors.iter().all(PartitionCursor::is_done)
        {
            break;
        }
        let until = cursors.iter().filter_map(PartitionCursor::retry_due).min();
        idle.wait(
            cursors.iter().map(PartitionCursor::ring),
            || {
                let now = until.map(|_| Instant::now());
                cursors.iter().any(|c| c.is_ready(now))
            },
            until,
        );
    }
    add(&counters.drop_panics, guarded(|| listener.on_shutdown()));
    for cursor in &cursors {
        cursor.set_driver(0);
    }
    moves.set_thread(index, None);
    // Handed back to the group: what a shutdown deadline left can still be
    // dead-lettered.
    cursors
}

/// A group running on worker threads.
pub(crate) struct ThreadedGroup<E> {
    pub(crate) core: Arc<GroupCore<E>>,
    pub(crate) dispatcher: Arc<Dispatcher<E>>,
    /// Each running worker's index and thread.
    pub(crate) handles: Mutex<Vec<(usize, WorkerHandle<E>)>>,
    /// The workers' cursors, returned when they exit.
    pub(crate) returned: Mutex<Vec<(usize, PartitionCursor<E>)>>,
    /// Who holds which partition, and the partitions between two workers.
    pub(crate) moves: Arc<Moves<E>>,
    /// Starts worker `index` of `workers`, holding nothing yet (a scale).
    pub(crate) spawner: Mutex<Spawner<E>>,
    /// The most workers (`GroupOptions::max_workers`).
    pub(crate) slots: usize,
    /// The topic's partition count.
    pub(crate) partitions: u32,
    /// Held by a scale: one at a time.
    pub(crate) scaling: Mutex<()>,
}

/// A worker's thread; it hands its cursors back when it exits.
pub(crate) type WorkerHandle<E> = JoinHandle<Vec<PartitionCursor<E>>>;

/// Starts worker `index` of `workers` with no partitions (they come through
/// a move).
pub(crate) type Spawner<E> = Box<dyn FnMut(usize, usize) -> io::Result<WorkerHandle<E>> + Send>;

impl<E: Send + Sync + 'static> GroupControl for ThreadedGroup<E> {
    fn request_stop(&self) {
        self.core.shared.stop.store(true, Ordering::SeqCst);
        self.unpark();
    }

    fn abort(&self) {
        self.core.shared.abort.store(true, Ordering::SeqCst);
        self.unpark();
    }

    /// Waits for the workers to drain and exit; at `deadline`, aborts them.
    /// A worker cannot wait for itself: called from one of this group's
    /// listeners, the calling worker is left to finish on its own once its
    /// listener returns (it has been asked to stop), and the others are
    /// joined.
    fn workers_done(&self) -> bool {
        let me = thread::current().id();
        self.handles
            .lock()
            .iter()
            .all(|(_, h)| h.thread().id() == me || h.is_finished())
    }

    fn join(&self, deadline: Option<Instant>) {
        let me = thread::current().id();
        let others_finished = || self.workers_done();
        if let Some(deadline) = deadline {
            while !others_finished() && Instant::now() < deadline {
                thread::sleep(std::time::Duration::from_millis(1));
            }
            if !others_finished() {
                self.abort();
                // Aborted workers stop between events: one that is not out
                // within the grace is inside a listener that does not return.
                let grace = Instant::now() + crate::STUCK_GRACE;
                while !others_finished() && Instant::now() < grace {
                    thread::sleep(std::time::Duration::from_micros(200));
                }
            }
        }
        let handles = std::mem::take(&mut *self.handles.lock());
        for (worker, handle) in handles {
            if handle.thread().id() == me {
                // Detached: it drains what is left and exits by itself.
                continue;
            }
            if deadline.is_some() && !handle.is_finished() {
                // Left behind: it exits by itself once its listener returns
                // (it has been aborted). Its readers stay with it.
                self.core.shared.left_behind(worker);
                continue;
            }
            // Listener panics are caught inside the loop; a join error could
            // only come from a bug in the loop itself.
            if let Ok(cursors) = handle.join() {
                let mut returned = self.returned.lock();
                returned.extend(cursors.into_iter().map(|c| (worker, c)));
            }
        }
        // A deadline that stopped the workers mid-move left these between
        // two of them; every worker that wrote worker 0's counters exited.
        let between = self.moves.take_pool();
        self.returned
            .lock()
            .extend(between.into_iter().map(|c| (0, c)));
    }

    fn scale(&self, workers: usize) -> Result<(), ScaleError> {
        self.scale_to(workers)
    }

    fn dead_letter_rest(&self) -> u64 {
        let mut returned = self.returned.lock();
        returned
            .iter_mut()
            .map(|(worker, cursor)| {
                self.dispatcher
                    .dead_letter_rest(cursor, &self.core.shared, *worker)
            })
            .sum()
    }

    fn release_readers(&self) {
        self.returned.lock().clear();
    }

    fn report(&self) -> GroupReport {
        self.core.report("threads")
    }

    fn watch(&self) {
        self.core
            .shared
            .stalls
            .observe(&self.core.shared.counters, &self.core.shared.name);
    }

    fn metrics(&self) -> (Vec<(u32, u64)>, Option<crate::metrics::Histograms>) {
        self.core.metrics()
    }

    fn progress(&self) -> Vec<(u64, u64)> {
        self.core.progress()
    }

    fn name(&self) -> &str {
        &self.core.shared.name
    }

    fn driven_here(&self) -> bool {
        crate::group::driving::drives(self.core.shared.id)
    }
}

impl<E> ThreadedGroup<E> {
    fn unpark(&self) {
        for (_, handle) in self.handles.lock().iter() {
            handle.thread().unpark();
        }
    }
}

impl<E: Send + Sync + 'static> ThreadedGroup<E> {
    /// [`Engine::scale`](crate::Engine::scale): moves the partitions to
    /// `workers` workers (see [`super::rebalance`]) and returns once every
    /// partition is with its new worker and every retired worker exited.
    fn scale_to(&self, workers: usize) -> Result<(), ScaleError> {
        let group = || self.core.shared.name.to_string();
        if crate::group::driving::nesting() > 0 {
            return Err(ScaleError::FromListener { group: group() });
        }
        if workers == 0 || workers > self.slots {
            return Err(ScaleError::OutOfRange {
                group: group(),
                requested: workers,
                max: self.slots,
            });
        }
        let _one_at_a_time = self.scaling.lock();
        let stopping = || {
            self.core.shared.stop.load(Ordering::SeqCst)
                || self.core.shared.abort.load(Ordering::SeqCst)
        };
        if stopping() {
            return Err(ScaleError::ShuttingDown { group: group() });
        }
        let before = self.moves.workers();
        if workers == before {
            return Ok(());
        }
        let (mut generation, _) = self.moves.begin(self.partitions, workers);
        let mut spawn_error = None;
        for index in before..workers {
            match (self.spawner.lock())(index, workers) {
                Ok(handle) => self.handles.lock().push((index, handle)),
                Err(e) => {
                    // Back to the workers that run: nothing waits for the
                    // one that did not start.
                    generation = self.moves.begin(self.partitions, index.max(1)).0;
                    spawn_error = Some((index, e.to_string()));
                    break;
                }
            }
        }
        while !self.moves.settled(generation) {
            if self.core.shared.abort.load(Ordering::SeqCst) {
                return Err(ScaleError::ShuttingDown { group: group() });
            }
            thread::sleep(std::time::Duration::from_micros(100));
        }
        // The retired: each gave everything up, and exits at its next round.
        let now = self.moves.workers();
        let retired: Vec<_> = {
            let mut handles = self.handles.lock();
            let (retired, running) = std::mem::take(&mut *handles)
                .into_iter()
                .partition(|(index, _)| *index >= now);
            *handles = running;
            retired
        };
        for (index, handle) in retired {
            if let Ok(cursors) = handle.join() {
                // Empty but for a deadline's abort mid-move.
                let mut returned = self.returned.lock();
                returned.extend(cursors.into_iter().map(|c| (index, c)));
            }
        }
        match spawn_error {
            None => Ok(()),
            Some((worker, reason)) => Err(ScaleError::Spawn {
                group: group(),
                worker,
                workers: now,
                reason,
            }),
        }
    }
}
