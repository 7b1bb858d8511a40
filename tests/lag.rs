//! Lag policies (`GroupOptions::lag`): a lossy group never holds producers
//! or the other groups back between its batches; what it skips is counted
//! as `lagged` and closes the conservation equation; what it sees keeps its
//! order.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

mod common;

use veltrix::listener::from_fn;
use veltrix::partitioner::by_key;
use veltrix::{Engine, GroupOptions, LagPolicy, Producers, Rule, TopicOptions, WorkerInfo};

/// Longest a run may take before the test calls it wedged (a hang guard,
/// not a timing claim: every run here takes milliseconds).
const WEDGED: Duration = Duration::from_secs(60);

/// Per-partition order checks of one group: the last sequence seen in each
/// partition and the events seen out of order.
struct Order {
    last: Vec<AtomicU64>,
    disorder: AtomicU64,
    seen: AtomicU64,
}

impl Order {
    fn new(partitions: usize) -> Arc<Self> {
        Arc::new(Order {
            last: (0..partitions).map(|_| AtomicU64::new(u64::MAX)).collect(),
            disorder: AtomicU64::new(0),
            seen: AtomicU64::new(0),
        })
    }

    /// Sees `sequence` of `partition`: it must follow the last one (a gap
    /// is allowed when `gaps`).
    fn see(&self, partition: u32, sequence: u64, gaps: bool) {
        let last = self.last[partition as usize].swap(sequence, Ordering::Relaxed);
        let next = last.wrapping_add(1);
        let in_order = if gaps {
            sequence >= next
        } else {
            sequence == next
        };
        if !in_order {
            self.disorder.fetch_add(1, Ordering::Relaxed);
        }
        self.seen.fetch_add(1, Ordering::Relaxed);
    }
}

/// Runs `f` on a thread and fails the test if it does not end in
/// [`WEDGED`].
fn within<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(WEDGED)
        .unwrap_or_else(|_| panic!("{what} did not end within {WEDGED:?}: wedged"))
}

/// Two producers publish keyed events into a small topic read by a
/// threaded group and a lossy poll group nobody polls: the producers and
/// the threaded group run as if the lossy group were not there, and the
/// final account has every event handled or lagged.
fn stalled_lossy_group(producers: Producers) {
    const PARTITIONS: usize = 4;
    const PER_PRODUCER: u64 = 50_000;
    let threads: u64 = if producers == Producers::Single { 1 } else { 2 };
    let game = Order::new(PARTITIONS);
    let dashboard = Order::new(PARTITIONS);
    let engine = Engine::builder()
        .topic_with::<u64, _>(
            "moves",
            TopicOptions::new(PARTITIONS as u32)
                .capacity(8)
                .producers(producers),
            by_key(|m: &u64| *m % 97),
        )
        .subscribe("game", "moves", GroupOptions::workers(2), {
            let game = game.clone();
            move |_: &WorkerInfo| {
                let game = game.clone();
                from_fn(move |_: &u64, ctx| {
                    game.see(ctx.partition(), ctx.sequence(), false);
                    Ok(())
                })
            }
        })
        .subscribe(
            "dashboard",
            "moves",
            GroupOptions::poll().lag(LagPolicy::Lossy(8)),
            {
                let dashboard = dashboard.clone();
                move |_: &WorkerInfo| {
                    let dashboard = dashboard.clone();
                    from_fn(move |_: &u64, ctx| {
                        dashboard.see(ctx.partition(), ctx.sequence(), true);
                        Ok(())
                    })
                }
            },
        )
        .build()
        .unwrap();
    let engine = Arc::new(engine);
    within("publishing past a stalled lossy group", {
        let engine = engine.clone();
        move || {
            if producers == Producers::Single {
                let mut producer = engine.producer::<u64>("moves").unwrap();
                for m in 0..PER_PRODUCER {
                    producer.publish(m).unwrap();
                }
            } else {
                let handles: Vec<_> = (0..threads)
                    .map(|t| {
                        let topic = engine.topic::<u64>("moves").unwrap();
                        thread::spawn(move || {
                            for m in 0..PER_PRODUCER {
                                topic.publish(t * PER_PRODUCER + m).unwrap();
                            }
                        })
                    })
                    .collect();
                for h in handles {
                    h.join().unwrap();
                }
            }
        }
    });
    let live = engine.report();
    let lossy = live.group("dashboard").unwrap();
    assert_eq!(lossy.handled, 0, "nobody polled it");
    assert!(
        lossy.lag <= 8 * PARTITIONS as u64,
        "lag {} over the ring's size",
        lossy.lag
    );
    let engine = Arc::into_inner(engine).expect("the only handle left");
    let report = within("shutdown", move || engine.shutdown());
    let published = threads * PER_PRODUCER;
    assert_eq!(report.topic("moves").unwrap().published, published);
    let game_report = report.group("game").unwrap();
    assert_eq!(game_report.handled, published);
    assert_eq!(game_report.lagged, 0);
    let lossy = report.group("dashboard").unwrap();
    assert_eq!(lossy.handled + lossy.lagged, published, "{report}");
    assert!(lossy.lagged > 0);
    assert_eq!(lossy.handled, dashboard.seen.load(Ordering::Relaxed));
    report.check_conservation().unwrap();
    assert_eq!(game.disorder.load(Ordering::Relaxed), 0);
    assert_eq!(game.seen.load(Ordering::Relaxed), published);
    assert_eq!(dashboard.disorder.load(Ordering::Relaxed), 0);
}

