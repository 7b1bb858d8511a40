//! Poll mode: the host drives a group from its own loop. Budgets hold, order
//! is deterministic, partitions are served fairly, and misuse of `poller` is
//! a clear error.

mod common;

use std::time::Duration;

use common::Shared;
use veltrix::listener::from_fn;
use veltrix::partitioner::by_key;
use veltrix::{Engine, GroupOptions, LookupError, Receipt, TopicOptions};

/// (partition, sequence, value) of one handled event.
type Handled = (u32, u64, u64);
/// What a group handled, in handling order.
type Log = Shared<Handled>;

/// An engine with one topic of `u64` routed by `value % partitions` and one
/// poll-mode group "p" that logs what it handles.
fn modulo_engine(partitions: u32, capacity: usize, max_batch: usize) -> (Engine, Log) {
    let log = Log::new();
    let listener_log = log.clone();
    let engine = Engine::builder()
        .topic_with::<u64, _>(
            "t",
            TopicOptions::new(partitions).capacity(capacity),
            |e: &u64, n: u32| (*e % u64::from(n)) as u32,
        )
        .subscribe(
            "p",
            "t",
            GroupOptions::poll().max_batch(max_batch),
            move |_| {
                let log = listener_log.clone();
                from_fn(move |e: &u64, ctx| {
                    log.push((ctx.partition(), ctx.sequence(), *e));
                    Ok(())
                })
            },
        )
        .build()
        .unwrap();
    (engine, log)
}

#[test]
fn poll_never_handles_more_than_its_budget() {
    for max_batch in [1, 4, 256] {
        let (engine, log) = modulo_engine(3, 64, max_batch);
        let topic = engine.topic::<u64>("t").unwrap();
        let mut poller = engine.poller("p").unwrap();
        for i in 0..150 {
            topic.try_publish(i).unwrap();
        }
        assert_eq!(poller.pending(), 150);
        let mut handled = 0;
        for budget in [0, 1, 2, 3, 5, 7, 64, 1, 0, 1000].into_iter().cycle() {
            let before = poller.pending() as usize;
            let logged = log.len();
            let n = poller.poll(budget);
            assert!(
                n <= budget,
                "poll({budget}) handled {n} (max_batch {max_batch})"
            );
            assert_eq!(
                n,
                budget.min(before),
                "poll({budget}) with {before} pending (max_batch {max_batch})"
            );
            assert_eq!(
                log.len() - logged,
                n,
                "return value must match the events handled"
            );
            assert_eq!(poller.pending() as usize, before - n);
            handled += n;
            if before == 0 {
                break;
            }
        }
        assert_eq!(handled, 150);
        let report = engine.shutdown();
        assert_eq!(report.group("p").unwrap().handled, 150);
    }
}

#[test]
fn poll_for_with_no_time_left_starts_nothing() {
    let (engine, log) = modulo_engine(2, 16, 256);
    let topic = engine.topic::<u64>("t").unwrap();
    let mut poller = engine.poller("p").unwrap();
    for i in 0..10 {
        topic.try_publish(i).unwrap();
    }
    assert_eq!(poller.poll_for(100, Duration::ZERO), 0);
    assert!(log.is_empty());
    assert_eq!(poller.pending(), 10, "nothing consumed, nothing lost");
    // A generous time budget still respects the event budget.
    assert_eq!(poller.poll_for(3, Duration::from_secs(3600)), 3);
    assert_eq!(poller.poll(100), 7);
    assert_eq!(log.len(), 10);
}

#[test]
fn poll_for_stops_starting_batches_once_its_time_is_up() {
    // Each event takes longer than the whole time budget, and batches hold one
    // event: at most the batch in progress when time runs out is handled.
    let handled = Shared::<u64>::new();
    let listener_handled = handled.clone();
    let engine = Engine::builder()
        .topic::<u64>("t", TopicOptions::new(2).capacity(16))
        .subscribe("p", "t", GroupOptions::poll().max_batch(1), move |_| {
            let handled = listener_handled.clone();
            from_fn(move |e: &u64, _ctx| {
                std::thread::sleep(Duration::from_millis(5));
                handled.push(*e);
                Ok(())
            })
        })
        .build()
        .unwrap();
    let topic = engine.topic::<u64>("t").unwrap();
    let mut poller = engine.poller("p").unwrap();
    for i in 0..10 {
        topic.try_publish(i).unwrap();
    }
    let n = poller.poll_for(1000, Duration::from_millis(1));
    assert!(
        n <= 1,
        "poll_for handled {n} events of 5 ms each in a 1 ms budget"
    );
    assert_eq!(handled.len(), n);
    assert_eq!(poller.pending(), 10 - n as u64);
    assert_eq!(poller.poll(1000), 10 - n);
}

