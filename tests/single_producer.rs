//! Single-producer topics: the one `Producer` is exclusive, and its plain
//! store publish keeps every guarantee of the shared path: every accepted
//! event reaches every group exactly once, in order per partition and per
//! key, across full rings, batches and a shutdown racing the producer.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use proptest::prelude::*;
use veltrix::partitioner::by_key;
use veltrix::{
    Engine, Exhausted, FailurePolicy, FullPolicy, GroupOptions, LookupError, Producers,
    PublishError, TopicOptions,
};

/// `(key, n)`: the n-th event of key `key`.
type Ev = (u32, u64);

fn single(partitions: u32, capacity: usize) -> TopicOptions {
    TopicOptions::new(partitions)
        .capacity(capacity)
        .producers(Producers::Single)
}

#[test]
fn the_producer_is_handed_out_once_and_topic_handles_are_refused() {
    let engine = Engine::builder()
        .topic::<u64>("sp", single(1, 8))
        .topic::<u64>("mp", TopicOptions::new(1))
        .subscribe("a", "sp", GroupOptions::poll(), |_| {
            veltrix::listener::from_fn(|_: &u64, _| Ok(()))
        })
        .subscribe("b", "mp", GroupOptions::poll(), |_| {
            veltrix::listener::from_fn(|_: &u64, _| Ok(()))
        })
        .build()
        .unwrap();
    let producer = engine.producer::<u64>("sp").unwrap();
    assert_eq!(producer.name(), "sp");
    assert!(matches!(
        engine.producer::<u64>("sp"),
        Err(LookupError::ProducerTaken { topic }) if topic == "sp"
    ));
    let refused = engine.topic::<u64>("sp").unwrap_err();
    assert!(matches!(&refused, LookupError::SingleProducer { topic } if topic == "sp"));
    assert!(
        refused.to_string().contains("Engine::producer"),
        "{refused}"
    );
    assert!(matches!(
        engine.producer::<u64>("mp"),
        Err(LookupError::NotSingleProducer { .. })
    ));
    assert!(matches!(
        engine.producer::<u32>("sp"),
        Err(LookupError::WrongType { .. })
    ));
}

#[test]
fn a_single_producer_topic_cannot_be_a_dead_letter_target() {
    let error = Engine::builder()
        .topic::<u64>("in", TopicOptions::new(1))
        .dead_letter_topic::<u64>("dlq", single(1, 8))
        .subscribe(
            "g",
            "in",
            GroupOptions::poll().failure_policy(FailurePolicy::default().on_exhausted(
                Exhausted::DeadLetter {
                    topic: "dlq".into(),
                },
            )),
            |_| veltrix::listener::from_fn(|_: &u64, _| Ok(())),
        )
        .subscribe("d", "dlq", GroupOptions::poll(), |_| {
            veltrix::listener::from_fn(|_: &veltrix::DeadLetter<u64>, _| Ok(()))
        })
        .build()
        .unwrap_err();
    assert!(error.to_string().contains("single-producer"), "{error}");
}

/// Four threaded groups and one poll group over keyed partitions of small
/// rings; the producer mixes single and batch publishes. Every group sees
/// every event once, and every key's events in order.
#[test]
fn every_group_sees_every_event_once_in_key_order() {
    const KEYS: u32 = 16;
    const PER_KEY: u64 = if cfg!(miri) { 8 } else { 4_000 };
    let seen: Vec<Arc<Mutex<Vec<Ev>>>> = (0..5).map(|_| Arc::default()).collect();
    let mut builder =
        Engine::builder().topic_with::<Ev, _>("keyed", single(4, 32), by_key(|e: &Ev| e.0));
    for (g, log) in seen.iter().enumerate() {
        let log = Arc::clone(log);
        let options = if g == 4 {
            GroupOptions::poll()
        } else {
            GroupOptions::workers(1 + g % 2)
        };
        builder = builder.subscribe(&format!("g{g}"), "keyed", options, move |_| {
            let log = Arc::clone(&log);
            veltrix::listener::from_fn(move |e: &Ev, _| {
                log.lock().unwrap().push(*e);
                Ok(())
            })
        });
    }
    let engine = builder.build().unwrap();
    let mut producer = engine.producer::<Ev>("keyed").unwrap();
    let mut poller = engine.poller("g4").unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let driver = {
        let done = Arc::clone(&done);
        std::thread::spawn(move || {
            while !done.load(Ordering::Acquire) {
                if poller.poll(64) == 0 {
                    std::thread::yield_now();
                }
            }
            poller
        })
    };
    for n in 0..PER_KEY {
        if n % 2 == 0 {
            for key in 0..KEYS {
                producer.publish((key, n)).unwrap();
            }
        } else {
            assert_eq!(
                producer
                    .publish_batch((0..KEYS).map(|key| (key, n)))
                    .unwrap(),
                KEYS as usize
            );
        }
    }
    done.store(true, Ordering::Release);
    let poller = driver.join().unwrap();
    drop(poller);
    let report = engine.shutdown();
    assert!(report.is_drained(), "{report}");
    let total = u64::from(KEYS) * PER_KEY;
    assert_eq!(report.topic("keyed").unwrap().published, total);
    for (g, log) in seen.iter().enumerate() {
        let log = log.lock().unwrap();
        assert_eq!(log.len() as u64, total, "group g{g} count");
        let mut next = vec![0u64; KEYS as usize];
        for &(key, n) in log.iter() {
            assert_eq!(n, next[key as usize], "group g{g}: key {key} out of order");
            next[key as usize] += 1;
        }
    }
}