#[test]
fn a_stalled_lossy_poll_group_holds_no_shared_producer() {
    stalled_lossy_group(Producers::Multi);
}

#[test]
fn a_stalled_lossy_poll_group_holds_no_single_producer() {
    stalled_lossy_group(Producers::Single);
}

/// A slow lossy worker beside a fast gating one, under load: the lossy one
/// sees a subsequence of each partition in order, each event at most once,
/// and everything it did not see is lagged.
#[test]
fn a_slow_lossy_worker_sees_a_subsequence_in_order() {
    const EVENTS: u64 = 40_000;
    let fast = Order::new(2);
    let slow = Order::new(2);
    let engine = Engine::builder()
        .topic_with::<u64, _>("t", TopicOptions::new(2).capacity(16), by_key(|m: &u64| *m))
        .subscribe("fast", "t", GroupOptions::workers(1), {
            let fast = fast.clone();
            move |_: &WorkerInfo| {
                let fast = fast.clone();
                from_fn(move |_: &u64, ctx| {
                    fast.see(ctx.partition(), ctx.sequence(), false);
                    Ok(())
                })
            }
        })
        .subscribe(
            "slow",
            "t",
            GroupOptions::workers(1)
                .lag(LagPolicy::Lossy(16))
                .max_batch(4),
            {
                let slow = slow.clone();
                move |_: &WorkerInfo| {
                    let slow = slow.clone();
                    from_fn(move |_: &u64, ctx| {
                        slow.see(ctx.partition(), ctx.sequence(), true);
                        if ctx.sequence() % 64 == 0 {
                            thread::sleep(Duration::from_micros(200));
                        }
                        Ok(())
                    })
                }
            },
        )
        .build()
        .unwrap();
    let report = within("a run with a slow lossy worker", move || {
        let topic = engine.topic::<u64>("t").unwrap();
        for m in 0..EVENTS {
            topic.publish(m).unwrap();
        }
        engine.shutdown()
    });
    report.check_conservation().unwrap();
    let s = report.group("slow").unwrap();
    assert_eq!(s.handled + s.lagged, EVENTS, "{report}");
    assert_eq!(s.handled, slow.seen.load(Ordering::Relaxed));
    assert_eq!(slow.disorder.load(Ordering::Relaxed), 0);
    assert_eq!(report.group("fast").unwrap().handled, EVENTS);
    assert_eq!(fast.disorder.load(Ordering::Relaxed), 0);
}

