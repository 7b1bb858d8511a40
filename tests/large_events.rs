//! Any event size works: a 64 KiB event type is published one at a time
//! and in batches (of 8 and of 100), from the main thread and from a thread
//! with a small stack, through a multi-producer topic (`Topic`) and a
//! single-producer one (`Producer`), on one partition and on two. Every
//! event arrives exactly once and in order, and the report's counts match.
//!
//! A batch stages its events in a fixed number of bytes of stack, not a
//! fixed number of events, and an event moves once into its pending entry
//! and from there straight into its slot, so publishing a 64 KiB event
//! needs a few copies of it on the stack at most.

use std::sync::{Arc, Mutex};

use veltrix::{Engine, GroupOptions, PartitionerKind, Producers, TopicOptions};

/// Bytes of padding of a [`Big`] event.
const PAD: usize = 64 * 1024;

/// Stack of the small producer thread: 256 KiB, four events' worth. An
/// unoptimised build gives every temporary its own stack slot, so there
/// each frame between the test and the ring holds a few copies of the
/// event; it gets 1 MiB, half the default thread stack. (Staging a run of
/// 64 such events inline used to take 8 MiB in any build.)
const SMALL_STACK: usize = if cfg!(debug_assertions) {
    1024 * 1024
} else {
    256 * 1024
};

/// Events per way of publishing (one at a time, batches of 8, one batch
/// of 100): fewer under Miri.
const SINGLES: u64 = if cfg!(miri) { 3 } else { 10 };
const BATCHES_OF_8: u64 = if cfg!(miri) { 1 } else { 3 };
const BIG_BATCH: u64 = if cfg!(miri) { 12 } else { 100 };

/// A 64 KiB event. `pad` is filled with a byte derived from `id`, checked
/// on arrival, so a torn or mixed-up copy would show.
struct Big {
    id: u64,
    pad: [u8; PAD],
}

impl Big {
    fn new(id: u64) -> Big {
        Big {
            id,
            pad: [fill(id); PAD],
        }
    }
}

fn fill(id: u64) -> u8 {
    (id % 251) as u8
}

/// Whether `event.pad` still holds its fill byte (every byte; a few under
/// Miri, where checking 64 KiB per event would take minutes).
fn intact(event: &Big) -> bool {
    let expected = fill(event.id);
    if cfg!(miri) {
        [0, PAD / 2, PAD - 1]
            .iter()
            .all(|&i| event.pad[i] == expected)
    } else {
        event.pad.iter().all(|&b| b == expected)
    }
}

/// Where events go: one ring of 16 slots (so the 100-event batch wraps it
/// several times and producers wait for the group), or two partitions
/// sticky for 8 events (runs that switch partition inside a batch).
#[derive(Debug, Clone, Copy)]
enum Layout {
    OnePartition,
    TwoPartitions,
}

fn options(layout: Layout, producers: Producers) -> TopicOptions {
    let options = match layout {
        Layout::OnePartition => TopicOptions::new(1),
        Layout::TwoPartitions => {
            TopicOptions::new(2).partitioner(PartitionerKind::Sticky { linger: 8 })
        }
    };
    options.capacity(16).producers(producers)
}

/// Publishes `SINGLES` events one at a time, then `BATCHES_OF_8` batches of
/// 8, then one batch of `BIG_BATCH`, with ids counting up from 0.
trait Publish {
    fn one(&mut self, event: Big);
    fn batch(&mut self, events: impl Iterator<Item = Big>);
}

impl Publish for veltrix::Topic<Big> {
    fn one(&mut self, event: Big) {
        assert!(self.publish(event).is_ok(), "publish refused");
    }

    fn batch(&mut self, events: impl Iterator<Item = Big>) {
        let expected = events.size_hint().0;
        match self.publish_batch(events) {
            Ok(n) => assert_eq!(n, expected),
            Err(e) => panic!("publish_batch refused after {}: {:?}", e.accepted, e.kind),
        }
    }
}

impl Publish for veltrix::Producer<Big> {
    fn one(&mut self, event: Big) {
        assert!(self.publish(event).is_ok(), "publish refused");
    }

    fn batch(&mut self, events: impl Iterator<Item = Big>) {
        let expected = events.size_hint().0;
        match self.publish_batch(events) {
            Ok(n) => assert_eq!(n, expected),
            Err(e) => panic!("publish_batch refused after {}: {:?}", e.accepted, e.kind),
        }
    }
}

fn publish_all(publisher: &mut impl Publish) -> u64 {
    let mut id = 0;
    for _ in 0..SINGLES {
        publisher.one(Big::new(id));
        id += 1;
    }
    for _ in 0..BATCHES_OF_8 {
        publisher.batch((id..id + 8).map(Big::new));
        id += 8;
    }
    publisher.batch((id..id + BIG_BATCH).map(Big::new));
    id + BIG_BATCH
}