/// One single-threaded run: interleaved publishes and polls of varying
/// budgets. Returns what the group handled and the receipts producers got.
fn scripted_run() -> (Vec<Handled>, Vec<(u64, Receipt)>) {
    let log = Log::new();
    let listener_log = log.clone();
    let engine = Engine::builder()
        .topic_with::<u64, _>(
            "t",
            TopicOptions::new(5).capacity(32),
            by_key(|e: &u64| *e / 3),
        )
        .subscribe("p", "t", GroupOptions::poll().max_batch(4), move |_| {
            let log = listener_log.clone();
            from_fn(move |e: &u64, ctx| {
                log.push((ctx.partition(), ctx.sequence(), *e));
                Ok(())
            })
        })
        .build()
        .unwrap();
    let topic = engine.topic::<u64>("t").unwrap();
    let mut poller = engine.poller("p").unwrap();
    let mut receipts = Vec::new();
    for i in 0..300u64 {
        // try_publish: a starved partition fails the test instead of
        // blocking this thread, the only one that polls, forever.
        let receipt = topic.try_publish(i).expect("no partition fills up");
        receipts.push((i, receipt));
        if i % 7 == 6 {
            poller.poll((i % 11) as usize + 1);
        }
    }
    while poller.poll(13) > 0 {}
    drop(engine);
    (log.take(), receipts)
}

#[test]
fn single_threaded_publish_and_poll_is_deterministic() {
    let (first, receipts) = scripted_run();
    let (second, receipts_again) = scripted_run();
    assert_eq!(first.len(), 300);
    assert_eq!(
        first, second,
        "two identical runs handled events differently"
    );
    assert_eq!(receipts, receipts_again);
    // What the listener saw is what the producer was told.
    let mut seen: Vec<(u64, Receipt)> = first
        .iter()
        .map(|&(partition, sequence, e)| {
            (
                e,
                Receipt::Accepted {
                    partition,
                    sequence,
                },
            )
        })
        .collect();
    seen.sort_by_key(|&(e, _)| e);
    assert_eq!(seen, receipts);
}

/// The same with the default partitioner (`RoundRobin`): two identical
/// engines driven the same way on one thread.
fn round_robin_run() -> Vec<Handled> {
    let log = Log::new();
    let listener_log = log.clone();
    let engine = Engine::builder()
        .topic::<u64>("t", TopicOptions::new(4).capacity(16))
        .subscribe("p", "t", GroupOptions::poll(), move |_| {
            let log = listener_log.clone();
            from_fn(move |e: &u64, ctx| {
                log.push((ctx.partition(), ctx.sequence(), *e));
                Ok(())
            })
        })
        .build()
        .unwrap();
    let topic = engine.topic::<u64>("t").unwrap();
    let mut poller = engine.poller("p").unwrap();
    for i in 0..10u64 {
        topic.try_publish(i).unwrap();
    }
    while poller.poll(3) > 0 {}
    drop(engine);
    log.take()
}

#[test]
fn single_threaded_runs_with_the_default_partitioner_are_deterministic() {
    let first = round_robin_run();
    let second = round_robin_run();
    assert_eq!(first.len(), 10);
    assert_eq!(
        first, second,
        "two identical runs handled events differently"
    );
}

