//! The peers veltrix is measured against, behind one small trait, and the
//! harness that times a transfer through any of them.
//!
//! Shared by the criterion benches (`benches/*.rs`) and by
//! `examples/bench_vs_peers.rs` (which includes this directory with
//! `#[path]`), so each target uses only part of it.
//!
//! # How a transfer is timed
//!
//! A [`Peer`] opens a [`Pipe`] for a [`Shape`]: its consumers are started
//! (threads it spawns, or engine/disruptor workers) and report every event to
//! a [`Tally`]. [`Pipe::transfer`] then starts one thread per producer; they
//! wait on a `Barrier` with the measuring thread, note when they were
//! released, and publish their share. The consumer whose event completes the
//! run stamps the end time. The measured span is from the first producer's
//! release to that stamp: thread start-up, barrier wake-ups and teardown are
//! outside it. Every consumer does the same work per event (read the whole
//! event into a checksum, count it), whatever the peer.
//!
//! # Wait behaviour
//!
//! Each peer declares its [`Wait`] class so the report compares like with
//! like: blocking channels (spin briefly, then park) against veltrix's
//! adaptive strategy; busy-spinning peers (the disruptor crate, rtrb and the
//! hand-rolled ring, which have no blocking wait) against veltrix's
//! `BusySpin`.

#![allow(dead_code, unused_imports)]

mod baseline;
mod ceiling;
mod channels;
mod engine;
mod lmax;
mod rtrb_ring;
mod scenarios;

use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;
use parking_lot::Mutex;

pub use baseline::{BareAtomics, Harness};
pub use ceiling::Ceiling;
pub use channels::{Channel, Crossbeam, Flume, StdMpsc};
pub use engine::Veltrix;
pub use lmax::Disruptor;
pub use rtrb_ring::Rtrb;
pub use scenarios::{scenarios, Payload, Scenario, BATCH, CAPACITY};

/// Longest a transfer may take before the harness gives up (a wedged peer
/// should fail loudly, not hang the run).
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(120);

/// What travels through the pipes.
pub trait Event: Copy + Default + Send + Sync + fmt::Debug + 'static {
    /// Short label for reports.
    const LABEL: &'static str;
    /// The `i`-th event.
    fn make(i: u64) -> Self;
    /// Reads the whole event (what a consumer "does" with it).
    fn touch(&self) -> u64;
}

impl Event for u64 {
    const LABEL: &'static str = "u64";

    #[inline(always)]
    fn make(i: u64) -> Self {
        i
    }

    #[inline(always)]
    fn touch(&self) -> u64 {
        *self
    }
}

/// A 64-byte event: eight words, all read by the consumer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ev64(pub [u64; 8]);

impl Event for Ev64 {
    const LABEL: &'static str = "64 B";

    #[inline(always)]
    fn make(i: u64) -> Self {
        Ev64([i; 8])
    }

    #[inline(always)]
    fn touch(&self) -> u64 {
        self.0.iter().fold(0u64, |a, w| a.wrapping_add(*w))
    }
}

/// How a peer waits when it has nothing to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// Spins briefly, then parks the thread (channels; veltrix adaptive).
    Blocking,
    /// Never parks: spins (and at most yields).
    Spinning,
    /// No hand-off between threads at all (the harness baseline).
    Inline,
}

impl Wait {
    /// Short label for tables.
    pub fn label(self) -> &'static str {
        match self {
            Wait::Blocking => "block",
            Wait::Spinning => "spin",
            Wait::Inline => "none",
        }
    }
}

/// How the consumers of a pipe share its events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Every consumer sees every event (fan-out; one consumer: SPSC/MPSC).
    Each,
    /// Each event goes to exactly one of the consumers (work sharing).
    Shared,
    /// Every consumer sees every event, each only after the one before it
    /// (stage dependencies on one ring: `a → b → c`).
    Pipeline,
    /// Every consumer sees every event: all but the last in parallel, the
    /// last only after all of them (`(a, b) → c`).
    Diamond,
}

impl Delivery {
    /// Whether the consumers are stages that depend on one another.
    pub fn is_staged(self) -> bool {
        matches!(self, Delivery::Pipeline | Delivery::Diamond)
    }
}

