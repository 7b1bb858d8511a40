//! Drop accounting: every event the host creates is dropped exactly once —
//! after being handled, when the rings wrap over it, when the engine goes
//! away with it still queued, or when an error hands it back.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::Tally;
use veltrix::listener::from_fn;
use veltrix::{
    Engine, FullPolicy, GroupOptions, PublishError, PublishErrorKind, Receipt, TopicOptions,
};

/// Counts what was created and how often each id was dropped.
#[derive(Debug)]
struct Ledger {
    created: AtomicUsize,
    dropped: Tally,
}

impl Ledger {
    fn new(ids: usize) -> Arc<Ledger> {
        Arc::new(Ledger {
            created: AtomicUsize::new(0),
            dropped: Tally::new(ids),
        })
    }

    fn make(self: &Arc<Self>, id: usize) -> Tracked {
        self.created.fetch_add(1, Ordering::SeqCst);
        Tracked {
            id,
            ledger: Arc::clone(self),
        }
    }

    /// Every id in `0..created` dropped exactly once, and nothing else.
    fn assert_all_dropped_once(&self) {
        assert_eq!(
            self.created.load(Ordering::SeqCst),
            self.dropped.len(),
            "ids created"
        );
        self.dropped.assert_each_once("drops");
    }
}

/// An event that reports its drop. Deliberately not `Clone`.
#[derive(Debug)]
struct Tracked {
    id: usize,
    ledger: Arc<Ledger>,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.ledger.dropped.hit(self.id);
    }
}

#[test]
fn events_are_dropped_once_after_the_rings_wrap_many_times() {
    const N: usize = if cfg!(miri) { 200 } else { 5_000 };
    let ledger = Ledger::new(N);
    let handled_a = Tally::new(N);
    let handled_b = Tally::new(N);
    let (ta, tb) = (handled_a.clone(), handled_b.clone());
    let engine = Engine::builder()
        // 2 x 4 slots for 5000 events: each slot is overwritten ~600 times.
        .topic::<Tracked>("t", TopicOptions::new(2).capacity(4))
        .subscribe("a", "t", GroupOptions::workers(2), move |_| {
            let tally = ta.clone();
            from_fn(move |e: &Tracked, _ctx| {
                tally.hit(e.id);
                Ok(())
            })
        })
        .subscribe("b", "t", GroupOptions::workers(1), move |_| {
            let tally = tb.clone();
            from_fn(move |e: &Tracked, _ctx| {
                tally.hit(e.id);
                Ok(())
            })
        })
        .build()
        .unwrap();
    let topic = engine.topic::<Tracked>("t").unwrap();
    std::thread::scope(|s| {
        // One producer publishes one by one, the other in batches that are
        // longer than a ring.
        let (t1, l1) = (topic.clone(), Arc::clone(&ledger));
        s.spawn(move || {
            for id in (0..N).step_by(2) {
                t1.publish(l1.make(id)).unwrap();
            }
        });
        let (t2, l2) = (topic.clone(), Arc::clone(&ledger));
        s.spawn(move || {
            let odd: Vec<usize> = (1..N).step_by(2).collect();
            for chunk in odd.chunks(10) {
                let batch: Vec<Tracked> = chunk.iter().map(|&id| l2.make(id)).collect();
                assert_eq!(t2.publish_batch(batch).unwrap(), chunk.len());
            }
        });
    });
    let report = engine.shutdown();
    assert!(report.is_drained(), "{report}");
    assert_eq!(report.topic("t").unwrap().published, N as u64);
    handled_a.assert_each_once("group a handled");
    handled_b.assert_each_once("group b handled");

    // The last lap is still in the slots while a handle keeps the rings alive.
    drop(topic);
    ledger.assert_all_dropped_once();
}

