//! What `publish` does on a full partition, per topic policy.

use std::time::Duration;

use veltrix::{BuildError, Engine, FullPolicy, GroupOptions, PublishError, TopicOptions};

/// A topic of capacity 4 read by a poll-mode group nobody polls: it fills
/// after 4 events and stays full.
fn full_topic(policy: FullPolicy) -> (Engine, veltrix::Topic<u32>) {
    let engine = Engine::builder()
        .topic::<u32>("t", TopicOptions::new(1).capacity(4).full_policy(policy))
        .subscribe("idle", "t", GroupOptions::poll(), |_| {
            veltrix::listener::from_fn(|_: &u32, _| Ok(()))
        })
        .build()
        .unwrap();
    let topic = engine.topic::<u32>("t").unwrap();
    for i in 0..4 {
        assert!(!topic.publish(i).unwrap().is_dropped());
    }
    (engine, topic)
}

#[test]
fn reject_hands_the_event_back() {
    let (engine, topic) = full_topic(FullPolicy::Reject);
    match topic.publish(99) {
        Err(PublishError::Full(e)) => assert_eq!(e, 99),
        other => panic!("expected Full, got {other:?}"),
    }
    let report = engine.shutdown();
    let t = report.topic("t").unwrap();
    assert_eq!((t.published, t.rejected_full), (4, 1));
    report.check_conservation().unwrap();
}

#[test]
fn drop_newest_drops_and_counts() {
    let (engine, topic) = full_topic(FullPolicy::DropNewest);
    for i in 0..10 {
        let receipt = topic.publish(100 + i).unwrap();
        assert!(receipt.is_dropped());
        assert_eq!(receipt.sequence(), None);
    }
    // A batch into a full partition is dropped whole and counted.
    assert_eq!(topic.publish_batch([1, 2, 3]).unwrap(), 0);
    let report = engine.shutdown();
    let t = report.topic("t").unwrap();
    assert_eq!((t.published, t.dropped_full), (4, 13));
    let g = report.group("idle").unwrap();
    assert_eq!(g.handled, 4, "shutdown drains the 4 accepted events");
    report.check_conservation().unwrap();
}

#[test]
fn block_timeout_gives_the_event_back_after_the_timeout() {
    let (engine, topic) = full_topic(FullPolicy::BlockTimeout(Duration::from_millis(20)));
    match topic.publish(7) {
        Err(PublishError::Timeout(e)) => assert_eq!(e, 7),
        other => panic!("expected Timeout, got {other:?}"),
    }
    let err = topic.publish_batch([8, 9]).unwrap_err();
    assert_eq!(err.kind, veltrix::PublishErrorKind::Timeout);
    assert_eq!(err.unpublished, vec![8, 9]);
    let report = engine.shutdown();
    assert_eq!(report.topic("t").unwrap().timed_out, 3);
}

#[test]
fn block_waits_until_a_group_makes_room() {
    let (engine, topic) = full_topic(FullPolicy::Block);
    let mut poller = engine.poller("idle").unwrap();
    let producer = std::thread::spawn(move || topic.publish(4).unwrap());
    // The producer can only finish once the poller frees a slot.
    while poller.poll(1) == 0 {
        std::thread::yield_now();
    }
    let receipt = producer.join().unwrap();
    assert_eq!(receipt.sequence(), Some(4));
    assert_eq!(engine.shutdown().group("idle").unwrap().handled, 5);
}

#[test]
fn publishing_after_shutdown_is_a_closed_error_holding_the_event() {
    let (engine, topic) = full_topic(FullPolicy::Block);
    drop(engine);
    let err = topic.publish(5).unwrap_err();
    assert!(err.to_string().contains("closed"), "{err}");
    assert_eq!(err.into_inner(), 5);
}

