//! Exactly once per group: under heavy backpressure (tiny rings, several
//! producers) every accepted event reaches every group once, and the final
//! report's counts agree.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use common::{assert_same_ids, Shared, Tally};
use veltrix::listener::from_fn;
use veltrix::{
    Engine, EventContext, GroupOptions, Listener, ListenerError, PublishError, TopicOptions,
    WorkerInfo,
};

const PRODUCERS: u64 = 4;
const PER_PRODUCER: u64 = 25_000;
const TOTAL: u64 = PRODUCERS * PER_PRODUCER;
const PARTITIONS: u32 = 4;
/// Small enough that producers keep running into full partitions.
const CAPACITY: usize = 64;
/// Events the fan-out test publishes after the producers, left for shutdown
/// to drain: 32 per partition, half a ring.
const TAIL: u64 = 32 * PARTITIONS as u64;

fn id(producer: u64, i: u64) -> u64 {
    producer * PER_PRODUCER + i
}

/// Publishes `PER_PRODUCER` events per producer from `PRODUCERS` threads.
/// Even producers use the blocking `publish`; odd ones `try_publish`, retrying
/// on `Full`. Returns how many `Full` errors they got.
fn produce(topic: &veltrix::Topic<u64>, while_running: impl FnOnce(&dyn Fn() -> bool)) -> u64 {
    let full = AtomicU64::new(0);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..PRODUCERS)
            .map(|producer| {
                let topic = topic.clone();
                let full = &full;
                s.spawn(move || {
                    for i in 0..PER_PRODUCER {
                        let mut event = id(producer, i);
                        if producer % 2 == 0 {
                            topic.publish(event).expect("engine is running");
                            continue;
                        }
                        loop {
                            match topic.try_publish(event) {
                                Ok(_) => break,
                                Err(PublishError::Full(back)) => {
                                    assert_eq!(back, event, "Full must hand back the event");
                                    full.fetch_add(1, Ordering::Relaxed);
                                    event = back;
                                    std::thread::yield_now();
                                }
                                Err(e) => panic!("try_publish {event}: {e}"),
                            }
                        }
                    }
                })
            })
            .collect();
        while_running(&|| handles.iter().all(|h| h.is_finished()));
    });
    full.into_inner()
}

/// Records ids per worker and hands them over in `on_shutdown`.
struct Collect {
    ids: Vec<u64>,
    out: Shared<u64>,
    shutdowns: Arc<AtomicU64>,
}

impl Collect {
    fn factory(
        out: &Shared<u64>,
        shutdowns: &Arc<AtomicU64>,
    ) -> impl FnMut(&WorkerInfo) -> Collect {
        let (out, shutdowns) = (out.clone(), Arc::clone(shutdowns));
        move |_| Collect {
            ids: Vec::new(),
            out: out.clone(),
            shutdowns: Arc::clone(&shutdowns),
        }
    }
}

impl Listener<u64> for Collect {
    fn on_event(&mut self, event: &u64, _ctx: &EventContext<'_>) -> Result<(), ListenerError> {
        self.ids.push(*event);
        Ok(())
    }

