//! The hot path does not allocate: once an engine is warmed up, publishing
//! and handling events costs no heap allocation per event.
//!
//! A counting global allocator counts every allocation of the process (all
//! threads, so the worker threads' too) while a window is open. The same
//! steady-state work is measured for N and for 10 N events: if anything
//! allocated per event, the second count would be about ten times the
//! first. Both paths are covered: a threaded group and a poll-mode group
//! reading the same topic, fed by `publish`, `try_publish` and
//! `publish_batch`.
//!
//! This file holds a single test so that no other test of the same binary
//! allocates concurrently inside the counting window.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use veltrix::{Engine, GroupOptions, PublishError, TopicOptions};

struct CountingAlloc;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

fn note() {
    if COUNTING.load(Ordering::Relaxed) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: every call is forwarded unchanged to `System`, which upholds the
// `GlobalAlloc` contract; counting does not touch the memory.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: the caller's guarantees are passed through.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: the caller's guarantees are passed through.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        // SAFETY: the caller's guarantees are passed through.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's guarantees are passed through.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

/// Allocations made by every thread while `f` runs.
fn allocations_during(f: impl FnOnce()) -> u64 {
    ALLOCATIONS.store(0, Ordering::SeqCst);
    COUNTING.store(true, Ordering::SeqCst);
    f();
    COUNTING.store(false, Ordering::SeqCst);
    ALLOCATIONS.load(Ordering::SeqCst)
}

/// A 64-byte event with a heap-free payload, as a game or trading host
/// would send.
#[derive(Debug, Clone, Copy)]
struct Tick {
    id: u64,
    payload: [u64; 7],
}

impl Tick {
    fn new(id: u64) -> Self {
        Tick {
            id,
            payload: [id; 7],
        }
    }
}

/// How much more the 10x longer run may allocate: room for incidental,
/// one-off allocations (none are expected), far below one per event.
const SLACK: u64 = 8;

#[test]
fn steady_state_publish_and_handle_do_not_allocate() {
    const CAPACITY: usize = 256;
    const PARTITIONS: u32 = 4;
    let threaded_seen = Arc::new(AtomicU64::new(0));
    let threaded_sum = Arc::new(AtomicU64::new(0));
    let polled_seen = Arc::new(AtomicU64::new(0));
    let engine = Engine::builder()
        .topic::<Tick>("ticks", TopicOptions::new(PARTITIONS).capacity(CAPACITY))
        .subscribe("threaded", "ticks", GroupOptions::workers(2), {
            let (seen, sum) = (Arc::clone(&threaded_seen), Arc::clone(&threaded_sum));
            move |_| {
                let (seen, sum) = (Arc::clone(&seen), Arc::clone(&sum));
                veltrix::listener::from_fn(move |tick: &Tick, _ctx| {
                    sum.fetch_add(tick.id + tick.payload[6], Ordering::Relaxed);
                    seen.fetch_add(1, Ordering::Release);
                    Ok(())
                })
            }
        })
        .subscribe("polled", "ticks", GroupOptions::poll(), {
            let seen = Arc::clone(&polled_seen);
            move |_| {
                let seen = Arc::clone(&seen);
                veltrix::listener::from_fn(move |tick: &Tick, ctx| {
                    assert!(ctx.partition() < PARTITIONS);
                    assert_eq!(tick.payload[0], tick.id);
                    seen.fetch_add(1, Ordering::Relaxed);
                    Ok(())
                })
            }
        })
        .build()
        .expect("valid topology");
    let ticks = engine.topic::<Tick>("ticks").expect("declared");
    let mut poller = engine.poller("polled").expect("poll group");

    let mut next_id = 0u64;
    let mut published = 0u64;
    // Publishes `n` events (a third each through publish, try_publish and
    // publish_batch), polling the poll-mode group whenever its partitions
    // fill up, then waits until both groups have handled everything.
    let mut run = |n: u64| {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut left = n;
        while left > 0 {
            match next_id % 3 {
                0 => {
                    let mut tick = Tick::new(next_id);
                    loop {
                        match ticks.try_publish(tick) {
                            Ok(_) => break,
                            Err(PublishError::Full(back)) => {
                                tick = back;
                                poller.poll(CAPACITY);
                                std::thread::yield_now();
                            }
                            Err(e) => panic!("publish failed: {e}"),
                        }
                    }
                    next_id += 1;
                    left -= 1;
                }
                1 => {
                    // Blocking publish: only when every ring has room, since
                    // the polled group is drained by this very thread.
                    while poller.pending() > (CAPACITY / 2) as u64 {
                        poller.poll(CAPACITY);
                    }
                    ticks.publish(Tick::new(next_id)).expect("open");
                    next_id += 1;
                    left -= 1;
                }
                _ => {
                    let k = left.min(16);
                    while poller.pending() > (CAPACITY / 2) as u64 {
                        poller.poll(CAPACITY);
                    }
                    let first = next_id;
                    let done = ticks
                        .publish_batch((first..first + k).map(Tick::new))
                        .expect("open");
                    assert_eq!(done as u64, k);
                    next_id += k;
                    left -= k;
                }
            }
            poller.poll(8);
            assert!(Instant::now() < deadline, "publishing stalled");
        }
        published += n;
        while polled_seen.load(Ordering::Relaxed) < published
            || threaded_seen.load(Ordering::Acquire) < published
        {
            poller.poll(CAPACITY);
            std::thread::yield_now();
            assert!(Instant::now() < deadline, "handling stalled");
        }
    };

    const N: u64 = 20_000;
    // Warm-up: every lazily created thing (thread-locals, parking slots,
    // clock calibration, the rings' first lap) exists after this.
    run(N);
    run(N);
    let small = allocations_during(|| run(N));
    let large = allocations_during(|| run(10 * N));

    assert!(
        large <= small + SLACK,
        "allocations grow with the number of events: {small} for {N} events, \
         {large} for {} events",
        10 * N
    );
    // And they are not merely proportional-but-small: well under one per
    // thousand events in either run.
    assert!(
        small <= SLACK && large <= SLACK,
        "steady state allocated: {small} for {N} events, {large} for {} events",
        10 * N
    );

    let report = engine.shutdown();
    assert!(report.is_drained());
    assert_eq!(report.group("threaded").unwrap().handled, published);
    assert_eq!(report.group("polled").unwrap().handled, published);
    assert!(threaded_sum.load(Ordering::Relaxed) > 0 || published == 0);
}
