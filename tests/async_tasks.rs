//! Async producers and consumers on tokio: a task waits for room or for
//! events without blocking its thread, keeps the group's guarantees, and
//! cancels cleanly. (Every wait here is bounded by a generous timeout that
//! only turns a hang into a failure; nothing is timed.)
#![cfg(feature = "async")]

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use common::Shared;
use futures_util::StreamExt;
use veltrix::listener::from_fn;
use veltrix::partitioner::by_key;
use veltrix::{
    Backoff, Engine, FailurePolicy, FullPolicy, GroupOptions, Producers, PublishError,
    PublishErrorKind, Receipt, Retries, Topic, TopicOptions,
};

/// Turns a hang into a failure.
const HANG: Duration = Duration::from_secs(60);

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Input {
    player: u32,
    seq: u32,
}

/// On one thread, producer tasks fill a two-slot topic that a consumer task
/// drains: every producer waits for room many times, and all of it must
/// arrive, in order per player. The blocking `publish` would wedge here.
#[test]
fn current_thread_producers_and_consumer_finish() {
    const PLAYERS: u32 = 4;
    const PER_PLAYER: u32 = 500;
    let log: Shared<(u32, Input)> = Shared::new();
    let listener_log = log.clone();
    let engine = Engine::builder()
        .topic_with::<Input, _>(
            "inputs",
            TopicOptions::new(2).capacity(2),
            by_key(|i: &Input| i.player),
        )
        .subscribe("tick", "inputs", GroupOptions::poll(), move |_| {
            let log = listener_log.clone();
            from_fn(move |i: &Input, ctx| {
                log.push((ctx.partition(), *i));
                Ok(())
            })
        })
        .build()
        .unwrap();
    let inputs = engine.topic::<Input>("inputs").unwrap();
    let mut tick = engine.poller("tick").unwrap();
    current_thread().block_on(async {
        tokio::time::timeout(HANG, async {
            let producers = (0..PLAYERS).map(|player| {
                let inputs = inputs.clone();
                async move {
                    for seq in 0..PER_PLAYER {
                        inputs.publish_async(Input { player, seq }).await.unwrap();
                    }
                }
            });
            let consumer = async {
                let mut handled = 0;
                while handled < (PLAYERS * PER_PLAYER) as usize {
                    let n = tick.poll_async(3).await.expect("not finished");
                    assert!((1..=3).contains(&n), "poll_async(3) handled {n}");
                    handled += n;
                }
            };
            futures_util::future::join(futures_util::future::join_all(producers), consumer).await;
        })
        .await
        .expect("the current-thread run finished");
    });
    let mut next = vec![0u32; PLAYERS as usize];
    for (_, input) in log.take() {
        assert_eq!(
            input.seq, next[input.player as usize],
            "player {}",
            input.player
        );
        next[input.player as usize] += 1;
    }
    assert_eq!(next, vec![PER_PLAYER; PLAYERS as usize]);
    let report = engine.shutdown();
    report.check_conservation().unwrap();
    assert_eq!(
        report.topic("inputs").unwrap().published,
        u64::from(PLAYERS * PER_PLAYER)
    );
}