/// Runs one scenario: builds the engine, publishes from the main thread or
/// from a small-stack thread, shuts down, checks arrivals and counts.
fn run(layout: Layout, producers: Producers, small_stack: bool) {
    let partitions = match layout {
        Layout::OnePartition => 1,
        Layout::TwoPartitions => 2,
    };
    // (partition, id) in arrival order.
    let seen: Arc<Mutex<Vec<(u32, u64)>>> = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    let engine = Engine::builder()
        .topic::<Big>("big", options(layout, producers))
        .subscribe("g", "big", GroupOptions::workers(1), move |_| {
            let sink = Arc::clone(&sink);
            veltrix::listener::from_fn(move |event: &Big, ctx| {
                assert!(intact(event), "event {} arrived torn", event.id);
                sink.lock().unwrap().push((ctx.partition(), event.id));
                Ok(())
            })
        })
        .build()
        .unwrap();

    let total = match producers {
        Producers::Single => {
            let mut producer = engine.producer::<Big>("big").unwrap();
            on_thread(small_stack, move || publish_all(&mut producer))
        }
        _ => {
            let mut topic = engine.topic::<Big>("big").unwrap();
            on_thread(small_stack, move || publish_all(&mut topic))
        }
    };

    let report = engine.shutdown();
    let topic = report.topic("big").unwrap();
    assert_eq!(topic.published, total);
    assert_eq!(topic.refused(), 0);
    assert_eq!(topic.dropped_full, 0);
    assert_eq!(topic.drop_panics, 0);
    let group = report.group("g").unwrap();
    assert_eq!(group.handled, total);
    assert!(report.is_drained(), "{report}");

    let seen = seen.lock().unwrap();
    // Exactly once: every id, no other.
    let mut ids: Vec<u64> = seen.iter().map(|&(_, id)| id).collect();
    ids.sort_unstable();
    assert_eq!(
        ids,
        (0..total).collect::<Vec<_>>(),
        "{layout:?} {producers:?}"
    );
    // In order within each partition (with one partition, in publish order).
    for partition in 0..partitions {
        let order: Vec<u64> = seen
            .iter()
            .filter(|&&(p, _)| p == partition)
            .map(|&(_, id)| id)
            .collect();
        assert!(
            order.windows(2).all(|w| w[0] < w[1]),
            "partition {partition} out of order: {order:?}"
        );
        if partitions == 2 {
            assert!(!order.is_empty(), "partition {partition} got nothing");
        }
    }
}

/// Runs `f` here, or on a new thread with a `SMALL_STACK` stack.
fn on_thread<R: Send + 'static>(small_stack: bool, f: impl FnOnce() -> R + Send + 'static) -> R {
    if !small_stack {
        return f();
    }
    std::thread::Builder::new()
        .name("small-stack producer".into())
        .stack_size(SMALL_STACK)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap()
}

#[test]
fn multi_producer_main_thread() {
    run(Layout::OnePartition, Producers::Multi, false);
}

#[test]
fn multi_producer_small_stack_thread() {
    run(Layout::OnePartition, Producers::Multi, true);
}

#[test]
fn multi_producer_two_partitions_small_stack_thread() {
    run(Layout::TwoPartitions, Producers::Multi, true);
}

#[test]
fn single_producer_main_thread() {
    run(Layout::OnePartition, Producers::Single, false);
}

#[test]
fn single_producer_small_stack_thread() {
    run(Layout::OnePartition, Producers::Single, true);
}

#[test]
fn single_producer_two_partitions_small_stack_thread() {
    run(Layout::TwoPartitions, Producers::Single, true);
}

/// A run of events half the staging budget still goes through the staged
/// (multi-event) batch path; an event type just too big for two per run
/// goes one at a time. Both deliver everything in order.
#[test]
fn events_around_the_staging_budget() {
    fn check<const N: usize>() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&seen);
        let engine = Engine::builder()
            .topic::<(u64, [u8; N])>("t", TopicOptions::new(1).capacity(8))
            .subscribe("g", "t", GroupOptions::workers(1), move |_| {
                let sink = Arc::clone(&sink);
                veltrix::listener::from_fn(move |event: &(u64, [u8; N]), _| {
                    sink.lock().unwrap().push(event.0);
                    Ok(())
                })
            })
            .build()
            .unwrap();
        let topic = engine.topic::<(u64, [u8; N])>("t").unwrap();
        let n = if cfg!(miri) { 10 } else { 50 };
        assert_eq!(
            topic.publish_batch((0..n).map(|i| (i, [0u8; N]))).ok(),
            Some(n as usize)
        );
        let report = engine.shutdown();
        assert_eq!(report.topic("t").unwrap().published, n);
        assert_eq!(*seen.lock().unwrap(), (0..n).collect::<Vec<_>>());
    }
    check::<1000>();
    check::<3000>();
    check::<5000>();
}
