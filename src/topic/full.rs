//! A publish that found its partition full: the topic's [`FullPolicy`]
//! decides whether it waits for room (how long), is refused, or is dropped.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use super::{FullPolicy, TopicInner};
use crate::error::PublishErrorKind;
use crate::ring::{Ring, Waited};

/// Why a push into a full partition did not wait for room.
pub(super) enum Full {
    /// `FullPolicy::DropNewest`: dropped and counted.
    Dropped,
    /// Refused; the events go back to the caller.
    Refused(PublishErrorKind),
}

impl<E: Send + Sync + 'static> TopicInner<E> {
    /// Applies the topic's full policy to a push of `n` events that found
    /// `ring` full: `Ok` once there may be room to try again, otherwise
    /// whether the events are dropped (counted here) or refused (the caller
    /// counts and hands them back).
    pub(super) fn when_full(
        &self,
        ring: &Arc<Ring<E>>,
        partition: u32,
        n: u64,
        deadline: &mut Option<Instant>,
    ) -> Result<(), Full> {
        let timeout = self.may_wait(n)?;
        // Never wait for ourselves: registered as blocked for as long as we
        // wait, refused if the wait would close a cycle back to this thread.
        let Some(mut blocked) = ring.block_on(n) else {
            return Err(Full::Refused(PublishErrorKind::WouldDeadlock));
        };
        let deadline = match timeout {
            // A timeout too long to represent waits without a deadline.
            Some(t) => {
                if deadline.is_none() {
                    *deadline = crate::clock::deadline_after(t);
                }
                *deadline
            }
            None => None,
        };
        match ring.wait_for_room(n, deadline, || blocked.still_waiting()) {
            Waited::Room => Ok(()),
            Waited::GaveUp => Err(Full::Refused(PublishErrorKind::WouldDeadlock)),
            Waited::TimedOut => Err(self.timed_out(partition)),
        }
    }

    /// The topic's full policy for a push of `n` events that found its
    /// partition full: how long it may wait for room (`None`: without a
    /// deadline), or that the events are refused, or dropped (counted
    /// here). Blocking and asynchronous publishes both ask here.
    pub(super) fn may_wait(&self, n: u64) -> Result<Option<std::time::Duration>, Full> {
        match self.policy {
            FullPolicy::Reject => Err(Full::Refused(PublishErrorKind::Full)),
            FullPolicy::DropNewest => {
                self.counters.dropped_full.fetch_add(n, Ordering::Relaxed);
                Err(Full::Dropped)
            }
            FullPolicy::Block => Ok(None),
            FullPolicy::BlockTimeout(timeout) => Ok(Some(timeout)),
        }
    }

    /// A wait for room on `partition` ran out of time.
    #[cold]
    pub(super) fn timed_out(&self, partition: u32) -> Full {
        #[cfg(feature = "tracing")]
        tracing::warn!(topic = %self.name, partition, "veltrix: publish timed out on a full partition");
        let _ = partition;
        Full::Refused(PublishErrorKind::Timeout)
    }
}
