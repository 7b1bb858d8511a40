//! Groups that subscribe to a running topic and unsubscribe again
//! (`Engine::subscribe` / `Engine::unsubscribe`): under load from four
//! producers a tap joins and leaves dozens of times, at the newest and at
//! the oldest event, and every instance is checked event by event (each
//! partition a gapless run of sequences, each producer's events in order,
//! its counts adding up with `joined_at`); a group that left no longer
//! gates producers; a drain handles everything published before it; and
//! the typed errors of what cannot be.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use veltrix::partitioner::by_key;
use veltrix::{
    Backoff, BuildError, Engine, EventContext, Exhausted, FailurePolicy, FullPolicy, GroupOptions,
    LagPolicy, Leave, ListenerError, LookupError, Retries, StartAt, SubscribeError, TopicOptions,
    UnsubscribeError,
};

const PRODUCERS: u64 = 4;
const PARTITIONS: u32 = 4;
const KEYS: u64 = 37;

#[derive(Debug, Clone, Copy)]
struct Event {
    producer: u64,
    seq: u64,
    key: u64,
}

/// What one tap instance saw.
#[derive(Default)]
struct Seen {
    /// Per partition: (first sequence, next expected sequence).
    runs: Vec<Option<(u64, u64)>>,
    /// Per partition and producer: 1 + the last `seq` seen.
    last: Vec<Vec<u64>>,
    handled: u64,
    violations: Vec<String>,
}

impl Seen {
    fn new() -> Self {
        Seen {
            runs: vec![None; PARTITIONS as usize],
            last: vec![vec![0; PRODUCERS as usize]; PARTITIONS as usize],
            ..Seen::default()
        }
    }

    fn see(&mut self, e: &Event, ctx: &EventContext<'_>) {
        let p = ctx.partition() as usize;
        let s = ctx.sequence();
        match &mut self.runs[p] {
            run @ None => *run = Some((s, s + 1)),
            Some((_, next)) => {
                if s != *next {
                    self.violations
                        .push(format!("partition {p}: sequence {s}, expected {next}"));
                }
                *next = s + 1;
            }
        }
        let last = &mut self.last[p][e.producer as usize];
        if e.seq < *last {
            self.violations.push(format!(
                "partition {p}: producer {} seq {} after {}",
                e.producer,
                e.seq,
                *last - 1
            ));
        }
        *last = e.seq + 1;
        self.handled += 1;
    }
}

/// A listener that records every event into its `Seen`.
struct Recorder(Arc<Mutex<Seen>>);

impl veltrix::Listener<Event> for Recorder {
    fn on_event(&mut self, e: &Event, ctx: &EventContext<'_>) -> Result<(), ListenerError> {
        self.0.lock().unwrap().see(e, ctx);
        Ok(())
    }
}

/// A listener factory whose listeners record into `seen`.
fn recorder(seen: &Arc<Mutex<Seen>>) -> impl FnMut(&veltrix::WorkerInfo) -> Recorder + Send {
    let seen = Arc::clone(seen);
    move |_| Recorder(Arc::clone(&seen))
}

fn keyed(capacity: usize, spare: usize) -> TopicOptions {
    TopicOptions::new(PARTITIONS)
        .capacity(capacity)
        .spare_groups(spare)
}

fn base_engine(capacity: usize, spare: usize, handled: &Arc<AtomicU64>) -> Engine {
    let handled = Arc::clone(handled);
    Engine::builder()
        .topic_with::<Event, _>("moves", keyed(capacity, spare), by_key(|e: &Event| e.key))
        .subscribe("physics", "moves", GroupOptions::workers(1), move |_| {
            let handled = Arc::clone(&handled);
            move |_: &Event, _: &EventContext<'_>| {
                handled.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
        })
        .build()
        .unwrap()
}