#[test]
fn poll_serves_every_non_empty_partition_in_turn() {
    let (engine, log) = modulo_engine(4, 16, 256);
    let topic = engine.topic::<u64>("t").unwrap();
    let mut poller = engine.poller("p").unwrap();
    // Three events per partition, published partition by partition.
    for p in 0..4u64 {
        for k in 0..3u64 {
            topic.try_publish(p + 4 * k).unwrap();
        }
    }
    for round in 0..3 {
        assert_eq!(poller.poll(4), 4);
        let mut partitions: Vec<u32> = log.take().iter().map(|&(p, _, _)| p).collect();
        partitions.sort_unstable();
        assert_eq!(
            partitions,
            vec![0, 1, 2, 3],
            "round {round}: one event from each partition"
        );
    }
    assert_eq!(poller.poll(4), 0);

    // poll(1) four times: the start rotates, so each partition gets one turn.
    for p in 0..4u64 {
        topic.try_publish(p).unwrap();
        topic.try_publish(p + 4).unwrap();
    }
    for _ in 0..4 {
        assert_eq!(poller.poll(1), 1);
    }
    let mut partitions: Vec<u32> = log.take().iter().map(|&(p, _, _)| p).collect();
    partitions.sort_unstable();
    assert_eq!(
        partitions,
        vec![0, 1, 2, 3],
        "poll(1) x 4 must visit each partition once"
    );
    assert_eq!(poller.poll(100), 4);
    log.take();

    // A deep partition does not crowd out shallow ones, and leftover budget
    // goes to whoever still has events.
    for k in 0..10u64 {
        topic.try_publish(4 * k).unwrap();
    }
    for p in 1..4u64 {
        topic.try_publish(p).unwrap();
    }
    assert_eq!(poller.poll(4), 4);
    let mut partitions: Vec<u32> = log.take().iter().map(|&(p, _, _)| p).collect();
    partitions.sort_unstable();
    assert_eq!(partitions, vec![0, 1, 2, 3]);
    assert_eq!(poller.poll(4), 4);
    let partitions: Vec<u32> = log.take().iter().map(|&(p, _, _)| p).collect();
    assert_eq!(
        partitions,
        vec![0, 0, 0, 0],
        "only partition 0 has events left"
    );
    assert_eq!(poller.poll(100), 5);
    assert_eq!(poller.poll(100), 0);
}

#[test]
fn poll_keeps_each_partition_in_sequence_order() {
    let (engine, log) = modulo_engine(3, 8, 2);
    let topic = engine.topic::<u64>("t").unwrap();
    let mut poller = engine.poller("p").unwrap();
    for i in 0..300u64 {
        // Never fill a partition: poll before it could block.
        if topic.try_publish(i).is_err() {
            poller.poll(5);
            topic.try_publish(i).unwrap();
        }
        if i % 10 == 0 {
            poller.poll(2);
        }
    }
    while poller.poll(7) > 0 {}
    let log = log.take();
    assert_eq!(log.len(), 300);
    let mut next = [0u64; 3];
    let mut last_value = [None::<u64>; 3];
    for (p, seq, e) in log {
        assert_eq!(
            e % 3,
            u64::from(p),
            "event {e} handled from the wrong partition"
        );
        assert_eq!(seq, next[p as usize], "partition {p} out of sequence order");
        next[p as usize] += 1;
        assert!(
            last_value[p as usize].is_none_or(|l| e > l),
            "partition {p} out of publish order"
        );
        last_value[p as usize] = Some(e);
    }
    drop(engine);
}

#[test]
fn poller_lookup_errors() {
    let engine = Engine::builder()
        .topic::<u64>("t", TopicOptions::new(2))
        .subscribe("threads", "t", GroupOptions::workers(1), |_| {
            from_fn(|_: &u64, _ctx| Ok(()))
        })
        .subscribe("polled", "t", GroupOptions::poll(), |_| {
            from_fn(|_: &u64, _ctx| Ok(()))
        })
        .build()
        .unwrap();

    let unknown = engine.poller("nope").unwrap_err();
    match &unknown {
        LookupError::UnknownGroup { name, known } => {
            assert_eq!(name, "nope");
            assert_eq!(known, &["threads".to_owned(), "polled".to_owned()]);
        }
        other => panic!("expected UnknownGroup, got {other:?}"),
    }
    let message = unknown.to_string();
    assert!(message.contains("'nope'"), "{message}");
    assert!(message.contains("[threads, polled]"), "{message}");

    let threaded = engine.poller("threads").unwrap_err();
    assert_eq!(
        threaded,
        LookupError::NotPollMode {
            group: "threads".into()
        }
    );
    let message = threaded.to_string();
    assert!(
        message.contains("'threads'") && message.contains("GroupOptions::poll()"),
        "{message}"
    );

    let poller = engine.poller("polled").unwrap();
    assert_eq!(poller.group(), "polled");
    let twice = engine.poller("polled").unwrap_err();
    assert_eq!(
        twice,
        LookupError::PollerTaken {
            group: "polled".into()
        }
    );
    assert!(twice.to_string().contains("'polled'"), "{twice}");
}
