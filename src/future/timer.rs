//! Wake-ups at a time: for a future whose wait ends on a clock, not on a
//! publish or a release (a `BlockTimeout` deadline, a retry's backoff, or
//! the short re-poll when the wake handshake is unproven).
//!
//! veltrix brings no runtime, so it cannot borrow one's timer. One thread
//! (`veltrix-timer`, started on first use and idle on a condvar when nothing
//! is due) keeps a heap of `(instant, waker)` and wakes each waker once at
//! its instant. Entries are never cancelled: a future that finished before
//! its instant gets one spurious wake-up, which a future must tolerate
//! anyway. Callers arm each instant once, so the heap holds at most one
//! entry per waiting future and instant.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::OnceLock;
use std::task::Waker;
use std::thread;
use std::time::Instant;

use parking_lot::{Condvar, Mutex};

/// Wakes `waker` once, at `at` or soon after.
pub(crate) fn wake_at(at: Instant, waker: &Waker) {
    if at <= Instant::now() {
        waker.wake_by_ref();
        return;
    }
    let Some(timer) = timer() else {
        // No thread could be started: wake at once (the future polls
        // again, and so waits by polling: never lost, only busier).
        waker.wake_by_ref();
        return;
    };
    let mut heap = timer.heap.lock();
    let earliest = heap.peek().is_none_or(|first| at < first.at);
    heap.push(Due {
        at,
        waker: waker.clone(),
    });
    drop(heap);
    if earliest {
        timer.changed.notify_one();
    }
}

struct Timer {
    heap: Mutex<BinaryHeap<Due>>,
    changed: Condvar,
}

/// The one timer, its thread started on first use; `None` if the thread
/// could not be spawned.
fn timer() -> Option<&'static Timer> {
    static TIMER: OnceLock<Option<&'static Timer>> = OnceLock::new();
    *TIMER.get_or_init(|| {
        let timer: &'static Timer = Box::leak(Box::new(Timer {
            heap: Mutex::new(BinaryHeap::new()),
            changed: Condvar::new(),
        }));
        thread::Builder::new()
            .name("veltrix-timer".into())
            .spawn(move || run(timer))
            .ok()
            .map(|_| timer)
    })
}

fn run(timer: &Timer) -> ! {
    let mut heap = timer.heap.lock();
    loop {
        let now = Instant::now();
        let mut due = Vec::new();
        while heap.peek().is_some_and(|first| first.at <= now) {
            if let Some(first) = heap.pop() {
                due.push(first.waker);
            }
        }
        if !due.is_empty() {
            // Wakers run outside the lock: one may arm the timer again.
            drop(heap);
            for waker in due {
                waker.wake();
            }
            heap = timer.heap.lock();
            continue;
        }
        match heap.peek().map(|first| first.at) {
            Some(at) => {
                timer.changed.wait_until(&mut heap, at);
            }
            None => timer.changed.wait(&mut heap),
        }
    }
}

/// One armed wake-up; the heap pops the earliest first.
struct Due {
    at: Instant,
    waker: Waker,
}

impl PartialEq for Due {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at
    }
}

impl Eq for Due {}

impl PartialOrd for Due {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Due {
    /// Reversed: `BinaryHeap` is a max-heap and the earliest must come out
    /// first.
    fn cmp(&self, other: &Self) -> Ordering {
        other.at.cmp(&self.at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};
    use std::sync::Arc;
    use std::task::Wake;
    use std::time::Duration;

    struct Count(AtomicUsize, std::sync::Mutex<Option<thread::Thread>>);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, AtomicOrdering::SeqCst);
            if let Some(t) = self.1.lock().unwrap().as_ref() {
                t.unpark();
            }
        }
    }

    #[test]
    fn wakes_each_armed_waker_once_after_its_instant() {
        let count = Arc::new(Count(
            AtomicUsize::new(0),
            std::sync::Mutex::new(Some(thread::current())),
        ));
        let waker = Waker::from(Arc::clone(&count));
        let start = Instant::now();
        wake_at(start + Duration::from_millis(30), &waker);
        wake_at(start + Duration::from_millis(10), &waker);
        while count.0.load(AtomicOrdering::SeqCst) < 2 {
            thread::park_timeout(Duration::from_millis(5));
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "timer never fired"
            );
        }
        assert!(start.elapsed() >= Duration::from_millis(30));
        thread::sleep(Duration::from_millis(20));
        assert_eq!(count.0.load(AtomicOrdering::SeqCst), 2);
    }

    #[test]
    fn an_instant_already_past_wakes_at_once() {
        let count = Arc::new(Count(AtomicUsize::new(0), std::sync::Mutex::new(None)));
        let waker = Waker::from(Arc::clone(&count));
        wake_at(Instant::now(), &waker);
        assert_eq!(count.0.load(AtomicOrdering::SeqCst), 1);
    }
}