#[test]
fn a_tap_joins_and_leaves_under_load_and_sees_gapless_runs_in_order() {
    let physics = Arc::new(AtomicU64::new(0));
    let mut engine = base_engine(64, 2, &physics);
    let moves = engine.topic::<Event>("moves").unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|producer| {
            let (moves, stop) = (moves.clone(), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut seq = 0;
                while !stop.load(Ordering::Relaxed) {
                    let key = (seq * 7 + producer) % KEYS;
                    moves.publish(Event { producer, seq, key }).unwrap();
                    seq += 1;
                }
                seq
            })
        })
        .collect();
    let rounds = if cfg!(debug_assertions) { 16 } else { 40 };
    let mut checked = 0;
    for round in 0..rounds {
        let seen = Arc::new(Mutex::new(Seen::new()));
        let start = if round % 2 == 0 {
            StartAt::Newest
        } else {
            StartAt::Oldest
        };
        let workers = 1 + round % 2;
        engine
            .subscribe(
                "tap",
                "moves",
                GroupOptions::workers(workers),
                start,
                recorder(&seen),
            )
            .unwrap();
        std::thread::sleep(Duration::from_millis(3));
        let leave = match round % 3 {
            0 => Leave::Now,
            1 => Leave::Drain,
            _ => Leave::DrainFor(Duration::from_millis(2)),
        };
        let report = engine.unsubscribe("tap", leave).unwrap();
        let seen = seen.lock().unwrap();
        assert!(
            seen.violations.is_empty(),
            "round {round}: {:?}",
            seen.violations
        );
        assert_eq!(report.handled, seen.handled, "round {round}");
        assert_eq!((report.failures, report.lagged), (0, 0));
        // Every partition that saw events started where `joined_at` says.
        if seen.runs.iter().all(Option::is_some) {
            let starts: u64 = seen.runs.iter().map(|r| r.unwrap().0).sum();
            assert_eq!(report.joined_at, starts, "round {round}");
            checked += 1;
        }
        if leave == Leave::Drain {
            assert!(report.handled > 0, "round {round}: a drain handled nothing");
        }
        assert!(engine.report().group("tap").is_none());
    }
    assert!(checked > 0, "no round saw every partition");
    stop.store(true, Ordering::Relaxed);
    let published: u64 = producers.into_iter().map(|p| p.join().unwrap()).sum();
    let report = engine.shutdown();
    assert_eq!(report.topic("moves").unwrap().published, published);
    assert_eq!(physics.load(Ordering::Relaxed), published);
    report.check_conservation().unwrap();
}

#[test]
fn a_group_that_left_no_longer_gates_producers() {
    let physics = Arc::new(AtomicU64::new(0));
    let handled = Arc::clone(&physics);
    let mut engine = Engine::builder()
        .topic::<u64>(
            "ticks",
            TopicOptions::new(1)
                .capacity(8)
                .full_policy(FullPolicy::Reject)
                .spare_groups(1),
        )
        .subscribe("physics", "ticks", GroupOptions::workers(1), move |_| {
            let handled = Arc::clone(&handled);
            move |_: &u64, _: &EventContext<'_>| {
                handled.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
        })
        .build()
        .unwrap();
    let ticks = engine.topic::<u64>("ticks").unwrap();
    // A tap that never gets past its first event: it retries for ever.
    let stuck = GroupOptions::workers(1).failure_policy(
        FailurePolicy::default()
            .retries(Retries::Forever)
            .backoff(Backoff::doubling(
                Duration::from_millis(1),
                Duration::from_millis(1),
            )),
    );
    engine
        .subscribe("tap", "ticks", stuck, StartAt::Newest, |_| {
            |_: &u64, _: &EventContext<'_>| Err("not today".into())
        })
        .unwrap();
    let mut accepted = 0u64;
    let refused = loop {
        match ticks.publish(accepted) {
            Ok(_) => accepted += 1,
            Err(error) => break error,
        }
        assert!(accepted <= 8, "the tap did not hold the ring");
        // Let physics keep up: only the tap may hold the ring.
        while physics.load(Ordering::Relaxed) < accepted {
            std::thread::yield_now();
        }
    };
    assert_eq!(accepted, 8);
    assert!(
        matches!(refused.kind(), veltrix::PublishErrorKind::Full),
        "{refused}"
    );
    // The tap has tried its first event (and failed) before it leaves.
    while engine.report().group("tap").map_or(0, |g| g.failures) == 0 {
        std::thread::yield_now();
    }
    let report = engine.unsubscribe("tap", Leave::Now).unwrap();
    assert_eq!((report.handled, report.joined_at, report.lag), (0, 0, 8));
    assert!(report.failures > 0);
    // Left: the ring is physics's alone again.
    for i in 0..1000 {
        loop {
            match ticks.publish(i) {
                Ok(_) => break,
                Err(e) if matches!(e.kind(), veltrix::PublishErrorKind::Full) => {
                    std::thread::yield_now()
                }
                Err(e) => panic!("{e}"),
            }
        }
    }
    let report = engine.shutdown();
    assert_eq!(report.group("physics").unwrap().handled, 1008);
    report.check_conservation().unwrap();
}