#[test]
fn dropping_the_engine_with_events_queued_drops_each_once() {
    const CAPACITY: usize = 8;
    const PARTITIONS: u32 = 2;
    const QUEUED: usize = CAPACITY * PARTITIONS as usize;
    let ledger = Ledger::new(QUEUED + 1);
    let handled = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&handled);
    let engine = Engine::builder()
        .topic::<Tracked>("t", TopicOptions::new(PARTITIONS).capacity(CAPACITY))
        .subscribe("never-polled", "t", GroupOptions::poll(), move |_| {
            let counter = Arc::clone(&counter);
            from_fn(move |_: &Tracked, _ctx| {
                counter.fetch_add(1, Ordering::SeqCst);
                Ok(())
            })
        })
        .build()
        .unwrap();
    let topic = engine.topic::<Tracked>("t").unwrap();
    let poller = engine.poller("never-polled").unwrap();
    for id in 0..QUEUED {
        topic.try_publish(ledger.make(id)).unwrap();
    }
    // Every ring is full now; this one is handed back and dropped here.
    match topic.try_publish(ledger.make(QUEUED)) {
        Err(PublishError::Full(back)) => assert_eq!(back.id, QUEUED),
        other => panic!("expected Full, got {other:?}"),
    }
    assert_eq!(ledger.dropped.count(QUEUED), 1);
    assert_eq!(poller.pending(), QUEUED as u64);

    drop(engine);
    assert_eq!(
        handled.load(Ordering::SeqCst),
        QUEUED,
        "drop drained the group"
    );
    // The topic handle and the poller still hold the rings; the last one to
    // go drops the events.
    drop(topic);
    drop(poller);
    ledger.assert_all_dropped_once();
}

#[test]
fn events_handed_back_by_errors_are_dropped_once() {
    let ledger = Ledger::new(12);
    let engine = Engine::builder()
        .topic_with::<Tracked, _>(
            "t",
            TopicOptions::new(1).capacity(2),
            // Ids 5, 6 and 7 go to a partition that does not exist.
            |e: &Tracked, n: u32| if (5..8).contains(&e.id) { n + 4 } else { 0 },
        )
        .subscribe("p", "t", GroupOptions::poll(), |_| {
            from_fn(|_: &Tracked, _ctx| Ok(()))
        })
        .build()
        .unwrap();
    let topic = engine.topic::<Tracked>("t").unwrap();
    let mut poller = engine.poller("p").unwrap();

    // Full.
    topic.try_publish(ledger.make(0)).unwrap();
    topic.try_publish(ledger.make(1)).unwrap();
    let full = topic.try_publish(ledger.make(2)).unwrap_err();
    assert_eq!(full.kind(), PublishErrorKind::Full);
    assert_eq!(ledger.dropped.count(2), 0, "the error holds the event");
    drop(full);
    assert_eq!(ledger.dropped.count(2), 1);
    assert_eq!(poller.poll(10), 2);

    // Invalid partition, single and in a batch (ids 3, 4 go in; 5.. come back).
    let invalid = topic.publish(ledger.make(5)).unwrap_err();
    assert_eq!(invalid.into_inner().id, 5);
    let batch = vec![
        ledger.make(3),
        ledger.make(4),
        ledger.make(6),
        ledger.make(7),
    ];
    let err = topic.publish_batch(batch).unwrap_err();
    assert_eq!(err.accepted, 2);
    assert_eq!(
        err.kind,
        PublishErrorKind::InvalidPartition {
            index: 5,
            partitions: 1
        }
    );
    assert_eq!(
        err.unpublished.iter().map(|e| e.id).collect::<Vec<_>>(),
        [6, 7]
    );
    drop(err);
    assert_eq!(poller.poll(10), 2);

    let report = engine.shutdown();
    // Refusals count per event handed back: 5 alone, then 6 and 7.
    assert_eq!(report.topic("t").unwrap().invalid_partition, 3);
    assert_eq!(report.topic("t").unwrap().rejected_full, 1);

    // Closed, single and in a batch.
    let closed = topic.publish(ledger.make(8)).unwrap_err();
    assert_eq!(closed.kind(), PublishErrorKind::Closed);
    drop(closed);
    let _ = topic.try_publish(ledger.make(9)).unwrap_err();
    let err = topic
        .publish_batch([ledger.make(10), ledger.make(11)])
        .unwrap_err();
    assert_eq!(err.unpublished.len(), 2);
    drop(err);

    drop(poller);
    drop(topic);
    ledger.assert_all_dropped_once();
}

