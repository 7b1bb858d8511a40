//! How an idle worker waits: its [`WaitStrategy`] (spin, yield, then park
//! on the rings it reads through their park/wake protocol).

use std::thread;
use std::time::Instant;

use crate::ring::{park, register_reader, Ring};

/// How a worker waits when none of its partitions has an event.
///
/// # Examples
///
/// ```
/// use veltrix::WaitStrategy;
///
/// // The default: spin briefly, then yield, then park until a producer wakes us.
/// let adaptive = WaitStrategy::default();
/// assert!(matches!(adaptive, WaitStrategy::Adaptive { .. }));
///
/// // For hosts that dedicate a core to the worker: lowest latency, 100% of a core.
/// let spin = WaitStrategy::BusySpin;
/// # let _ = spin;
/// ```
///
/// With the `serde` feature: `"adaptive"` (the defaults),
/// `{ adaptive = { spins = 100, yields = 8 } }` (either key optional) or
/// `"busy_spin"`, read by the same checks as a configuration file
/// (`veltrix::config`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "snake_case")
)]
pub enum WaitStrategy {
    /// Spin `spins` rounds (one CPU pause each, re-checking between; the
    /// default 100 is a few µs), then yield `yields` times, then park. Producers
    /// unpark a worker only when it is actually parked, so a busy engine pays
    /// no syscall per event and an idle one costs nothing.
    Adaptive {
        /// Spin-loop rounds before yielding.
        spins: u32,
        /// `thread::yield_now` rounds before parking.
        yields: u32,
    },
    /// Never park: spin forever. Lowest hand-off latency; burns a whole core
    /// per worker, even when idle. Only for hosts that pin workers to cores.
    BusySpin,
}

impl Default for WaitStrategy {
    fn default() -> Self {
        WaitStrategy::Adaptive {
            spins: 100,
            yields: 8,
        }
    }
}

/// The idle loop of one worker over the rings it reads.
#[derive(Debug)]
pub(crate) struct Idle {
    strategy: WaitStrategy,
    step: u32,
}

impl Idle {
    pub(crate) fn new(strategy: WaitStrategy) -> Self {
        Idle { strategy, step: 0 }
    }

    /// Forget past idleness: the worker just found work.
    #[inline]
    pub(crate) fn reset(&mut self) {
        self.step = 0;
    }

    /// Registers the current thread with every ring in `rings`, so
    /// producers can unpark it.
    pub(crate) fn register<'a, T: 'a>(rings: impl Iterator<Item = &'a Ring<T>>) {
        register_reader(rings);
    }

    /// One idle step after a round that found nothing: spin, yield or park
    /// according to the strategy and how long the worker has been idle.
    /// Parking announces the thread on every ring of `rings`, runs the heavy
    /// barrier, then re-checks `ready` (which must look at whether the next
    /// event of each of those rings is published), and sleeps at most until
    /// `until`.
    pub(crate) fn wait<'a, T: 'a, I>(
        &mut self,
        rings: I,
        ready: impl Fn() -> bool,
        until: Option<Instant>,
    ) where
        I: Iterator<Item = &'a Ring<T>> + Clone,
    {
        let (spins, yields) = match self.strategy {
            WaitStrategy::BusySpin => {
                std::hint::spin_loop();
                return;
            }
            WaitStrategy::Adaptive { spins, yields } => (spins, yields),
        };
        self.step = self.step.saturating_add(1);
        if self.step <= spins {
            // One pause per round: the worker re-checks its rings every few
            // tens of nanoseconds, and gives the core up after a few µs.
            std::hint::spin_loop();
        } else if self.step <= spins.saturating_add(yields) {
            thread::yield_now();
        } else {
            // A stopping worker with nothing ready waits for a retry
            // (`until`) or a last publish like any other; `request_stop`
            // unparks it once, which is all it needs.
            park(rings, ready, until);
        }
    }
}
