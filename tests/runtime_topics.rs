//! Topics that come and go on a running engine (`Engine::attach`,
//! `Engine::remove_topic`): per-match topics, each with a threaded and a
//! poll-mode group, attached, used and removed again and again while a
//! long-lived topic keeps running; the books of every match and of the
//! engine checked; and the typed errors of what cannot be attached or
//! removed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use veltrix::{
    BuildError, Engine, EventContext, Exhausted, FailurePolicy, GroupOptions, Listener,
    ListenerError, PublishError, RemoveError, TopicOptions,
};

const MATCHES: u64 = 12;
const PER_MATCH: u64 = 2_000;

/// Counts events and `on_shutdown` calls.
struct Count {
    events: Arc<AtomicU64>,
    shutdowns: Arc<AtomicU64>,
}

impl Listener<u64> for Count {
    fn on_event(&mut self, _: &u64, _: &EventContext<'_>) -> Result<(), ListenerError> {
        self.events.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn on_shutdown(&mut self) {
        self.shutdowns.fetch_add(1, Ordering::Relaxed);
    }
}

fn counting(
    events: &Arc<AtomicU64>,
    shutdowns: &Arc<AtomicU64>,
) -> impl FnMut(&veltrix::WorkerInfo) -> Count + Send + 'static {
    let (events, shutdowns) = (Arc::clone(events), Arc::clone(shutdowns));
    move |_| Count {
        events: Arc::clone(&events),
        shutdowns: Arc::clone(&shutdowns),
    }
}

#[test]
fn per_match_topics_come_and_go_while_the_lobby_runs() {
    let (lobby_events, lobby_shutdowns) = (Arc::default(), Arc::default());
    let mut engine = Engine::builder()
        .topic::<u64>("lobby", TopicOptions::new(2))
        .subscribe(
            "lobby-chat",
            "lobby",
            GroupOptions::workers(1),
            counting(&lobby_events, &lobby_shutdowns),
        )
        .build()
        .unwrap();
    // Taken before any match exists: it must see them come and go.
    let metrics = engine.metrics_handle();
    let lobby = engine.topic::<u64>("lobby").unwrap();
    let mut lobby_published = 0;
    for m in 0..MATCHES {
        let (topic, sim, replay) = (
            format!("match-{m}"),
            format!("match-{m}-sim"),
            format!("match-{m}-replay"),
        );
        let (sim_events, sim_shutdowns) = (Arc::default(), Arc::default());
        let (replay_events, replay_shutdowns) = (Arc::default(), Arc::default());
        engine
            .attach(
                Engine::builder()
                    .topic::<u64>(&topic, TopicOptions::new(4).capacity(64))
                    .subscribe(
                        &sim,
                        &topic,
                        GroupOptions::workers(2),
                        counting(&sim_events, &sim_shutdowns),
                    )
                    .subscribe(
                        &replay,
                        &topic,
                        GroupOptions::poll(),
                        counting(&replay_events, &replay_shutdowns),
                    ),
            )
            .unwrap();
        let names: Vec<String> = metrics
            .snapshot()
            .topics
            .iter()
            .map(|t| t.report.name.clone())
            .collect();
        assert_eq!(
            names,
            ["lobby".to_owned(), topic.clone()],
            "metrics see the match"
        );
        let moves = engine.topic::<u64>(&topic).unwrap();
        let mut poller = engine.poller(&replay).unwrap();
        for i in 0..PER_MATCH {
            // A full ring waits for the poll group: try, poll, retry.
            let mut event = i;
            loop {
                match moves.try_publish(event) {
                    Ok(_) => break,
                    Err(e) => {
                        event = e.into_inner();
                        poller.poll(64);
                    }
                }
            }
            lobby.publish(i).unwrap();
            lobby_published += 1;
        }
        let removed = engine.remove_topic(&topic).unwrap();
        assert_eq!(removed.topics.len(), 1);
        assert_eq!(removed.topics[0].published, PER_MATCH);
        for name in [&sim, &replay] {
            let group = removed.group(name).unwrap();
            assert_eq!((group.handled, group.lag), (PER_MATCH, 0), "{removed}");
        }
        assert_eq!(sim_events.load(Ordering::Relaxed), PER_MATCH);
        assert_eq!(replay_events.load(Ordering::Relaxed), PER_MATCH);
        assert_eq!(
            sim_shutdowns.load(Ordering::Relaxed),
            2,
            "both sim workers ran on_shutdown"
        );
        assert_eq!(replay_shutdowns.load(Ordering::Relaxed), 1);
        assert!(matches!(moves.publish(1), Err(PublishError::Closed(1))));
        let report = engine.report();
        assert_eq!(report.topics.len(), 1, "{report}");
        assert_eq!(report.groups.len(), 1, "{report}");
        assert_eq!(metrics.snapshot().topics.len(), 1);
        assert!(engine.topic::<u64>(&topic).is_err(), "gone");
    }
    let report = engine.shutdown();
    assert_eq!(report.group("lobby-chat").unwrap().handled, lobby_published);
    assert_eq!(lobby_events.load(Ordering::Relaxed), lobby_published);
    assert_eq!(lobby_shutdowns.load(Ordering::Relaxed), 1);
}

