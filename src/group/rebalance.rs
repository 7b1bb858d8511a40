//! Moving partitions between the workers of a running threaded group
//! ([`Engine::scale`](crate::Engine::scale)), cooperatively: a partition
//! changes worker only between batches.
//!
//! # Protocol
//!
//! The scaler computes the new assignment ([`assign::rebalance`]: sticky,
//! only what must move moves), stores it under the lock with a new
//! *generation*, and unparks every worker. A worker compares the generation
//! with the one it last synced to once per round (one load of a line that
//! changes only on a scale), and when it differs, between batches:
//!
//! 1. reads its new partitions under the lock;
//! 2. tells its listener which of its partitions leave
//!    ([`on_partitions_revoked`](crate::Listener::on_partitions_revoked)),
//!    and stops driving them (the deadlock check's driver, the rings'
//!    wake-up list);
//! 3. under the lock, puts them in the pool and takes from the pool those
//!    now its own, and unparks the others if it gave or took any;
//! 4. drives what it took and tells its listener
//!    ([`on_partitions_assigned`](crate::Listener::on_partitions_assigned)).
//!
//! A cursor is moved whole (its reader's position, a pending retry, a
//! halted mark, its de-duplication window) and only through the lock, so
//! its new worker sees everything the old one did: nothing is lost,
//! handled twice or reordered. A worker whose partitions have not all
//! arrived yet stays unsynced and looks again next round; the worker
//! giving them up does so at its next round, so each move waits at most
//! for one batch in progress. A worker past the new count gives up
//! everything and exits; the scaler joins it.
//!
//! The hot path is unchanged but for the one load per round: readers are
//! neither added to nor removed from the rings, and no lock is taken while
//! no scale is under way.

use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::Thread;

use crossbeam_utils::CachePadded;
use parking_lot::Mutex;

use super::assign;
use super::dispatch::{add, guarded, PartitionCursor};
use super::WorkerCounters;
use crate::listener::Listener;
use crate::ring::{register_reader, unregister_reader};

/// The assignment of a threaded group's partitions to its workers, and
/// the partitions between two workers.
pub(crate) struct Moves<E> {
    /// [`MoveState::generation`], for the workers' per-round check.
    generation: CachePadded<AtomicU64>,
    state: Mutex<MoveState<E>>,
}

struct MoveState<E> {
    /// Bumped by each scale.
    generation: u64,
    /// What each worker is to hold; its length is the worker count.
    targets: Vec<Vec<u32>>,
    /// Per worker index: the generation it has fully synced to.
    synced: Vec<u64>,
    /// Cursors given up and not yet taken.
    pool: Vec<PartitionCursor<E>>,
    /// Per worker index: its thread while it runs.
    threads: Vec<Option<Thread>>,
}

/// What a worker's [`Moves::sync`] decided.
pub(crate) struct Synced {
    /// The generation the worker now holds all its partitions of (else it
    /// looks again next round).
    pub(crate) generation: Option<u64>,
    /// The worker is past the worker count and holds nothing: it exits.
    pub(crate) retire: bool,
}

impl<E> Moves<E> {
    /// The group as built: `targets[w]` is worker `w`'s, at generation 0.
    pub(crate) fn new(targets: Vec<Vec<u32>>, slots: usize) -> Self {
        let workers = targets.len();
        Moves {
            generation: CachePadded::new(AtomicU64::new(0)),
            state: Mutex::new(MoveState {
                generation: 0,
                targets,
                synced: vec![0; slots.max(workers)],
                pool: Vec::new(),
                threads: vec![None; slots.max(workers)],
            }),
        }
    }

    /// Whether a scale happened since generation `synced`: the worker's
    /// once-per-round check. Relaxed: what a worker then reads of the move
    /// it reads under the lock, and a stale answer is caught next round
    /// (the scaler unparks every worker after the store).
    #[inline]
    pub(crate) fn changed(&self, synced: u64) -> bool {
        self.generation.load(Ordering::Relaxed) != synced
    }