#[test]
fn a_drain_handles_everything_published_before_it_and_the_slot_is_reused() {
    let physics = Arc::new(AtomicU64::new(0));
    let mut engine = base_engine(1024, 1, &physics);
    let moves = engine.topic::<Event>("moves").unwrap();
    let publish = |from: u64, n: u64| {
        for seq in from..from + n {
            moves
                .publish(Event {
                    producer: 0,
                    seq,
                    key: seq % KEYS,
                })
                .unwrap();
        }
    };
    publish(0, 300);
    for (round, start) in [StartAt::Newest, StartAt::Oldest, StartAt::Newest]
        .into_iter()
        .enumerate()
    {
        let seen = Arc::new(Mutex::new(Seen::new()));
        let before = engine.report().topic("moves").unwrap().published;
        engine
            .subscribe(
                "late",
                "moves",
                GroupOptions::workers(2),
                start,
                recorder(&seen),
            )
            .unwrap();
        publish(before, 500);
        let report = engine.unsubscribe("late", Leave::Drain).unwrap();
        let published = before + 500;
        assert_eq!(report.lag, 0, "round {round}");
        assert_eq!(report.accounted(), published, "round {round}");
        let seen = seen.lock().unwrap();
        assert!(seen.violations.is_empty(), "{:?}", seen.violations);
        match start {
            StartAt::Newest => {
                assert_eq!((report.joined_at, report.handled), (before, 500))
            }
            _ => assert!(report.handled >= 500 && report.joined_at <= before),
        }
    }
    let report = engine.shutdown();
    report.check_conservation().unwrap();
    assert_eq!(physics.load(Ordering::Relaxed), 1800);
}

fn ok_listener(
) -> impl FnMut(&veltrix::WorkerInfo) -> fn(&u64, &EventContext<'_>) -> Result<(), ListenerError>
       + Send
       + 'static {
    |_| |_: &u64, _: &EventContext<'_>| Ok(())
}