#[test]
fn events_dropped_by_the_drop_newest_policy_are_dropped_once() {
    let ledger = Ledger::new(6);
    let engine = Engine::builder()
        .topic::<Tracked>(
            "t",
            TopicOptions::new(1)
                .capacity(2)
                .full_policy(FullPolicy::DropNewest),
        )
        .subscribe("p", "t", GroupOptions::poll(), |_| {
            from_fn(|_: &Tracked, _ctx| Ok(()))
        })
        .build()
        .unwrap();
    let topic = engine.topic::<Tracked>("t").unwrap();
    let mut poller = engine.poller("p").unwrap();
    topic.publish(ledger.make(0)).unwrap();
    topic.publish(ledger.make(1)).unwrap();
    let receipt = topic.publish(ledger.make(2)).unwrap();
    assert_eq!(receipt, Receipt::Dropped { partition: 0 });
    assert_eq!(
        ledger.dropped.count(2),
        1,
        "a dropped event is dropped at once"
    );
    assert_eq!(
        topic
            .publish_batch([ledger.make(3), ledger.make(4)])
            .unwrap(),
        0
    );
    assert_eq!((ledger.dropped.count(3), ledger.dropped.count(4)), (1, 1));
    assert_eq!(poller.poll(10), 2);
    topic.publish(ledger.make(5)).unwrap();

    let report = engine.shutdown();
    assert_eq!(report.topic("t").unwrap().dropped_full, 3);
    assert_eq!(report.group("p").unwrap().handled, 3);
    drop((topic, poller));
    ledger.assert_all_dropped_once();
}

#[test]
fn events_handed_back_by_a_shutdown_deadline_are_dropped_once() {
    const PER_TOPIC: usize = 16;
    let ledger = Ledger::new(2 * PER_TOPIC);
    let mut builder = Engine::builder();
    for name in ["taken", "left"] {
        builder = builder
            .topic::<Tracked>(name, TopicOptions::new(2).capacity(8))
            .subscribe(name, name, GroupOptions::poll(), |_| {
                from_fn(|_: &Tracked, _ctx| Ok(()))
            });
    }
    let engine = builder.build().unwrap();
    let taken = engine.topic::<Tracked>("taken").unwrap();
    let left = engine.topic::<Tracked>("left").unwrap();
    // One topic after the other: round robin then fills both rings exactly.
    for id in 0..PER_TOPIC {
        taken.try_publish(ledger.make(id)).unwrap();
    }
    for id in PER_TOPIC..2 * PER_TOPIC {
        left.try_publish(ledger.make(id)).unwrap();
    }
    // Nobody polls and there is no time to drain: events are handed back.
    let mut out = engine.shutdown_timeout(Duration::ZERO);
    out.report.check_conservation().unwrap();
    for name in ["taken", "left"] {
        let g = out.report.group(name).unwrap();
        assert_eq!(g.handled + g.lag, PER_TOPIC as u64, "group {name}");
    }
    let lag_taken = out.report.group("taken").unwrap().lag as usize;
    assert!(
        lag_taken > 0,
        "a zero deadline leaves the never-polled group's events"
    );
    let events = out.unhandled.take::<Tracked>("taken").unwrap();
    assert_eq!(events.len(), lag_taken);
    assert!(
        events.iter().all(|e| ledger.dropped.count(e.id) == 0),
        "handed-back events are alive"
    );
    drop(events);
    // The other topic's events go when the `Shutdown` does.
    drop(out);
    drop((taken, left));
    ledger.assert_all_dropped_once();
}