/// The topology a scenario asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// Producer threads.
    pub producers: usize,
    /// Consumers (threads, workers or groups, per peer).
    pub consumers: usize,
    /// How the consumers share the events.
    pub delivery: Delivery,
    /// Events each producer publishes per call: 1 is one at a time.
    pub batch: usize,
    /// Slots of buffering, the same for every peer (a power of two). A peer
    /// that needs one ring per consumer for `Shared` splits it among them.
    pub capacity: usize,
    /// veltrix partitions (other peers have none and refuse `> 1`).
    pub partitions: u32,
    /// veltrix only: one more group on the topic, lossy
    /// (`LagPolicy::Lossy`) and poll-mode, that nobody polls (other peers
    /// refuse it).
    pub stalled_lossy: bool,
}

impl Shape {
    /// One producer, one consumer, one at a time.
    pub const fn spsc(capacity: usize) -> Shape {
        Shape {
            producers: 1,
            consumers: 1,
            delivery: Delivery::Each,
            batch: 1,
            capacity,
            partitions: 1,
            stalled_lossy: false,
        }
    }

    /// `producers` producers into one consumer.
    pub const fn mpsc(producers: usize, capacity: usize) -> Shape {
        Shape {
            producers,
            ..Shape::spsc(capacity)
        }
    }

    /// One producer; every one of `consumers` consumers sees every event.
    pub const fn fan_out(consumers: usize, capacity: usize) -> Shape {
        Shape {
            consumers,
            ..Shape::spsc(capacity)
        }
    }

    /// `producers` producers; `consumers` consumers share the events.
    pub const fn mpmc(producers: usize, consumers: usize, capacity: usize) -> Shape {
        Shape {
            producers,
            consumers,
            delivery: Delivery::Shared,
            ..Shape::spsc(capacity)
        }
    }

    /// One producer; `stages` consumers in a chain, each seeing an event
    /// after the one before it.
    pub const fn pipeline(stages: usize, capacity: usize) -> Shape {
        Shape {
            consumers: stages,
            delivery: Delivery::Pipeline,
            ..Shape::spsc(capacity)
        }
    }

    /// One producer; `branches` consumers in parallel, then one that sees
    /// an event after all of them.
    pub const fn diamond(branches: usize, capacity: usize) -> Shape {
        Shape {
            consumers: branches + 1,
            delivery: Delivery::Diamond,
            ..Shape::spsc(capacity)
        }
    }

    /// The same shape, publishing `batch` events per call.
    pub const fn batched(self, batch: usize) -> Shape {
        Shape { batch, ..self }
    }

    /// The same shape with a stalled lossy group beside its consumers.
    pub const fn with_stalled_lossy(self) -> Shape {
        Shape {
            stalled_lossy: true,
            ..self
        }
    }

    /// The same shape over `partitions` veltrix partitions.
    pub const fn partitioned(self, partitions: u32) -> Shape {
        Shape { partitions, ..self }
    }

    /// Whether this is plain one producer, one consumer, no batches, no
    /// partitions.
    pub fn is_simple_spsc(&self) -> bool {
        self.producers == 1 && self.consumers == 1 && self.batch == 1 && self.partitions == 1
    }
}

/// One of the things measured: a channel, a ring, the disruptor crate, or
/// veltrix in one configuration.
///
/// `open` returns `None` for a shape the peer cannot express (rtrb has one
/// producer; std's receiver cannot be shared; only veltrix has partitions).
pub trait Peer<E: Event> {
    /// Name in reports.
    fn name(&self) -> &'static str;
    /// How its consumers wait.
    fn wait(&self) -> Wait;
    /// Starts the consumers of `shape` and returns the producers' ends.
    fn open(&self, shape: &Shape) -> Option<Pipe<E>>;
    /// Starts an echo for round-trip latency: the caller sends a value, a
    /// second thread sends it back.
    fn ping_pong(&self, _capacity: usize) -> Option<Box<dyn RoundTrip>> {
        None
    }
}

/// Every peer, in report order.
pub fn peers<E: Event>() -> Vec<Box<dyn Peer<E>>> {
    vec![
        Box::new(Harness),
        Box::new(BareAtomics),
        Box::new(Channel::<StdMpsc>::new()),
        Box::new(Channel::<Crossbeam>::new()),
        Box::new(Channel::<Flume>::new()),
        Box::new(Disruptor),
        Box::new(Rtrb),
        Box::new(Ceiling),
        Box::new(Veltrix::ADAPTIVE),
        Box::new(Veltrix::METRICS_OFF),
        Box::new(Veltrix::STAMP_ALL),
        Box::new(Veltrix::SINGLE),
        Box::new(Veltrix::BUSY_SPIN),
        Box::new(Veltrix::SINGLE_SPIN),
        Box::new(Veltrix::POLL),
    ]
}

