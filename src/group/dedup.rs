//! The de-duplication window of one partition, as one group sees it.
//!
//! Every group walks a partition in the same order, so every group makes the
//! same decisions; the check runs on the consumer side, where a partition has
//! a single reader per group, so it needs no lock.

use std::collections::{HashSet, VecDeque};

/// How the groups of a de-duplicated topic
/// ([`EngineBuilder::deduplicate`](crate::EngineBuilder::deduplicate)) tell
/// events apart: the window each keeps per partition and the id function,
/// shared by every group of the topic.
pub(crate) struct DedupSpec<E> {
    pub(crate) window: usize,
    pub(crate) id: Box<dyn Fn(&E) -> u64 + Send + Sync>,
}

/// The last `capacity` ids seen, with O(1) membership.
#[derive(Debug)]
pub(crate) struct DedupWindow {
    capacity: usize,
    order: VecDeque<u64>,
    members: HashSet<u64, ahash::RandomState>,
}

impl DedupWindow {
    /// Bytes a window of `capacity` ids allocates, for the memory budget:
    /// the ring of ids plus the hash set (8-byte ids, one control byte per
    /// bucket, buckets a power of two at most 7/8 full).
    pub(crate) fn footprint(capacity: usize) -> u128 {
        let ids = capacity as u128 * 8;
        let buckets = (capacity as u128 * 8 / 7).max(1).next_power_of_two();
        ids + buckets * 9
    }

    pub(crate) fn new(capacity: usize) -> Self {
        DedupWindow {
            capacity,
            order: VecDeque::with_capacity(capacity),
            members: HashSet::with_capacity_and_hasher(capacity, ahash::RandomState::new()),
        }
    }

    /// Records `id`; returns `true` if it was already in the window (a
    /// duplicate, not recorded again).
    pub(crate) fn seen(&mut self, id: u64) -> bool {
        if self.members.contains(&id) {
            return true;
        }
        if self.order.len() == self.capacity {
            if let Some(oldest) = self.order.pop_front() {
                self.members.remove(&oldest);
            }
        }
        self.order.push_back(id);
        self.members.insert(id);
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_forgets_the_oldest() {
        let mut w = DedupWindow::new(2);
        assert!(!w.seen(1));
        assert!(!w.seen(2));
        assert!(w.seen(1));
        assert!(!w.seen(3)); // evicts 1
        assert!(!w.seen(1)); // outside the window again
        assert!(w.seen(3));
    }
}