/// A multi-thread runtime: four producer tasks, two threaded groups and one
/// async poll group on a small keyed topic. Every group sees every event
/// exactly once, in order per key, and the books balance.
#[test]
fn multi_thread_tasks_threaded_groups_and_an_async_poll_group() {
    const PRODUCERS: u32 = 4;
    const PER_PRODUCER: u32 = 5_000;
    const KEYS: u32 = 16;
    let mut builder = Engine::builder().topic_with::<Input, _>(
        "inputs",
        TopicOptions::new(4).capacity(8),
        by_key(|i: &Input| i.player % KEYS),
    );
    let logs: Vec<Shared<Input>> = (0..3).map(|_| Shared::new()).collect();
    for (g, name) in ["physics", "replication", "tick"].into_iter().enumerate() {
        let options = if name == "tick" {
            GroupOptions::poll()
        } else {
            GroupOptions::workers(2)
        };
        let log = logs[g].clone();
        builder = builder.subscribe(name, "inputs", options, move |_| {
            let log = log.clone();
            from_fn(move |i: &Input, _ctx| {
                log.push(*i);
                Ok(())
            })
        });
    }
    let engine = builder.build().unwrap();
    let inputs = engine.topic::<Input>("inputs").unwrap();
    let tick = engine.poller("tick").unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    let total = (PRODUCERS * PER_PRODUCER) as usize;
    runtime.block_on(async {
        let consumer = tokio::spawn(async move {
            let mut tick = tick;
            let mut handled = 0;
            while handled < total {
                handled += tick.poll_async(64).await.expect("not finished");
            }
            tick
        });
        let producers: Vec<_> = (0..PRODUCERS)
            .map(|p| {
                let inputs = inputs.clone();
                tokio::spawn(async move {
                    for seq in 0..PER_PRODUCER {
                        // Player ids interleave producers over the keys.
                        let player = p + PRODUCERS * (seq % (KEYS / PRODUCERS));
                        let receipt = inputs.publish_async(Input { player, seq }).await.unwrap();
                        assert!(matches!(receipt, Receipt::Accepted { .. }));
                    }
                })
            })
            .collect();
        tokio::time::timeout(HANG, async {
            for p in producers {
                p.await.unwrap();
            }
            drop(consumer.await.unwrap());
        })
        .await
        .expect("the multi-thread run finished");
    });
    let report = engine.shutdown();
    report.check_conservation().unwrap();
    for (g, log) in logs.iter().enumerate() {
        let seen = log.take();
        assert_eq!(seen.len(), total, "group {g}");
        // Per producer and player, sequences arrive in publish order, once.
        let mut last: HashMap<(u32, u32), u32> = HashMap::new();
        for input in seen {
            let producer = input.player % PRODUCERS;
            if let Some(prev) = last.insert((producer, input.player), input.seq) {
                assert!(input.seq > prev, "group {g}: {input:?} after seq {prev}");
            }
        }
        let count: usize = last.len();
        assert_eq!(count, KEYS as usize, "group {g}: every player seen");
    }
}

/// `BlockTimeout` gives up at its deadline with the event back and counted;
/// `Reject` and `DropNewest` never wait.
#[test]
fn full_policies_apply_to_async_publishes() {
    for policy in [
        FullPolicy::BlockTimeout(Duration::from_millis(30)),
        FullPolicy::Reject,
        FullPolicy::DropNewest,
    ] {
        let engine = Engine::builder()
            .topic::<u64>("t", TopicOptions::new(1).capacity(1).full_policy(policy))
            .subscribe("p", "t", GroupOptions::poll(), |_| {
                from_fn(|_: &u64, _ctx| Ok(()))
            })
            .build()
            .unwrap();
        let topic = engine.topic::<u64>("t").unwrap();
        let outcome = current_thread().block_on(async {
            topic.publish_async(1).await.unwrap();
            tokio::time::timeout(HANG, topic.publish_async(2))
                .await
                .expect("a full policy that waits at most 30 ms returned")
        });
        let report = engine.shutdown();
        let t = report.topic("t").unwrap();
        match policy {
            FullPolicy::BlockTimeout(_) => {
                assert!(
                    matches!(outcome, Err(PublishError::Timeout(2))),
                    "{outcome:?}"
                );
                assert_eq!(t.timed_out, 1);
            }
            FullPolicy::Reject => {
                assert!(matches!(outcome, Err(PublishError::Full(2))), "{outcome:?}");
                assert_eq!(t.rejected_full, 1);
            }
            FullPolicy::DropNewest => {
                assert!(
                    matches!(outcome, Ok(Receipt::Dropped { partition: 0 })),
                    "{outcome:?}"
                );
                assert_eq!(t.dropped_full, 1);
            }
            _ => unreachable!(),
        }
        assert_eq!(t.published, 1);
        report.check_conservation().unwrap();
    }
}