/// A shutdown racing a producer that keeps publishing: every publish that
/// returned `Ok` was handled, every refused one came back as `Closed`
/// holding its event, and nothing else happened.
#[test]
fn shutdown_racing_the_producer_loses_nothing_accepted() {
    for round in 0..if cfg!(miri) { 1 } else { 20 } {
        let handled = Arc::new(AtomicU64::new(0));
        let engine = Engine::builder()
            .topic::<u64>("t", single(2, 16))
            .subscribe("g", "t", GroupOptions::workers(2), {
                let handled = Arc::clone(&handled);
                move |_| {
                    let handled = Arc::clone(&handled);
                    veltrix::listener::from_fn(move |_: &u64, _| {
                        handled.fetch_add(1, Ordering::Relaxed);
                        Ok(())
                    })
                }
            })
            .build()
            .unwrap();
        let mut producer = engine.producer::<u64>("t").unwrap();
        let publisher = std::thread::spawn(move || {
            let mut accepted = 0u64;
            for i in 0.. {
                let result = if i % 3 == 0 {
                    producer
                        .publish_batch([i, i + 1])
                        .map(|n| n as u64)
                        .map_err(|e| {
                            accepted += e.accepted as u64;
                            assert_eq!(e.kind, veltrix::PublishErrorKind::Closed);
                        })
                } else {
                    producer.publish(i).map(|_| 1).map_err(|e| {
                        assert!(matches!(e, PublishError::Closed(back) if back == i));
                    })
                };
                match result {
                    Ok(n) => accepted += n,
                    Err(()) => return accepted,
                }
            }
            unreachable!()
        });
        std::thread::sleep(std::time::Duration::from_micros(200 * (round % 5)));
        let report = engine.shutdown();
        let accepted = publisher.join().unwrap();
        assert!(report.is_drained(), "{report}");
        assert_eq!(report.topic("t").unwrap().published, accepted);
        assert_eq!(handled.load(Ordering::Relaxed), accepted, "round {round}");
    }
}

