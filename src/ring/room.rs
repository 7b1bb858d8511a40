//! A producer of a full ring waiting for room: spin, yield, then sleep on
//! the ring's gate (see [`wake`](super::wake)).

use std::thread;
use std::time::{Duration, Instant};

use super::wake::{PARK_SAFETY, PARK_UNPROVEN};
use super::{Claimers, CLOSED};
use crate::loom::Ordering;

/// How long a producer of a full ring spins and yields before it sleeps.
const PRODUCER_PATIENCE: Duration = Duration::from_micros(50);

/// How [`Ring::wait_for_room`](super::Ring::wait_for_room) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Waited {
    /// A claim of `n` could succeed now, or the ring is closed.
    Room,
    /// The deadline passed first.
    TimedOut,
    /// `still_waiting` said to give up.
    GaveUp,
}

impl<T> super::Ring<T> {
    /// Blocks the calling producer until a claim of `n` could succeed, the
    /// ring is closed, or `deadline` passes. Spins and yields briefly
    /// before sleeping. Each time it looks and finds no room it asks
    /// `still_waiting` whether to go on (the deadlock check's re-check;
    /// cheap unless the room it waited for came and went) and gives up
    /// when that says no.
    pub(crate) fn wait_for_room(
        &self,
        n: u64,
        deadline: Option<Instant>,
        mut still_waiting: impl FnMut() -> bool,
    ) -> Waited {
        // Spin, then yield, for up to PRODUCER_PATIENCE before sleeping: a
        // full ring usually frees a run of slots within microseconds, and a
        // producer that sleeps at once pays a heavy barrier, a futex wait
        // and a wake-up per run, which is slower than the whole run.
        let backoff = crossbeam_utils::Backoff::new();
        let mut since: Option<Instant> = None;
        loop {
            if self.has_room_or_closed(n) {
                return Waited::Room;
            }
            if !still_waiting() {
                return Waited::GaveUp;
            }
            if !backoff.is_completed() {
                backoff.snooze();
                continue;
            }
            let now = Instant::now();
            let started = *since.get_or_insert(now);
            if now.duration_since(started) >= PRODUCER_PATIENCE
                || deadline.is_some_and(|d| now >= d)
            {
                break;
            }
            thread::yield_now();
        }
        loop {
            let (ready, timed_out) = {
                let mut guard = self.gate.lock.lock();
                let proven = self.gate.announce();
                let ready = self.has_room_or_closed(n);
                let timed_out = if ready {
                    false
                } else {
                    let mut wait = if proven { PARK_SAFETY } else { PARK_UNPROVEN };
                    if let Some(deadline) = deadline {
                        let now = Instant::now();
                        if now >= deadline {
                            self.gate.retract();
                            return Waited::TimedOut;
                        }
                        wait = wait.min(deadline - now);
                    }
                    self.gate.space.wait_for(&mut guard, wait).timed_out()
                };
                self.gate.retract();
                (ready, timed_out)
            };
            if ready || self.has_room_or_closed(n) {
                return Waited::Room;
            }
            if timed_out && deadline.is_some_and(|d| Instant::now() >= d) {
                return Waited::TimedOut;
            }
            // Outside the gate's lock: the re-check takes the check's lock.
            if !still_waiting() {
                return Waited::GaveUp;
            }
        }
    }

    /// Whether a claim of `n` would find room now (or the ring is closed, in
    /// which case waiting is over too).
    pub(crate) fn has_room_or_closed(&self, n: u64) -> bool {
        let closing = match self.claimers {
            Claimers::Shared => self.claim.load(Ordering::Acquire) & CLOSED != 0,
            Claimers::Sole => self.is_closed(),
        };
        closing || {
            let wrap = self.wrap_for(n);
            wrap <= self.gate_for(wrap)
        }
    }

    /// The position every cursor must have reached for a claim of `n` to
    /// fit now: the slots it would take held the events of
    /// `..claimed + n - capacity`.
    pub(super) fn wrap_for(&self, n: u64) -> u64 {
        (self.claimed() + n).saturating_sub(self.capacity)
    }
}