/// An event that counts its drops.
#[derive(Debug)]
struct Tracked(Arc<AtomicUsize>);

impl Drop for Tracked {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Dropping a waiting publish drops its event, unpublished and uncounted,
/// and withdraws its wait: a later publish still goes through.
#[test]
fn a_cancelled_publish_drops_its_event_and_leaves_nothing_behind() {
    let drops = Arc::new(AtomicUsize::new(0));
    let engine = Engine::builder()
        .topic::<Tracked>("t", TopicOptions::new(1).capacity(1))
        .subscribe("p", "t", GroupOptions::poll(), |_| {
            from_fn(|_: &Tracked, _ctx| Ok(()))
        })
        .build()
        .unwrap();
    let topic = engine.topic::<Tracked>("t").unwrap();
    let mut poller = engine.poller("p").unwrap();
    current_thread().block_on(async {
        topic
            .publish_async(Tracked(Arc::clone(&drops)))
            .await
            .unwrap();
        // The ring is full: this one waits, then is given up.
        let waiting = topic.publish_async(Tracked(Arc::clone(&drops)));
        let gave_up = tokio::time::timeout(Duration::from_millis(20), waiting).await;
        assert!(gave_up.is_err(), "the publish into a full ring waited");
        assert_eq!(
            drops.load(Ordering::SeqCst),
            1,
            "the cancelled event was dropped"
        );
        assert_eq!(poller.poll_async(10).await, Some(1));
        topic
            .publish_async(Tracked(Arc::clone(&drops)))
            .await
            .unwrap();
        assert_eq!(poller.poll_async(10).await, Some(1));
    });
    let report = engine.shutdown();
    let t = report.topic("t").unwrap();
    assert_eq!(t.published, 2);
    assert_eq!(t.refused(), 0);
    assert_eq!(report.group("p").unwrap().handled, 2);
    report.check_conservation().unwrap();
}

/// A consumer task waiting for events wakes when the engine shuts down and
/// resolves to 0; a producer task waiting for room gets its event back as
/// `Closed`.
#[test]
fn shutdown_ends_waiting_tasks() {
    let engine = Engine::builder()
        .topic::<u64>("full", TopicOptions::new(1).capacity(1))
        .topic::<u64>("empty", TopicOptions::new(2).capacity(1))
        .subscribe("f", "full", GroupOptions::poll(), |_| {
            from_fn(|_: &u64, _ctx| Ok(()))
        })
        .subscribe("e", "empty", GroupOptions::poll(), |_| {
            from_fn(|_: &u64, _ctx| Ok(()))
        })
        .build()
        .unwrap();
    let full = engine.topic::<u64>("full").unwrap();
    full.publish(1).unwrap();
    let mut empty = engine.poller("e").unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    let report = runtime.block_on(async move {
        let consumer = tokio::spawn(async move { empty.poll_async(10).await });
        let producer = tokio::spawn(async move { full.publish_async(2).await });
        // Let both register (the answers do not depend on it).
        tokio::time::sleep(Duration::from_millis(10)).await;
        let report = tokio::task::spawn_blocking(move || engine.shutdown())
            .await
            .unwrap();
        let handled = tokio::time::timeout(HANG, consumer)
            .await
            .expect("the waiting consumer woke")
            .unwrap();
        assert_eq!(handled, None, "the finished group says so");
        let refused = tokio::time::timeout(HANG, producer)
            .await
            .expect("the waiting producer woke")
            .unwrap();
        assert!(
            matches!(refused, Err(PublishError::Closed(2))),
            "{refused:?}"
        );
        report
    });
    assert_eq!(report.topic("full").unwrap().published, 1);
    assert_eq!(report.group("f").unwrap().handled, 1);
}

/// A listener that fails once with a backoff: the async poller sleeps
/// through the backoff (woken by the timer, not by a publish) and retries.
#[test]
fn an_async_poller_wakes_for_a_retry_after_its_backoff() {
    let attempts = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&attempts);
    let engine = Engine::builder()
        .topic::<u64>("t", TopicOptions::new(1))
        .subscribe(
            "p",
            "t",
            GroupOptions::poll().failure_policy(
                FailurePolicy::default()
                    .retries(Retries::Limited(3))
                    .backoff(Backoff {
                        initial: Duration::from_millis(20),
                        max: Duration::from_millis(20),
                        multiplier: 1,
                    }),
            ),
            move |_| {
                let seen = Arc::clone(&seen);
                from_fn(move |_: &u64, _ctx| {
                    if seen.fetch_add(1, Ordering::SeqCst) == 0 {
                        Err("first attempt fails".into())
                    } else {
                        Ok(())
                    }
                })
            },
        )
        .build()
        .unwrap();
    let topic = engine.topic::<u64>("t").unwrap();
    let mut poller = engine.poller("p").unwrap();
    topic.publish(5).unwrap();
    current_thread().block_on(async {
        let mut handled = 0;
        tokio::time::timeout(HANG, async {
            while handled == 0 {
                handled += poller.poll_async(10).await.expect("not finished");
            }
        })
        .await
        .expect("the retry came");
        assert_eq!(handled, 1);
    });
    assert_eq!(attempts.load(Ordering::SeqCst), 2);
    let report = engine.shutdown();
    let group = report.group("p").unwrap();
    assert_eq!((group.handled, group.retried, group.failures), (1, 1, 1));
}

