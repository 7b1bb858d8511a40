//! Async peers: veltrix's `publish_async` and `Poller::poll_async` against
//! a bounded `tokio::sync::mpsc` channel of the same capacity, both driven
//! by tasks on one tokio multi-thread runtime of two workers.
//!
//! Every consumer does the same work per event (add it to a checksum, count
//! it). A transfer is timed from the moment the producer tasks are spawned
//! until the consumer task has counted the last event; building the engine
//! or channel and the runtime is outside the span.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::runtime::Runtime;
use veltrix::{Engine, GroupOptions, Topic, TopicOptions};

/// Events a veltrix consumer task handles per poll at most.
const POLL_BUDGET: usize = 256;

/// The two async peers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AsyncPeer {
    /// A one-partition topic (defaults: multi-producer, metrics on) read by
    /// a poll-mode group from a task.
    Veltrix,
    /// `tokio::sync::mpsc::channel(capacity)`.
    TokioMpsc,
}

impl AsyncPeer {
    /// The name in the report.
    pub fn name(self) -> &'static str {
        match self {
            AsyncPeer::Veltrix => "veltrix async",
            AsyncPeer::TokioMpsc => "tokio mpsc",
        }
    }
}

/// The runtime every async measurement runs on.
pub fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .expect("a tokio runtime")
}

/// Moves `events` events from `producers` tasks to one consumer task
/// through `peer` (queue capacity `capacity`); returns the time it took.
pub fn transfer(
    runtime: &Runtime,
    peer: AsyncPeer,
    producers: u64,
    events: u64,
    capacity: usize,
) -> Duration {
    match peer {
        AsyncPeer::Veltrix => veltrix_transfer(runtime, producers, events, capacity),
        AsyncPeer::TokioMpsc => tokio_transfer(runtime, producers, events, capacity),
    }
}

fn veltrix_transfer(runtime: &Runtime, producers: u64, events: u64, capacity: usize) -> Duration {
    let checksum = Arc::new(AtomicU64::new(0));
    let sum = Arc::clone(&checksum);
    let engine = Engine::builder()
        .topic::<u64>("t", TopicOptions::new(1).capacity(capacity))
        .subscribe("c", "t", GroupOptions::poll(), move |_| {
            let sum = Arc::clone(&sum);
            let mut local = 0u64;
            veltrix::listener::from_fn(move |e: &u64, ctx| {
                local = local.wrapping_add(black_box(*e));
                if ctx.end_of_batch() {
                    sum.fetch_add(local, Ordering::Relaxed);
                    local = 0;
                }
                Ok(())
            })
        })
        .build()
        .expect("a valid async topology");
    let topic = engine.topic::<u64>("t").expect("declared");
    let mut poller = engine.poller("c").expect("declared");
    let took = runtime.block_on(async move {
        let start = Instant::now();
        let consumer = tokio::spawn(async move {
            let mut handled = 0u64;
            while handled < events {
                handled += poller.poll_async(POLL_BUDGET).await.expect("not finished") as u64;
            }
            start.elapsed()
        });
        for p in 0..producers {
            let topic = topic.clone();
            let share = share_of(p, producers, events);
            tokio::spawn(async move {
                for i in 0..share {
                    topic.publish_async(i).await.expect("accepted");
                }
            });
        }
        consumer.await.expect("the consumer finished")
    });
    black_box(checksum.load(Ordering::Relaxed));
    engine.shutdown();
    took
}

fn tokio_transfer(runtime: &Runtime, producers: u64, events: u64, capacity: usize) -> Duration {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<u64>(capacity);
    runtime.block_on(async move {
        let start = Instant::now();
        let consumer = tokio::spawn(async move {
            let mut handled = 0u64;
            let mut sum = 0u64;
            while handled < events {
                let Some(e) = rx.recv().await else { break };
                sum = sum.wrapping_add(black_box(e));
                handled += 1;
            }
            black_box(sum);
            assert_eq!(handled, events, "the channel closed early");
            start.elapsed()
        });
        for p in 0..producers {
            let tx = tx.clone();
            let share = share_of(p, producers, events);
            tokio::spawn(async move {
                for i in 0..share {
                    tx.send(i).await.expect("the consumer is alive");
                }
            });
        }
        drop(tx);
        consumer.await.expect("the consumer finished")
    })
}

