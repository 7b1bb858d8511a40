//! Property: any option values given to the public builder — durations up
//! to `Duration::MAX`, zero and huge sizes and counts, arbitrary names —
//! either build into an engine that runs and shuts down, or are refused
//! with typed errors. Never a panic, an abort or a hang.

use std::sync::mpsc;
use std::time::Duration;

use proptest::prelude::*;
use veltrix::listener::from_fn;
use veltrix::{
    Backoff, BuildError, Engine, Exhausted, FailurePolicy, FullPolicy, GroupOptions,
    PartitionerKind, Retries, TopicOptions, WaitStrategy,
};

/// Small values most of the time, with the edges and huge ones mixed in.
fn count() -> impl Strategy<Value = usize> {
    prop_oneof![
        6 => 0usize..6,
        1 => Just(usize::MAX),
        1 => Just(1usize << 40),
        1 => Just(veltrix::MAX_WORKERS + 1),
        1 => any::<usize>(),
    ]
}

fn partitions() -> impl Strategy<Value = u32> {
    prop_oneof![
        6 => 0u32..6,
        1 => Just(u32::MAX),
        1 => Just(veltrix::MAX_PARTITIONS),
        1 => any::<u32>(),
    ]
}

fn capacity() -> impl Strategy<Value = usize> {
    prop_oneof![
        4 => (0u32..12).prop_map(|b| 1usize << b),
        2 => 0usize..2000,
        1 => Just(1usize << 20),
        1 => Just(1usize << 62),
        1 => any::<usize>(),
    ]
}

fn duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        3 => (0u64..2000).prop_map(Duration::from_micros),
        1 => Just(Duration::ZERO),
        1 => Just(Duration::MAX),
        1 => Just(veltrix::MAX_BACKOFF),
        1 => any::<(u64, u32)>().prop_map(|(s, n)| Duration::new(s, n % 1_000_000_000)),
    ]
}

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z][a-z0-9._-]{0,12}",
        1 => Just(String::new()),
        1 => Just("nul\0inside".to_owned()),
        1 => Just("x".repeat(300)),
        1 => any::<String>(),
    ]
}

#[derive(Debug, Clone)]
struct Case {
    topic: String,
    group: String,
    partitions: u32,
    capacity: usize,
    partitioner: PartitionerKind,
    full: FullPolicy,
    workers: Option<usize>,
    max_batch: usize,
    wait: WaitStrategy,
    retries: Retries,
    backoff: Backoff,
    dedup: Option<usize>,
}

fn case() -> impl Strategy<Value = Case> {
    let topic = (
        name(),
        partitions(),
        capacity(),
        prop_oneof![
            Just(PartitionerKind::RoundRobin),
            any::<u64>().prop_map(|linger| PartitionerKind::Sticky { linger: linger % 3 }),
            partitions().prop_map(|partition| PartitionerKind::Fixed { partition }),
        ],
        prop_oneof![
            Just(FullPolicy::Block),
            Just(FullPolicy::Reject),
            Just(FullPolicy::DropNewest),
            duration().prop_map(FullPolicy::BlockTimeout),
        ],
        proptest::option::of(count()),
    );
    let group = (
        name(),
        proptest::option::of(count()),
        count(),
        prop_oneof![Just(WaitStrategy::BusySpin), Just(WaitStrategy::default()),],
        prop_oneof![(0u32..3).prop_map(Retries::Limited), Just(Retries::Forever),],
        (duration(), duration(), any::<u32>()),
    );
    (topic, group).prop_map(
        |((topic, partitions, capacity, partitioner, full, dedup), group)| {
            let (group, workers, max_batch, wait, retries, (initial, max, multiplier)) = group;
            Case {
                topic,
                group,
                partitions,
                capacity,
                partitioner,
                full,
                workers,
                max_batch,
                wait,
                retries,
                backoff: Backoff {
                    initial,
                    max,
                    multiplier: multiplier % 4,
                },
                dedup,
            }
        },
    )
}