/// `into_stream` yields one item per poll and ends when the group does.
#[test]
fn a_poller_stream_ends_with_the_group() {
    let engine = Engine::builder()
        .topic::<u64>("t", TopicOptions::new(2).capacity(4))
        .subscribe("p", "t", GroupOptions::poll(), |_| {
            from_fn(|_: &u64, _ctx| Ok(()))
        })
        .build()
        .unwrap();
    let topic = engine.topic::<u64>("t").unwrap();
    let stream = engine.poller("p").unwrap().into_stream(5);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    let (total, batches) = runtime.block_on(async move {
        let consumer = tokio::spawn(async move {
            let batches: Vec<usize> = stream.collect().await;
            batches
        });
        topic.publish_batch_async(0..100).await.unwrap();
        // Everything published is handled before the stream ends.
        tokio::task::spawn_blocking(move || engine.shutdown())
            .await
            .unwrap();
        let batches = tokio::time::timeout(HANG, consumer)
            .await
            .expect("the stream ended")
            .unwrap();
        (batches.iter().sum::<usize>(), batches)
    });
    assert!(batches.iter().all(|&n| (1..=5).contains(&n)), "{batches:?}");
    // The shutdown may have drained some itself; the stream saw the rest.
    assert!(total <= 100);
}

/// The single producer of a topic publishes from a task too, and waits for
/// room without blocking the consumer on the same thread.
#[test]
fn the_single_producer_publishes_from_a_task() {
    let engine = Engine::builder()
        .topic::<u64>(
            "t",
            TopicOptions::new(1)
                .capacity(2)
                .producers(Producers::Single),
        )
        .subscribe("p", "t", GroupOptions::poll(), |_| {
            from_fn(|_: &u64, _ctx| Ok(()))
        })
        .build()
        .unwrap();
    let mut producer = engine.producer::<u64>("t").unwrap();
    let mut poller = engine.poller("p").unwrap();
    current_thread().block_on(async {
        let produce = async {
            for n in 0..1_000 {
                let receipt = producer.publish_async(n).await.unwrap();
                assert_eq!(receipt.sequence(), Some(n));
            }
        };
        let consume = async {
            let mut handled = 0;
            while handled < 1_000 {
                handled += poller.poll_async(7).await.expect("not finished");
            }
        };
        tokio::time::timeout(HANG, futures_util::future::join(produce, consume))
            .await
            .expect("finished");
    });
    let report = engine.shutdown();
    assert_eq!(report.group("p").unwrap().handled, 1_000);
    report.check_conservation().unwrap();
}