#[test]
fn infinite_retries_with_zero_backoff_is_a_build_error() {
    use veltrix::{Backoff, FailurePolicy, Retries};
    let policy = FailurePolicy::default()
        .retries(Retries::Forever)
        .backoff(Backoff {
            initial: Duration::ZERO,
            max: Duration::from_secs(1),
            multiplier: 2,
        });
    let err = Engine::builder()
        .topic::<u32>("t", TopicOptions::new(1))
        .subscribe(
            "g",
            "t",
            GroupOptions::workers(1).failure_policy(policy),
            |_| veltrix::listener::from_fn(|_: &u32, _| Ok(())),
        )
        .build()
        .unwrap_err();
    assert!(
        matches!(
            err,
            BuildError::InvalidSetting(ref s)
                if s.owner == "group \"g\"" && s.rule == veltrix::Rule::RetryWithoutBackoff
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("set initial to a wait"), "{err}");
}

#[test]
fn dead_letter_topic_problems_are_build_errors() {
    use veltrix::{Exhausted, FailurePolicy};
    let to = |topic: &str| {
        GroupOptions::workers(1).failure_policy(FailurePolicy::default().on_exhausted(
            Exhausted::DeadLetter {
                topic: topic.into(),
            },
        ))
    };
    let err = Engine::builder()
        .topic::<u32>("t", TopicOptions::new(1))
        .topic::<veltrix::DeadLetter<u32>>("plain", TopicOptions::new(1))
        .dead_letter_topic::<String>("strings.dlq", TopicOptions::new(1))
        .subscribe("missing", "t", to("nowhere"), |_| {
            veltrix::listener::from_fn(|_: &u32, _| Ok(()))
        })
        .subscribe("wrong-type", "t", to("strings.dlq"), |_| {
            veltrix::listener::from_fn(|_: &u32, _| Ok(()))
        })
        .subscribe("plain-topic", "t", to("plain"), |_| {
            veltrix::listener::from_fn(|_: &u32, _| Ok(()))
        })
        .subscribe("p", "plain", GroupOptions::poll(), |_| {
            veltrix::listener::from_fn(|_: &veltrix::DeadLetter<u32>, _| Ok(()))
        })
        .subscribe("s", "strings.dlq", GroupOptions::poll(), |_| {
            veltrix::listener::from_fn(|_: &veltrix::DeadLetter<String>, _| Ok(()))
        })
        .build()
        .unwrap_err();
    let messages: Vec<String> = err.errors().iter().map(|e| e.to_string()).collect();
    assert_eq!(messages.len(), 3, "{messages:#?}");
    assert!(
        messages[0].contains("'nowhere' does not exist"),
        "{}",
        messages[0]
    );
    assert!(
        messages[1].contains("DeadLetter<alloc::string::String>, not")
            && messages[1].contains("DeadLetter<u32>"),
        "{}",
        messages[1]
    );
    assert!(
        messages[2].contains("declared as a plain topic"),
        "{}",
        messages[2]
    );
    assert!(messages
        .iter()
        .all(|m| m.contains("dead_letter_topic::<u32>")));
}

#[test]
fn dedup_mistakes_are_build_errors() {
    let err = Engine::builder()
        .topic::<u32>("t", TopicOptions::new(1))
        .subscribe("g", "t", GroupOptions::poll(), |_| {
            veltrix::listener::from_fn(|_: &u32, _| Ok(()))
        })
        .deduplicate::<u32, _>("t", 0, |v| u64::from(*v))
        .deduplicate::<u64, _>("t", 8, |v| *v)
        .deduplicate::<u32, _>("nope", 8, |v| u64::from(*v))
        .build()
        .unwrap_err();
    let messages: Vec<String> = err.errors().iter().map(|e| e.to_string()).collect();
    assert_eq!(messages.len(), 3, "{messages:#?}");
    let has = |part: &str| messages.iter().filter(|m| m.contains(part)).count() == 1;
    assert!(
        has("topic \"t\": dedup_window = 0: a window of 0 ids would remember nothing"),
        "{messages:#?}"
    );
    assert!(
        has("extracts ids from u64, but the topic carries u32"),
        "{messages:#?}"
    );
    assert!(has("unknown topic"), "{messages:#?}");
}