/// Producer `p`'s share of `events` over `producers` producers.
fn share_of(p: u64, producers: u64, events: u64) -> u64 {
    events / producers + u64::from(p < events % producers)
}

/// Ping-pong between two tasks through `peer`: `round_trips` timed round
/// trips after a warm-up; returns the (p50, p99, p99.9) in ns.
pub fn ping_pong(runtime: &Runtime, peer: AsyncPeer, round_trips: usize) -> [f64; 3] {
    match peer {
        AsyncPeer::Veltrix => veltrix_ping_pong(runtime, round_trips),
        AsyncPeer::TokioMpsc => tokio_ping_pong(runtime, round_trips),
    }
}

fn new_histogram() -> Histogram<u64> {
    Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("valid bounds")
}

fn percentiles(h: &Histogram<u64>) -> [f64; 3] {
    [0.5, 0.99, 0.999].map(|q| h.value_at_quantile(q) as f64)
}

fn veltrix_ping_pong(runtime: &Runtime, round_trips: usize) -> [f64; 3] {
    // The echo group's listener answers on "pong"; the answer lands in
    // `last`, which the pinging task reads after its poll.
    let pong_slot: Arc<OnceLock<Topic<u64>>> = Arc::default();
    let slot = Arc::clone(&pong_slot);
    let last = Arc::new(AtomicU64::new(0));
    let seen = Arc::clone(&last);
    let engine = Engine::builder()
        .topic::<u64>("ping", TopicOptions::new(1).capacity(1024))
        .topic::<u64>("pong", TopicOptions::new(1).capacity(1024))
        .subscribe("echo", "ping", GroupOptions::poll(), move |_| {
            let slot = Arc::clone(&slot);
            veltrix::listener::from_fn(move |v: &u64, _ctx| {
                let pong = slot.get().expect("set after build");
                pong.try_publish(*v)
                    .map(|_| ())
                    .map_err(|e| e.to_string().into())
            })
        })
        .subscribe("back", "pong", GroupOptions::poll(), move |_| {
            let seen = Arc::clone(&seen);
            veltrix::listener::from_fn(move |v: &u64, _ctx| {
                seen.store(*v, Ordering::Relaxed);
                Ok(())
            })
        })
        .build()
        .expect("a valid ping-pong topology");
    let ping = engine.topic::<u64>("ping").expect("declared");
    pong_slot
        .set(engine.topic::<u64>("pong").expect("declared"))
        .expect("set once");
    let mut echo = engine.poller("echo").expect("declared");
    let mut back = engine.poller("back").expect("declared");
    let histogram = runtime.block_on(async move {
        let echoing = tokio::spawn(async move { while echo.poll_async(64).await.is_some() {} });
        let mut histogram = new_histogram();
        for i in 0..(round_trips + round_trips / 4) as u64 {
            let start = Instant::now();
            ping.publish_async(i).await.expect("accepted");
            back.poll_async(1).await;
            let ns = start.elapsed().as_nanos() as u64;
            debug_assert_eq!(last.load(Ordering::Relaxed), i);
            if i >= (round_trips / 4) as u64 {
                histogram.saturating_record(ns.max(1));
            }
        }
        drop(echoing);
        histogram
    });
    engine.shutdown();
    percentiles(&histogram)
}

fn tokio_ping_pong(runtime: &Runtime, round_trips: usize) -> [f64; 3] {
    let (ping_tx, mut ping_rx) = tokio::sync::mpsc::channel::<u64>(1024);
    let (pong_tx, mut pong_rx) = tokio::sync::mpsc::channel::<u64>(1024);
    let histogram = runtime.block_on(async move {
        let echoing = tokio::spawn(async move {
            while let Some(v) = ping_rx.recv().await {
                if pong_tx.send(v).await.is_err() {
                    break;
                }
            }
        });
        let mut histogram = new_histogram();
        for i in 0..(round_trips + round_trips / 4) as u64 {
            let start = Instant::now();
            ping_tx.send(i).await.expect("the echo is alive");
            let back = pong_rx.recv().await.expect("echoed");
            let ns = start.elapsed().as_nanos() as u64;
            debug_assert_eq!(back, i);
            if i >= (round_trips / 4) as u64 {
                histogram.saturating_record(ns.max(1));
            }
        }
        drop(ping_tx);
        let _ = echoing.await;
        histogram
    });
    percentiles(&histogram)
}
