//! Draining shutdown: every accepted event is handled by every group, even
//! with producers still publishing while shutdown runs; later publishes are
//! refused with the event handed back; hooks run once per worker; dropping
//! the engine drains the same way.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use common::{assert_same_ids, Shared};
use veltrix::listener::from_fn;
use veltrix::{
    Engine, EventContext, GroupOptions, Listener, ListenerError, PublishError, PublishErrorKind,
    TopicOptions, WorkerInfo,
};

/// Records ids per worker; hands them over in `on_shutdown`.
struct Collect {
    ids: Vec<u64>,
    out: Shared<u64>,
}

impl Listener<u64> for Collect {
    fn on_event(&mut self, event: &u64, _ctx: &EventContext<'_>) -> Result<(), ListenerError> {
        self.ids.push(*event);
        Ok(())
    }

    fn on_shutdown(&mut self) {
        self.out.extend(self.ids.drain(..));
    }
}

fn collect(out: &Shared<u64>) -> impl FnMut(&WorkerInfo) -> Collect {
    let out = out.clone();
    move |_| Collect {
        ids: Vec::new(),
        out: out.clone(),
    }
}

#[test]
fn shutdown_with_producers_still_publishing_handles_every_accepted_event() {
    const PRODUCERS: u64 = 3;
    /// Each producer has published at least this much before shutdown starts.
    const HEAD_START: u64 = 2_000;
    const STRIDE: u64 = 1 << 40;

    let (a, b, p) = (Shared::new(), Shared::new(), Shared::new());
    let engine = Engine::builder()
        .topic::<u64>("ids", TopicOptions::new(4).capacity(64))
        .subscribe("a", "ids", GroupOptions::workers(2), collect(&a))
        .subscribe("b", "ids", GroupOptions::workers(1), collect(&b))
        .subscribe("p", "ids", GroupOptions::poll(), collect(&p))
        .build()
        .unwrap();
    let topic = engine.topic::<u64>("ids").unwrap();
    let mut poller = engine.poller("p").unwrap();
    let progress: Arc<[AtomicU64]> = (0..PRODUCERS).map(|_| AtomicU64::new(0)).collect();
    let stop_polling = Arc::new(AtomicBool::new(false));

    // The poll-mode group is driven by its own thread until shutdown is over.
    let polling = {
        let stop = Arc::clone(&stop_polling);
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                if poller.poll(64) == 0 {
                    std::thread::yield_now();
                }
            }
            assert_eq!(poller.poll(usize::MAX), 0, "shutdown drained the group");
        })
    };
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|producer| {
            let topic = topic.clone();
            let progress = Arc::clone(&progress);
            std::thread::spawn(move || {
                let mut accepted = Vec::new();
                for i in 0.. {
                    let event = producer * STRIDE + i;
                    match topic.publish(event) {
                        Ok(_) => accepted.push(event),
                        Err(PublishError::Closed(back)) => {
                            assert_eq!(back, event, "Closed must hand back the event");
                            break;
                        }
                        Err(e) => panic!("publish {event}: {e}"),
                    }
                    progress[producer as usize].store(i + 1, Ordering::SeqCst);
                }
                accepted
            })
        })
        .collect();

    while progress
        .iter()
        .any(|p| p.load(Ordering::SeqCst) < HEAD_START)
    {
        std::thread::yield_now();
    }
    let report = engine.shutdown();
    stop_polling.store(true, Ordering::SeqCst);
    polling.join().unwrap();
    let accepted: Vec<u64> = producers
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    assert!(accepted.len() as u64 >= PRODUCERS * HEAD_START);

    let published = accepted.len() as u64;
    assert_eq!(report.topic("ids").unwrap().published, published);
    for (name, seen) in [("a", a), ("b", b), ("p", p)] {
        let g = report.group(name).unwrap();
        assert_eq!(
            (g.handled, g.lag),
            (published, 0),
            "group {name}: every Ok publish is handled"
        );
        assert_same_ids(&format!("group {name}"), seen.take(), accepted.clone());
    }
    assert!(report.is_drained(), "{report}");

    // Every later publish is refused and hands the event back.
    for i in 0..10u64 {
        match topic.publish(i) {
            Err(PublishError::Closed(back)) => assert_eq!(back, i),
            other => panic!("publish after shutdown: expected Closed, got {other:?}"),
        }
        match topic.try_publish(i) {
            Err(PublishError::Closed(back)) => assert_eq!(back, i),
            other => panic!("try_publish after shutdown: expected Closed, got {other:?}"),
        }
    }
    let batch = topic.publish_batch(vec![1u64, 2, 3]).unwrap_err();
    assert_eq!(batch.accepted, 0);
    assert_eq!(batch.kind, PublishErrorKind::Closed);
    assert_eq!(batch.unpublished, vec![1, 2, 3]);
    assert_eq!(topic.published(), published, "nothing more was accepted");
}

