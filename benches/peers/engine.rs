//! veltrix itself, through its public API only.
//!
//! A pipe is an engine with one topic. Fan-out is one group per consumer
//! (pipelines and diamonds: the same groups, declared with
//! `GroupOptions::after`);
//! work sharing is one group with one worker per consumer over as many
//! partitions (each ring gets an equal share of the capacity, so the total
//! buffering matches the other peers). Producers publish through clones of
//! the `Topic` handle. Listeners count each event and report at
//! `on_batch_end`.
//!
//! Three configurations: threaded workers with the default adaptive wait
//! (blocking class), threaded workers with `BusySpin` (spinning class), and
//! poll-mode groups driven by one thread each in a spin-then-yield loop.

use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use std::thread::{self, JoinHandle};

use veltrix::{
    Engine, EventContext, GroupOptions, LagPolicy, Listener, ListenerError, Poller, Producer,
    Producers, Topic, TopicOptions, WaitStrategy,
};

use super::{
    Delivery, Event, Finish, PatientSpin, Peer, Pipe, RoundTrip, Shape, Spin, Tally, Tx, Wait,
};

/// Events a poll-mode consumer thread asks for per `poll` call (the group
/// default `max_batch`).
const POLL_BUDGET: usize = 256;

/// veltrix in one configuration.
#[derive(Debug, Clone, Copy)]
pub struct Veltrix {
    name: &'static str,
    /// `None`: the engine's default ([`WaitStrategy::default`], adaptive).
    wait: Option<WaitStrategy>,
    poll: bool,
    /// Latency histograms on (the engine default) or off.
    metrics: bool,
    /// A single-producer topic (one exclusive `Producer`) instead of the
    /// default multi-producer one; only for one-producer shapes.
    single: bool,
    /// Every event timestamped, or (the default) only sampled ones.
    timestamps: bool,
}

impl Veltrix {
    /// Worker threads, default adaptive wait (spin, yield, park).
    pub const ADAPTIVE: Veltrix = Veltrix {
        name: "veltrix",
        wait: None,
        poll: false,
        metrics: true,
        single: false,
        timestamps: false,
    };
    /// As [`Veltrix::ADAPTIVE`] with latency histograms off: the cost of
    /// metrics is the difference.
    pub const METRICS_OFF: Veltrix = Veltrix {
        name: "veltrix metrics off",
        wait: None,
        poll: false,
        metrics: false,
        single: false,
        timestamps: false,
    };
    /// Worker threads that never park.
    pub const BUSY_SPIN: Veltrix = Veltrix {
        name: "veltrix busy-spin",
        wait: Some(WaitStrategy::BusySpin),
        poll: false,
        metrics: true,
        single: false,
        timestamps: false,
    };
    /// Poll-mode groups, one driving thread each.
    pub const POLL: Veltrix = Veltrix {
        name: "veltrix poll",
        wait: None,
        poll: true,
        metrics: true,
        single: false,
        timestamps: false,
    };
    /// As [`Veltrix::ADAPTIVE`] with every event timestamped
    /// (`timestamps(true)`; by default only sampled events are): the clock's
    /// share is the difference.
    pub const STAMP_ALL: Veltrix = Veltrix {
        name: "veltrix stamp all",
        timestamps: true,
        ..Veltrix::ADAPTIVE
    };
    /// A single-producer topic, default adaptive wait.
    pub const SINGLE: Veltrix = Veltrix {
        name: "veltrix single-producer",
        single: true,
        ..Veltrix::ADAPTIVE
    };
    /// A single-producer topic read by busy-spinning workers.
    pub const SINGLE_SPIN: Veltrix = Veltrix {
        name: "veltrix SP busy-spin",
        single: true,
        ..Veltrix::BUSY_SPIN
    };
}

impl Veltrix {
    fn strategy(&self) -> WaitStrategy {
        self.wait.unwrap_or_default()
    }
}

/// The bench listener: counts, and reports once per batch.
struct Count<E> {
    tally: Tally,
    _event: PhantomData<fn(&E)>,
}

impl<E: Event> Listener<E> for Count<E> {
    #[inline]
    fn on_event(&mut self, event: &E, _ctx: &EventContext<'_>) -> Result<(), ListenerError> {
        self.tally.event(event);
        Ok(())
    }

    #[inline]
    fn on_batch_end(&mut self) {
        self.tally.batch_end();
    }
}

struct TopicTx<E> {
    topic: Topic<E>,
}

impl<E: Event> Tx<E> for TopicTx<E> {
    fn send(&mut self, first: u64, n: u64, batch: usize) {
        send_events(
            &mut self.topic,
            (first, n, batch),
            |topic, e| {
                topic.publish(e).expect("engine running");
            },
            |topic, run| {
                topic.publish_batch(run).expect("engine running");
            },
        );
    }
}

