//! Routing keeps per-key order; a failed route resumes where it failed; an
//! unconnected or mistyped route is an error, never a panic or a loss.
#![cfg(all(feature = "toml", feature = "json"))]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use veltrix::config::{BindError, Config};
use veltrix::partitioner::by_key;
use veltrix::router::{self, Router};
use veltrix::{
    listener, Engine, EventContext, GroupOptions, Listener, ListenerError, TopicOptions,
};

#[derive(Debug, Clone)]
struct Move {
    player: u64,
    seq: u64,
    zone: u32,
}

#[derive(Debug, Clone)]
struct Alert {
    player: u64,
    seq: u64,
}

/// What every worker of the checking group adds up to.
#[derive(Default)]
struct Verdict {
    /// Last sequence per key, over all workers.
    last: HashMap<u64, u64>,
    seen: u64,
    /// Keys seen out of order, or by two workers.
    violations: u64,
}

/// Per-key sequences seen by one worker, merged into the shared verdict at
/// shutdown.
struct OrderCheck {
    last: HashMap<u64, u64>,
    seen: u64,
    shared: Arc<Mutex<Verdict>>,
}

impl Listener<Alert> for OrderCheck {
    fn on_event(&mut self, a: &Alert, _: &EventContext<'_>) -> Result<(), ListenerError> {
        let last = self.last.entry(a.player).or_insert(0);
        if a.seq <= *last {
            self.shared.lock().unwrap().violations += 1;
        }
        *last = a.seq;
        self.seen += 1;
        Ok(())
    }

    fn on_shutdown(&mut self) {
        let mut shared = self.shared.lock().unwrap();
        shared.seen += self.seen;
        for (player, seq) in self.last.drain() {
            if shared.last.insert(player, seq).is_some() {
                shared.violations += 1; // a key reached two workers
            }
        }
    }
}

const TOPOLOGY: &str = r#"
[[topics]]
name = "moves"
partitions = 8
capacity = 64
partitioner = "key"

[[topics]]
name = "alerts"
partitions = 4
capacity = 64
partitioner = "key"

[[groups]]
name = "router"
topic = "moves"
mode = { workers = 3 }
assignment = "round_robin"

[[groups]]
name = "alarm"
topic = "alerts"
mode = { workers = 2 }
"#;

#[test]
fn routing_keeps_per_key_order() {
    const PLAYERS: u64 = 64;
    const MOVES: u64 = 300;
    let shared = Arc::new(Mutex::new(Verdict::default()));
    // Every move into an even zone raises an alert, carrying the move's seq.
    let router = Router::<Move>::new().route("alerts", |m: &Move| {
        (m.zone % 2 == 0).then_some(Alert {
            player: m.player,
            seq: m.seq,
        })
    });
    let engine = Config::from_toml_str(TOPOLOGY)
        .unwrap()
        .bind()
        .keyed_topic::<Move, _>("moves", by_key(|m: &Move| m.player))
        .keyed_topic::<Alert, _>("alerts", by_key(|a: &Alert| a.player))
        .router("router", router)
        .group("alarm", {
            let shared = Arc::clone(&shared);
            move |_| OrderCheck {
                last: HashMap::new(),
                seen: 0,
                shared: Arc::clone(&shared),
            }
        })
        .build()
        .unwrap();

    let moves = engine.topic::<Move>("moves").unwrap();
    let producers: Vec<_> = (0..2u64)
        .map(|p| {
            let moves = moves.clone();
            thread::spawn(move || {
                let mut expected = 0;
                for seq in 1..=MOVES {
                    for player in (p..PLAYERS).step_by(2) {
                        let zone = ((player * 31 + seq * 17) % 5) as u32;
                        expected += u64::from(zone % 2 == 0);
                        moves.publish(Move { player, seq, zone }).unwrap();
                    }
                }
                expected
            })
        })
        .collect();
    let expected: u64 = producers.into_iter().map(|p| p.join().unwrap()).sum();
    let report = engine.shutdown(); // the router catches up first
    report.check_conservation().unwrap();
    assert_eq!(report.group("router").unwrap().handled, PLAYERS * MOVES);
    assert_eq!(report.group("router").unwrap().failures, 0);
    assert_eq!(report.topic("alerts").unwrap().published, expected);
    let verdict = shared.lock().unwrap();
    assert_eq!(verdict.seen, expected, "every alert arrived once");
    assert_eq!(verdict.violations, 0, "per-key order held end to end");
    assert_eq!(verdict.last.len() as u64, PLAYERS);
}