    /// The number of workers now.
    pub(crate) fn workers(&self) -> usize {
        self.state.lock().targets.len()
    }

    /// Records worker `index`'s thread, for the unparks of a move.
    pub(crate) fn set_thread(&self, index: usize, thread: Option<Thread>) {
        self.state.lock().threads[index] = thread;
    }

    /// Unparks every worker but the calling thread.
    fn unpark_others(state: &MoveState<E>) {
        let me = std::thread::current().id();
        for thread in state.threads.iter().flatten() {
            if thread.id() != me {
                thread.unpark();
            }
        }
    }

    /// Starts a move to `workers` workers over `partitions` partitions:
    /// the new assignment under a new generation. Returns the generation
    /// and what each worker is to hold.
    pub(crate) fn begin(&self, partitions: u32, workers: usize) -> (u64, Vec<Vec<u32>>) {
        let mut state = self.state.lock();
        let targets = assign::rebalance(&state.targets, partitions, workers);
        state.targets = targets.clone();
        state.generation += 1;
        let generation = state.generation;
        self.generation.store(generation, Ordering::Release);
        Self::unpark_others(&state);
        (generation, targets)
    }

    /// Whether every worker below the count synced to `generation` and
    /// nothing is left in the pool: the move is complete.
    pub(crate) fn settled(&self, generation: u64) -> bool {
        let state = self.state.lock();
        state.pool.is_empty()
            && state.synced[..state.targets.len()]
                .iter()
                .all(|&g| g >= generation)
    }

    /// Every cursor still in the pool (after the workers exited: a
    /// shutdown deadline stopped them mid-move).
    pub(crate) fn take_pool(&self) -> Vec<PartitionCursor<E>> {
        std::mem::take(&mut self.state.lock().pool)
    }

    /// Worker `index`'s side of a move (see the module docs): between
    /// batches, gives up what is no longer its own and takes what is.
    pub(crate) fn sync<L: Listener<E>>(
        &self,
        index: usize,
        cursors: &mut Vec<PartitionCursor<E>>,
        listener: &mut L,
        token: u64,
        counters: &WorkerCounters,
    ) -> Synced {
        let (generation, target) = {
            let state = self.state.lock();
            let target = state.targets.get(index).cloned().unwrap_or_default();
            (state.generation, target)
        };
        let (keep, give): (Vec<_>, Vec<_>) = std::mem::take(cursors)
            .into_iter()
            .partition(|c| target.contains(&c.partition));
        *cursors = keep;
        if !give.is_empty() {
            let partitions: Vec<u32> = give.iter().map(|c| c.partition).collect();
            add(
                &counters.drop_panics,
                guarded(|| listener.on_partitions_revoked(&partitions)),
            );
            for cursor in &give {
                cursor.set_driver(0);
            }
            unregister_reader(give.iter().map(PartitionCursor::ring));
        }
        let gave = !give.is_empty();
        let (taken, complete) = {
            let mut state = self.state.lock();
            state.pool.extend(give);
            let (taken, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut state.pool)
                .into_iter()
                .partition(|c| target.contains(&c.partition));
            state.pool = rest;
            let complete = cursors.len() + taken.len() == target.len();
            if complete && state.generation == generation {
                state.synced[index] = generation;
            }
            if gave || !taken.is_empty() {
                Self::unpark_others(&state);
            }
            (taken, complete)
        };
        if !taken.is_empty() {
            for cursor in &taken {
                cursor.set_driver(token);
            }
            register_reader(taken.iter().map(PartitionCursor::ring));
            let partitions: Vec<u32> = taken.iter().map(|c| c.partition).collect();
            cursors.extend(taken);
            cursors.sort_unstable_by_key(|c| c.partition);
            add(
                &counters.drop_panics,
                guarded(|| listener.on_partitions_assigned(&partitions)),
            );
        }
        Synced {
            generation: complete.then_some(generation),
            retire: target.is_empty() && cursors.is_empty() && index >= self.workers(),
        }
    }
}
