//! A poll-mode group as the engine controls it ([`GroupControl`]): the
//! drain a shutdown runs on its own thread, the dead-lettering of what is
//! left, the release of the readers, and the assisting steps a shutdown
//! takes for a group no host polls any more.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::driver::{PollGroup, PollState};
use super::PollDriver;
use crate::group::dispatch::{add, guarded, PartitionCursor};
use crate::group::driving::{drives, enter_reader};
use crate::group::GroupControl;
use crate::listener::Listener;
use crate::report::GroupReport;

/// Events a shutdown handles per assisting step of a poll-mode group (see
/// `GroupControl::assist`).
const ASSIST_BUDGET: usize = 1024;

impl<E, L> GroupControl for PollGroup<E, L>
where
    E: Send + Sync + 'static,
    L: Listener<E> + 'static,
{
    fn request_stop(&self) {}

    fn abort(&self) {
        self.core.shared.abort.store(true, Ordering::SeqCst);
    }

    /// Drains the group on the calling thread (the one shutting down), until
    /// every partition is done or `deadline` passes. Called from inside one
    /// of this group's own polls (a listener shutting the engine down), it
    /// returns at once: that poll holds the group, and finishes the batch it
    /// is in when the listener returns.
    fn join(&self, deadline: Option<Instant>) {
        if drives(self.core.shared.id) {
            return;
        }
        let mut state = match deadline {
            None => self.state.lock(),
            Some(deadline) => {
                let grace = deadline.checked_add(crate::STUCK_GRACE).unwrap_or(deadline);
                match self.state.try_lock_until(grace) {
                    Some(state) => state,
                    None => {
                        // A poll on another thread holds the group past the
                        // deadline: its listener does not return. Left
                        // behind like a stuck worker; that poll stops at
                        // its next event.
                        self.abort();
                        self.core.shared.left_behind(0);
                        return;
                    }
                }
            }
        };
        if state.finished {
            return;
        }
        let _reader = enter_reader(self.core.shared.id);
        while !state.cursors.iter().all(PartitionCursor::is_done) {
            if self.core.shared.abort.load(Ordering::SeqCst)
                || deadline.is_some_and(|d| Instant::now() >= d)
            {
                break;
            }
            if self.driving(&mut state, false, |state| {
                self.run(state, usize::MAX, deadline).0
            }) == 0
            {
                // Nothing ready: a retry backoff or a publish in flight.
                let due = state
                    .cursors
                    .iter()
                    .filter_map(PartitionCursor::retry_due)
                    .min();
                let wait = due.map_or(Duration::from_micros(50), |d| {
                    d.saturating_duration_since(Instant::now())
                        .min(Duration::from_millis(1))
                });
                std::thread::sleep(wait);
            }
        }
        state.finished = true;
        let counters = &self.core.shared.counters[0];
        if !state.started {
            state.started = true;
            add(
                &counters.drop_panics,
                guarded(|| state.listener.on_start(&self.info)),
            );
        }
        add(
            &counters.drop_panics,
            guarded(|| state.listener.on_shutdown()),
        );
        drop(state);
        // A task waiting in `poll_async` learns that nothing more will come.
        // Only now, with the group's lock released: a task woken while it
        // was held would find the group busy and sleep again, with no
        // wake-up left to come (see `task::Idle::Busy`).
        crate::ring::wake_reader_tasks(self.core.rings.iter().map(|r| &**r));
    }

    fn dead_letter_rest(&self) -> u64 {
        let mut state = self.state.lock();
        let PollState { cursors, .. } = &mut *state;
        cursors
            .iter_mut()
            .map(|cursor| {
                self.dispatcher
                    .dead_letter_rest(cursor, &self.core.shared, 0)
            })
            .sum()
    }

    fn release_readers(&self) {
        if drives(self.core.shared.id) {
            return;
        }
        if !self.core.shared.stuck.lock().is_empty() {
            // A poll on another thread holds the group inside its listener
            // (`join` left it behind): its readers stay with it.
            return;
        }
        // Otherwise `join` finished the group under this lock, and any poll
        // that takes it now sees `finished` and returns at once: the wait
        // is short, and no race with a host's poll can keep the readers
        // (and so the events left in the rings) from being released.
        let mut state = self.state.lock();
        if state.finished {
            // Later polls see `finished` and read nothing.
            state.cursors.clear();
        }
    }

    fn report(&self) -> GroupReport {
        self.core.report("poll")
    }

    fn watch(&self) {
        self.core
            .shared
            .stalls
            .observe(&self.core.shared.counters, &self.core.shared.name);
    }

    fn assist(&self) -> usize {
        if drives(self.core.shared.id) {
            return 0;
        }
        let Some(mut state) = self.state.try_lock() else {
            return 0;
        };
        if state.finished {
            return 0;
        }
        let _reader = enter_reader(self.core.shared.id);
        self.driving(&mut state, false, |state| {
            self.run(state, ASSIST_BUDGET, None).0
        })
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
        drives(self.core.shared.id)
    }

    fn as_poll(self: Arc<Self>) -> Option<Arc<dyn PollDriver>> {
        Some(self)
    }
}
