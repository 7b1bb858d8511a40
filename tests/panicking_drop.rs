//! An event whose `Drop` panics never aborts the process and never loses
//! the report: every value a ring holds is dropped on its own under
//! `catch_unwind` (when a publish overwrites it, single or batch, multi- or
//! single-producer, and when the ring goes away), the panic goes no further,
//! and the topic's report counts those that happened before it was made in
//! `drop_panics`.
//!
//! The default panic hook still prints each caught panic to stderr.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use veltrix::{Engine, GroupOptions, Producer, Producers, Topic, TopicOptions};

/// Slots per ring: a batch of `CAPACITY` events overwrites a whole lap.
const CAPACITY: usize = 4;

/// Batches of `CAPACITY` events published by the overwrite tests (the
/// first fills the ring, each later one overwrites a full lap).
const BATCHES: u64 = if cfg!(miri) { 2 } else { 3 };

/// What the events of one test did.
#[derive(Debug, Default)]
struct Counts {
    /// Events dropped (each exactly once).
    dropped: AtomicU64,
    /// Drops that panicked.
    panicked: AtomicU64,
    /// Events handled by the listener.
    handled: AtomicU64,
}

impl Counts {
    fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::SeqCst)
    }

    fn panicked(&self) -> u64 {
        self.panicked.load(Ordering::SeqCst)
    }

    fn handled(&self) -> u64 {
        self.handled.load(Ordering::SeqCst)
    }
}

/// An event whose `Drop` panics when `boom` is set.
struct Boom {
    id: u64,
    boom: bool,
    counts: Arc<Counts>,
}

impl Boom {
    fn new(id: u64, counts: &Arc<Counts>) -> Boom {
        Boom::with(id, true, counts)
    }

    fn with(id: u64, boom: bool, counts: &Arc<Counts>) -> Boom {
        Boom {
            id,
            boom,
            counts: Arc::clone(counts),
        }
    }
}

impl Drop for Boom {
    fn drop(&mut self) {
        self.counts.dropped.fetch_add(1, Ordering::SeqCst);
        // Never a panic while unwinding (that would abort the test itself).
        if self.boom && !std::thread::panicking() {
            self.counts.panicked.fetch_add(1, Ordering::SeqCst);
            panic!("event {} panics in Drop", self.id);
        }
    }
}

fn topic_options(producers: Producers) -> TopicOptions {
    TopicOptions::new(1).capacity(CAPACITY).producers(producers)
}

/// An engine with topic "t" and a group "g" that counts what it handles.
fn engine(producers: Producers, group: GroupOptions, counts: &Arc<Counts>) -> Engine {
    let counts = Arc::clone(counts);
    Engine::builder()
        .topic::<Boom>("t", topic_options(producers))
        .subscribe("g", "t", group, move |_| {
            let counts = Arc::clone(&counts);
            veltrix::listener::from_fn(move |_: &Boom, _| {
                counts.handled.fetch_add(1, Ordering::SeqCst);
                Ok(())
            })
        })
        .build()
        .unwrap()
}

/// A topic handle or the producer of a single-producer topic.
enum Publisher {
    Multi(Topic<Boom>),
    Single(Producer<Boom>),
}

impl Publisher {
    fn of(engine: &Engine, producers: Producers) -> Publisher {
        match producers {
            Producers::Single => Publisher::Single(engine.producer("t").unwrap()),
            _ => Publisher::Multi(engine.topic("t").unwrap()),
        }
    }

    fn one(&mut self, event: Boom) {
        let accepted = match self {
            Publisher::Multi(topic) => topic.publish(event).is_ok(),
            Publisher::Single(producer) => producer.publish(event).is_ok(),
        };
        assert!(accepted, "publish refused");
    }

    fn batch(&mut self, events: Vec<Boom>) {
        let n = events.len();
        let accepted = match self {
            Publisher::Multi(topic) => topic.publish_batch(events).ok(),
            Publisher::Single(producer) => producer.publish_batch(events).ok(),
        };
        assert_eq!(accepted, Some(n), "batch refused");
    }
}

