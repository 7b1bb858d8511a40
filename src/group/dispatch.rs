//! Handing one partition's events to a listener: the last hop of an event's
//! path (`Reader::drain` → `Listener::on_event`).

use std::ops::ControlFlow;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;

use super::{GroupShared, WorkerCounters};
use crate::clock::Timestamp;
use crate::listener::{EventContext, Listener};
use crate::ring::Reader;
use crate::topic::Entry;

/// Hands up to `max` events of one partition to `listener`, catching errors
/// and panics (each counts as a failure of that one event), then calls
/// `on_batch_end`. Returns how many events were consumed.
#[inline]
pub(crate) fn drain_partition<E, L: Listener<E>>(
    reader: &mut Reader<Entry<E>>,
    partition: u32,
    listener: &mut L,
    shared: &GroupShared,
    counters: &WorkerCounters,
    max: usize,
) -> usize {
    let mut failed = 0u64;
    let consumed = reader.drain(max, |sequence, entry, last| {
        let ctx = EventContext {
            topic: &shared.topic,
            group: &shared.name,
            partition,
            sequence,
            published_at: Timestamp::from_raw(entry.published),
            end_of_batch: last,
        };
        match catch_unwind(AssertUnwindSafe(|| listener.on_event(&entry.event, &ctx))) {
            Ok(Ok(())) => {}
            Ok(Err(_)) | Err(_) => failed += 1,
        }
        ControlFlow::Continue(())
    });
    if consumed > 0 {
        // A panicking `on_batch_end` must not kill the worker either.
        let _ = catch_unwind(AssertUnwindSafe(|| listener.on_batch_end()));
        // Single writer per counter: plain load + store, no RMW.
        let handled = consumed as u64 - failed;
        counters.handled.store(
            counters.handled.load(Ordering::Relaxed) + handled,
            Ordering::Relaxed,
        );
        if failed > 0 {
            counters.failed.store(
                counters.failed.load(Ordering::Relaxed) + failed,
                Ordering::Relaxed,
            );
        }
    }
    consumed
}

/// Runs a listener hook, catching a panic.
pub(crate) fn guarded(hook: impl FnOnce()) {
    let _ = catch_unwind(AssertUnwindSafe(hook));
}