    fn on_shutdown(&mut self) {
        self.out.extend(self.ids.drain(..));
        self.shutdowns.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn one_group_of_two_workers_sees_every_event_once_under_backpressure() {
    let tally = Tally::new(TOTAL as usize);
    let listener_tally = tally.clone();
    let engine = Engine::builder()
        .topic::<u64>("ids", TopicOptions::new(PARTITIONS).capacity(CAPACITY))
        .subscribe("g", "ids", GroupOptions::workers(2), move |_| {
            let tally = listener_tally.clone();
            from_fn(move |id: &u64, _ctx| {
                tally.hit(*id as usize);
                Ok(())
            })
        })
        .build()
        .unwrap();
    let topic = engine.topic::<u64>("ids").unwrap();

    let full_errors = produce(&topic, |_| {});
    let report = engine.shutdown();

    tally.assert_each_once("group g");
    let t = report.topic("ids").unwrap();
    assert_eq!(t.published, TOTAL);
    assert_eq!(t.depth, 0);
    assert_eq!(t.rejected_full, full_errors, "every Full error is counted");
    assert_eq!(
        (t.invalid_partition, t.rejected_closed, t.would_deadlock),
        (0, 0, 0)
    );
    let g = report.group("g").unwrap();
    assert_eq!((g.handled, g.failures, g.lag), (TOTAL, 0, 0));
    assert!(report.is_drained(), "{report}");
}

#[test]
fn fan_out_to_three_groups_each_sees_every_event_once() {
    let tally_a = Tally::new((TOTAL + TAIL) as usize);
    let shutdowns = Arc::new(AtomicU64::new(0));
    let ids_b: Shared<u64> = Shared::new();
    let ids_p: Shared<u64> = Shared::new();
    let listener_tally = tally_a.clone();
    let engine = Engine::builder()
        .topic::<u64>("ids", TopicOptions::new(PARTITIONS).capacity(CAPACITY))
        .subscribe("a", "ids", GroupOptions::workers(2), move |_| {
            let tally = listener_tally.clone();
            from_fn(move |id: &u64, _ctx| {
                tally.hit(*id as usize);
                Ok(())
            })
        })
        .subscribe(
            "b",
            "ids",
            GroupOptions::workers(3),
            Collect::factory(&ids_b, &shutdowns),
        )
        .subscribe(
            "p",
            "ids",
            GroupOptions::poll(),
            Collect::factory(&ids_p, &shutdowns),
        )
        .build()
        .unwrap();
    let topic = engine.topic::<u64>("ids").unwrap();
    let mut poller = engine.poller("p").unwrap();

    // The host drives the poll-mode group while the producers run; without
    // it the producers would wait on it forever.
    let mut polled = 0u64;
    let full_errors = produce(&topic, |producers_done| {
        while !producers_done() {
            let n = poller.poll(256);
            assert!(n <= 256);
            polled += n as u64;
            if n == 0 {
                std::thread::yield_now();
            }
        }
    });
    // Catch up, then leave a tail for shutdown to drain; half a ring per
    // partition, so these blocking publishes never wait on the poller.
    while poller.pending() > 0 {
        polled += poller.poll(usize::MAX) as u64;
    }
    assert_eq!(polled, TOTAL);
    for i in 0..TAIL {
        topic.publish(TOTAL + i).unwrap();
    }
    assert_eq!(poller.pending(), TAIL);
    let report = engine.shutdown();
    assert_eq!(
        poller.poll(usize::MAX),
        0,
        "a poller does nothing after shutdown"
    );

    let all: Vec<u64> = (0..TOTAL + TAIL).collect();
    tally_a.assert_each_once("group a (2 workers)");
    assert_same_ids("group b (3 workers)", ids_b.take(), all.clone());
    assert_same_ids("group p (poll mode)", ids_p.take(), all);
    assert_eq!(
        shutdowns.load(Ordering::SeqCst),
        3 + 1,
        "on_shutdown once per worker of b and p"
    );

    let t = report.topic("ids").unwrap();
    assert_eq!(t.published, TOTAL + TAIL);
    assert_eq!(t.depth, 0);
    assert_eq!(t.rejected_full, full_errors);
    for name in ["a", "b", "p"] {
        let g = report.group(name).unwrap();
        assert_eq!(
            (g.handled, g.failures, g.lag),
            (TOTAL + TAIL, 0, 0),
            "group {name}: {report}"
        );
    }
    assert_eq!(report.group("p").unwrap().mode, "poll");
    assert_eq!(report.group("a").unwrap().mode, "threads");
    assert!(report.is_drained(), "{report}");
}

#[test]
fn live_report_is_not_drained_while_a_poll_group_lags() {
    let engine = Engine::builder()
        .topic::<u64>("ids", TopicOptions::new(2).capacity(8))
        .subscribe("p", "ids", GroupOptions::poll(), |_| {
            from_fn(|_: &u64, _ctx| Ok(()))
        })
        .build()
        .unwrap();
    let topic = engine.topic::<u64>("ids").unwrap();
    let mut poller = engine.poller("p").unwrap();
    for i in 0..10 {
        topic.publish(i).unwrap();
    }
    assert_eq!(poller.poll(4), 4);

    let live = engine.report();
    assert_eq!(live.topic("ids").unwrap().published, 10);
    assert_eq!(live.topic("ids").unwrap().depth, 6);
    let g = live.group("p").unwrap();
    assert_eq!((g.handled, g.lag), (4, 6));
    assert!(!live.is_drained(), "6 events are still queued: {live}");

    let report = engine.shutdown();
    assert_eq!(report.group("p").unwrap().handled, 10);
    assert!(report.is_drained(), "{report}");
}