/// A producer's end of a pipe.
pub trait Tx<E>: Send {
    /// Publishes events `first..first + n`, `batch` per call (`n` is a
    /// multiple of `batch`). Waits while the pipe is full.
    fn send(&mut self, first: u64, n: u64, batch: usize);
}

/// A caller-driven round trip through a peer.
pub trait RoundTrip {
    /// Sends `value` (never 0) and waits for it to come back.
    fn round_trip(&mut self, value: u64) -> u64;
}

/// An open pipe: its producers' ends, the finish line its consumers report
/// to, and how to tear it down (after the producers' ends are dropped).
pub struct Pipe<E> {
    txs: Vec<Box<dyn Tx<E>>>,
    finish: Arc<Finish>,
    batch: usize,
    teardown: Option<Box<dyn FnOnce()>>,
    sent: u64,
}

impl<E: Event> Pipe<E> {
    /// Assembles a pipe. `teardown` runs after every `Tx` has been dropped.
    pub fn new(
        txs: Vec<Box<dyn Tx<E>>>,
        finish: Arc<Finish>,
        shape: &Shape,
        teardown: impl FnOnce() + 'static,
    ) -> Self {
        assert_eq!(txs.len(), shape.producers, "one Tx per producer");
        Pipe {
            txs,
            finish,
            batch: shape.batch,
            teardown: Some(Box::new(teardown)),
            sent: 0,
        }
    }

    /// Moves `events` events through the pipe (each producer publishes an
    /// equal share, rounded up to whole batches) and returns the time it
    /// took, scaled to exactly `events`.
    pub fn transfer(&mut self, events: u64) -> Duration {
        let producers = self.txs.len() as u64;
        let batch = self.batch as u64;
        let per = events.max(1).div_ceil(producers).div_ceil(batch) * batch;
        let total = per * producers;
        let base = self.sent;
        self.sent += total;
        self.finish.arm(total);
        let barrier = Barrier::new(self.txs.len() + 1);
        let finish = &*self.finish;
        let batch = self.batch;
        thread::scope(|s| {
            for (p, tx) in self.txs.iter_mut().enumerate() {
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    finish.producer_started();
                    tx.send(base + p as u64 * per, per, batch);
                });
            }
            barrier.wait();
            finish.wait();
        });
        let took = finish.elapsed();
        if total == events {
            took
        } else {
            took.mul_f64(events as f64 / total as f64)
        }
    }

    /// Moves `events` events and returns millions of events per second.
    pub fn rate(&mut self, events: u64) -> f64 {
        let took = self.transfer(events);
        events as f64 / took.as_secs_f64() / 1e6
    }
}

impl<E> Drop for Pipe<E> {
    fn drop(&mut self) {
        self.txs.clear();
        if let Some(teardown) = self.teardown.take() {
            teardown();
        }
    }
}

fn now_ns(epoch: Instant) -> u64 {
    epoch.elapsed().as_nanos() as u64
}

/// Where a pipe's consumers report, and how its run ends.
pub struct Finish {
    epoch: Instant,
    delivery: Delivery,
    consumers: usize,
    /// Cumulative events each consumer must have seen (`Each`), or all of
    /// them together (`Shared`), for the current run to be over.
    target: CachePadded<AtomicU64>,
    /// `Shared`: events reported so far by all consumers.
    total: CachePadded<AtomicU64>,
    /// `Each`: consumers that have not reached `target` yet.
    pending: CachePadded<AtomicUsize>,
    /// Earliest producer release of the run, ns since `epoch`.
    start: CachePadded<AtomicU64>,
    /// When the run completed, ns since `epoch`; 0 while running.
    end: CachePadded<AtomicU64>,
    /// Keeps the consumers' reads observable.
    checksum: AtomicU64,
    waiter: Mutex<Option<Thread>>,
}

impl Finish {
    /// A finish line for the consumers of `shape`.
    pub fn new(shape: &Shape) -> Arc<Finish> {
        Arc::new(Finish {
            epoch: Instant::now(),
            delivery: shape.delivery,
            consumers: shape.consumers,
            target: CachePadded::new(AtomicU64::new(0)),
            total: CachePadded::new(AtomicU64::new(0)),
            pending: CachePadded::new(AtomicUsize::new(0)),
            start: CachePadded::new(AtomicU64::new(u64::MAX)),
            end: CachePadded::new(AtomicU64::new(0)),
            checksum: AtomicU64::new(0),
            waiter: Mutex::new(None),
        })
    }

