//! Every value reachable through the public API ends in a typed error or a
//! clean run: no panic, no abort, no hang, no exhausted host.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use veltrix::listener::from_fn;
use veltrix::{
    Backoff, BuildError, Engine, EngineBuilder, FailurePolicy, FullPolicy, GroupOptions,
    ListenerError, Rule, TopicOptions, MAX_BACKOFF,
};

fn ok_listener(_: &veltrix::WorkerInfo) -> impl veltrix::Listener<u64> {
    from_fn(|_: &u64, _| Ok(()))
}

/// The build's errors.
fn errors(builder: EngineBuilder) -> Vec<BuildError> {
    match builder.build() {
        Ok(engine) => panic!("expected an error, built {engine:?}"),
        Err(error) => error.errors().into_iter().cloned().collect(),
    }
}

/// Whether `errors` has an invalid setting `field` breaking `rule`.
fn has_setting(errors: &[BuildError], field: &str, rule: Rule) -> bool {
    errors
        .iter()
        .any(|e| matches!(e, BuildError::InvalidSetting(s) if s.field == field && s.rule == rule))
}

fn one_topic(topic: TopicOptions, group: GroupOptions) -> EngineBuilder {
    Engine::builder()
        .topic::<u64>("t", topic)
        .subscribe("g", "t", group, ok_listener)
}

#[test]
fn max_batch_zero_is_a_typed_error() {
    let mut options = GroupOptions::workers(1);
    options.max_batch = 0;
    let found = errors(one_topic(TopicOptions::new(1), options));
    assert!(
        has_setting(&found, "max_batch", Rule::OutOfRange),
        "{found:?}"
    );
    let text = found[0].to_string();
    assert!(text.contains("group \"g\": max_batch = 0"), "{text}");
    assert!(text.contains("use 1 or more"), "{text}");
}

#[test]
fn huge_counts_and_sizes_are_typed_errors_before_anything_is_allocated() {
    // Workers: out of range at any size past the limit.
    for workers in [usize::MAX, 1 << 40, veltrix::MAX_WORKERS + 1] {
        let found = errors(one_topic(
            TopicOptions::new(1),
            GroupOptions::workers(workers),
        ));
        assert!(
            has_setting(&found, "mode.workers", Rule::OutOfRange),
            "{found:?}"
        );
    }
    // Partitions: out of range past the limit.
    let found = errors(one_topic(
        TopicOptions::new(u32::MAX),
        GroupOptions::workers(1),
    ));
    assert!(
        has_setting(&found, "partitions", Rule::OutOfRange),
        "{found:?}"
    );
    // Sizes in range one by one, too much together: refused by the budget,
    // before a single ring is allocated (this returns at once).
    let big = TopicOptions::new(veltrix::MAX_PARTITIONS).capacity(1 << 20);
    let found = errors(one_topic(big, GroupOptions::workers(1)));
    match &found[..] {
        [BuildError::OverBudget {
            item,
            bytes,
            total,
            budget,
        }] => {
            assert!(item.contains("topic \"t\""), "{item}");
            assert!(*bytes > 1 << 40 && total >= bytes, "{bytes} {total}");
            assert_eq!(*budget, u128::from(veltrix::DEFAULT_MEMORY_BUDGET));
        }
        other => panic!("expected OverBudget, got {other:?}"),
    }
    // De-duplication windows: usize::MAX and 2^40 ids.
    for window in [usize::MAX, 1 << 40] {
        let found = errors(
            one_topic(TopicOptions::new(1), GroupOptions::workers(1)).deduplicate(
                "t",
                window,
                |e: &u64| *e,
            ),
        );
        assert!(
            matches!(&found[..], [BuildError::OverBudget { item, .. }] if item.contains("group \"g\"")),
            "{found:?}"
        );
    }
}

