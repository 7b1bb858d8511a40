//! A listener that stays inside one event past the engine's stall
//! threshold is reported while the engine runs (report, metric), and no
//! longer once it moves on; threaded workers and poll groups alike.

use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use veltrix::listener::from_fn;
use veltrix::{BuildError, Engine, GroupOptions, TopicOptions};

const THRESHOLD: Duration = Duration::from_millis(50);

/// Waits (up to 20 s, a bound for a loaded machine, not a timing claim)
/// until `done` holds.
fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out: {what}"
        );
        thread::sleep(Duration::from_millis(5));
    }
}

/// An engine whose listener blocks on event 3 until `release` is sent.
fn engine(poll: bool, release: mpsc::Receiver<()>) -> Engine {
    let release = Arc::new(Mutex::new(release));
    let options = if poll {
        GroupOptions::poll()
    } else {
        GroupOptions::workers(1)
    };
    Engine::builder()
        .stall_threshold(Some(THRESHOLD))
        .topic::<u64>("t", TopicOptions::new(1).capacity(16))
        .subscribe("g", "t", options, move |_| {
            let release = Arc::clone(&release);
            from_fn(move |n: &u64, _| {
                if *n == 3 {
                    release.lock().unwrap().recv().expect("released");
                }
                Ok(())
            })
        })
        .build()
        .unwrap()
}

fn a_stalled_listener_is_reported_and_then_cleared(poll: bool) {
    let (release, released) = mpsc::channel();
    let engine = Arc::new(engine(poll, released));
    let topic = engine.topic::<u64>("t").unwrap();
    for n in 0..6 {
        topic.publish(n).unwrap();
    }
    let poller = poll.then(|| {
        let mut poller = engine.poller("g").unwrap();
        thread::spawn(move || {
            let mut handled = 0;
            while handled < 6 {
                handled += poller.poll(64);
            }
        })
    });
    eventually("the stall to be reported", || {
        !engine.report().groups[0].stalled.is_empty()
    });
    let report = engine.report();
    let stalled = &report.groups[0].stalled;
    assert_eq!(stalled.len(), 1, "{stalled:?}");
    assert_eq!(
        (stalled[0].worker, stalled[0].partition, stalled[0].sequence),
        (0, 0, 3)
    );
    assert!(stalled[0].stalled_for >= THRESHOLD, "{stalled:?}");
    let text = engine.metrics().to_prometheus();
    assert!(
        text.contains("veltrix_stalled_listeners{group=\"g\",topic=\"t\"} 1"),
        "{text}"
    );
    release.send(()).unwrap();
    eventually("the stall to clear", || {
        engine.report().groups[0].stalled.is_empty()
    });
    if let Some(poller) = poller {
        poller.join().unwrap();
    }
    let engine = Arc::try_unwrap(engine).expect("one handle left");
    let report = engine.shutdown();
    report.check_conservation().unwrap();
    assert_eq!(report.groups[0].handled, 6);
    assert!(report.groups[0].stalled.is_empty());
}

#[test]
fn a_stalled_worker_is_reported_while_it_runs_and_cleared_after() {
    a_stalled_listener_is_reported_and_then_cleared(false);
}

#[test]
fn a_stalled_poll_is_reported_while_it_runs_and_cleared_after() {
    a_stalled_listener_is_reported_and_then_cleared(true);
}

#[test]
fn a_listener_that_keeps_moving_is_never_stalled() {
    let engine = Engine::builder()
        // Long enough that a worker preempted inside an event on a loaded
        // machine is not taken for a stalled one.
        .stall_threshold(Some(Duration::from_millis(500)))
        .topic::<u64>("t", TopicOptions::new(1).capacity(16))
        .subscribe("g", "t", GroupOptions::workers(1), |_| {
            from_fn(|_: &u64, _| Ok(()))
        })
        .build()
        .unwrap();
    let topic = engine.topic::<u64>("t").unwrap();
    // Idle and busy: a worker between batches or moving from event to
    // event is not stalled, however often it is looked at.
    for n in 0..2000 {
        topic.publish(n).unwrap();
        if n % 100 == 0 {
            assert!(engine.report().groups[0].stalled.is_empty());
        }
    }
    let report = engine.shutdown();
    report.check_conservation().unwrap();
    assert!(report.groups[0].stalled.is_empty());
}

#[test]
fn a_stall_threshold_under_a_millisecond_is_refused() {
    let error = Engine::builder()
        .stall_threshold(Some(Duration::from_micros(10)))
        .topic::<u64>("t", TopicOptions::new(1))
        .subscribe("g", "t", GroupOptions::workers(1), |_| {
            from_fn(|_: &u64, _| Ok(()))
        })
        .build()
        .unwrap_err();
    let text = error.to_string();
    assert!(
        matches!(&error, BuildError::InvalidSetting(s) if s.field == "stall_threshold"),
        "{text}"
    );
    assert!(text.contains("1ms"), "{text}");
}

#[cfg(feature = "toml")]
#[test]
fn the_stall_threshold_comes_from_the_config_file_too() {
    use veltrix::config::Config;
    let read = |engine: &str| {
        Config::from_toml_str(&format!(
            "[engine]\n{engine}\n[[topics]]\nname = \"t\"\n[[groups]]\nname = \"g\"\ntopic = \"t\"\n"
        ))
    };
    let config = read("stall_threshold = \"250ms\"").unwrap();
    assert_eq!(
        config.engine.stall_threshold,
        Some(Duration::from_millis(250))
    );
    let off = read("stall_threshold = \"off\"").unwrap();
    assert_eq!(off.engine.stall_threshold, None);
    // Printed and read back as the same value.
    for config in [config, off] {
        let printed = config.to_toml_string().unwrap();
        assert_eq!(
            Config::from_toml_str(&printed).unwrap(),
            config,
            "{printed}"
        );
    }
    let error = read("stall_threshold = \"10us\"").unwrap_err().to_string();
    assert!(
        error.contains("engine.stall_threshold") && error.contains("1ms"),
        "{error}"
    );
    let error = read("stall_threshold = 10").unwrap_err().to_string();
    assert!(error.contains("engine.stall_threshold"), "{error}");
}
