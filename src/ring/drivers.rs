//! Who drains each cursor: the thread tokens the deadlock check of a
//! blocking producer follows (see `waits_for`).

use super::Ring;
#[cfg(not(veltrix_loom))]
use super::{waits_for, Arc};
#[cfg(not(veltrix_loom))]
use crate::loom::Ordering;

impl<T> Ring<T> {
    /// Records that the calling thread (`driver`: its
    /// [`waits_for::thread_token`], or 0 when it stops) drains cursor
    /// `index` from now on.
    pub(crate) fn set_driver(&self, index: usize, driver: u64) {
        self.drivers[index].store(driver, std::sync::atomic::Ordering::Relaxed);
    }

    /// What [`set_driver`](Self::set_driver) stored last for cursor `index`.
    pub(crate) fn driver(&self, index: usize) -> u64 {
        self.drivers[index].load(std::sync::atomic::Ordering::Relaxed)
    }
}

#[cfg(not(veltrix_loom))]
impl<T: Send + Sync + 'static> Ring<T> {
    /// Registers the calling producer as about to block on this ring for a
    /// claim of `n` (see `waits_for`); `None` when that wait could never
    /// end (a cycle of waits back to this thread): the caller must not wait.
    /// Keep the guard while waiting.
    pub(crate) fn block_on(self: &Arc<Self>, n: u64) -> Option<waits_for::BlockedGuard> {
        let ring: std::sync::Arc<dyn waits_for::Gating> = self.clone();
        waits_for::block(ring, n)
    }
}

#[cfg(not(veltrix_loom))]
impl<T: Send + Sync> waits_for::Gating for Ring<T> {
    fn need(&self, n: u64) -> u64 {
        self.wrap_for(n)
    }

    fn drivers_below(&self, need: u64, out: &mut smallvec::SmallVec<[u64; 8]>) {
        for (i, (cursor, driver)) in self.cursors.iter().zip(self.drivers.iter()).enumerate() {
            let word = cursor.load(Ordering::Acquire);
            // A lossy reader between batches, or a detached spare slot, is
            // lapped, not waited for.
            let waited_for = !self.lapping.lappable(i) || word & super::READING != 0;
            if waited_for && word & !super::READING < need {
                out.push(driver.load(std::sync::atomic::Ordering::Relaxed) & !waits_for::FROM_HOST);
            }
        }
    }

    fn slowest(&self) -> u64 {
        self.min_cursor()
    }
}