#[derive(Debug, Clone)]
enum Op {
    Publish(u64),
    TryPublish(u64),
    Batch(Vec<u64>),
    Poll(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u64..1000).prop_map(Op::Publish),
        (0u64..1000).prop_map(Op::TryPublish),
        prop::collection::vec(0u64..1000, 0..12).prop_map(Op::Batch),
        (0usize..20).prop_map(Op::Poll),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(if cfg!(miri) { 2 } else { 128 }))]

    /// Random publish / try_publish / batch / poll sequences on one thread,
    /// against a model queue: a single-producer topic under `Reject` or
    /// `DropNewest` hands out exactly the accepted events, in order, and
    /// hands back (or counts) exactly the others.
    #[test]
    fn single_producer_matches_a_bounded_queue_model(
        ops in prop::collection::vec(op(), 1..60),
        capacity_log in 0u32..4,
        drop_newest in any::<bool>(),
    ) {
        let capacity = 1usize << capacity_log;
        let policy = if drop_newest { FullPolicy::DropNewest } else { FullPolicy::Reject };
        let got = Arc::new(Mutex::new(Vec::new()));
        let engine = Engine::builder()
            .topic::<u64>("t", single(1, capacity).full_policy(policy))
            .subscribe("g", "t", GroupOptions::poll(), {
                let got = Arc::clone(&got);
                move |_| {
                    let got = Arc::clone(&got);
                    veltrix::listener::from_fn(move |e: &u64, _| {
                        got.lock().unwrap().push(*e);
                        Ok(())
                    })
                }
            })
            .build()
            .unwrap();
        let mut producer = engine.producer::<u64>("t").unwrap();
        let mut poller = engine.poller("g").unwrap();
        let mut queue = std::collections::VecDeque::new();
        let mut expected = Vec::new();
        let mut dropped = 0u64;
        let mut offer = |event: u64, queue: &mut std::collections::VecDeque<u64>, try_only: bool| {
            // What the model says happens to one event.
            if queue.len() < capacity {
                queue.push_back(event);
                Ok(())
            } else if drop_newest && !try_only {
                dropped += 1;
                Ok(())
            } else {
                Err(())
            }
        };
        for op in ops {
            match op {
                Op::Publish(e) => {
                    let model = offer(e, &mut queue, false);
                    let real = producer.publish(e);
                    match (model, real) {
                        (Ok(()), Ok(_)) => {}
                        (Err(()), Err(PublishError::Full(back))) => prop_assert_eq!(back, e),
                        (m, r) => prop_assert!(false, "model {:?} real {:?}", m, r),
                    }
                }
                Op::TryPublish(e) => {
                    let model = offer(e, &mut queue, true);
                    let real = producer.try_publish(e);
                    match (model, real) {
                        (Ok(()), Ok(_)) => {}
                        (Err(()), Err(PublishError::Full(back))) => prop_assert_eq!(back, e),
                        (m, r) => prop_assert!(false, "model {:?} real {:?}", m, r),
                    }
                }
                Op::Batch(events) => {
                    let mut model_accepted = 0;
                    let mut model_rest = Vec::new();
                    for &e in &events {
                        if !model_rest.is_empty() {
                            model_rest.push(e);
                            continue;
                        }
                        let before = queue.len();
                        match offer(e, &mut queue, false) {
                            Ok(()) => model_accepted += usize::from(queue.len() > before),
                            Err(()) => model_rest.push(e),
                        }
                    }
                    match producer.publish_batch(events) {
                        Ok(n) => {
                            prop_assert!(model_rest.is_empty());
                            prop_assert_eq!(n, model_accepted);
                        }
                        Err(e) => {
                            prop_assert_eq!(e.accepted, model_accepted);
                            prop_assert_eq!(e.unpublished, model_rest);
                        }
                    }
                }
                Op::Poll(n) => {
                    let handled = poller.poll(n);
                    let model: Vec<u64> = (0..n.min(queue.len())).filter_map(|_| queue.pop_front()).collect();
                    prop_assert_eq!(handled, model.len());
                    expected.extend(model);
                }
            }
        }
        expected.extend(queue.drain(..));
        drop(poller);
        let report = engine.shutdown();
        prop_assert!(report.is_drained());
        prop_assert_eq!(report.topic("t").unwrap().dropped_full, dropped);
        prop_assert_eq!(&*got.lock().unwrap(), &expected);
    }
}

#[cfg(feature = "toml")]
#[test]
fn a_config_file_declares_a_single_producer_topic() {
    let config = veltrix::config::Config::from_toml_str(
        r#"
[[topics]]
name = "ticks"
producers = "single"

[[groups]]
name = "g"
topic = "ticks"
mode = "poll"
"#,
    )
    .unwrap();
    assert_eq!(config.topics[0].producers, Producers::Single);
    let printed = config.to_toml_string().unwrap();
    assert!(printed.contains("producers = \"single\""), "{printed}");
    let engine = config
        .bind()
        .topic::<u64>("ticks")
        .group("g", |_| veltrix::listener::from_fn(|_: &u64, _| Ok(())))
        .build()
        .unwrap();
    let mut ticks = engine.engine().producer::<u64>("ticks").unwrap();
    ticks.publish_batch(0..10).unwrap();
    assert!(engine.engine().topic::<u64>("ticks").is_err());
    let mut poller = engine.engine().poller("g").unwrap();
    assert_eq!(poller.poll(100), 10);
    drop(poller);
    assert!(engine.shutdown().is_drained());
    let typo = veltrix::config::Config::from_toml_str(
        "[[topics]]\nname = \"t\"\nproducers = \"singel\"\n",
    )
    .unwrap_err()
    .to_string();
    assert!(typo.contains("single"), "{typo}");
}
