//! Publish timestamps from a cheap clock.
//!
//! `std::time::Instant::now()` costs about as much as a whole hand-off through
//! a ring, so topics read a TSC-based clock ([`quanta`]) instead, once per
//! publish call (once per batch for `publish_batch`).

use std::sync::OnceLock;
use std::time::Duration;

#[cfg(not(miri))]
fn clock() -> &'static quanta::Clock {
    static CLOCK: OnceLock<quanta::Clock> = OnceLock::new();
    CLOCK.get_or_init(quanta::Clock::new)
}

/// Under Miri (which cannot run the TSC instruction) the clock is
/// `Instant`, in nanoseconds since the first reading.
#[cfg(miri)]
fn clock() -> &'static MiriClock {
    static CLOCK: OnceLock<MiriClock> = OnceLock::new();
    CLOCK.get_or_init(|| MiriClock(std::time::Instant::now()))
}

#[cfg(miri)]
struct MiriClock(std::time::Instant);

#[cfg(miri)]
impl MiriClock {
    fn raw(&self) -> u64 {
        self.0.elapsed().as_nanos() as u64
    }

    fn delta_as_nanos(&self, start: u64, end: u64) -> u64 {
        end - start
    }

    fn delta(&self, start: u64, end: u64) -> Duration {
        Duration::from_nanos(end - start)
    }
}

/// The sampling rule of latency metrics, in one place: an event is timed
/// (and, by default, stamped at publish) when `sequence & mask == 0`, with
/// the mask of a sampling period of `every` events (a power of two).
#[inline]
pub(crate) fn sample_mask(every: u32) -> u64 {
    u64::from(every.max(1)) - 1
}

/// The instant `timeout` from now, or `None` when that instant cannot be
/// represented (`Duration::MAX`, say): every deadline in the crate is made
/// here, and a timeout too long to represent means "no deadline", never an
/// overflow panic.
#[inline]
pub(crate) fn deadline_after(timeout: std::time::Duration) -> Option<std::time::Instant> {
    std::time::Instant::now().checked_add(timeout)
}

/// Raw clock reading; never 0 (0 means "no timestamp" in a slot).
#[inline]
pub(crate) fn now_raw() -> u64 {
    clock().raw().max(1)
}

/// Nanoseconds from raw reading `start` to raw reading `end` (0 if `end`
/// is earlier).
#[inline]
pub(crate) fn nanos_between(start: u64, end: u64) -> u64 {
    if end <= start {
        return 0;
    }
    clock().delta_as_nanos(start, end)
}

/// Calibrates the clock now rather than on the first publish.
pub(crate) fn warm_up() {
    let _ = clock();
}

/// When an event was published, on the engine's clock.
///
/// Compare it with [`Timestamp::now`] or take [`Timestamp::elapsed`]; the raw
/// value has no meaning outside this process.
///
/// # Examples
///
/// ```
/// use veltrix::Timestamp;
///
/// let t = Timestamp::now();
/// assert!(t.elapsed() < std::time::Duration::from_secs(60));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(u64);

impl Timestamp {
    /// The current time on the engine's clock.
    #[must_use]
    pub fn now() -> Timestamp {
        Timestamp(now_raw())
    }

    pub(crate) fn from_raw(raw: u64) -> Option<Timestamp> {
        (raw != 0).then_some(Timestamp(raw))
    }

    /// Time since this timestamp (zero if the clock went backwards).
    #[must_use]
    pub fn elapsed(&self) -> Duration {
        Timestamp::now().duration_since(*self)
    }

    /// Time from `earlier` to `self` (zero if `earlier` is later).
    #[must_use]
    pub fn duration_since(&self, earlier: Timestamp) -> Duration {
        if self.0 <= earlier.0 {
            return Duration::ZERO;
        }
        clock().delta(earlier.0, self.0)
    }
}