/// Builds `case` and, if it builds, publishes a few events and shuts down.
/// Returns the build errors, if any.
fn run(case: Case) -> Result<(), BuildError> {
    let mut topic_options = TopicOptions::new(case.partitions).capacity(case.capacity);
    topic_options.partitioner = case.partitioner;
    topic_options.full_policy = case.full;
    let mut group_options = match case.workers {
        Some(n) => GroupOptions::workers(n),
        None => GroupOptions::poll(),
    };
    group_options.max_batch = case.max_batch;
    group_options.wait = case.wait;
    group_options.failure = FailurePolicy::default()
        .retries(case.retries)
        .backoff(case.backoff)
        .on_exhausted(Exhausted::Skip);
    let mut builder = Engine::builder()
        // Keeps what a successful case allocates small.
        .memory_budget(64 << 20)
        .topic::<u64>(&case.topic, topic_options)
        .subscribe(&case.group, &case.topic, group_options, |_| {
            from_fn(|_: &u64, _| Ok(()))
        });
    if let Some(window) = case.dedup {
        builder = builder.deduplicate(&case.topic, window, |e: &u64| *e);
    }
    let engine = builder.build()?;
    let topic = engine.topic::<u64>(&case.topic).expect("the topic exists");
    for i in 0..16 {
        // Never waits: a poll group is not polled here.
        let _ = topic.try_publish(i);
    }
    if case.workers.is_none() {
        let mut poller = engine.poller(&case.group).expect("a poll group");
        poller.poll_for(64, Duration::MAX);
    }
    let shutdown = engine.shutdown_timeout(Duration::from_secs(5));
    let published = shutdown
        .report
        .topic(&case.topic)
        .expect("reported")
        .published;
    let group = shutdown.report.group(&case.group).expect("reported");
    assert_eq!(
        group.consumed() + group.lag,
        published,
        "conservation: {group:?}"
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn any_options_build_and_run_or_are_refused_with_typed_errors(case in case()) {
        // The case runs on its own thread, so a hang is reported as a
        // failure instead of wedging the test run (a guard, not a timing
        // claim: a clean case takes milliseconds).
        let (tx, rx) = mpsc::channel();
        let shown = format!("{case:?}");
        std::thread::spawn(move || {
            let _ = tx.send(std::panic::catch_unwind(|| run(case)));
        });
        let outcome = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("no answer within 60 s for {shown}"));
        match outcome {
            Err(panic) => {
                let text = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_default();
                panic!("panicked ({text}) for {shown}");
            }
            Ok(Err(error)) => {
                // A typed error says what was wrong, for each problem.
                for e in error.errors() {
                    prop_assert!(!e.to_string().is_empty());
                    prop_assert!(!matches!(e, BuildError::Multiple(_)));
                }
            }
            Ok(Ok(())) => {}
        }
    }
}

/// Values every rule accepts: these must build, run and shut down.
fn valid_case() -> impl Strategy<Value = Case> {
    (
        "[a-z][a-z0-9._-]{0,12}",
        1u32..6,
        (0u32..12).prop_map(|b| 1usize << b),
        (0u64..3, any::<u32>()),
        prop_oneof![
            Just(FullPolicy::Block),
            Just(FullPolicy::Reject),
            Just(FullPolicy::DropNewest),
            (1u64..2000).prop_map(|us| FullPolicy::BlockTimeout(Duration::from_micros(us))),
            Just(FullPolicy::BlockTimeout(Duration::MAX)),
        ],
        proptest::option::of(1usize..100),
        proptest::option::of(1usize..4),
        1usize..300,
        (0u32..3, any::<bool>()),
        (1u64..500, 0u64..500, 1u32..4),
    )
        .prop_map(
            |(
                name,
                partitions,
                capacity,
                (kind, pick),
                full,
                dedup,
                workers,
                max_batch,
                (retries, forever),
                (initial, extra, multiplier),
            )| {
                let partitioner = match kind {
                    0 => PartitionerKind::RoundRobin,
                    1 => PartitionerKind::Sticky {
                        linger: 1 + u64::from(pick % 16),
                    },
                    _ => PartitionerKind::Fixed {
                        partition: pick % partitions,
                    },
                };
                Case {
                    group: format!("{name}-group"),
                    topic: name,
                    partitions,
                    capacity,
                    partitioner,
                    full,
                    workers,
                    max_batch,
                    wait: WaitStrategy::default(),
                    retries: if forever {
                        Retries::Forever
                    } else {
                        Retries::Limited(retries)
                    },
                    backoff: Backoff {
                        initial: Duration::from_micros(initial),
                        max: Duration::from_micros(initial + extra),
                        multiplier,
                    },
                    dedup,
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn options_within_every_rule_build_run_and_shut_down(case in valid_case()) {
        let shown = format!("{case:?}");
        if let Err(error) = run(case) {
            panic!("refused valid options {shown}: {error}");
        }
    }
}
