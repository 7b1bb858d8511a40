//! The engine's watchdog: a thread that looks for stalled listeners every
//! quarter of the stall threshold, so a stall is announced (tracing) even
//! when nobody asks for a report. It sleeps on a condition variable, so
//! it wakes a few times per threshold and stops at once at shutdown.

use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use super::live::Live;

/// Shortest time between two looks.
const MIN_PERIOD: Duration = Duration::from_millis(10);

/// A running watchdog; [`stop`](Self::stop) ends it.
pub(super) struct Watchdog {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Watchdog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watchdog").finish_non_exhaustive()
    }
}

impl Watchdog {
    /// Starts watching the groups of `live` (as they are at each look) for
    /// listeners stalled `threshold` long;
    /// `None` if the thread could not be started (the reports still show
    /// stalls; only the unprompted announcement is lost).
    pub(super) fn start(live: Arc<Live>, threshold: Duration) -> Option<Self> {
        let period = (threshold / 4).max(MIN_PERIOD);
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let flag = Arc::clone(&stop);
        let thread = thread::Builder::new()
            .name("veltrix-watchdog".into())
            .spawn(move || {
                let (stopped, wake) = &*flag;
                let mut stopped = stopped.lock();
                while !*stopped {
                    wake.wait_for(&mut stopped, period);
                    if *stopped {
                        break;
                    }
                    parking_lot::MutexGuard::unlocked(&mut stopped, || {
                        for group in &live.group_list() {
                            group.watch();
                        }
                    });
                }
            })
            .ok()?;
        Some(Watchdog {
            stop,
            thread: Some(thread),
        })
    }

    /// Stops the thread and waits for it (it never runs user code, so this
    /// is prompt).
    pub(super) fn stop(&mut self) {
        let (stopped, wake) = &*self.stop;
        *stopped.lock() = true;
        wake.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