/// The bound: a lossy group that comes back after falling behind skips to
/// the newest `bound` events of each partition, exactly.
#[test]
fn a_lossy_group_skips_to_its_bound() {
    let engine = Engine::builder()
        .topic::<u64>("t", TopicOptions::new(1).capacity(64))
        .subscribe(
            "near",
            "t",
            GroupOptions::poll().lag(LagPolicy::Lossy(4)),
            |_: &WorkerInfo| from_fn(|_: &u64, _| Ok(())),
        )
        .build()
        .unwrap();
    let topic = engine.topic::<u64>("t").unwrap();
    topic.publish_batch(0..50).unwrap();
    let mut poller = engine.poller("near").unwrap();
    assert_eq!(poller.poll(1000), 4, "only the newest 4 are near enough");
    let g = engine.report().group("near").unwrap().clone();
    assert_eq!((g.handled, g.lagged, g.lag), (4, 46, 0));
    // Within the bound nothing is skipped.
    topic.publish_batch(50..53).unwrap();
    assert_eq!(poller.poll(1000), 3);
    let report = engine.shutdown();
    let g = report.group("near").unwrap();
    assert_eq!((g.handled, g.lagged), (7, 46));
    report.check_conservation().unwrap();
    assert!(report.to_string().contains("lagged"), "{report}");
}

/// The lagged count is exported as `veltrix_lagged_total`.
#[test]
fn lagged_is_a_metric() {
    let engine = Engine::builder()
        .topic::<u64>("t", TopicOptions::new(1).capacity(8))
        .subscribe(
            "lossy",
            "t",
            GroupOptions::poll().lag(LagPolicy::Lossy(8)),
            |_: &WorkerInfo| from_fn(|_: &u64, _| Ok(())),
        )
        .build()
        .unwrap();
    let topic = engine.topic::<u64>("t").unwrap();
    for m in 0..100 {
        topic.publish(m).unwrap();
    }
    let text = engine.metrics().to_prometheus();
    let line = text
        .lines()
        .find(|l| l.starts_with("veltrix_lagged_total{") && l.contains("group=\"lossy\""))
        .unwrap_or_else(|| panic!("no veltrix_lagged_total for lossy in:\n{text}"));
    let g = engine.report().group("lossy").unwrap().clone();
    // Nobody polled it: every event is lagged or still in the ring.
    assert_eq!(g.handled, 0);
    assert_eq!(g.lagged + g.lag, 100);
    assert!(g.lagged >= 100 - 8, "{g:?}");
    assert!(line.ends_with(&format!(" {}", g.lagged)), "{line} vs {g:?}");
}

#[test]
fn bad_lag_policies_are_typed_build_errors() {
    let quiet = |_: &WorkerInfo| from_fn(|_: &u64, _| Ok(()));
    let errors = common::setting_errors(
        Engine::builder()
            .topic::<u64>("t", TopicOptions::new(1))
            .subscribe(
                "g",
                "t",
                GroupOptions::poll().lag(LagPolicy::Lossy(0)),
                quiet,
            )
            .build(),
    );
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].rule, Rule::OutOfRange);
    assert_eq!(errors[0].field, "lag.lossy");
    assert!(errors[0].fix.contains("lossy = 1"), "{}", errors[0].fix);
    // A lossy group in stage dependencies, either side.
    for (first, second) in [
        (LagPolicy::Lossy(8), LagPolicy::Backpressure),
        (LagPolicy::Backpressure, LagPolicy::Lossy(8)),
    ] {
        let errors = common::setting_errors(
            Engine::builder()
                .topic::<u64>("t", TopicOptions::new(1))
                .subscribe("a", "t", GroupOptions::poll().lag(first), quiet)
                .subscribe(
                    "b",
                    "t",
                    GroupOptions::poll().after(["a"]).lag(second),
                    quiet,
                )
                .build(),
        );
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].rule, Rule::LossyStage);
        assert_eq!(errors[0].field, "after");
        let lossy = if first.is_backpressure() { "b" } else { "a" };
        assert!(
            errors[0]
                .message
                .contains(&format!("group \"{lossy}\" is lossy")),
            "{}",
            errors[0].message
        );
    }
}