/// Inside an async poll, the self-deadlock guard still holds: a listener
/// publishing (blocking) into the full partition its own group reads gets
/// `WouldDeadlock` instead of waiting on itself.
#[test]
fn a_listener_inside_an_async_poll_cannot_wait_on_itself() {
    let refusals = Shared::new();
    let seen = refusals.clone();
    let own: Arc<OnceLock<Topic<u64>>> = Arc::default();
    let slot = Arc::clone(&own);
    let engine = Engine::builder()
        .topic::<u64>("t", TopicOptions::new(1).capacity(2))
        .subscribe("p", "t", GroupOptions::poll(), move |_| {
            let (seen, slot) = (seen.clone(), Arc::clone(&slot));
            from_fn(move |n: &u64, _ctx| {
                if *n < 2 {
                    let topic: &Topic<u64> = slot.get().expect("set after build");
                    if let Err(e) = topic.publish(*n + 10) {
                        seen.push(e.kind());
                    }
                }
                Ok(())
            })
        })
        .build()
        .unwrap();
    let topic = engine.topic::<u64>("t").unwrap();
    own.set(topic.clone()).unwrap();
    let mut poller = engine.poller("p").unwrap();
    current_thread().block_on(async {
        topic.publish_async(0).await.unwrap();
        topic.publish_async(1).await.unwrap();
        let handled = tokio::time::timeout(HANG, poller.poll_async(1))
            .await
            .expect("the poll returned");
        assert_eq!(handled, Some(1));
    });
    assert_eq!(refusals.take(), vec![PublishErrorKind::WouldDeadlock]);
    let report = engine.shutdown();
    assert_eq!(report.topic("t").unwrap().would_deadlock, 1);
}

/// Waits long enough to make a task register (past its patience) every
/// time: a producer task behind a slow threaded group is woken by each of
/// the worker's releases, and a consumer task is woken by each publish of
/// a producer thread that pauses between events.
#[test]
fn registered_tasks_are_woken_by_threads() {
    const EVENTS: u64 = 40;
    let engine = Engine::builder()
        .topic::<u64>("slow", TopicOptions::new(1).capacity(1))
        .topic::<u64>("sparse", TopicOptions::new(1).capacity(4))
        .subscribe("worker", "slow", GroupOptions::workers(1), |_| {
            from_fn(|_: &u64, _ctx| {
                std::thread::sleep(Duration::from_millis(1));
                Ok(())
            })
        })
        .subscribe("reader", "sparse", GroupOptions::poll(), |_| {
            from_fn(|_: &u64, _ctx| Ok(()))
        })
        .build()
        .unwrap();
    let slow = engine.topic::<u64>("slow").unwrap();
    let sparse = engine.topic::<u64>("sparse").unwrap();
    let mut reader = engine.poller("reader").unwrap();
    let feeder = std::thread::spawn(move || {
        for n in 0..EVENTS {
            std::thread::sleep(Duration::from_millis(1));
            sparse.publish(n).unwrap();
        }
    });
    // Two tasks of their own, so each is woken only by its own wait.
    current_thread().block_on(async move {
        let produce = tokio::spawn(async move {
            for n in 0..EVENTS {
                slow.publish_async(n).await.unwrap();
            }
        });
        let consume = tokio::spawn(async move {
            let mut handled = 0;
            while handled < EVENTS as usize {
                handled += reader.poll_async(8).await.expect("not finished");
            }
        });
        tokio::time::timeout(HANG, async {
            produce.await.unwrap();
            consume.await.unwrap();
        })
        .await
        .expect("every wait was woken");
    });
    feeder.join().unwrap();
    let report = engine.shutdown();
    assert_eq!(report.group("worker").unwrap().handled, EVENTS);
    assert_eq!(report.group("reader").unwrap().handled, EVENTS);
    report.check_conservation().unwrap();
}
