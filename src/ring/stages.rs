//! Stage dependencies on one ring: a reader that *trails* other readers of
//! the same ring sees sequence `s` only after each of them has released it
//! (the LMAX Disruptor's `handleEventsWith(a).then(b)`: pipelines and
//! diamonds over one ring, nothing copied).
//!
//! # How
//!
//! A trailing reader bounds what it reads by its upstream cursors as well as
//! by the producers' publish marks: `available = min(published, upstream
//! cursors) - next`. Upstream cursors are stored with `Release` after the
//! upstream reader is done with its batch, and loaded here with `Acquire`,
//! so everything the upstream listener did with an event happens-before the
//! trailing listener sees it, and so does the producer's write of the slot
//! (it happened-before the upstream's read). Producers need no change: a
//! trailing cursor is never ahead of its upstream ones, so the slowest
//! cursor, which gates them, is the same as without stages.
//!
//! Waking: a trailing reader may park with the producers far ahead, waiting
//! for its upstream. On a ring with stages a release is therefore also the
//! hot side of the park handshake (cursor store; light barrier; load
//! `sleepers`), exactly as a publish is; rings without stages skip it with
//! one branch.
//!
//! An upstream reader that will never move again (its partition halted by
//! its failure policy, or its reader dropped) is *retired*: a trailing
//! reader that caught up with it is finished, as if the ring had ended
//! there, so a shutdown does not wait for events that can never come.

use crate::loom::{AtomicBool, Ordering};

use super::Ring;

/// Which cursors each cursor of a ring trails, and which have retired.
pub(super) struct Stages {
    /// `upstream[i]`: the cursors reader `i` trails (empty for most).
    upstream: Box<[Box<[usize]>]>,
    /// Whether any reader trails another.
    any: bool,
    /// `retired[i]`: reader `i` will not move its cursor again.
    retired: Box<[AtomicBool]>,
}

impl Stages {
    /// `upstream[i]` lists the cursors reader `i` trails; each index must
    /// be another reader's (checked: a reader trailing itself, or a missing
    /// one, is a bug of the caller and panics here, at construction).
    pub(super) fn new(upstream: Vec<Vec<usize>>) -> Self {
        let readers = upstream.len();
        for (i, list) in upstream.iter().enumerate() {
            assert!(
                list.iter().all(|&u| u < readers && u != i),
                "reader {i} trails {list:?}, but the ring has {readers} readers"
            );
        }
        Stages {
            any: upstream.iter().any(|list| !list.is_empty()),
            upstream: upstream.into_iter().map(Vec::into_boxed_slice).collect(),
            retired: (0..readers).map(|_| AtomicBool::new(false)).collect(),
        }
    }

    /// Whether reader `index` trails any other.
    pub(super) fn trails(&self, index: usize) -> bool {
        !self.upstream[index].is_empty()
    }

    /// Whether any reader of the ring trails another.
    #[inline(always)]
    pub(super) fn any(&self) -> bool {
        self.any
    }
}

impl<T> Ring<T> {
    /// The lowest cursor among those reader `index` trails: it may read
    /// every sequence below. Only called for a reader that trails.
    #[inline]
    pub(super) fn upstream_bound(&self, index: usize) -> u64 {
        self.stages.upstream[index]
            .iter()
            // Acquire pairs with the upstream reader's Release in `release`:
            // its handling of every event below, and the producer's write
            // of those slots, happen-before this reader reads them.
            .map(|&u| self.cursors[u].load(Ordering::Acquire) & !super::READING)
            .min()
            .unwrap_or(u64::MAX)
    }

    /// Whether reader `index`, at `next`, waits for an upstream reader that
    /// retired there: nothing more can come to it.
    pub(super) fn behind_retired(&self, index: usize, next: u64) -> bool {
        self.stages.upstream[index].iter().any(|&u| {
            // Acquire: a retired reader's last cursor store is visible.
            self.stages.retired[u].load(Ordering::Acquire)
                && self.cursors[u].load(Ordering::Acquire) <= next
        })
    }

    /// Marks reader `index` as never moving again, and wakes parked readers
    /// so that any trailing it notice they are finished.
    pub(crate) fn retire(&self, index: usize) {
        self.stages.retired[index].store(true, Ordering::Release);
        if self.stages.any() {
            self.wake.unpark_all();
        }
    }
}