    /// A tally for one consumer.
    pub fn tally(self: &Arc<Self>) -> Tally {
        Tally {
            finish: Arc::clone(self),
            each: self.delivery != Delivery::Shared,
            seen: 0,
            flushed: 0,
            sum: 0,
        }
    }

    /// Prepares a run of `events` more events. The producers learn of it
    /// through the barrier; the consumers through the events themselves.
    fn arm(&self, events: u64) {
        *self.waiter.lock() = Some(thread::current());
        self.end.store(0, Ordering::SeqCst);
        self.start.store(u64::MAX, Ordering::SeqCst);
        self.pending.store(self.consumers, Ordering::SeqCst);
        self.target.fetch_add(events, Ordering::SeqCst);
    }

    fn producer_started(&self) {
        self.start.fetch_min(now_ns(self.epoch), Ordering::SeqCst);
    }

    fn complete(&self, sum: u64) {
        self.end.store(now_ns(self.epoch).max(1), Ordering::SeqCst);
        self.checksum.fetch_add(sum, Ordering::Relaxed);
        if let Some(waiter) = self.waiter.lock().as_ref() {
            waiter.unpark();
        }
    }

    fn wait(&self) {
        let deadline = Instant::now() + TRANSFER_TIMEOUT;
        while self.end.load(Ordering::SeqCst) == 0 {
            assert!(
                Instant::now() < deadline,
                "transfer did not complete within {TRANSFER_TIMEOUT:?}"
            );
            thread::park_timeout(Duration::from_millis(5));
        }
    }

    fn elapsed(&self) -> Duration {
        let end = self.end.load(Ordering::SeqCst);
        let start = self.start.load(Ordering::SeqCst);
        Duration::from_nanos(end.saturating_sub(start).max(1))
    }
}

/// One consumer's count, reported to its pipe's [`Finish`].
///
/// Per event: add the event into a checksum and count it. With `Each`
/// delivery (and for every stage of a pipeline or diamond) the consumer that reaches the target arrives by itself; with
/// `Shared` delivery counts are added to a shared total once per batch
/// (whatever the peer's consumer calls a batch), never per event.
pub struct Tally {
    finish: Arc<Finish>,
    each: bool,
    seen: u64,
    flushed: u64,
    sum: u64,
}

impl Tally {
    /// Counts one event.
    #[inline(always)]
    pub fn event<E: Event>(&mut self, event: &E) {
        self.sum = self.sum.wrapping_add(event.touch());
        self.seen += 1;
        if self.each && self.seen == self.finish.target.load(Ordering::Relaxed) {
            self.arrive();
        }
    }

    /// Ends a batch: in `Shared` delivery, reports the batch's count.
    #[inline(always)]
    pub fn batch_end(&mut self) {
        if !self.each && self.seen != self.flushed {
            self.flush();
        }
    }

    #[cold]
    fn arrive(&mut self) {
        if self.finish.pending.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.finish.complete(self.sum);
        }
    }

    fn flush(&mut self) {
        let delta = self.seen - self.flushed;
        self.flushed = self.seen;
        let total = self.finish.total.fetch_add(delta, Ordering::SeqCst) + delta;
        if total == self.finish.target.load(Ordering::SeqCst) {
            self.finish.complete(self.sum);
        }
    }
}

/// Waiting for a round trip: spin (lowest latency), but yield once the wait
/// passes ~1024 pauses (tens of µs, far above a normal round trip), so that
/// on a machine with fewer free cores than spinning threads a hand-off costs
/// a yield rather than a whole scheduler timeslice.
#[derive(Debug, Default)]
pub struct PatientSpin(u32);

impl PatientSpin {
    /// One step of waiting.
    #[inline]
    pub fn wait(&mut self) {
        if self.0 < 1024 {
            self.0 += 1;
            std::hint::spin_loop();
        } else {
            thread::yield_now();
        }
    }

    /// Work was found: start over.
    #[inline]
    pub fn reset(&mut self) {
        self.0 = 0;
    }
}

/// Spin-then-yield waiting for peers that have no blocking wait of their own
/// (rtrb, the hand-rolled ring, poll loops): 64 spins, then yield.
#[derive(Debug, Default)]
pub struct Spin(u32);

impl Spin {
    /// One step of waiting.
    #[inline]
    pub fn wait(&mut self) {
        if self.0 < 64 {
            self.0 += 1;
            std::hint::spin_loop();
        } else {
            thread::yield_now();
        }
    }

    /// Work was found: start over.
    #[inline]
    pub fn reset(&mut self) {
        self.0 = 0;
    }
}
