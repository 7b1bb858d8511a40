//! Listeners that stay inside one event too long, noticed while the engine
//! runs (not only when a shutdown deadline finds them).
//!
//! A worker marks each batch it hands out: its `epoch` is odd from the
//! batch's start until its `on_batch_end` returned, and its `in_sequence`
//! names the event it is on. Both are plain stores the worker makes anyway
//! (one per batch, one per event), so watching costs the hot path nothing
//! more. Whoever looks (the engine's watchdog thread, a report, a metrics
//! snapshot) compares them with what it saw last: a worker seen inside the
//! same batch at the same event for at least the threshold is stalled. The
//! time is measured from the first look that saw it there, so it is a
//! lower bound, accurate to the watchdog's period.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;
use parking_lot::Mutex;

use super::WorkerCounters;
use crate::report::StalledListener;

/// Default of [`EngineBuilder::stall_threshold`](crate::EngineBuilder::stall_threshold):
/// a listener inside one event for 10 s is reported.
pub const DEFAULT_STALL_THRESHOLD: Duration = Duration::from_secs(10);

/// What was last seen of one worker.
#[derive(Debug, Clone, Copy)]
struct Seen {
    epoch: u64,
    sequence: u64,
    since: Instant,
    /// Whether this stall was announced (tracing) already.
    announced: bool,
}

/// The stall watch of one group.
#[derive(Debug)]
pub(crate) struct StallWatch {
    /// `None`: not watched.
    threshold: Option<Duration>,
    seen: Mutex<Vec<Option<Seen>>>,
}

impl StallWatch {
    /// A watch over `workers` workers; `None` watches nothing.
    pub(crate) fn new(workers: usize, threshold: Option<Duration>) -> Self {
        StallWatch {
            threshold,
            seen: Mutex::new(vec![None; workers]),
        }
    }

    /// Looks at every worker now and returns those stalled: inside the same
    /// batch, at the same event, since at least the threshold. Announces
    /// each stall once (a tracing warning), when first seen past it.
    pub(crate) fn observe(
        &self,
        counters: &[CachePadded<WorkerCounters>],
        #[allow(unused_variables)] group: &str,
    ) -> Vec<StalledListener> {
        let Some(threshold) = self.threshold else {
            return Vec::new();
        };
        let now = Instant::now();
        let mut seen = self.seen.lock();
        let mut stalled = Vec::new();
        for (worker, (counters, seen)) in counters.iter().zip(seen.iter_mut()).enumerate() {
            let epoch = counters.epoch.load(Ordering::Relaxed);
            let sequence = counters.in_sequence.load(Ordering::Relaxed);
            if epoch % 2 == 0 {
                *seen = None;
                continue;
            }
            let same = seen.is_some_and(|s| s.epoch == epoch && s.sequence == sequence);
            if !same {
                *seen = Some(Seen {
                    epoch,
                    sequence,
                    since: now,
                    announced: false,
                });
                continue;
            }
            let Some(entry) = seen.as_mut() else {
                continue;
            };
            let stalled_for = now.duration_since(entry.since);
            if stalled_for < threshold {
                continue;
            }
            let partition = counters
                .in_partition
                .load(Ordering::Relaxed)
                .saturating_sub(1) as u32;
            if !entry.announced {
                entry.announced = true;
                #[cfg(feature = "tracing")]
                tracing::warn!(
                    group,
                    worker,
                    partition,
                    sequence,
                    ?stalled_for,
                    "veltrix: listener inside one event longer than the stall threshold"
                );
            }
            stalled.push(StalledListener {
                worker,
                partition,
                sequence,
                stalled_for,
            });
        }
        stalled
    }
}
