//! `shutdown_timeout`: drains until the deadline, then hands every event
//! still queued back.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use veltrix::{Engine, GroupOptions, TopicOptions};

#[test]
fn slow_groups_leave_their_events_to_the_caller() {
    let handled = Arc::new(AtomicU64::new(0));
    let h = handled.clone();
    let engine = Engine::builder()
        .topic::<u64>("t", TopicOptions::new(2).capacity(4096))
        .subscribe("slow", "t", GroupOptions::workers(2), move |_| {
            let h = h.clone();
            veltrix::listener::from_fn(move |_: &u64, _| {
                thread::sleep(Duration::from_millis(1));
                h.fetch_add(1, Ordering::Relaxed);
                Ok(())
            })
        })
        .subscribe("fast", "t", GroupOptions::workers(1), |_| {
            veltrix::listener::from_fn(|_: &u64, _| Ok(()))
        })
        .build()
        .unwrap();
    let topic = engine.topic::<u64>("t").unwrap();
    for v in 0..4000 {
        topic.publish(v).unwrap();
    }
    let out = engine.shutdown_timeout(Duration::from_millis(100));
    out.report.check_conservation().unwrap();
    let slow = out.report.group("slow").unwrap();
    let fast = out.report.group("fast").unwrap();
    assert_eq!(fast.lag, 0, "the fast group drained in time");
    assert!(
        slow.lag > 0,
        "1 ms per event cannot drain 4000 events in 100 ms"
    );
    assert_eq!(slow.handled, handled.load(Ordering::Relaxed));
    let mut unhandled = out.unhandled;
    assert_eq!(unhandled.len() as u64, slow.lag);
    let mut events = unhandled.take::<u64>("t").unwrap();
    assert_eq!(events.len() as u64, slow.lag);
    events.sort_unstable();
    events.dedup();
    assert_eq!(events.len() as u64, slow.lag, "no event handed back twice");
    assert!(unhandled.take::<String>("t").is_err());
    assert!(unhandled.take::<u64>("nope").is_err());
    // Still-open handles see the topic closed.
    assert!(topic.publish(1).is_err());
}

#[test]
fn a_deadline_that_is_not_needed_hands_nothing_back() {
    let engine = Engine::builder()
        .topic::<u64>("t", TopicOptions::new(1))
        .subscribe("g", "t", GroupOptions::poll(), |_| {
            veltrix::listener::from_fn(|_: &u64, _| Ok(()))
        })
        .build()
        .unwrap();
    let topic = engine.topic::<u64>("t").unwrap();
    topic.publish_batch(0..100).unwrap();
    let out = engine.shutdown_timeout(Duration::from_secs(10));
    assert!(out.unhandled.is_empty());
    assert_eq!(out.report.group("g").unwrap().handled, 100);
    assert!(out.report.is_drained());
}

#[test]
fn leftovers_can_go_to_the_dead_letter_topic() {
    use veltrix::{DeadLetter, Exhausted, FailurePolicy, Leftovers};
    let engine = Engine::builder()
        .topic::<u64>("t", TopicOptions::new(1).capacity(4096))
        .dead_letter_topic::<u64>("t.dlq", TopicOptions::new(1).capacity(8192))
        .subscribe(
            "slow",
            "t",
            GroupOptions::workers(1).failure_policy(FailurePolicy::default().on_exhausted(
                Exhausted::DeadLetter {
                    topic: "t.dlq".into(),
                },
            )),
            |_| {
                veltrix::listener::from_fn(|_: &u64, _| {
                    thread::sleep(Duration::from_millis(1));
                    Ok(())
                })
            },
        )
        // Nobody polls the dead-letter group: shutdown drains it, after the
        // deadline, so its events come back to the caller.
        .subscribe("dlq", "t.dlq", GroupOptions::poll(), |_| {
            veltrix::listener::from_fn(|_: &DeadLetter<u64>, _| Ok(()))
        })
        .build()
        .unwrap();
    let topic = engine.topic::<u64>("t").unwrap();
    topic.publish_batch(0..2000).unwrap();
    let out = engine.shutdown_timeout_with(Duration::from_millis(50), Leftovers::DeadLetter);
    out.report.check_conservation().unwrap();
    let slow = out.report.group("slow").unwrap();
    assert!(slow.dead_lettered > 0, "the deadline left events behind");
    assert_eq!(slow.lag, 0, "every event it missed was dead-lettered");
    assert_eq!(slow.handled + slow.dead_lettered, 2000);
    let mut unhandled = out.unhandled;
    assert!(unhandled.take::<u64>("t").unwrap().is_empty());
    let letters = unhandled.take::<DeadLetter<u64>>("t.dlq").unwrap();
    let dlq = out.report.group("dlq").unwrap();
    assert_eq!(letters.len() as u64 + dlq.handled, slow.dead_lettered);
    assert!(letters
        .iter()
        .all(|l| l.error.contains("shutdown deadline")));
    // Each missed event exactly once, in order.
    let ids: Vec<u64> = letters.iter().map(|l| l.event).collect();
    assert!(ids.windows(2).all(|w| w[0] + 1 == w[1]), "{ids:?}");
    assert_eq!(ids.last().copied(), Some(1999));
}
