//! Publish times (`EventContext::published_at`): which events carry one,
//! on both producer kinds, for single and batch publishes. They are kept
//! beside the ring (one word per timed sequence), so these tests check that
//! each event gets its own sequence's time and no other.

use std::sync::{Arc, Mutex};

use veltrix::{Engine, EngineBuilder, GroupOptions, Producers, Timestamp, TopicOptions};

/// What the listener saw: `(sequence, published_at, when it was handled)`.
type Seen = Arc<Mutex<Vec<(u64, Option<Timestamp>, Timestamp)>>>;

const EVENTS: u64 = 100;
/// A ring smaller than the run, so time entries are reused across laps.
const CAPACITY: usize = 16;

#[derive(Clone, Copy, Debug)]
enum Publish {
    One,
    Batch,
}

/// Publishes `EVENTS` events into one partition through the producer kind
/// `producers` and returns what the polled group saw, in sequence order.
fn run(
    builder: EngineBuilder,
    timestamps: bool,
    producers: Producers,
    publish: Publish,
) -> Vec<(u64, Option<Timestamp>, Timestamp)> {
    let seen: Seen = Arc::default();
    let record = Arc::clone(&seen);
    let engine = builder
        .topic::<u64>(
            "t",
            TopicOptions::new(1)
                .capacity(CAPACITY)
                .producers(producers)
                .timestamps(timestamps),
        )
        .subscribe("g", "t", GroupOptions::poll(), move |_| {
            let record = Arc::clone(&record);
            veltrix::listener::from_fn(move |_: &u64, ctx| {
                record
                    .lock()
                    .unwrap()
                    .push((ctx.sequence(), ctx.published_at(), Timestamp::now()));
                Ok(())
            })
        })
        .build()
        .unwrap();
    let mut poller = engine.poller("g").unwrap();
    let mut next = 0u64;
    let mut publish_some = |n: u64| {
        let events = next..next + n;
        next += n;
        events
    };
    let single = matches!(producers, Producers::Single);
    let mut producer = single.then(|| engine.producer::<u64>("t").unwrap());
    let topic = (!single).then(|| engine.topic::<u64>("t").unwrap());
    // Chunks of 8 (fewer than the capacity), each drained before the next.
    for _ in 0..EVENTS.div_ceil(8) {
        let events = publish_some(8);
        match (publish, producer.as_mut(), topic.as_ref()) {
            (Publish::One, Some(p), _) => events.for_each(|e| {
                p.publish(e).unwrap();
            }),
            (Publish::One, None, Some(t)) => events.for_each(|e| {
                t.publish(e).unwrap();
            }),
            (Publish::Batch, Some(p), _) => assert_eq!(p.publish_batch(events).unwrap(), 8),
            (Publish::Batch, None, Some(t)) => assert_eq!(t.publish_batch(events).unwrap(), 8),
            (_, None, None) => unreachable!(),
        }
        while poller.poll(64) > 0 {}
    }
    drop(poller);
    engine.shutdown();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen.len() as u64,
        EVENTS.div_ceil(8) * 8,
        "every event handled once"
    );
    for (i, (seq, _, _)) in seen.iter().enumerate() {
        assert_eq!(*seq, i as u64, "in order");
    }
    seen
}

const KINDS: [(Producers, Publish); 4] = [
    (Producers::Multi, Publish::One),
    (Producers::Multi, Publish::Batch),
    (Producers::Single, Publish::One),
    (Producers::Single, Publish::Batch),
];

#[test]
fn timestamps_on_times_every_event_before_it_is_handled() {
    for (producers, publish) in KINDS {
        let seen = run(Engine::builder(), true, producers, publish);
        let mut last = None;
        for (seq, published, handled) in &seen {
            let published =
                published.unwrap_or_else(|| panic!("{producers:?} {publish:?}: #{seq} untimed"));
            assert!(published <= *handled, "published before handled");
            // Each chunk was published after the previous one was handled,
            // so times never go back: no entry holds an older lap's time.
            if let Some(last) = last {
                assert!(published >= last, "{producers:?} {publish:?}: #{seq}");
            }
            last = Some(published);
        }
        for chunk in seen.chunks(8) {
            let first = chunk[0].1;
            match publish {
                // The 8 events of one batch share one clock read.
                Publish::Batch => assert!(chunk.iter().all(|e| e.1 == first), "one time per batch"),
                // Eight clock reads, one per publish, on a nanosecond clock:
                // not all one time (as they would be if events shared one
                // entry and read the last one written).
                Publish::One => assert!(
                    chunk.iter().any(|e| e.1 != first),
                    "{producers:?}: eight publishes, one time"
                ),
            }
        }
    }
}

#[test]
fn sampled_events_alone_carry_a_time_by_default() {
    for (producers, publish) in KINDS {
        let builder = Engine::builder().latency_sampling(4);
        let seen = run(builder, false, producers, publish);
        for (seq, published, handled) in &seen {
            match published {
                Some(t) => {
                    assert_eq!(seq % 4, 0, "{producers:?} {publish:?}: #{seq} timed");
                    assert!(t <= handled);
                }
                None => assert_ne!(seq % 4, 0, "{producers:?} {publish:?}: #{seq} untimed"),
            }
        }
    }
}

#[test]
fn nothing_is_timed_with_metrics_off_unless_asked() {
    for (producers, publish) in KINDS {
        let seen = run(Engine::builder().metrics(false), false, producers, publish);
        assert!(
            seen.iter().all(|e| e.1.is_none()),
            "{producers:?} {publish:?}: a time with metrics off"
        );
        let seen = run(Engine::builder().metrics(false), true, producers, publish);
        assert!(
            seen.iter().all(|e| e.1.is_some()),
            "{producers:?} {publish:?}: timestamps(true) with metrics off"
        );
    }
}
