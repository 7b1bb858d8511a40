//! No topology, re-entrant call or shutdown order blocks a thread forever.
//! Each test runs its scenario on a thread of its own and fails (rather
//! than wedging the test run) if no answer comes within a generous guard.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, OnceLock};
use std::time::Duration;

use veltrix::listener::from_fn;
use veltrix::metrics::MetricsHandle;
use veltrix::{Engine, GroupOptions, TopicOptions};

/// Runs `scenario` on its own thread; panics if it panics or gives no
/// answer within 60 s (a guard against a wedge, not a timing claim).
fn must_finish<T: Send + 'static>(scenario: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(std::panic::catch_unwind(std::panic::AssertUnwindSafe(
            scenario,
        )));
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(Ok(value)) => value,
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(_) => panic!("wedged: no answer within 60 s"),
    }
}

#[test]
fn a_listener_may_take_a_metrics_snapshot() {
    for poll in [false, true] {
        let taken = must_finish(move || {
            let handle: Arc<OnceLock<MetricsHandle>> = Arc::new(OnceLock::new());
            let snapshots = Arc::new(AtomicU64::new(0));
            let (h, n) = (Arc::clone(&handle), Arc::clone(&snapshots));
            let options = if poll {
                GroupOptions::poll()
            } else {
                GroupOptions::workers(1)
            };
            let engine = Engine::builder()
                .latency_sampling(1)
                .topic::<u64>("t", TopicOptions::new(1))
                .subscribe("g", "t", options, move |_| {
                    let (h, n) = (Arc::clone(&h), Arc::clone(&n));
                    from_fn(move |_: &u64, _| {
                        if let Some(handle) = h.get() {
                            let snapshot = handle.snapshot();
                            assert_eq!(snapshot.groups.len(), 1);
                            n.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(())
                    })
                })
                .build()
                .unwrap();
            handle.set(engine.metrics_handle()).unwrap();
            let topic = engine.topic::<u64>("t").unwrap();
            for i in 0..200 {
                topic.publish(i).unwrap();
            }
            if poll {
                let mut poller = engine.poller("g").unwrap();
                while poller.pending() > 0 {
                    poller.poll(16);
                }
            }
            let report = engine.shutdown();
            assert_eq!(report.group("g").unwrap().handled, 200);
            snapshots.load(Ordering::Relaxed)
        });
        assert_eq!(taken, 200, "poll {poll}");
    }
}

/// How a listener ends the engine it runs in.
#[derive(Debug, Clone, Copy)]
enum Ending {
    Shutdown,
    ShutdownTimeout,
    Drop,
}

/// A listener that, at its 10th event, takes the engine out of `slot` and
/// ends it `how`, sending the report (if any) back.
fn ending_inside_a_listener(poll: bool, how: Ending) {
    type Slot = Arc<parking_lot::Mutex<Option<Engine>>>;
    let slot: Slot = Arc::new(parking_lot::Mutex::new(None));
    // The report, and for `shutdown_timeout` what it handed back, by topic.
    type Ended = Option<(veltrix::Report, Option<Vec<(String, usize)>>)>;
    let (tx, rx) = mpsc::channel::<Ended>();
    let handled = Arc::new(AtomicU64::new(0));
    let h = Arc::clone(&handled);
    let tx = parking_lot::Mutex::new(Some(tx));
    let tx = Arc::new(tx);
    let (s, t) = (Arc::clone(&slot), Arc::clone(&tx));
    let options = if poll {
        GroupOptions::poll()
    } else {
        GroupOptions::workers(1)
    };
    let engine = Engine::builder()
        .topic::<u64>("t", TopicOptions::new(1))
        .subscribe("g", "t", options, move |_| {
            let (s, t, h) = (Arc::clone(&s), Arc::clone(&t), Arc::clone(&h));
            from_fn(move |e: &u64, _| {
                h.fetch_add(1, Ordering::SeqCst);
                if *e == 9 {
                    let engine = s.lock().take().expect("the engine is in its slot");
                    let report = match how {
                        Ending::Shutdown => Some((engine.shutdown(), None)),
                        Ending::ShutdownTimeout => {
                            let out = engine.shutdown_timeout(Duration::from_secs(5));
                            let counts = out
                                .unhandled
                                .counts()
                                .map(|(topic, n)| (topic.to_owned(), n))
                                .collect();
                            Some((out.report, Some(counts)))
                        }
                        Ending::Drop => {
                            drop(engine);
                            None
                        }
                    };
                    if let Some(tx) = t.lock().take() {
                        let _ = tx.send(report);
                    }
                }
                Ok(())
            })
        })
        .subscribe("other", "t", GroupOptions::workers(1), |_| {
            from_fn(|_: &u64, _| Ok(()))
        })
        .build()
        .unwrap();
    let topic = engine.topic::<u64>("t").unwrap();
    let mut poller = poll.then(|| engine.poller("g").unwrap());
    *slot.lock() = Some(engine);
    for i in 0..20 {
        topic.publish(i).unwrap();
    }
    if let Some(poller) = &mut poller {
        while poller.poll(4) > 0 {}
    }
    let report = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the listener ended the engine");
    // Later publishes are refused: the engine is shut down.
    assert!(topic.publish(99).is_err());
    if let Some((report, handed_back)) = report {
        // `t` keeps the events the calling group has not handled (it goes
        // on draining them), so nothing of it is handed back.
        if let Some(handed_back) = handed_back {
            assert_eq!(handed_back, vec![("t".to_owned(), 0)], "{how:?}");
        }
        let g = report.group("g").unwrap();
        let other = report.group("other").unwrap();
        // The other group was joined: final and complete.
        assert_eq!(other.handled, 20, "{how:?}: {other:?}");
        // The calling group is reported as of its last finished batch (the
        // one in progress is neither counted nor released yet): nothing is
        // lost, what it has not finished is lag.
        assert_eq!(g.handled + g.lag, 20, "{how:?}: {g:?}");
    }
    // Once its listener returned, the calling group drained the rest of its
    // topic by itself (its worker, or the host's polls).
    if let Some(poller) = &mut poller {
        while poller.poll(4) > 0 {}
    }
    while handled.load(Ordering::SeqCst) < 20 {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(handled.load(Ordering::SeqCst), 20, "{how:?}");
}

#[test]
fn a_listener_may_shut_down_or_drop_its_own_engine() {
    for poll in [false, true] {
        for how in [Ending::Shutdown, Ending::ShutdownTimeout, Ending::Drop] {
            must_finish(move || ending_inside_a_listener(poll, how));
        }
    }
}

/// Whether every event published so far has been handled, read in that
/// order: an event in flight (being handled, about to be forwarded) is
/// published but not yet handled, so equal sums mean none was. (All lags 0
/// is not enough: a group read as idle may get an event from one read after
/// it.) Every topic here has one group.
fn quiet(engine: &Engine) -> bool {
    let handled: u64 = engine.report().groups.iter().map(|g| g.handled).sum();
    let published: u64 = engine.report().topics.iter().map(|t| t.published).sum();
    handled == published
}

/// Publishes `value` into the topic in `slot`, blocking; counts a
/// `WouldDeadlock` refusal in `refused` (the event is dropped by the
/// listener, on purpose) and returns whether it was accepted.
fn forward(slot: &OnceLock<veltrix::Topic<u64>>, value: u64, refused: &AtomicU64) -> bool {
    match slot.get().expect("set after build").publish(value) {
        Ok(_) => true,
        Err(e) if e.kind() == veltrix::PublishErrorKind::WouldDeadlock => {
            refused.fetch_add(1, Ordering::Relaxed);
            false
        }
        Err(e) => panic!("unexpected refusal: {e}"),
    }
}

#[test]
fn two_groups_publishing_into_each_others_full_topics_never_wedge() {
    const SEEDS: u64 = 4;
    const HOPS: u64 = 200;
    let (accepted, refused) = must_finish(|| {
        let a: Arc<OnceLock<veltrix::Topic<u64>>> = Arc::new(OnceLock::new());
        let b: Arc<OnceLock<veltrix::Topic<u64>>> = Arc::new(OnceLock::new());
        let accepted = Arc::new(AtomicU64::new(0));
        let refused = Arc::new(AtomicU64::new(0));
        // Each listener forwards an event (a hop count) to the other topic
        // until it has made `HOPS` hops.
        let relay = |to: &Arc<OnceLock<veltrix::Topic<u64>>>| {
            let (to, accepted, refused) =
                (Arc::clone(to), Arc::clone(&accepted), Arc::clone(&refused));
            move |_: &veltrix::WorkerInfo| {
                let (to, accepted, refused) =
                    (Arc::clone(&to), Arc::clone(&accepted), Arc::clone(&refused));
                from_fn(move |hop: &u64, _| {
                    if *hop < HOPS && forward(&to, hop + 1, &refused) {
                        accepted.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(())
                })
            }
        };
        let engine = Engine::builder()
            .topic::<u64>("a", TopicOptions::new(1).capacity(2))
            .topic::<u64>("b", TopicOptions::new(1).capacity(2))
            .subscribe("A", "a", GroupOptions::workers(1), relay(&b))
            .subscribe("B", "b", GroupOptions::workers(1), relay(&a))
            .build()
            .unwrap();
        a.set(engine.topic("a").unwrap()).unwrap();
        b.set(engine.topic("b").unwrap()).unwrap();
        for _ in 0..SEEDS {
            // The host is no reader: it may wait for room.
            a.get().unwrap().publish(0).unwrap();
            b.get().unwrap().publish(0).unwrap();
        }
        // Every chain ends (HOPS reached or a hop refused): wait for quiet.
        while !quiet(&engine) {
            std::thread::yield_now();
        }
        let report = engine.shutdown();
        let (accepted, refused) = (
            accepted.load(Ordering::Relaxed),
            refused.load(Ordering::Relaxed),
        );
        let published: u64 = report.topics.iter().map(|t| t.published).sum();
        let handled: u64 = report.groups.iter().map(|g| g.handled).sum();
        // Nothing lost: every accepted hop was published and handled.
        assert_eq!(published, 2 * SEEDS + accepted, "{report:?}");
        assert_eq!(handled, published, "{report:?}");
        // Every chain either ran to the end or was cut by one refusal.
        let ends = 2 * SEEDS;
        let full_chains = ends - refused;
        assert!(accepted >= full_chains * HOPS, "{accepted} {refused}");
        (accepted, refused)
    });
    assert!(accepted + refused > 0);
}

#[test]
fn a_worker_polling_a_group_that_publishes_back_is_refused_not_wedged() {
    let refused = must_finish(|| {
        let x: Arc<OnceLock<veltrix::Topic<u64>>> = Arc::new(OnceLock::new());
        let poller: Arc<OnceLock<parking_lot::Mutex<veltrix::Poller>>> = Arc::new(OnceLock::new());
        let refused = Arc::new(AtomicU64::new(0));
        let (x2, r2, p2) = (Arc::clone(&x), Arc::clone(&refused), Arc::clone(&poller));
        let engine = Engine::builder()
            .topic::<u64>("x", TopicOptions::new(1).capacity(1))
            .topic::<u64>("y", TopicOptions::new(1))
            // A worker of "w" polls group "p" from its listener...
            .subscribe("w", "x", GroupOptions::workers(1), move |_| {
                let p2 = Arc::clone(&p2);
                from_fn(move |_: &u64, _| {
                    if let Some(poller) = p2.get() {
                        poller.lock().poll(16);
                    }
                    Ok(())
                })
            })
            // ...whose listener publishes into "x", full with the event the
            // worker is handling: waiting would wait for the worker itself.
            .subscribe("p", "y", GroupOptions::poll(), move |_| {
                let (x2, r2) = (Arc::clone(&x2), Arc::clone(&r2));
                from_fn(move |v: &u64, _| {
                    forward(&x2, *v, &r2);
                    Ok(())
                })
            })
            .build()
            .unwrap();
        x.set(engine.topic("x").unwrap()).unwrap();
        poller
            .set(parking_lot::Mutex::new(engine.poller("p").unwrap()))
            .unwrap();
        engine.topic::<u64>("y").unwrap().publish(7).unwrap();
        x.get().unwrap().publish(1).unwrap();
        while !quiet(&engine) {
            std::thread::yield_now();
        }
        engine.shutdown();
        refused.load(Ordering::Relaxed)
    });
    assert_eq!(refused, 1);
}

#[test]
fn nested_host_polls_that_publish_back_are_refused_not_wedged() {
    let refused = must_finish(|| {
        let x: Arc<OnceLock<veltrix::Topic<u64>>> = Arc::new(OnceLock::new());
        let inner: Arc<OnceLock<parking_lot::Mutex<veltrix::Poller>>> = Arc::new(OnceLock::new());
        let refused = Arc::new(AtomicU64::new(0));
        let (x2, r2, i2) = (Arc::clone(&x), Arc::clone(&refused), Arc::clone(&inner));
        let engine = Engine::builder()
            .topic::<u64>("x", TopicOptions::new(1).capacity(1))
            .topic::<u64>("y", TopicOptions::new(1))
            .subscribe("p1", "x", GroupOptions::poll(), move |_| {
                let i2 = Arc::clone(&i2);
                from_fn(move |_: &u64, _| {
                    if let Some(poller) = i2.get() {
                        poller.lock().poll(16);
                    }
                    Ok(())
                })
            })
            .subscribe("p2", "y", GroupOptions::poll(), move |_| {
                let (x2, r2) = (Arc::clone(&x2), Arc::clone(&r2));
                from_fn(move |v: &u64, _| {
                    forward(&x2, *v, &r2);
                    Ok(())
                })
            })
            .build()
            .unwrap();
        x.set(engine.topic("x").unwrap()).unwrap();
        inner
            .set(parking_lot::Mutex::new(engine.poller("p2").unwrap()))
            .unwrap();
        let mut outer = engine.poller("p1").unwrap();
        engine.topic::<u64>("y").unwrap().publish(7).unwrap();
        x.get().unwrap().publish(1).unwrap();
        // The host polls p1, whose listener polls p2, whose listener
        // publishes into p1's full ring: the host itself drains it.
        outer.poll(16);
        engine.shutdown();
        refused.load(Ordering::Relaxed)
    });
    assert_eq!(refused, 1);
}

#[test]
fn shutdown_drains_a_poll_mode_dead_letter_group_while_its_feeders_stop() {
    let report = must_finish(|| {
        let engine = Engine::builder()
            .topic::<u64>("t", TopicOptions::new(1))
            .dead_letter_topic::<u64>("dlq", TopicOptions::new(1).capacity(2))
            .subscribe(
                "g",
                "t",
                GroupOptions::workers(1).failure_policy(
                    veltrix::FailurePolicy::default().on_exhausted(
                        veltrix::Exhausted::DeadLetter {
                            topic: "dlq".into(),
                        },
                    ),
                ),
                |_| from_fn(|_: &u64, _| Err("always fails".into())),
            )
            .subscribe("dead", "dlq", GroupOptions::poll(), |_| {
                from_fn(|_: &veltrix::DeadLetter<u64>, _| Ok(()))
            })
            .build()
            .unwrap();
        let topic = engine.topic::<u64>("t").unwrap();
        for i in 0..20 {
            topic.publish(i).unwrap();
        }
        // Nobody polls "dead": g fills the dead-letter topic and waits on
        // it; shutdown must drain "dead" while it waits for g.
        engine.shutdown()
    });
    let g = report.group("g").unwrap();
    assert_eq!(g.dead_lettered, 20, "{g:?}");
    assert_eq!(report.group("dead").unwrap().handled, 20);
    report.check_conservation().unwrap();
}

#[test]
fn no_listener_starts_after_a_shutdown_deadline() {
    let (starts, unhandled, g) = must_finish(|| {
        let starts = Arc::new(AtomicU64::new(0));
        let seen = Arc::clone(&starts);
        let engine = Engine::builder()
            .topic::<u64>("t", TopicOptions::new(1))
            .subscribe("slow", "t", GroupOptions::workers(1), move |_| {
                let seen = Arc::clone(&seen);
                from_fn(move |_: &u64, _| {
                    seen.fetch_add(1, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(400));
                    Ok(())
                })
            })
            .build()
            .unwrap();
        let topic = engine.topic::<u64>("t").unwrap();
        for i in 0..3 {
            topic.publish(i).unwrap();
        }
        // The first event is being handled (one batch holds all three).
        while starts.load(Ordering::SeqCst) == 0 {
            std::thread::yield_now();
        }
        let shutdown = engine.shutdown_timeout(Duration::from_millis(50));
        // The 400 ms listener outlasts the deadline and its grace: its
        // worker is left behind (stuck), so the topic keeps its events.
        let g = shutdown.report.group("slow").unwrap().clone();
        // Time for the left-behind worker to (wrongly) start another event.
        std::thread::sleep(Duration::from_millis(1000));
        (starts.load(Ordering::SeqCst), shutdown.unhandled.len(), g)
    });
    assert_eq!(starts, 1, "a handler started after the deadline");
    assert_eq!(g.stuck.len(), 1, "{g:?}");
    assert_eq!(g.stuck[0].sequence, 0);
    assert_eq!(g.lag, 3, "{g:?}");
    assert_eq!(unhandled, 0, "a stuck reader's topic is not taken from");
}

/// A listener that never returns (until the test lets it) cannot hold a
/// `shutdown_timeout` past its deadline: the shutdown returns, names the
/// stuck worker, partition and sequence, keeps that topic's events in the
/// rings (its reader is still in use: they are lag, not handed back), and
/// the worker exits by itself once its listener returns.
#[test]
fn shutdown_timeout_returns_past_a_stuck_listener_and_names_it() {
    must_finish(|| {
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let release_rx = Arc::new(parking_lot::Mutex::new(release_rx));
        let (entered_tx, entered_rx) = mpsc::channel::<u64>();
        let entered_tx = Arc::new(parking_lot::Mutex::new(entered_tx));
        let exited = Arc::new(AtomicU64::new(0));
        let (rx, tx, ex) = (
            Arc::clone(&release_rx),
            Arc::clone(&entered_tx),
            Arc::clone(&exited),
        );
        let engine = Engine::builder()
            .topic::<u64>("t", TopicOptions::new(1))
            .subscribe("g", "t", GroupOptions::workers(1), move |_| {
                let (rx, tx, ex) = (Arc::clone(&rx), Arc::clone(&tx), Arc::clone(&ex));
                struct Stuck {
                    rx: Arc<parking_lot::Mutex<mpsc::Receiver<()>>>,
                    tx: Arc<parking_lot::Mutex<mpsc::Sender<u64>>>,
                    exited: Arc<AtomicU64>,
                }
                impl veltrix::Listener<u64> for Stuck {
                    fn on_event(
                        &mut self,
                        e: &u64,
                        ctx: &veltrix::EventContext<'_>,
                    ) -> Result<(), veltrix::ListenerError> {
                        if *e == 2 {
                            let _ = self.tx.lock().send(ctx.sequence());
                            // Blocks until the test releases it.
                            let _ = self.rx.lock().recv();
                        }
                        Ok(())
                    }
                    fn on_shutdown(&mut self) {
                        self.exited.fetch_add(1, Ordering::SeqCst);
                    }
                }
                Stuck { rx, tx, exited: ex }
            })
            .build()
            .unwrap();
        let topic = engine.topic::<u64>("t").unwrap();
        for i in 0..5 {
            topic.publish(i).unwrap();
        }
        assert_eq!(
            entered_rx.recv().unwrap(),
            2,
            "the listener is stuck at sequence 2"
        );
        let out = engine.shutdown_timeout(Duration::from_millis(50));
        let g = out.report.group("g").unwrap();
        assert_eq!(g.stuck.len(), 1, "{g:?}");
        assert_eq!(
            (g.stuck[0].worker, g.stuck[0].partition, g.stuck[0].sequence),
            (0, 0, 2)
        );
        assert!(!g.is_healthy());
        assert_eq!(g.handled + g.lag, 5, "{g:?}");
        assert_eq!(
            out.unhandled.len(),
            0,
            "the stuck reader's topic is not taken from"
        );
        assert!(out.report.to_string().contains("STUCK worker 0 of g"));
        assert_eq!(
            exited.load(Ordering::SeqCst),
            0,
            "still inside the listener"
        );
        release_tx.send(()).unwrap();
        while exited.load(Ordering::SeqCst) == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
    });
}

/// Dropping an engine whose listener fails forever under `Retries::Forever`
/// ends: the drop drains for at most `DROP_TIMEOUT`, then stops the group.
#[test]
fn dropping_an_engine_with_a_listener_failing_forever_ends() {
    must_finish(|| {
        let engine = Engine::builder()
            .topic::<u64>("t", TopicOptions::new(1))
            .subscribe(
                "g",
                "t",
                GroupOptions::workers(1).failure_policy(
                    veltrix::FailurePolicy::default()
                        .retries(veltrix::Retries::Forever)
                        .backoff(veltrix::Backoff {
                            initial: Duration::from_millis(1),
                            max: Duration::from_millis(1),
                            multiplier: 1,
                        }),
                ),
                |_| from_fn(|_: &u64, _| Err("always".into())),
            )
            .build()
            .unwrap();
        engine.topic::<u64>("t").unwrap().publish(1).unwrap();
        drop(engine);
    });
}

/// The same in poll mode: a host thread stuck inside a poll (its listener
/// does not return) cannot hold `shutdown_timeout` on another thread past
/// its deadline; the group is reported stuck (worker 0: the poll).
#[test]
fn shutdown_timeout_returns_past_a_poll_stuck_on_another_thread() {
    must_finish(|| {
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let release_rx = Arc::new(parking_lot::Mutex::new(release_rx));
        let (entered_tx, entered_rx) = mpsc::channel::<()>();
        let entered_tx = Arc::new(parking_lot::Mutex::new(entered_tx));
        let (rx, tx) = (Arc::clone(&release_rx), Arc::clone(&entered_tx));
        let engine = Engine::builder()
            .topic::<u64>("t", TopicOptions::new(1))
            .subscribe("p", "t", GroupOptions::poll(), move |_| {
                let (rx, tx) = (Arc::clone(&rx), Arc::clone(&tx));
                from_fn(move |e: &u64, _| {
                    if *e == 1 {
                        let _ = tx.lock().send(());
                        let _ = rx.lock().recv();
                    }
                    Ok(())
                })
            })
            .build()
            .unwrap();
        let topic = engine.topic::<u64>("t").unwrap();
        for i in 0..4 {
            topic.publish(i).unwrap();
        }
        let mut poller = engine.poller("p").unwrap();
        let host = std::thread::spawn(move || while poller.poll(16) > 0 {});
        entered_rx.recv().unwrap();
        let out = engine.shutdown_timeout(Duration::from_millis(50));
        let g = out.report.group("p").unwrap();
        assert_eq!(g.stuck.len(), 1, "{g:?}");
        assert_eq!((g.stuck[0].worker, g.stuck[0].sequence), (0, 1));
        assert_eq!(
            out.unhandled.len(),
            0,
            "the stuck poll's topic is not taken from"
        );
        release_tx.send(()).unwrap();
        host.join().unwrap();
    });
}
