//! Which reader groups the current thread is consuming for: its worker's
//! group, or the groups of the polls it is inside. Publishing checks it to
//! refuse a blocking publish into a ring the thread itself must drain
//! (`WouldDeadlock`), and shutdown to leave alone the groups it runs.

use std::cell::RefCell;

use smallvec::SmallVec;

thread_local! {
    /// Ids of the reader groups the current thread is consuming for, in
    /// the order it entered them: a worker's group, or the groups of the
    /// polls it is inside (a listener may poll another group).
    static DRIVING: RefCell<SmallVec<[u64; 4]>> = RefCell::new(SmallVec::new());
}

/// Leaves the group entered by [`enter_reader`] when dropped.
#[derive(Debug)]
pub(crate) struct ReaderGuard {
    _not_send: std::marker::PhantomData<*const ()>,
}

impl Drop for ReaderGuard {
    fn drop(&mut self) {
        DRIVING.with(|d| d.borrow_mut().pop());
    }
}

/// Marks the current thread as consuming for reader group `id` until the
/// guard drops (nested entries stack).
pub(crate) fn enter_reader(id: u64) -> ReaderGuard {
    DRIVING.with(|d| d.borrow_mut().push(id));
    ReaderGuard {
        _not_send: std::marker::PhantomData,
    }
}

/// How many groups the current thread is consuming for now: 0 outside any
/// worker or poll, 1 in a worker or a host's poll, more in nested polls.
pub(crate) fn nesting() -> usize {
    DRIVING.with(|d| d.borrow().len())
}

/// Whether the current thread is consuming for reader group `id` now (its
/// worker, or inside one of its polls).
pub(crate) fn drives(id: u64) -> bool {
    id != 0 && DRIVING.with(|d| d.borrow().contains(&id))
}