#[test]
fn what_cannot_subscribe_or_unsubscribe_is_a_typed_error() {
    let mut engine = Engine::builder()
        .topic::<u64>("ticks", TopicOptions::new(2).spare_groups(1))
        .topic::<u64>("closed-room", TopicOptions::new(1))
        .dead_letter_topic::<u64>("dlq", TopicOptions::new(1))
        .subscribe("physics", "ticks", GroupOptions::workers(1), ok_listener())
        .subscribe(
            "room",
            "closed-room",
            GroupOptions::workers(1),
            ok_listener(),
        )
        .subscribe("dead", "dlq", GroupOptions::workers(1), |_| {
            |_: &veltrix::DeadLetter<u64>, _: &EventContext<'_>| Ok(())
        })
        .build()
        .unwrap();
    let newest = StartAt::Newest;
    let w = GroupOptions::workers(1);
    let e = engine.subscribe("t", "nope", w.clone(), newest, ok_listener());
    assert!(
        matches!(
            e,
            Err(SubscribeError::Lookup(LookupError::UnknownTopic { .. }))
        ),
        "{e:?}"
    );
    let e = engine.subscribe("t", "ticks", w.clone(), newest, |_| {
        |_: &u32, _: &EventContext<'_>| Ok(())
    });
    assert!(
        matches!(
            e,
            Err(SubscribeError::Lookup(LookupError::WrongType { .. }))
        ),
        "{e:?}"
    );
    let e = engine.subscribe("t", "closed-room", w.clone(), newest, ok_listener());
    assert!(
        matches!(&e, Err(SubscribeError::NoSpareSlot { topic, spare_groups: 0, .. }) if topic == "closed-room"),
        "{e:?}"
    );
    assert!(e.unwrap_err().to_string().contains("spare_groups"));
    let e = engine.subscribe("physics", "ticks", w.clone(), newest, ok_listener());
    assert!(
        matches!(&e, Err(SubscribeError::Build(BuildError::DuplicateGroup { name })) if name == "physics"),
        "{e:?}"
    );
    let e = engine.subscribe(
        "t",
        "ticks",
        GroupOptions::workers(0),
        newest,
        ok_listener(),
    );
    assert!(
        matches!(e, Err(SubscribeError::Build(BuildError::InvalidSetting(_)))),
        "{e:?}"
    );
    for (options, what) in [
        (GroupOptions::poll(), "poll"),
        (w.clone().after(["physics"]), "after"),
        (w.clone().lag(LagPolicy::Lossy(16)), "lossy"),
    ] {
        let e = engine.subscribe("t", "ticks", options, newest, ok_listener());
        assert!(
            matches!(e, Err(SubscribeError::Unsupported { .. })),
            "{what}: {e:?}"
        );
    }
    let to_ticks =
        w.clone().failure_policy(
            FailurePolicy::default().on_exhausted(Exhausted::DeadLetter {
                topic: "ticks".into(),
            }),
        );
    let e = engine.subscribe("t", "ticks", to_ticks, newest, ok_listener());
    assert!(
        matches!(
            e,
            Err(SubscribeError::Build(
                BuildError::InvalidDeadLetterTopic { .. }
            ))
        ),
        "{e:?}"
    );
    // A failed subscribe took no slot: the one there is still works.
    engine
        .subscribe("t", "ticks", w.clone(), newest, ok_listener())
        .unwrap();
    let e = engine.subscribe("t2", "ticks", w.clone(), newest, ok_listener());
    assert!(
        matches!(
            e,
            Err(SubscribeError::NoSpareSlot {
                spare_groups: 1,
                ..
            })
        ),
        "{e:?}"
    );
    let e = engine.unsubscribe("physics", Leave::Now);
    assert!(
        matches!(e, Err(UnsubscribeError::DeclaredAtBuild { .. })),
        "{e:?}"
    );
    let e = engine.unsubscribe("nobody", Leave::Now);
    assert!(
        matches!(
            e,
            Err(UnsubscribeError::Lookup(LookupError::UnknownGroup { .. }))
        ),
        "{e:?}"
    );
    engine.unsubscribe("t", Leave::Drain).unwrap();
    let e = engine.unsubscribe("t", Leave::Drain);
    assert!(matches!(e, Err(UnsubscribeError::Lookup(_))), "{e:?}");
    let report = engine.shutdown();
    assert_eq!(report.groups.len(), 3);
}

#[test]
fn a_runtime_group_with_a_dead_letter_topic_dead_letters_and_shuts_down_with_the_engine() {
    let mut engine = Engine::builder()
        .topic::<u64>("ticks", TopicOptions::new(2).spare_groups(1))
        .dead_letter_topic::<u64>("dlq", TopicOptions::new(1))
        .subscribe("physics", "ticks", GroupOptions::workers(1), ok_listener())
        .subscribe("dead", "dlq", GroupOptions::workers(1), |_| {
            |_: &veltrix::DeadLetter<u64>, _: &EventContext<'_>| Ok(())
        })
        .build()
        .unwrap();
    let to_dlq = GroupOptions::workers(2).failure_policy(
        FailurePolicy::default()
            .retries(Retries::Limited(1))
            .backoff(Backoff::doubling(
                Duration::from_micros(10),
                Duration::from_micros(10),
            ))
            .on_exhausted(Exhausted::DeadLetter {
                topic: "dlq".into(),
            }),
    );
    engine
        .subscribe("picky", "ticks", to_dlq, StartAt::Oldest, |_| {
            |e: &u64, _: &EventContext<'_>| {
                if e % 10 == 0 {
                    Err("no multiples of ten".into())
                } else {
                    Ok(())
                }
            }
        })
        .unwrap();
    let ticks = engine.topic::<u64>("ticks").unwrap();
    for i in 0..1000 {
        ticks.publish(i).unwrap();
    }
    // Left running: the engine's shutdown drains it with the rest.
    let report = engine.shutdown();
    let picky = report.group("picky").unwrap();
    assert_eq!(
        (picky.joined_at, picky.handled, picky.dead_lettered),
        (0, 900, 100)
    );
    assert_eq!(report.group("dead").unwrap().handled, 100);
    report.check_conservation().unwrap();
}