/// Publishes ids `0..BATCHES * CAPACITY` in batches of `CAPACITY` (or one
/// at a time), with a threaded group keeping up, then checks the report and
/// the drops: every overwritten event panicked in `Drop`, was caught and
/// counted, and the rest are caught when the last handle goes away.
fn overwrite(producers: Producers, batches: bool) {
    let counts = Arc::new(Counts::default());
    let engine = engine(producers, GroupOptions::workers(1), &counts);
    let total = BATCHES * CAPACITY as u64;
    // Kept past the shutdown, so the rings outlive the report.
    let mut publisher = Publisher::of(&engine, producers);
    for start in (0..total).step_by(CAPACITY) {
        let events = (start..start + CAPACITY as u64).map(|id| Boom::new(id, &counts));
        if batches {
            publisher.batch(events.collect());
        } else {
            events.for_each(|event| publisher.one(event));
        }
    }
    let report = engine.shutdown();
    let topic = report.topic("t").unwrap();
    assert_eq!(topic.published, total);
    assert_eq!(counts.handled(), total, "every event handled");
    assert_eq!(report.group("g").unwrap().handled, total);
    // Every lap but the last was overwritten, and nothing else dropped yet:
    // the report counts every panic so far.
    let overwritten = total - CAPACITY as u64;
    assert_eq!(counts.dropped(), overwritten);
    assert_eq!(counts.panicked(), overwritten);
    assert_eq!(topic.drop_panics, overwritten);
    // The last lap goes with the rings: caught too, nothing aborts.
    drop(publisher);
    assert_eq!(counts.dropped(), total, "every event dropped exactly once");
    assert_eq!(counts.panicked(), total);
}

#[test]
fn batches_overwriting_panicking_events_multi_producer() {
    overwrite(Producers::Multi, true);
}

#[test]
fn batches_overwriting_panicking_events_single_producer() {
    overwrite(Producers::Single, true);
}

#[test]
fn publishes_overwriting_panicking_events_multi_producer() {
    overwrite(Producers::Multi, false);
}

#[test]
fn publishes_overwriting_panicking_events_single_producer() {
    overwrite(Producers::Single, false);
}

/// Two panicking events still in a ring (of a poll-mode group nobody
/// polled) when the engine is dropped: both drops are caught, nothing
/// aborts or unwinds out of the engine's `Drop`.
#[test]
fn engine_dropped_with_panicking_events_in_a_ring() {
    for producers in [Producers::Multi, Producers::Single] {
        let counts = Arc::new(Counts::default());
        let engine = engine(producers, GroupOptions::poll(), &counts);
        match producers {
            Producers::Single => {
                let mut producer = engine.producer::<Boom>("t").unwrap();
                assert!(producer.publish(Boom::new(0, &counts)).is_ok());
                assert!(producer.publish_batch([Boom::new(1, &counts)]).is_ok());
            }
            _ => {
                let topic = engine.topic::<Boom>("t").unwrap();
                assert!(topic.publish(Boom::new(0, &counts)).is_ok());
                assert!(topic.publish_batch([Boom::new(1, &counts)]).is_ok());
            }
        }
        assert_eq!(counts.dropped(), 0, "{producers:?}");
        drop(engine);
        assert_eq!(counts.dropped(), 2, "{producers:?}");
        assert_eq!(counts.panicked(), 2, "{producers:?}");
    }
}

/// `shutdown()` with panicking events in the rings returns its report: the
/// overwritten ones counted in it, the ones left in the rings (dropped with
/// them inside `shutdown`, after the report was made) caught as well.
#[test]
fn shutdown_with_panicking_events_returns_the_report() {
    let counts = Arc::new(Counts::default());
    let engine = engine(Producers::Multi, GroupOptions::workers(1), &counts);
    let total = CAPACITY as u64 + 2;
    {
        let topic = engine.topic::<Boom>("t").unwrap();
        for id in 0..total {
            assert!(topic.publish(Boom::new(id, &counts)).is_ok());
        }
    }
    let report = engine.shutdown();
    let topic = report.topic("t").unwrap();
    assert_eq!(topic.published, total);
    assert_eq!(topic.drop_panics, 2, "the two overwritten events");
    assert!(report.is_drained(), "{report}");
    assert_eq!(counts.handled(), total);
    assert_eq!(counts.dropped(), total, "the rest went with the rings");
    assert_eq!(counts.panicked(), total);
}

/// Events whose `Drop` does not panic next to ones whose `Drop` does, in
/// one batch: every one is dropped exactly once and only the panics are
/// counted.
#[test]
fn only_panicking_drops_are_counted() {
    let counts = Arc::new(Counts::default());
    let engine = engine(Producers::Multi, GroupOptions::workers(1), &counts);
    let topic = engine.topic::<Boom>("t").unwrap();
    let total = 3 * CAPACITY as u64;
    let events = (0..total).map(|id| Boom::with(id, id % 2 == 0, &counts));
    assert_eq!(topic.publish_batch(events).ok(), Some(total as usize));
    let report = engine.shutdown();
    let overwritten = total - CAPACITY as u64;
    assert_eq!(report.topic("t").unwrap().drop_panics, overwritten / 2);
    assert_eq!(counts.panicked(), overwritten / 2);
    drop(topic);
    assert_eq!(counts.dropped(), total);
    assert_eq!(counts.panicked(), total / 2);
}