/// The exclusive producer of a single-producer topic.
struct ProducerTx<E> {
    producer: Producer<E>,
}

impl<E: Event> Tx<E> for ProducerTx<E> {
    fn send(&mut self, first: u64, n: u64, batch: usize) {
        send_events(
            &mut self.producer,
            (first, n, batch),
            |producer, e| {
                producer.publish(e).expect("engine running");
            },
            |producer, run| {
                producer.publish_batch(run).expect("engine running");
            },
        );
    }
}

/// A run of events for one batch publish.
type Run<E> = std::iter::Map<std::ops::Range<u64>, fn(u64) -> E>;

/// Publishes events `first..first + n` (`(first, n, batch)`) into `to`, one
/// at a time through `one` when `batch` is 1, else `batch` per call through
/// `many`.
#[inline(always)]
fn send_events<T, E: Event>(
    to: &mut T,
    (first, n, batch): (u64, u64, usize),
    one: impl Fn(&mut T, E),
    many: impl Fn(&mut T, Run<E>),
) {
    if batch == 1 {
        for i in first..first + n {
            one(to, E::make(i));
        }
    } else {
        let mut i = first;
        while i < first + n {
            many(to, (i..i + batch as u64).map(E::make as fn(u64) -> E));
            i += batch as u64;
        }
    }
}

/// The groups group `g` of `groups` runs after: the one before it in a
/// pipeline, every other one for the last group of a diamond.
fn upstream(delivery: Delivery, g: usize, groups: usize) -> Vec<String> {
    match delivery {
        Delivery::Pipeline if g > 0 => vec![format!("g{}", g - 1)],
        Delivery::Diamond if g + 1 == groups => (0..g).map(|u| format!("g{u}")).collect(),
        _ => Vec::new(),
    }
}

/// Drives one poll-mode group until told to stop.
fn drive(mut poller: Poller, stop: Arc<AtomicBool>) {
    let mut spin = Spin::default();
    while !stop.load(Ordering::Relaxed) {
        if poller.poll(POLL_BUDGET) == 0 {
            spin.wait();
        } else {
            spin.reset();
        }
    }
}