#[test]
fn the_memory_budget_is_settable_and_counts_what_the_engine_allocates() {
    // 4 partitions x 1 Mi slots of u64 (16-byte slots with the stamp, plus
    // an 8-byte timestamp): 96 MiB or so.
    let topic = || TopicOptions::new(4).capacity(1 << 20);
    let found = errors(one_topic(topic(), GroupOptions::workers(1)).memory_budget(1 << 20));
    let [BuildError::OverBudget { total, .. }] = &found[..] else {
        panic!("expected OverBudget, got {found:?}");
    };
    let needed = u64::try_from(*total).unwrap();
    assert!(needed > 4 * (1 << 20) * 16, "{needed}");
    let message = found[0].to_string();
    assert!(
        message.contains("EngineBuilder::memory_budget"),
        "{message}"
    );
    // Exactly the total fits.
    let engine = one_topic(topic(), GroupOptions::workers(1))
        .memory_budget(needed)
        .build()
        .expect("a topology within its budget builds");
    assert_eq!(engine.shutdown().group("g").unwrap().lag, 0);
}

#[test]
fn names_that_threads_and_labels_cannot_carry_are_typed_errors() {
    for bad in [
        "with\0nul",
        "line\nbreak",
        &"x".repeat(veltrix::MAX_NAME_BYTES + 1),
    ] {
        let found = errors(
            Engine::builder()
                .topic::<u64>(bad, TopicOptions::new(1))
                .subscribe(bad, bad, GroupOptions::workers(1), ok_listener),
        );
        let invalid = found
            .iter()
            .filter(|e| matches!(e, BuildError::InvalidSetting(s) if s.rule == Rule::InvalidName))
            .count();
        assert_eq!(invalid, 2, "topic and group: {found:?}");
    }
}

/// The names of this process's threads (Linux).
#[cfg(target_os = "linux")]
fn thread_names() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .map(|name| name.trim_end().to_owned())
        .collect()
}

#[cfg(target_os = "linux")]
#[test]
fn a_refused_build_starts_no_thread() {
    let found = errors(
        Engine::builder()
            .topic::<u64>("t", TopicOptions::new(1))
            .subscribe("first-ok", "t", GroupOptions::workers(1), ok_listener)
            .subscribe("bad\0", "t", GroupOptions::workers(1), ok_listener),
    );
    assert!(has_setting(&found, "name", Rule::InvalidName), "{found:?}");
    let names = thread_names();
    assert!(
        !names.iter().any(|n| n.starts_with("veltrix-first-o")),
        "a worker was left running: {names:?}"
    );
}

#[test]
fn backoffs_past_the_bound_are_typed_errors() {
    for (initial, max) in [
        (Duration::MAX, Duration::MAX),
        (Duration::from_millis(1), Duration::MAX),
        (MAX_BACKOFF + Duration::from_nanos(1), MAX_BACKOFF * 2),
    ] {
        let policy = FailurePolicy::default().backoff(Backoff {
            initial,
            max,
            multiplier: 2,
        });
        let found = errors(one_topic(
            TopicOptions::new(1),
            GroupOptions::workers(1).failure_policy(policy),
        ));
        assert!(
            has_setting(&found, "failure.backoff.max", Rule::OutOfRange),
            "{found:?}"
        );
    }
}

#[test]
fn duration_max_means_no_deadline_everywhere() {
    let handled = Arc::new(AtomicU64::new(0));
    let seen = Arc::clone(&handled);
    let engine = Engine::builder()
        .topic::<u64>(
            "t",
            TopicOptions::new(1)
                .capacity(2)
                .full_policy(FullPolicy::BlockTimeout(Duration::MAX)),
        )
        .subscribe("slow", "t", GroupOptions::workers(1), move |_| {
            let seen = Arc::clone(&seen);
            from_fn(move |_: &u64, _| {
                std::thread::sleep(Duration::from_micros(200));
                seen.fetch_add(1, Ordering::Relaxed);
                Ok(())
            })
        })
        .subscribe("polled", "t", GroupOptions::poll(), ok_listener)
        .build()
        .unwrap();
    let topic = engine.topic::<u64>("t").unwrap();
    let mut poller = engine.poller("polled").unwrap();
    for i in 0..20 {
        // The ring holds 2: publishes wait, with a deadline too far to
        // represent, for the slow group and the poller.
        while topic.try_publish(i).is_err() {
            poller.poll_for(16, Duration::MAX);
            std::thread::yield_now();
        }
    }
    while poller.pending() > 0 {
        poller.poll_for(16, Duration::MAX);
    }
    assert!(veltrix::router::drain(&engine, &["slow"], Duration::MAX));
    let shutdown = engine.shutdown_timeout(Duration::MAX);
    assert!(shutdown.unhandled.is_empty());
    let report = shutdown.report;
    assert_eq!(report.group("slow").unwrap().handled, 20);
    assert_eq!(report.group("polled").unwrap().handled, 20);
    assert_eq!(handled.load(Ordering::Relaxed), 20);
}