/// A hook a listener saw, for checking the order of hooks per worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hook {
    Start,
    Event,
    Shutdown,
}

struct Hooks {
    group: &'static str,
    worker: usize,
    log: Shared<(&'static str, usize, Hook)>,
}

impl Listener<u64> for Hooks {
    fn on_event(&mut self, _: &u64, _ctx: &EventContext<'_>) -> Result<(), ListenerError> {
        self.log.push((self.group, self.worker, Hook::Event));
        Ok(())
    }

    fn on_start(&mut self, worker: &WorkerInfo) {
        assert_eq!((worker.group(), worker.worker()), (self.group, self.worker));
        self.log.push((self.group, self.worker, Hook::Start));
    }

    fn on_shutdown(&mut self) {
        self.log.push((self.group, self.worker, Hook::Shutdown));
    }
}

fn hooks(
    group: &'static str,
    log: &Shared<(&'static str, usize, Hook)>,
) -> impl FnMut(&WorkerInfo) -> Hooks {
    let log = log.clone();
    move |w| Hooks {
        group,
        worker: w.worker(),
        log: log.clone(),
    }
}

#[test]
fn each_worker_starts_once_and_shuts_down_once_after_its_last_event() {
    let log = Shared::new();
    let engine = Engine::builder()
        .topic::<u64>("t", TopicOptions::new(4).capacity(16))
        .subscribe("three", "t", GroupOptions::workers(3), hooks("three", &log))
        // More workers than partitions: one worker has nothing to read and
        // must still start and stop cleanly.
        .subscribe("five", "t", GroupOptions::workers(5), hooks("five", &log))
        .subscribe("poll", "t", GroupOptions::poll(), hooks("poll", &log))
        .build()
        .unwrap();
    let topic = engine.topic::<u64>("t").unwrap();
    let mut poller = engine.poller("poll").unwrap();
    for i in 0..40 {
        topic.publish(i).unwrap();
        if i % 4 == 3 {
            poller.poll(4);
        }
    }
    let report = engine.shutdown();
    assert!(report.is_drained(), "{report}");

    let log = log.take();
    for (group, workers) in [("three", 3), ("five", 5), ("poll", 1)] {
        let mut events = 0;
        for worker in 0..workers {
            let hooks: Vec<Hook> = log
                .iter()
                .filter(|&&(g, w, _)| g == group && w == worker)
                .map(|&(_, _, h)| h)
                .collect();
            assert_eq!(
                hooks.first(),
                Some(&Hook::Start),
                "{group}/{worker}: {hooks:?}"
            );
            assert_eq!(
                hooks.last(),
                Some(&Hook::Shutdown),
                "{group}/{worker}: {hooks:?}"
            );
            let middle = &hooks[1..hooks.len() - 1];
            assert!(
                middle.iter().all(|&h| h == Hook::Event),
                "{group}/{worker}: start and shutdown must each run once, around the events: {hooks:?}"
            );
            events += middle.len();
        }
        assert_eq!(events, 40, "group {group}");
        assert_eq!(report.group(group).unwrap().handled, 40);
    }
}

#[test]
fn dropping_the_engine_without_shutdown_drains_too() {
    const EVENTS: u64 = 16;
    let handled_threads = Arc::new(AtomicU64::new(0));
    let handled_poll = Arc::new(AtomicU64::new(0));
    let shutdowns = Arc::new(AtomicU64::new(0));

    // The threaded listener holds its first event until the engine closes,
    // which it notices through "probe": a full topic that nobody polls, so
    // `try_publish` says Full until the engine closes it.
    let probe_slot: Arc<std::sync::OnceLock<veltrix::Topic<u64>>> = Arc::default();
    let (probe, count_t, count_p, s1, s2) = (
        Arc::clone(&probe_slot),
        Arc::clone(&handled_threads),
        Arc::clone(&handled_poll),
        Arc::clone(&shutdowns),
        Arc::clone(&shutdowns),
    );
    struct Counting<F: FnMut(&u64) + Send> {
        on_event: F,
        shutdowns: Arc<AtomicU64>,
    }
    impl<F: FnMut(&u64) + Send> Listener<u64> for Counting<F> {
        fn on_event(&mut self, e: &u64, _ctx: &EventContext<'_>) -> Result<(), ListenerError> {
            (self.on_event)(e);
            Ok(())
        }
        fn on_shutdown(&mut self) {
            self.shutdowns.fetch_add(1, Ordering::SeqCst);
        }
    }
    let engine = Engine::builder()
        .topic::<u64>("work", TopicOptions::new(1).capacity(EVENTS as usize))
        .topic::<u64>("probe", TopicOptions::new(1).capacity(1))
        .subscribe("threads", "work", GroupOptions::workers(1), move |_| {
            let (probe, count, shutdowns) =
                (Arc::clone(&probe), Arc::clone(&count_t), Arc::clone(&s1));
            Counting {
                on_event: move |e: &u64| {
                    if *e == 0 {
                        let probe = probe.get().expect("set before publishing");
                        loop {
                            match probe.try_publish(u64::MAX) {
                                Err(PublishError::Full(_)) => std::thread::yield_now(),
                                Err(PublishError::Closed(_)) => break,
                                other => panic!("probe: {other:?}"),
                            }
                        }
                    }
                    count.fetch_add(1, Ordering::SeqCst);
                },
                shutdowns,
            }
        })
        .subscribe("poll", "work", GroupOptions::poll(), move |_| {
            let (count, shutdowns) = (Arc::clone(&count_p), Arc::clone(&s2));
            Counting {
                on_event: move |_: &u64| {
                    count.fetch_add(1, Ordering::SeqCst);
                },
                shutdowns,
            }
        })
        .subscribe("probe-reader", "probe", GroupOptions::poll(), |_| {
            from_fn(|_: &u64, _ctx| Ok(()))
        })
        .build()
        .unwrap();
    let probe = engine.topic::<u64>("probe").unwrap();
    probe.publish(0).unwrap();
    probe_slot.set(probe).unwrap();
    let work = engine.topic::<u64>("work").unwrap();
    for i in 0..EVENTS {
        work.publish(i).unwrap();
    }
    // Nothing can have been handled past event 0 yet: the threaded worker is
    // held, the poll-mode group was never polled.
    assert_eq!(handled_threads.load(Ordering::SeqCst), 0);
    assert_eq!(handled_poll.load(Ordering::SeqCst), 0);

    drop(engine);

    assert_eq!(handled_threads.load(Ordering::SeqCst), EVENTS);
    assert_eq!(handled_poll.load(Ordering::SeqCst), EVENTS);
    assert_eq!(
        shutdowns.load(Ordering::SeqCst),
        2,
        "on_shutdown once per worker"
    );
    match work.publish(7) {
        Err(PublishError::Closed(7)) => {}
        other => panic!("expected Closed(7), got {other:?}"),
    }
}

#[test]
fn a_topic_handle_outliving_its_engine_returns_closed() {
    let engine = Engine::builder()
        .topic::<String>("names", TopicOptions::new(2).capacity(4))
        .subscribe("g", "names", GroupOptions::workers(1), |_| {
            from_fn(|_: &String, _ctx| Ok(()))
        })
        .build()
        .unwrap();
    let topic = engine.topic::<String>("names").unwrap();
    topic.publish("before".to_owned()).unwrap();
    drop(engine);

    let clone = topic.clone();
    for handle in [&topic, &clone] {
        match handle.publish("after".to_owned()) {
            Err(PublishError::Closed(back)) => assert_eq!(back, "after"),
            other => panic!("publish: expected Closed, got {other:?}"),
        }
        match handle.try_publish("try".to_owned()) {
            Err(e @ PublishError::Closed(_)) => {
                assert_eq!(e.kind(), PublishErrorKind::Closed);
                assert!(e.to_string().contains("closed"), "{e}");
                assert_eq!(e.into_inner(), "try");
            }
            other => panic!("try_publish: expected Closed, got {other:?}"),
        }
    }
    let batch = topic
        .publish_batch(["x".to_owned(), "y".to_owned()])
        .unwrap_err();
    assert_eq!((batch.accepted, batch.kind), (0, PublishErrorKind::Closed));
    assert_eq!(batch.unpublished, ["x", "y"]);
    assert_eq!(topic.published(), 1);
}

#[test]
fn batch_publishes_refused_while_draining_are_counted_per_event() {
    // A listener publishes a batch of 4 while shutdown drains its group: the
    // topic is closed, so all 4 are refused and should be counted, as 4
    // single publishes would be, whatever the partitioner.
    for partitions in [1u32, 2] {
        let own: Arc<std::sync::OnceLock<veltrix::Topic<u64>>> = Arc::default();
        let refused = Shared::<usize>::new();
        let (listener_own, listener_refused) = (Arc::clone(&own), refused.clone());
        let engine = Engine::builder()
            .topic::<u64>("t", TopicOptions::new(partitions).capacity(8))
            .subscribe("p", "t", GroupOptions::poll(), move |_| {
                let (own, refused) = (Arc::clone(&listener_own), listener_refused.clone());
                from_fn(move |e: &u64, _ctx| {
                    if *e == 0 {
                        let error = own
                            .get()
                            .unwrap()
                            .publish_batch([1u64, 2, 3, 4])
                            .unwrap_err();
                        assert_eq!((error.accepted, error.kind), (0, PublishErrorKind::Closed));
                        refused.push(error.unpublished.len());
                    }
                    Ok(())
                })
            })
            .build()
            .unwrap();
        let topic = engine.topic::<u64>("t").unwrap();
        own.set(topic.clone()).unwrap();
        topic.publish(0).unwrap();
        let report = engine.shutdown();
        assert_eq!(refused.take(), [4], "{partitions} partitions");
        assert_eq!(
            report.topic("t").unwrap().rejected_closed,
            4,
            "{partitions} partitions: 4 events refused"
        );
    }
}

/// A stage that forwards into another topic, declared with `publishes_to`:
/// shutdown closes the target only after the stage drained, so every event
/// the stage forwards while draining is accepted and handled.
#[test]
fn publishes_to_targets_close_after_their_feeders_drained() {
    use std::sync::{Arc, OnceLock};
    const N: u64 = 500;
    let clean: Arc<OnceLock<veltrix::Topic<u64>>> = Arc::new(OnceLock::new());
    let refused = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let (c, r) = (Arc::clone(&clean), Arc::clone(&refused));
    let engine = veltrix::Engine::builder()
        .topic::<u64>("raw", veltrix::TopicOptions::new(2).capacity(1024))
        .topic::<u64>("clean", veltrix::TopicOptions::new(1).capacity(4))
        .subscribe(
            "stage",
            "raw",
            veltrix::GroupOptions::workers(2),
            move |_| {
                let (c, r) = (Arc::clone(&c), Arc::clone(&r));
                veltrix::listener::from_fn(move |e: &u64, _| {
                    if c.get().expect("set before publishing").publish(*e).is_err() {
                        r.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                    Ok(())
                })
            },
        )
        .subscribe("store", "clean", veltrix::GroupOptions::workers(1), |_| {
            veltrix::listener::from_fn(|_: &u64, _| Ok(()))
        })
        .publishes_to("stage", "clean")
        .build()
        .unwrap();
    clean.set(engine.topic("clean").unwrap()).unwrap();
    let raw = engine.topic::<u64>("raw").unwrap();
    for i in 0..N {
        raw.publish(i).unwrap();
    }
    // At once: most of `raw` is still queued, and `clean` (4 slots) is full
    // most of the time while the stage drains into it.
    let report = engine.shutdown();
    assert_eq!(refused.load(std::sync::atomic::Ordering::SeqCst), 0);
    assert_eq!(report.group("stage").unwrap().handled, N);
    assert_eq!(report.group("store").unwrap().handled, N, "{report}");
    assert!(report.is_drained());
}

#[test]
fn publishes_to_an_unknown_group_or_topic_is_a_typed_error() {
    let base = || {
        veltrix::Engine::builder()
            .topic::<u64>("t", veltrix::TopicOptions::new(1))
            .subscribe("g", "t", veltrix::GroupOptions::workers(1), |_| {
                veltrix::listener::from_fn(|_: &u64, _| Ok(()))
            })
    };
    match base().publishes_to("nope", "t").build() {
        Err(veltrix::BuildError::UnknownEdge { missing, known, .. }) => {
            assert_eq!(missing, "group");
            assert_eq!(known, vec!["g".to_owned()]);
        }
        other => panic!("expected UnknownEdge, got {:?}", other.map(|_| ())),
    }
    match base().publishes_to("g", "nowhere").build() {
        Err(e @ veltrix::BuildError::UnknownEdge { .. }) => {
            let text = e.to_string();
            assert!(text.contains("no topic of that name"), "{text}");
            assert!(text.contains("[t]"), "{text}");
        }
        other => panic!("expected UnknownEdge, got {:?}", other.map(|_| ())),
    }
}
