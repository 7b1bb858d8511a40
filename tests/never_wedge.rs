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
