//! Bad input gets a clear error, never a panic: build errors name the item,
//! the bad value and what would be valid; publish errors hand the event back
//! and are counted; a self-deadlocking publish is refused.

use std::sync::mpsc;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use veltrix::listener::{from_fn, FnListener};
use veltrix::{
    BuildError, Engine, EngineBuilder, EventContext, GroupOptions, ListenerError, LookupError,
    PublishError, PublishErrorKind, Receipt, Rule, Topic, TopicOptions, WorkerInfo,
};

type NoOp<E> = FnListener<E, fn(&E, &EventContext<'_>) -> Result<(), ListenerError>>;

fn no_op<E>(_: &WorkerInfo) -> NoOp<E> {
    fn ok<E>(_: &E, _: &EventContext<'_>) -> Result<(), ListenerError> {
        Ok(())
    }
    from_fn(ok::<E> as fn(&E, &EventContext<'_>) -> Result<(), ListenerError>)
}

/// Builds, expecting exactly one error, and returns it with its message.
fn single_error(builder: EngineBuilder) -> (BuildError, String) {
    let error = builder.build().unwrap_err();
    assert_eq!(error.errors().len(), 1, "expected one error, got: {error}");
    assert!(!matches!(error, BuildError::Multiple(_)), "{error:?}");
    let message = error.to_string();
    (error, message)
}

/// An `InvalidSetting` of `owner`'s `field` breaking `rule`, with `value`.
fn setting<'a>(
    owner: &'a str,
    field: &'a str,
    value: Option<&str>,
    rule: Rule,
) -> impl Fn(&BuildError) -> bool + 'a {
    let value = value.map(str::to_owned);
    move |e| {
        matches!(e, BuildError::InvalidSetting(s)
            if s.owner == owner && s.field == field && s.value == value && s.rule == rule)
    }
}

fn assert_mentions(message: &str, parts: &[&str]) {
    for part in parts {
        assert!(
            message.contains(part),
            "message {message:?} should mention {part:?}"
        );
    }
}

#[test]
fn zero_partitions() {
    let (error, message) = single_error(
        Engine::builder()
            .topic::<u64>("orders", TopicOptions::new(0))
            .subscribe("g", "orders", GroupOptions::workers(1), no_op::<u64>),
    );
    assert!(
        setting(
            "topic \"orders\"",
            "partitions",
            Some("0"),
            Rule::OutOfRange
        )(&error),
        "{error:?}"
    );
    assert_mentions(
        &message,
        &[
            "topic \"orders\"",
            "partitions = 0",
            "from 1 to",
            "use partitions = 1 or more",
        ],
    );
}

#[test]
fn capacity_zero() {
    let (error, message) = single_error(
        Engine::builder()
            .topic::<u64>("orders", TopicOptions::new(1).capacity(0))
            .subscribe("g", "orders", GroupOptions::workers(1), no_op::<u64>),
    );
    assert!(
        setting(
            "topic \"orders\"",
            "capacity",
            Some("0"),
            Rule::NotPowerOfTwo
        )(&error),
        "{error:?}"
    );
    assert_mentions(
        &message,
        &["topic \"orders\"", "capacity 0", "power of two", "use 1024"],
    );
}

#[test]
fn capacity_not_a_power_of_two_suggests_the_next_one() {
    let (error, message) = single_error(
        Engine::builder()
            .topic::<u64>("orders", TopicOptions::new(1).capacity(1000))
            .subscribe("g", "orders", GroupOptions::workers(1), no_op::<u64>),
    );
    assert!(
        setting(
            "topic \"orders\"",
            "capacity",
            Some("1000"),
            Rule::NotPowerOfTwo
        )(&error),
        "{error:?}"
    );
    assert_mentions(
        &message,
        &[
            "topic \"orders\"",
            "1000",
            "power of two",
            "use 1024 (or 512)",
        ],
    );
}

#[test]
fn capacity_too_large_to_allocate_is_an_error_not_an_abort() {
    // Within the budget (raised to the maximum), the allocator refuses.
    let (error, message) = single_error(
        Engine::builder()
            .memory_budget(u64::MAX)
            .topic::<u64>("huge", TopicOptions::new(2).capacity(1 << 58))
            .subscribe("g", "huge", GroupOptions::workers(1), no_op::<u64>),
    );
    match error {
        BuildError::CapacityTooLarge {
            topic,
            capacity,
            partitions,
            bytes,
        } => {
            assert_eq!((topic.as_str(), capacity, partitions), ("huge", 1 << 58, 2));
            assert!(bytes > (1u128 << 63), "bytes {bytes}");
        }
        other => panic!("expected CapacityTooLarge, got {other:?}"),
    }
    assert_mentions(
        &message,
        &["'huge'", "cannot be allocated", "lower the capacity"],
    );
}

#[test]
fn duplicate_topic() {
    let (error, message) = single_error(
        Engine::builder()
            .topic::<u64>("orders", TopicOptions::new(1))
            .topic::<u64>("orders", TopicOptions::new(2))
            .subscribe("g", "orders", GroupOptions::workers(1), no_op::<u64>),
    );
    assert_eq!(
        error,
        BuildError::DuplicateTopic {
            name: "orders".into()
        }
    );
    assert_mentions(&message, &["'orders'", "declared twice", "unique"]);
}

#[test]
fn duplicate_group() {
    let (error, message) = single_error(
        Engine::builder()
            .topic::<u64>("orders", TopicOptions::new(1))
            .subscribe("audit", "orders", GroupOptions::workers(1), no_op::<u64>)
            .subscribe("audit", "orders", GroupOptions::poll(), no_op::<u64>),
    );
    assert_eq!(
        error,
        BuildError::DuplicateGroup {
            name: "audit".into()
        }
    );
    assert_mentions(&message, &["'audit'", "declared twice", "unique"]);
}

#[test]
fn unknown_topic_lists_the_declared_ones() {
    let (error, message) = single_error(
        Engine::builder()
            .topic::<u64>("orders", TopicOptions::new(1))
            .topic::<u64>("trades", TopicOptions::new(1))
            .subscribe("g1", "orders", GroupOptions::workers(1), no_op::<u64>)
            .subscribe("g2", "trades", GroupOptions::workers(1), no_op::<u64>)
            .subscribe("audit", "order", GroupOptions::workers(1), no_op::<u64>),
    );
    assert_eq!(
        error,
        BuildError::UnknownTopic {
            group: "audit".into(),
            topic: "order".into(),
            known: vec!["orders".into(), "trades".into()],
        }
    );
    assert_mentions(&message, &["'audit'", "'order'", "[orders, trades]"]);
}

#[test]
fn wrong_event_type_at_build() {
    let (error, message) = single_error(
        Engine::builder()
            .topic::<u64>("orders", TopicOptions::new(1))
            .subscribe("audit", "orders", GroupOptions::workers(1), no_op::<String>),
    );
    assert_eq!(
        error,
        BuildError::TypeMismatch {
            group: "audit".into(),
            topic: "orders".into(),
            expected: std::any::type_name::<u64>(),
            found: std::any::type_name::<String>(),
        }
    );
    assert_mentions(&message, &["'audit'", "'orders'", "u64", "String"]);
}

#[test]
fn wrong_event_type_and_unknown_topic_at_lookup() {
    let engine = Engine::builder()
        .topic::<u64>("orders", TopicOptions::new(1))
        .topic::<String>("names", TopicOptions::new(1))
        .subscribe("g", "orders", GroupOptions::workers(1), no_op::<u64>)
        .subscribe("h", "names", GroupOptions::workers(1), no_op::<String>)
        .build()
        .unwrap();

    let error = engine.topic::<u32>("orders").unwrap_err();
    assert_eq!(
        error,
        LookupError::WrongType {
            topic: "orders".into(),
            actual: "u64",
            requested: "u32",
        }
    );
    assert_mentions(&error.to_string(), &["'orders'", "u64", "u32"]);

    let error = engine.topic::<u64>("order").unwrap_err();
    assert_eq!(
        error,
        LookupError::UnknownTopic {
            name: "order".into(),
            known: vec!["orders".into(), "names".into()],
        }
    );
    assert_mentions(&error.to_string(), &["'order'", "[orders, names]"]);

    // The right type still works.
    engine.topic::<u64>("orders").unwrap().publish(1).unwrap();
    engine.topic::<String>("names").unwrap();
    assert_eq!(engine.shutdown().group("g").unwrap().handled, 1);
}

#[test]
fn zero_workers() {
    let (error, message) = single_error(
        Engine::builder()
            .topic::<u64>("orders", TopicOptions::new(1))
            .subscribe("audit", "orders", GroupOptions::workers(0), no_op::<u64>),
    );
    assert!(
        setting(
            "group \"audit\"",
            "mode.workers",
            Some("0"),
            Rule::OutOfRange
        )(&error),
        "{error:?}"
    );
    assert_mentions(
        &message,
        &[
            "group \"audit\"",
            "mode.workers = 0",
            "from 1 to 1024",
            "poll",
        ],
    );
}

#[test]
fn topic_without_groups() {
    let (error, message) = single_error(
        Engine::builder()
            .topic::<u64>("orders", TopicOptions::new(1))
            .topic::<u64>("orphan", TopicOptions::new(1))
            .subscribe("g", "orders", GroupOptions::workers(1), no_op::<u64>),
    );
    assert_eq!(
        error,
        BuildError::TopicWithoutGroups {
            topic: "orphan".into()
        }
    );
    assert_mentions(&message, &["'orphan'", "no listener group"]);
}

#[test]
fn empty_names() {
    let (error, message) = single_error(
        Engine::builder()
            .topic::<u64>("", TopicOptions::new(1))
            .subscribe("g", "", GroupOptions::workers(1), no_op::<u64>),
    );
    assert!(
        setting("topic \"\"", "name", Some("\"\""), Rule::EmptyName)(&error),
        "{error:?}"
    );
    assert_mentions(&message, &["a topic needs a name"]);

    let (error, message) = single_error(
        Engine::builder()
            .topic::<u64>("orders", TopicOptions::new(1))
            .subscribe("", "orders", GroupOptions::workers(1), no_op::<u64>),
    );
    assert!(
        setting("group \"\"", "name", Some("\"\""), Rule::EmptyName)(&error),
        "{error:?}"
    );
    assert_mentions(&message, &["a group needs a name"]);
}

#[test]
fn several_mistakes_are_reported_together() {
    let error = Engine::builder()
        .topic::<u64>("orders", TopicOptions::new(0).capacity(1000))
        .topic::<u64>("orphan", TopicOptions::new(1))
        .subscribe("audit", "orders", GroupOptions::workers(0), no_op::<u64>)
        .subscribe("audit", "orders", GroupOptions::workers(1), no_op::<u64>)
        .subscribe("typo", "ordres", GroupOptions::workers(1), no_op::<u64>)
        .subscribe("typed", "orders", GroupOptions::poll(), no_op::<u32>)
        .build()
        .unwrap_err();
    let BuildError::Multiple(all) = &error else {
        panic!("expected Multiple, got {error:?}");
    };
    let settings: [&dyn Fn(&BuildError) -> bool; 3] = [
        &setting(
            "topic \"orders\"",
            "partitions",
            Some("0"),
            Rule::OutOfRange,
        ),
        &setting(
            "topic \"orders\"",
            "capacity",
            Some("1000"),
            Rule::NotPowerOfTwo,
        ),
        &setting(
            "group \"audit\"",
            "mode.workers",
            Some("0"),
            Rule::OutOfRange,
        ),
    ];
    for found in settings {
        assert_eq!(all.iter().filter(|e| found(e)).count(), 1, "{all:#?}");
    }
    let expected = [
        BuildError::TopicWithoutGroups {
            topic: "orphan".into(),
        },
        BuildError::DuplicateGroup {
            name: "audit".into(),
        },
        BuildError::UnknownTopic {
            group: "typo".into(),
            topic: "ordres".into(),
            known: vec!["orders".into(), "orphan".into()],
        },
        BuildError::TypeMismatch {
            group: "typed".into(),
            topic: "orders".into(),
            expected: "u64",
            found: "u32",
        },
    ];
    for e in &expected {
        assert!(all.contains(e), "missing {e:?} in {all:#?}");
    }
    let count = expected.len() + settings.len();
    assert_eq!(all.len(), count, "{all:#?}");
    assert_eq!(error.errors().len(), count);

    let message = error.to_string();
    assert!(
        message.starts_with(&format!("{count} errors:")),
        "{message}"
    );
    for e in &expected {
        assert!(message.contains(&e.to_string()), "{message:?} lacks {e}");
    }
}

#[test]
fn out_of_range_partition_hands_the_event_back_and_is_counted() {
    // Events >= 100 are routed one past the last partition, or to u32::MAX.
    let engine = Engine::builder()
        .topic_with::<u64, _>(
            "t",
            TopicOptions::new(3).capacity(8),
            |e: &u64, n: u32| match *e {
                0..=99 => (*e % u64::from(n)) as u32,
                100..=199 => n,
                _ => u32::MAX,
            },
        )
        .subscribe("g", "t", GroupOptions::poll(), no_op::<u64>)
        .build()
        .unwrap();
    let topic = engine.topic::<u64>("t").unwrap();
    let mut poller = engine.poller("g").unwrap();

    match topic.publish(150) {
        Err(PublishError::InvalidPartition {
            event,
            index,
            partitions,
        }) => assert_eq!((event, index, partitions), (150, 3, 3)),
        other => panic!("expected InvalidPartition, got {other:?}"),
    }
    let error = topic.try_publish(250).unwrap_err();
    assert_eq!(
        error.kind(),
        PublishErrorKind::InvalidPartition {
            index: u32::MAX,
            partitions: 3
        }
    );
    assert_mentions(
        &error.to_string(),
        &[&u32::MAX.to_string(), "3 partitions", "valid: 0..3"],
    );
    assert_eq!(error.into_inner(), 250);

    let batch = topic.publish_batch([1, 2, 199, 3]).unwrap_err();
    assert_eq!(batch.accepted, 2);
    assert_eq!(batch.unpublished, [199, 3]);

    // The topic keeps working.
    topic.publish(4).unwrap();
    assert_eq!(poller.poll(100), 3);
    let report = engine.shutdown();
    let t = report.topic("t").unwrap();
    // Refusals count every event handed back: 150, 250, then 199 and the
    // 3 behind it in the stopped batch.
    assert_eq!((t.published, t.invalid_partition), (3, 4));
    assert_eq!(report.group("g").unwrap().handled, 3);
}

#[test]
fn try_publish_on_a_full_partition_hands_the_event_back() {
    let engine = Engine::builder()
        .topic::<String>("t", TopicOptions::new(1).capacity(2))
        .subscribe("g", "t", GroupOptions::poll(), no_op::<String>)
        .build()
        .unwrap();
    let topic = engine.topic::<String>("t").unwrap();
    let mut poller = engine.poller("g").unwrap();
    topic.try_publish("a".into()).unwrap();
    topic.try_publish("b".into()).unwrap();
    for _ in 0..3 {
        match topic.try_publish("c".into()) {
            Err(PublishError::Full(back)) => assert_eq!(back, "c"),
            other => panic!("expected Full, got {other:?}"),
        }
    }
    let error = topic.try_publish("d".into()).unwrap_err();
    assert_eq!(error.kind(), PublishErrorKind::Full);
    assert_mentions(&error.to_string(), &["full", "capacity"]);
    assert_eq!(poller.poll(1), 1);
    let receipt = topic.try_publish("c".into()).unwrap();
    assert_eq!(
        receipt,
        Receipt::Accepted {
            partition: 0,
            sequence: 2
        }
    );
    let report = engine.shutdown();
    let t = report.topic("t").unwrap();
    assert_eq!((t.published, t.rejected_full), (3, 4));
    assert_eq!(report.group("g").unwrap().handled, 3);
}

/// What the listener got back from its own blocking publish.
type Outcome = Result<u64, PublishErrorKind>;

/// Not a timing assertion: only turns a self-deadlock (a regression) into a
/// test failure instead of a hung test run.
const HANG_LIMIT: Duration = Duration::from_secs(60);

#[test]
fn poll_mode_listener_publishing_into_its_own_full_topic_gets_would_deadlock() {
    let own: Arc<OnceLock<Topic<u64>>> = Arc::default();
    let (tx, rx) = mpsc::channel::<(u64, Outcome)>();
    let listener_own = Arc::clone(&own);
    let engine = Engine::builder()
        .topic::<u64>("t", TopicOptions::new(1).capacity(4))
        .subscribe("p", "t", GroupOptions::poll(), move |_| {
            let (own, tx) = (Arc::clone(&listener_own), tx.clone());
            from_fn(move |e: &u64, _ctx| {
                if *e < 100 {
                    // Blocking publish of a follow-up event into our own topic.
                    let outcome = match own.get().unwrap().publish(e + 100) {
                        Ok(r) => Ok(r.sequence().expect("accepted, not dropped")),
                        Err(PublishError::WouldDeadlock(back)) => {
                            assert_eq!(back, e + 100, "the event is handed back");
                            Err(PublishErrorKind::WouldDeadlock)
                        }
                        Err(other) => Err(other.kind()),
                    };
                    tx.send((*e, outcome)).unwrap();
                }
                Ok(())
            })
        })
        .build()
        .unwrap();
    let topic = engine.topic::<u64>("t").unwrap();
    own.set(topic.clone()).unwrap();
    let mut poller = engine.poller("p").unwrap();
    for i in 0..4 {
        topic.publish(i).unwrap();
    }
    // The ring is full and the only reader is this poller, busy in the
    // listener: a blocking publish would wait forever. Poll on another thread
    // so that a regression fails the test instead of hanging it.
    let polling = std::thread::spawn(move || (poller.poll(1), poller));
    let outcome = rx
        .recv_timeout(HANG_LIMIT)
        .expect("the listener's publish into its own full topic blocked");
    assert_eq!(outcome, (0, Err(PublishErrorKind::WouldDeadlock)));
    let (handled, mut poller) = polling.join().unwrap();
    assert_eq!(handled, 1);
    // With room, the same publish goes through.
    assert_eq!(poller.poll(1), 1);
    assert_eq!(rx.try_recv().unwrap(), (1, Ok(4)));

    let report = engine.shutdown();
    let t = report.topic("t").unwrap();
    assert_eq!((t.would_deadlock, t.published), (1, 5));
    assert_eq!(report.group("p").unwrap().handled, 5);
}

#[test]
fn worker_publishing_into_its_own_full_topic_gets_would_deadlock() {
    let own: Arc<OnceLock<Topic<u64>>> = Arc::default();
    let (tx, rx) = mpsc::channel::<Outcome>();
    let listener_own = Arc::clone(&own);
    let engine = Engine::builder()
        .topic::<u64>("t", TopicOptions::new(1).capacity(2))
        .subscribe("w", "t", GroupOptions::workers(1), move |_| {
            let (own, tx) = (Arc::clone(&listener_own), tx.clone());
            from_fn(move |e: &u64, _ctx| {
                if *e == 0 {
                    let own = own.get().unwrap();
                    // Wait (on a deterministic signal) until the ring is full;
                    // this worker still holds event 0, so it stays full.
                    while own.published() < 2 {
                        std::thread::yield_now();
                    }
                    let outcome = match own.publish(99) {
                        Ok(r) => Ok(r.sequence().expect("accepted, not dropped")),
                        Err(PublishError::WouldDeadlock(99)) => {
                            Err(PublishErrorKind::WouldDeadlock)
                        }
                        Err(other) => Err(other.kind()),
                    };
                    tx.send(outcome).unwrap();
                }
                Ok(())
            })
        })
        .build()
        .unwrap();
    let topic = engine.topic::<u64>("t").unwrap();
    own.set(topic.clone()).unwrap();
    topic.publish(0).unwrap();
    topic.publish(1).unwrap();
    let outcome = rx
        .recv_timeout(HANG_LIMIT)
        .expect("the worker's publish into its own full topic blocked");
    assert_eq!(outcome, Err(PublishErrorKind::WouldDeadlock));
    let report = engine.shutdown();
    let t = report.topic("t").unwrap();
    assert_eq!((t.would_deadlock, t.published), (1, 2));
    assert_eq!(report.group("w").unwrap().handled, 2);
}