impl<E: Event> Peer<E> for Veltrix {
    fn name(&self) -> &'static str {
        self.name
    }

    fn wait(&self) -> Wait {
        match (self.poll, self.strategy()) {
            (false, WaitStrategy::Adaptive { .. }) => Wait::Blocking,
            _ => Wait::Spinning,
        }
    }

    fn open(&self, shape: &Shape) -> Option<Pipe<E>> {
        let k = shape.consumers;
        let (partitions, capacity, groups, workers) = match shape.delivery {
            Delivery::Each | Delivery::Pipeline | Delivery::Diamond => {
                (shape.partitions, shape.capacity, k, 1)
            }
            Delivery::Shared if self.poll && k > 1 => return None,
            Delivery::Shared => {
                let partitions = shape.partitions.max(k as u32);
                (partitions, shape.capacity / partitions as usize, 1, k)
            }
        };
        if self.single && shape.producers != 1 {
            return None;
        }
        let finish = Finish::new(shape);
        let producers = if self.single {
            Producers::Single
        } else {
            Producers::Multi
        };
        let options = TopicOptions::new(partitions)
            .capacity(capacity)
            .producers(producers)
            .timestamps(self.timestamps);
        let mut builder = Engine::builder()
            .metrics(self.metrics)
            .topic::<E>("bench", options);
        for g in 0..groups {
            let mut tallies: Vec<Tally> = (0..workers).map(|_| finish.tally()).collect();
            let options = if self.poll {
                GroupOptions::poll()
            } else {
                GroupOptions::workers(workers).wait_strategy(self.strategy())
            };
            let options = options.after(upstream(shape.delivery, g, groups));
            builder = builder.subscribe(&format!("g{g}"), "bench", options, move |_| Count::<E> {
                tally: tallies.pop().expect("one tally per worker"),
                _event: PhantomData,
            });
        }
        if shape.stalled_lossy {
            // Nobody polls it: producers lap it instead of waiting. Its
            // tally reports to a finish line of its own, never armed.
            let idle = Finish::new(shape);
            builder = builder.subscribe(
                "stalled",
                "bench",
                GroupOptions::poll().lag(LagPolicy::Lossy(capacity as u64)),
                move |_| Count::<E> {
                    tally: idle.tally(),
                    _event: PhantomData,
                },
            );
        }
        let engine = builder.build().expect("valid bench topology");
        let stop = Arc::new(AtomicBool::new(false));
        let mut drivers: Vec<JoinHandle<()>> = Vec::new();
        if self.poll {
            for g in 0..groups {
                let poller = engine.poller(&format!("g{g}")).expect("poll group");
                let stop = Arc::clone(&stop);
                drivers.push(thread::spawn(move || drive(poller, stop)));
            }
        }
        let txs: Vec<Box<dyn Tx<E>>> = if self.single {
            let producer = engine.producer::<E>("bench").expect("declared above");
            vec![Box::new(ProducerTx { producer })]
        } else {
            let topic = engine.topic::<E>("bench").expect("declared above");
            (0..shape.producers)
                .map(|_| {
                    Box::new(TopicTx {
                        topic: topic.clone(),
                    }) as Box<dyn Tx<E>>
                })
                .collect()
        };
        Some(Pipe::new(txs, finish, shape, move || {
            stop.store(true, Ordering::Relaxed);
            for driver in drivers {
                driver.join().expect("poll thread panicked");
            }
            let report = engine.shutdown();
            assert!(report.is_drained(), "bench engine did not drain");
        }))
    }

    fn ping_pong(&self, capacity: usize) -> Option<Box<dyn RoundTrip>> {
        if self.poll {
            return None;
        }
        // Ping is read by a worker whose listener publishes into pong; pong
        // is read by a poll-mode group on the caller's thread.
        let pong_out: Arc<Mutex<Option<Out>>> = Arc::new(Mutex::new(None));
        let back = Arc::new(AtomicU64::new(0));
        let producers = if self.single {
            Producers::Single
        } else {
            Producers::Multi
        };
        let options = TopicOptions::new(1)
            .capacity(capacity)
            .producers(producers)
            .timestamps(self.timestamps);
        let engine = Engine::builder()
            .metrics(self.metrics)
            .topic::<u64>("ping", options.clone())
            .topic::<u64>("pong", options)
            .subscribe(
                "echo",
                "ping",
                GroupOptions::workers(1).wait_strategy(self.strategy()),
                {
                    let pong_out = Arc::clone(&pong_out);
                    move |_| Echo {
                        pong_out: Arc::clone(&pong_out),
                        pong: None,
                    }
                },
            )
            .subscribe("back", "pong", GroupOptions::poll(), {
                let back = Arc::clone(&back);
                move |_| {
                    let back = Arc::clone(&back);
                    veltrix::listener::from_fn(move |value: &u64, _ctx| {
                        back.store(*value, Ordering::Relaxed);
                        Ok(())
                    })
                }
            })
            .build()
            .expect("valid ping-pong topology");
        let ping = Out::of(&engine, "ping", self.single);
        *pong_out.lock() = Some(Out::of(&engine, "pong", self.single));
        let poller = engine.poller("back").expect("poll group");
        Some(Box::new(VeltrixEcho {
            ping,
            poller,
            back,
            engine: Some(engine),
        }))
    }
}

/// Where a ping-pong side publishes: a shared handle or the one producer.
enum Out {
    Shared(Topic<u64>),
    Sole(Producer<u64>),
}

impl Out {
    fn of(engine: &Engine, topic: &str, single: bool) -> Out {
        if single {
            Out::Sole(engine.producer(topic).expect("declared"))
        } else {
            Out::Shared(engine.topic(topic).expect("declared"))
        }
    }

    #[inline]
    fn publish(&mut self, value: u64) -> Result<(), String> {
        match self {
            Out::Shared(topic) => topic.publish(value).map(drop).map_err(|e| e.to_string()),
            Out::Sole(producer) => producer.publish(value).map(drop).map_err(|e| e.to_string()),
        }
    }
}

/// The echo listener: publishes every ping into pong.
struct Echo {
    pong_out: Arc<Mutex<Option<Out>>>,
    pong: Option<Out>,
}

impl Listener<u64> for Echo {
    fn on_event(&mut self, value: &u64, _ctx: &EventContext<'_>) -> Result<(), ListenerError> {
        let pong = self.pong.get_or_insert_with(|| {
            self.pong_out
                .lock()
                .take()
                .expect("set before the first ping")
        });
        pong.publish(*value)?;
        Ok(())
    }
}

struct VeltrixEcho {
    ping: Out,
    poller: Poller,
    back: Arc<AtomicU64>,
    engine: Option<Engine>,
}

impl RoundTrip for VeltrixEcho {
    fn round_trip(&mut self, value: u64) -> u64 {
        self.ping.publish(value).expect("engine running");
        let mut wait = PatientSpin::default();
        while self.poller.poll(1) == 0 {
            wait.wait();
        }
        self.back.load(Ordering::Relaxed)
    }
}

impl Drop for VeltrixEcho {
    fn drop(&mut self) {
        if let Some(engine) = self.engine.take() {
            engine.shutdown();
        }
    }
}