#[test]
fn a_retried_route_resumes_at_the_rule_that_failed() {
    // Rule 1 copies every event to "all" (always has room); rule 2 copies
    // it to "narrow", which rejects when full and is drained slowly. The
    // retries of rule 2 must not copy events to "all" twice.
    let router = Router::<u64>::new()
        .forward_if("all", |_| true)
        .forward_if("narrow", |_| true);
    let engine = Engine::builder()
        .topic::<u64>("in", TopicOptions::new(1))
        .topic::<u64>("all", TopicOptions::new(1))
        .topic::<u64>(
            "narrow",
            TopicOptions::new(1)
                .capacity(4)
                .full_policy(veltrix::FullPolicy::Reject),
        )
        .subscribe(
            "router",
            "in",
            GroupOptions::workers(1).failure_policy(
                veltrix::FailurePolicy::default()
                    .retries(veltrix::Retries::Forever)
                    .backoff(veltrix::Backoff {
                        initial: Duration::from_micros(200),
                        max: Duration::from_millis(2),
                        multiplier: 2,
                    }),
            ),
            {
                let router = router.clone();
                move |_| router.clone()
            },
        )
        .subscribe("all-reader", "all", GroupOptions::workers(1), |_| {
            listener::from_fn(|_: &u64, _| Ok(()))
        })
        .subscribe("narrow-reader", "narrow", GroupOptions::poll(), |_| {
            listener::from_fn(|_: &u64, _| Ok(()))
        })
        .build()
        .unwrap();
    router.connect(&engine).unwrap();
    let input = engine.topic::<u64>("in").unwrap();
    for i in 0..20 {
        input.publish(i).unwrap();
    }
    let mut narrow = engine.poller("narrow-reader").unwrap();
    let mut polled = 0;
    while polled < 20 {
        thread::sleep(Duration::from_millis(1));
        polled += narrow.poll(2);
    }
    assert!(router::drain(&engine, &["router"], Duration::from_secs(10)));
    drop(narrow);
    let report = engine.shutdown();
    let router_report = report.group("router").unwrap();
    assert!(
        router_report.failures > 0,
        "the narrow target was full at times"
    );
    assert_eq!(router_report.handled, 20);
    assert_eq!(
        report.topic("all").unwrap().published,
        20,
        "no duplicates from retries"
    );
    assert_eq!(report.topic("narrow").unwrap().published, 20);
    assert!(report.topic("narrow").unwrap().rejected_full > 0);
}

#[test]
fn an_unconnected_router_fails_its_events_without_losing_count() {
    let router = Router::<u64>::new().route("out", |n: &u64| Some(*n));
    let engine = Engine::builder()
        .topic::<u64>("in", TopicOptions::new(1))
        .topic::<u64>("out", TopicOptions::new(1))
        .subscribe("router", "in", GroupOptions::workers(1), move |_| {
            router.clone()
        })
        .subscribe("reader", "out", GroupOptions::workers(1), |_| {
            listener::from_fn(|_: &u64, _| Ok(()))
        })
        .build()
        .unwrap();
    // No `connect`: each event fails (skipped under the default policy).
    let input = engine.topic::<u64>("in").unwrap();
    input.publish(1).unwrap();
    input.publish(2).unwrap();
    let report = engine.shutdown();
    report.check_conservation().unwrap();
    assert_eq!(report.group("router").unwrap().skipped, 2);
    assert_eq!(report.topic("out").unwrap().published, 0);
}

#[test]
fn a_router_target_of_the_wrong_type_is_a_bind_error() {
    let router = Router::<Move>::new().route("alerts", |m: &Move| Some(m.seq)); // alerts carry Alert
    let result = Config::from_toml_str(TOPOLOGY)
        .unwrap()
        .bind()
        .keyed_topic::<Move, _>("moves", by_key(|m: &Move| m.player))
        .keyed_topic::<Alert, _>("alerts", by_key(|a: &Alert| a.player))
        .router("router", router)
        .group("alarm", |_| listener::from_fn(|_: &Alert, _| Ok(())))
        .build();
    match result {
        Err(BindError::Route { group, source }) => {
            assert_eq!(group, "router");
            assert!(
                source
                    .to_string()
                    .contains("topic 'alerts' carries events of type"),
                "{source}"
            );
        }
        other => panic!("expected a route error, got {other:?}"),
    }
}

#[test]
fn filtered_router_fans_out_to_several_targets() {
    let router = Router::<Move>::new()
        .forward_if("moves-copy", |m: &Move| m.zone == 1)
        .route("alerts", |m: &Move| {
            (m.zone == 1).then_some(Alert {
                player: m.player,
                seq: m.seq,
            })
        });
    let targets: Vec<&str> = router.targets().collect();
    assert_eq!(targets, ["moves-copy", "alerts"]);
    let engine = Engine::builder()
        .topic_with::<Move, _>("moves", TopicOptions::new(2), by_key(|m: &Move| m.player))
        .topic_with::<Move, _>(
            "moves-copy",
            TopicOptions::new(2),
            by_key(|m: &Move| m.player),
        )
        .topic_with::<Alert, _>("alerts", TopicOptions::new(2), by_key(|a: &Alert| a.player))
        .subscribe("router", "moves", GroupOptions::workers(2), {
            let router = router.clone();
            move |_| router.clone()
        })
        .subscribe("copies", "moves-copy", GroupOptions::workers(1), |_| {
            listener::from_fn(|m: &Move, _| {
                assert_eq!(m.zone, 1);
                Ok(())
            })
        })
        .subscribe("alarm", "alerts", GroupOptions::workers(1), |_| {
            listener::from_fn(|_: &Alert, _| Ok(()))
        })
        .build()
        .unwrap();
    router.connect(&engine).unwrap();
    let moves = engine.topic::<Move>("moves").unwrap();
    for seq in 0..100 {
        moves
            .publish(Move {
                player: seq % 7,
                seq,
                zone: (seq % 3) as u32,
            })
            .unwrap();
    }
    assert!(router::drain(&engine, &["router"], Duration::from_secs(10)));
    let report = engine.shutdown();
    assert_eq!(report.group("copies").unwrap().handled, 33);
    assert_eq!(report.group("alarm").unwrap().handled, 33);
}