#[test]
fn what_cannot_be_attached_or_removed_is_a_typed_error() {
    let noop = |_: &veltrix::WorkerInfo| |_: &u64, _: &EventContext<'_>| Ok(());
    let mut engine = Engine::builder()
        .topic::<u64>("orders", TopicOptions::new(1))
        .dead_letter_topic::<u64>("orders.dlq", TopicOptions::new(1))
        .subscribe(
            "billing",
            "orders",
            GroupOptions::workers(1).failure_policy(FailurePolicy::default().on_exhausted(
                Exhausted::DeadLetter {
                    topic: "orders.dlq".into(),
                },
            )),
            noop,
        )
        .subscribe("dlq-reader", "orders.dlq", GroupOptions::workers(1), |_| {
            |_: &veltrix::DeadLetter<u64>, _: &EventContext<'_>| Ok(())
        })
        .build()
        .unwrap();
    let clash = engine
        .attach(
            Engine::builder()
                .topic::<u64>("orders", TopicOptions::new(1))
                .subscribe("billing", "orders", GroupOptions::workers(1), noop),
        )
        .unwrap_err();
    match &clash {
        BuildError::Multiple(errors) => {
            assert!(
                errors
                    .iter()
                    .any(|e| matches!(e, BuildError::DuplicateTopic { name } if name == "orders")),
                "{clash}"
            );
            assert!(
                errors
                    .iter()
                    .any(|e| matches!(e, BuildError::DuplicateGroup { name } if name == "billing")),
                "{clash}"
            );
        }
        other => panic!("expected both clashes, got {other}"),
    }
    // A group of the attached builder on a topic of the engine: its builder
    // does not know it.
    let outside = engine
        .attach(Engine::builder().subscribe("audit", "orders", GroupOptions::workers(1), noop))
        .unwrap_err();
    assert!(
        outside.to_string().contains("unknown topic 'orders'"),
        "{outside}"
    );
    assert_eq!(engine.report().groups.len(), 2, "nothing attached");

    let in_use = engine.remove_topic("orders.dlq").unwrap_err();
    assert_eq!(
        in_use,
        RemoveError::InUse {
            topic: "orders.dlq".into(),
            group: "billing".into()
        }
    );
    assert!(
        in_use
            .to_string()
            .contains("remove group 'billing's topic first"),
        "{in_use}"
    );
    let unknown = engine.remove_topic("nope").unwrap_err();
    assert!(
        unknown.to_string().contains("unknown topic 'nope'"),
        "{unknown}"
    );
    // The order the plan allows: the feeding topic first, then its
    // dead-letter topic.
    engine.remove_topic("orders").unwrap();
    engine.remove_topic("orders.dlq").unwrap();
    assert!(engine.shutdown().topics.is_empty());
}

#[test]
fn removing_a_topic_from_its_own_listener_is_refused() {
    type Cell = Arc<Mutex<Option<Engine>>>;
    let cell: Cell = Arc::default();
    let result: Arc<Mutex<Option<Result<(), RemoveError>>>> = Arc::default();
    let (inner, out) = (Arc::clone(&cell), Arc::clone(&result));
    let engine = Engine::builder()
        .topic::<u64>("ticks", TopicOptions::new(1))
        .subscribe("tick", "ticks", GroupOptions::workers(1), move |_| {
            let (inner, out) = (Arc::clone(&inner), Arc::clone(&out));
            move |_: &u64, _: &EventContext<'_>| {
                if let Some(engine) = inner.lock().unwrap().as_mut() {
                    out.lock()
                        .unwrap()
                        .get_or_insert_with(|| engine.remove_topic("ticks").map(|_| ()));
                }
                Ok(())
            }
        })
        .build()
        .unwrap();
    let ticks = engine.topic::<u64>("ticks").unwrap();
    *cell.lock().unwrap() = Some(engine);
    while result.lock().unwrap().is_none() {
        ticks.publish(1).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    let refused = result.lock().unwrap().take().unwrap();
    assert!(
        matches!(&refused, Err(RemoveError::FromListener { topic, group }) if topic == "ticks" && group == "tick"),
        "{refused:?}"
    );
    let engine = cell.lock().unwrap().take().unwrap();
    assert_eq!(engine.shutdown().group("tick").unwrap().lag, 0);
}