/// Events a full topic drops under `FullPolicy::DropNewest` are dropped the
/// way the ring drops its own: a panicking `Drop` is caught and counted,
/// and the publish (single or batch, either producer kind) returns.
#[test]
fn drop_newest_discards_panicking_events_without_unwinding() {
    for producers in [Producers::Multi, Producers::Single] {
        let counts = Arc::new(Counts::default());
        let engine = Engine::builder()
            .topic::<Boom>(
                "t",
                topic_options(producers).full_policy(veltrix::FullPolicy::DropNewest),
            )
            .subscribe("g", "t", GroupOptions::poll(), |_| {
                veltrix::listener::from_fn(|_: &Boom, _| Ok(()))
            })
            .build()
            .unwrap();
        let mut publisher = Publisher::of(&engine, producers);
        // Fill the ring (nobody polls), then two singles and a batch of
        // three find it full.
        publisher.batch(
            (0..CAPACITY as u64)
                .map(|id| Boom::new(id, &counts))
                .collect(),
        );
        let base = CAPACITY as u64;
        let dropped = match &mut publisher {
            Publisher::Multi(topic) => {
                let a = topic.publish(Boom::new(base, &counts)).unwrap();
                let b = topic.try_publish(Boom::with(base + 1, false, &counts));
                assert!(a.is_dropped(), "{producers:?}");
                // `try_publish` never drops: it hands the event back.
                drop(b.expect_err("try_publish on a full ring").into_inner());
                topic.publish_batch((base + 2..base + 5).map(|id| Boom::new(id, &counts)))
            }
            Publisher::Single(producer) => {
                let a = producer.publish(Boom::new(base, &counts)).unwrap();
                assert!(a.is_dropped(), "{producers:?}");
                let b = producer.try_publish(Boom::with(base + 1, false, &counts));
                drop(b.expect_err("try_publish on a full ring").into_inner());
                producer.publish_batch((base + 2..base + 5).map(|id| Boom::new(id, &counts)))
            }
        };
        assert_eq!(
            dropped.ok(),
            Some(0),
            "{producers:?}: a dropped batch accepts none"
        );
        let report = engine.report();
        let topic = report.topic("t").unwrap();
        assert_eq!(topic.dropped_full, 4, "{producers:?}");
        assert_eq!(
            topic.drop_panics, 4,
            "{producers:?}: each dropped one caught"
        );
        // The four dropped by the policy and the one handed back (which
        // does not panic: nothing would catch it in this test's `drop`).
        assert_eq!(counts.dropped(), 5, "{producers:?}");
        assert_eq!(counts.panicked(), 4, "{producers:?}");
        drop(publisher);
        drop(engine);
        assert_eq!(
            counts.dropped(),
            base + 5,
            "{producers:?}: each dropped once"
        );
    }
}

/// `shutdown()` with panicking events behind a halted partition: they stay
/// in the ring (counted as lag), so `shutdown()` returns its report, and
/// they are caught when the ring goes.
#[test]
fn shutdown_with_panicking_events_behind_a_halted_partition() {
    let counts = Arc::new(Counts::default());
    let engine = Engine::builder()
        .topic::<Boom>("t", topic_options(Producers::Multi))
        .subscribe(
            "g",
            "t",
            GroupOptions::poll().failure_policy(
                veltrix::FailurePolicy::default().on_exhausted(veltrix::Exhausted::Halt),
            ),
            |_| veltrix::listener::from_fn(|_: &Boom, _| Err("poison".into())),
        )
        .build()
        .unwrap();
    let topic = engine.topic::<Boom>("t").unwrap();
    for id in 0..3 {
        assert!(topic.publish(Boom::new(id, &counts)).is_ok());
    }
    drop(topic);
    let report = engine.shutdown();
    let g = report.group("g").unwrap();
    assert_eq!(g.halted, vec![0]);
    assert_eq!(g.lag, 3);
    assert_eq!(counts.dropped(), 3, "dropped with the rings");
    assert_eq!(counts.panicked(), 3, "each panic caught");
}
