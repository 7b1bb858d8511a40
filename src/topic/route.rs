//! How a topic picks the partition of each event, and the partitioner state
//! each producer handle keeps for itself.

use std::sync::atomic::{AtomicU64, Ordering};

use super::options::PartitionerKind;
use crate::partitioner::Partitioner;

/// A topic's partitioning, decided at build.
pub(crate) enum Route<E> {
    /// Always partition 0, with no call: one partition and a keyless
    /// built-in partitioner, which could only ever answer 0.
    Single,
    /// Built-in round robin, counted per producer handle ([`Spread`]).
    RoundRobin,
    /// Built-in sticky, counted per producer handle.
    Sticky {
        /// Events per partition before moving on (at least 1).
        linger: u64,
    },
    /// Built-in fixed partition (checked against the partition count on
    /// every publish, like any partitioner's answer).
    Fixed(u32),
    /// The user's partitioner.
    Custom(Box<dyn Partitioner<E>>),
}

impl<E: 'static> Route<E> {
    /// The route of a built-in partitioner.
    pub(crate) fn builtin(kind: PartitionerKind) -> Self {
        match kind {
            PartitionerKind::RoundRobin => Route::RoundRobin,
            PartitionerKind::Sticky { linger } => Route::Sticky {
                linger: linger.max(1),
            },
            PartitionerKind::Fixed { partition } => Route::Fixed(partition),
        }
    }

    /// The route for a topic of `partitions` partitions: keyless built-ins
    /// of a one-partition topic skip the call altogether.
    pub(crate) fn for_partitions(self, partitions: u32) -> Self {
        match self {
            Route::RoundRobin | Route::Sticky { .. } if partitions == 1 => Route::Single,
            other => other,
        }
    }

    /// The partition of `event` among `partitions`, advancing `spread`.
    /// May be out of range (a user partitioner or `Fixed`); the caller
    /// checks.
    #[inline(always)]
    pub(crate) fn pick(&self, event: &E, partitions: u32, spread: &Spread) -> u32 {
        match self {
            Route::Single => 0,
            Route::RoundRobin => (spread.next() % u64::from(partitions)) as u32,
            Route::Sticky { linger } => ((spread.next() / linger) % u64::from(partitions)) as u32,
            Route::Fixed(partition) => *partition,
            Route::Custom(partitioner) => partitioner.partition(event, partitions),
        }
    }

    /// Called at the start of every batch publish: sticky moves on.
    pub(crate) fn on_batch_start(&self, spread: &Spread) {
        match self {
            Route::Sticky { linger } => spread.round_up(*linger),
            Route::Custom(partitioner) => partitioner.on_batch_start(),
            _ => {}
        }
    }
}

/// One producer handle's position for round robin and sticky routes.
///
/// Each handle (each `Topic` clone, each `Producer`) has its own, so
/// producers never share a counter's cache line. It is an atomic only so
/// that a handle shared by reference between threads stays sound; it is
/// advanced with a plain load and store, not a read-modify-write: two
/// threads racing on one handle may pick the same partition once, which
/// costs evenness, never an event.
#[derive(Debug)]
pub(crate) struct Spread {
    count: AtomicU64,
}

impl Spread {
    /// A position starting at `start` (handles start apart, so that many
    /// fresh handles do not all begin on partition 0).
    pub(crate) fn new(start: u64) -> Self {
        Spread {
            count: AtomicU64::new(start),
        }
    }

    #[inline]
    fn next(&self) -> u64 {
        let n = self.count.load(Ordering::Relaxed);
        self.count.store(n.wrapping_add(1), Ordering::Relaxed);
        n
    }

    fn round_up(&self, linger: u64) {
        let n = self.count.load(Ordering::Relaxed);
        self.count
            .store(n.div_ceil(linger).wrapping_mul(linger), Ordering::Relaxed);
    }
}
