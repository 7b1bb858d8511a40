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
    let (tx, rx) = mpsc::channel::<Option<veltrix::Report>>();
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
            let (s, t) = (Arc::clone(&s), Arc::clone(&t));
            from_fn(move |e: &u64, _| {
                if *e == 9 {
                    let engine = s.lock().take().expect("the engine is in its slot");
                    let report = match how {
                        Ending::Shutdown => Some(engine.shutdown()),
                        Ending::ShutdownTimeout => {
                            Some(engine.shutdown_timeout(Duration::from_secs(5)).report)
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
    if let Some(report) = report {
        let g = report.group("g").unwrap();
        let other = report.group("other").unwrap();
        // The other group was joined: final and complete.
        assert_eq!(other.handled, 20, "{how:?}: {other:?}");
        // The calling group is reported as of its last finished batch (the
        // one in progress is neither counted nor released yet): nothing is
        // lost, what it has not finished is lag.
        assert_eq!(g.handled + g.lag, 20, "{how:?}: {g:?}");
    }
}

#[test]
fn a_listener_may_shut_down_or_drop_its_own_engine() {
    for poll in [false, true] {
        for how in [Ending::Shutdown, Ending::ShutdownTimeout, Ending::Drop] {
            must_finish(move || ending_inside_a_listener(poll, how));
        }
    }
}
