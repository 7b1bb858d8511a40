//! Where the time of one event goes: single-threaded micro-benches (criterion)
//! of the publish → handle path, one step switched on at a time, so each
//! step's cost is the difference between two rows.
//!
//! Everything runs on one thread (publish a round of 256 events, then poll
//! them), so no cache line moves between cores: these are the instruction
//! costs of each step, the floor under the cross-thread numbers of
//! `bench_vs_peers`. Run with `cargo bench --bench steps`.
//!
//! | row | adds |
//! | --- | --- |
//! | `clock_read` | one TSC read (what a timestamp costs) |
//! | `sp_publish` | single-producer claim, slot write, publish (plain stores) |
//! | `mp_publish` | the same through a shared claim (one CAS) |
//! | `mp_publish_key8` | `by_key` partitioning over 8 partitions |
//! | `mp_publish_stamp_all` | a timestamp on every event |
//! | `poll` | read and dispatch to a listener (stamp check, context, call) |
//! | `poll_metrics` | the same with metrics on (sampled latency record) |

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use veltrix::partitioner::by_key;
use veltrix::{Engine, GroupOptions, Poller, Producers, Timestamp, Topic, TopicOptions};

/// Events per round: published, then polled, on this thread.
const ROUND: u64 = 256;

fn engine(options: TopicOptions, metrics: bool, keyed: bool) -> (Engine, Poller) {
    let builder = Engine::builder().metrics(metrics);
    let builder = if keyed {
        builder.topic_with::<u64, _>("t", options, by_key(|e: &u64| *e))
    } else {
        builder.topic::<u64>("t", options)
    };
    let engine = builder
        .subscribe("g", "t", GroupOptions::poll(), |_| {
            veltrix::listener::from_fn(|e: &u64, _| {
                black_box(e);
                Ok(())
            })
        })
        .build()
        .expect("valid bench topology");
    let poller = engine.poller("g").expect("poll group");
    (engine, poller)
}

/// Times the publishes of `iters` events (polled between rounds, untimed).
fn time_publish(iters: u64, mut publish: impl FnMut(u64), poller: &mut Poller) -> Duration {
    let mut total = Duration::ZERO;
    let mut done = 0;
    while done < iters {
        let n = ROUND.min(iters - done);
        let start = Instant::now();
        for i in 0..n {
            publish(done + i);
        }
        total += start.elapsed();
        poller.poll(n as usize);
        done += n;
    }
    total
}

/// Times the polls of `iters` events (published between rounds, untimed).
fn time_poll(iters: u64, topic: &Topic<u64>, poller: &mut Poller) -> Duration {
    let mut total = Duration::ZERO;
    let mut done = 0;
    while done < iters {
        let n = ROUND.min(iters - done);
        topic.publish_batch(0..n).expect("room for a round");
        let start = Instant::now();
        let handled = poller.poll(n as usize);
        total += start.elapsed();
        assert_eq!(handled as u64, n);
        done += n;
    }
    total
}

fn steps(c: &mut Criterion) {
    let mut group = c.benchmark_group("steps");
    group.throughput(Throughput::Elements(1));
    group.bench_function("clock_read", |b| b.iter(Timestamp::now));
    group.bench_function("sp_publish", |b| {
        let options = TopicOptions::new(1).producers(Producers::Single);
        let (engine, mut poller) = engine(options, false, false);
        let mut producer = engine.producer::<u64>("t").expect("declared");
        b.iter_custom(|iters| {
            time_publish(
                iters,
                |i| {
                    producer.publish(i).expect("room");
                },
                &mut poller,
            )
        });
    });
    for (name, options, keyed) in [
        ("mp_publish", TopicOptions::new(1), false),
        ("mp_publish_key8", TopicOptions::new(8), true),
        (
            "mp_publish_stamp_all",
            TopicOptions::new(1).timestamps(true),
            false,
        ),
    ] {
        group.bench_function(name, |b| {
            let (engine, mut poller) = engine(options.clone(), false, keyed);
            let topic = engine.topic::<u64>("t").expect("declared");
            b.iter_custom(|iters| {
                time_publish(
                    iters,
                    |i| {
                        topic.publish(i).expect("room");
                    },
                    &mut poller,
                )
            });
        });
    }
    for (name, metrics) in [("poll", false), ("poll_metrics", true)] {
        group.bench_function(name, |b| {
            let (engine, mut poller) = engine(TopicOptions::new(1), metrics, false);
            let topic = engine.topic::<u64>("t").expect("declared");
            b.iter_custom(|iters| time_poll(iters, &topic, &mut poller));
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    targets = steps
}
criterion_main!(benches);