#[test]
fn a_blocking_publish_with_duration_max_waits_like_block() {
    let engine = one_topic(
        TopicOptions::new(1)
            .capacity(1)
            .full_policy(FullPolicy::BlockTimeout(Duration::MAX)),
        GroupOptions::workers(1),
    )
    .build()
    .unwrap();
    let topic = engine.topic::<u64>("t").unwrap();
    for i in 0..1000 {
        topic.publish(i).unwrap();
    }
    assert_eq!(engine.shutdown().group("g").unwrap().handled, 1000);
}

/// Counts its drops, and panics in each.
struct PanickyDrop(Arc<AtomicU64>);

impl Drop for PanickyDrop {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
        panic!("PanickyDrop::drop");
    }
}

/// A listener error whose `Drop` panics.
struct BadError(#[allow(dead_code)] PanickyDrop);

impl fmt::Debug for BadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BadError")
    }
}

impl fmt::Display for BadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("bad error")
    }
}

impl std::error::Error for BadError {}

/// A group whose listener fails every event with an error whose `Drop`
/// panics (`payload = false`), or panics with a payload whose `Drop` panics.
fn failing(options: GroupOptions, payload: bool, drops: &Arc<AtomicU64>) -> Engine {
    let drops = Arc::clone(drops);
    Engine::builder()
        .topic::<u64>("t", TopicOptions::new(2))
        .subscribe("g", "t", options, move |_| {
            let drops = Arc::clone(&drops);
            from_fn(move |_: &u64, _| -> Result<(), ListenerError> {
                if payload {
                    std::panic::panic_any(PanickyDrop(Arc::clone(&drops)));
                }
                Err(Box::new(BadError(PanickyDrop(Arc::clone(&drops)))))
            })
        })
        .build()
        .unwrap()
}

#[test]
fn errors_and_payloads_with_panicking_drops_never_stop_a_group() {
    const EVENTS: u64 = 8;
    for payload in [false, true] {
        for poll in [false, true] {
            let drops = Arc::new(AtomicU64::new(0));
            let options = if poll {
                GroupOptions::poll()
            } else {
                GroupOptions::workers(1)
            };
            let engine = failing(options, payload, &drops);
            let topic = engine.topic::<u64>("t").unwrap();
            for i in 0..EVENTS {
                topic.publish(i).unwrap();
            }
            if poll {
                let mut poller = engine.poller("g").unwrap();
                while poller.pending() > 0 {
                    poller.poll(3);
                }
            }
            let report = engine.shutdown();
            let g = report.group("g").unwrap();
            let case = format!("payload {payload}, poll {poll}: {g:?}");
            assert_eq!(g.skipped, EVENTS, "{case}");
            assert_eq!(g.failures, EVENTS, "{case}");
            assert_eq!(g.lag, 0, "{case}");
            assert_eq!(g.drop_panics, drops.load(Ordering::SeqCst), "{case}");
            assert_eq!(g.drop_panics, EVENTS, "{case}");
            report.check_conservation().unwrap();
        }
    }
}

#[test]
fn counts_are_final_when_lag_says_so() {
    const EVENTS: u64 = 20_000;
    let engine = one_topic(TopicOptions::new(2).capacity(64), GroupOptions::workers(2))
        .build()
        .unwrap();
    let topic = engine.topic::<u64>("t").unwrap();
    let publisher = std::thread::spawn(move || {
        for i in 0..EVENTS {
            topic.publish(i).unwrap();
        }
    });
    // Sampled while the group runs: whenever the lag says every published
    // event is consumed, the counts already say so too (at least every
    // event published before the report was taken).
    loop {
        let published = engine.report().topic("t").unwrap().published;
        let report = engine.report();
        let g = report.group("g").unwrap();
        if g.lag == 0 {
            assert!(g.handled >= published, "lag 0 but counts behind: {g:?}");
            if published == EVENTS {
                break;
            }
        }
    }
    publisher.join().unwrap();
    engine.shutdown();
}
