//! One schema: the engine's option types deserialize through the
//! configuration reader, so they accept what a configuration file accepts
//! for them, refuse what it refuses in the same words, and read back
//! whatever their `Serialize` prints (TOML and JSON, on their own and
//! nested in a host's own serde type).
#![cfg(all(feature = "toml", feature = "json"))]

use std::fmt::Debug;
use std::time::Duration;

use proptest::prelude::*;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use veltrix::config::Partitioning;
use veltrix::{
    Assignment, Backoff, Exhausted, FailurePolicy, FullPolicy, GroupMode, GroupOptions, LagPolicy,
    PartitionerKind, Producers, Retries, TopicOptions, WaitStrategy,
};

/// A host's own configuration holding one option value (TOML needs a table
/// at the top, and this is how a host embeds one).
#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Host<T> {
    value: T,
}

/// `value` printed in JSON and in TOML reads back equal, on its own (JSON)
/// and inside [`Host`] (both).
fn round_trips<T>(value: &T)
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let json = serde_json::to_string(value).expect("prints as JSON");
    let back: T = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{json}: {e}"));
    assert_eq!(&back, value, "JSON: {json}");

    let host = Host { value };
    let toml_text = toml::to_string(&host).expect("prints as TOML");
    let back: Host<T> = toml::from_str(&toml_text).unwrap_or_else(|e| panic!("{toml_text}: {e}"));
    assert_eq!(&back.value, value, "TOML:\n{toml_text}");
}

/// Like [`round_trips`], and also as a whole TOML document (for the types
/// that print as a table).
fn round_trips_as_document<T>(value: &T)
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    round_trips(value);
    let text = toml::to_string(value).expect("prints as a TOML table");
    let back: T = toml::from_str(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
    assert_eq!(&back, value, "TOML:\n{text}");
}

/// Durations of every unit the printer picks, and arbitrary ones.
fn duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        Just(Duration::ZERO),
        (0u64..10_000).prop_map(Duration::from_nanos),
        (0u64..10_000).prop_map(Duration::from_micros),
        (0u64..10_000).prop_map(Duration::from_millis),
        (0u64..10_000).prop_map(Duration::from_secs),
        (0u64..1_000).prop_map(|m| Duration::from_secs(m * 60)),
        (0u64..1_000).prop_map(|h| Duration::from_secs(h * 3600)),
        (any::<u64>(), 0u32..1_000_000_000).prop_map(|(s, n)| Duration::new(s, n)),
    ]
}

/// TOML integers are i64: the widest a TOML file can hold.
fn wide() -> impl Strategy<Value = u64> {
    prop_oneof![0u64..1_000, Just(i64::MAX as u64), 0..=i64::MAX as u64]
}

fn wait() -> impl Strategy<Value = WaitStrategy> {
    prop_oneof![
        (any::<u32>(), any::<u32>())
            .prop_map(|(spins, yields)| WaitStrategy::Adaptive { spins, yields }),
        Just(WaitStrategy::BusySpin),
    ]
}

fn failure() -> impl Strategy<Value = FailurePolicy> {
    let retries = prop_oneof![
        any::<u32>().prop_map(Retries::Limited),
        Just(Retries::Forever)
    ];
    let backoff =
        (duration(), duration(), any::<u32>()).prop_map(|(initial, max, multiplier)| Backoff {
            initial,
            max,
            multiplier,
        });
    let exhausted = prop_oneof![
        Just(Exhausted::Skip),
        Just(Exhausted::Halt),
        any::<String>().prop_map(|topic| Exhausted::DeadLetter { topic }),
    ];
    (retries, backoff, exhausted).prop_map(|(retries, backoff, exhausted)| {
        FailurePolicy::default()
            .retries(retries)
            .backoff(backoff)
            .on_exhausted(exhausted)
    })
}

fn group_options() -> impl Strategy<Value = GroupOptions> {
    let mode = prop_oneof![
        wide().prop_map(|n| GroupMode::Workers(n as usize)),
        Just(GroupMode::Poll),
    ];
    let assignment = prop_oneof![Just(Assignment::Range), Just(Assignment::RoundRobin)];
    let after = proptest::collection::vec("[a-z][a-z0-9_-]{0,7}", 0..3);
    let lag = prop_oneof![
        Just(LagPolicy::Backpressure),
        wide().prop_map(LagPolicy::Lossy),
    ];
    (mode, assignment, wait(), wide(), failure(), (after, lag)).prop_map(
        |(mode, assignment, wait, max_batch, failure, (after, lag))| {
            let mut options = GroupOptions::default()
                .assignment(assignment)
                .wait_strategy(wait)
                .failure_policy(failure)
                .after(after)
                .lag(lag);
            options.mode = mode;
            // Not through `max_batch()`, which raises 0 to 1: the reader
            // reads 0 too (the builder refuses it).
            options.max_batch = max_batch as usize;
            options
        },
    )
}

fn partitioner() -> impl Strategy<Value = PartitionerKind> {
    prop_oneof![
        Just(PartitionerKind::RoundRobin),
        wide().prop_map(|linger| PartitionerKind::Sticky { linger }),
        any::<u32>().prop_map(|partition| PartitionerKind::Fixed { partition }),
    ]
}

fn topic_options() -> impl Strategy<Value = TopicOptions> {
    let producers = prop_oneof![Just(Producers::Multi), Just(Producers::Single)];
    let full = prop_oneof![
        Just(FullPolicy::Block),
        duration().prop_map(FullPolicy::BlockTimeout),
        Just(FullPolicy::Reject),
        Just(FullPolicy::DropNewest),
    ];
    (
        any::<u32>(),
        wide(),
        partitioner(),
        any::<bool>(),
        producers,
        full,
    )
        .prop_map(
            |(partitions, capacity, partitioner, timestamps, producers, full)| {
                TopicOptions::new(partitions)
                    .capacity(capacity as usize)
                    .partitioner(partitioner)
                    .timestamps(timestamps)
                    .producers(producers)
                    .full_policy(full)
            },
        )
}

fn partitioning() -> impl Strategy<Value = Partitioning> {
    prop_oneof![
        Just(Partitioning::Key),
        partitioner().prop_map(Partitioning::from),
    ]
}

proptest! {
    #[test]
    fn group_options_round_trip(options in group_options()) {
        round_trips_as_document(&options);
        round_trips(&options.mode);
        round_trips(&options.assignment);
        round_trips(&options.wait);
        round_trips_as_document(&options.failure);
        round_trips(&options.failure.retries);
        round_trips_as_document(&options.failure.backoff);
        round_trips(&options.failure.exhausted);
    }

    #[test]
    fn topic_options_round_trip(options in topic_options(), partitioning in partitioning()) {
        round_trips_as_document(&options);
        round_trips(&options.partitioner);
        round_trips(&options.producers);
        round_trips(&options.full_policy);
        round_trips(&partitioning);
    }
}

#[test]
fn json_reads_the_widest_integers() {
    // JSON integers go to u64 (TOML's stop at i64): the reader takes the
    // field type's whole range.
    round_trips_json_only(&PartitionerKind::Sticky { linger: u64::MAX });
    let mut options = GroupOptions::workers(usize::MAX);
    options.max_batch = usize::MAX;
    round_trips_json_only(&options);
    round_trips_json_only(&TopicOptions::new(u32::MAX).capacity(usize::MAX));
    let err = serde_json::from_str::<Retries>("4294967296")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("must be an integer from 0 to 4294967295"),
        "{err}"
    );
}

fn round_trips_json_only<T>(value: &T)
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let json = serde_json::to_string(value).unwrap();
    assert_eq!(&serde_json::from_str::<T>(&json).unwrap(), value, "{json}");
}

#[test]
fn adaptive_alone_is_the_default_wait() {
    // What a configuration file accepts, the type accepts: the reader's
    // shorthand and its optional keys.
    assert_eq!(
        serde_json::from_str::<WaitStrategy>("\"adaptive\"").unwrap(),
        WaitStrategy::default()
    );
    let host: Host<WaitStrategy> = toml::from_str("value = \"adaptive\"").unwrap();
    assert_eq!(host.value, WaitStrategy::default());
    let WaitStrategy::Adaptive { yields, .. } = WaitStrategy::default() else {
        panic!("the default wait strategy is adaptive")
    };
    assert_eq!(
        serde_json::from_str::<WaitStrategy>(r#"{"adaptive": {"spins": 5}}"#).unwrap(),
        WaitStrategy::Adaptive { spins: 5, yields }
    );
}

#[test]
fn unknown_keys_get_the_readers_did_you_mean() {
    let err = serde_json::from_str::<GroupOptions>(r#"{"max_bach": 4}"#)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(
            "max_bach = 4: unknown key `max_bach`; did you mean `max_batch`? \
             known keys: mode, assignment, wait, max_batch, failure"
        ),
        "{err}"
    );
    // Nested tables report their full path.
    let err = serde_json::from_str::<GroupOptions>(r#"{"failure": {"retires": 3}}"#)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("failure.retires = 3: unknown key `retires`; did you mean `retries`?"),
        "{err}"
    );
    // A topic's name is not an option.
    let err = toml::from_str::<TopicOptions>("name = \"orders\"\npartitions = 2")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("unknown key `name`; remove it; known keys: partitions,"),
        "{err}"
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let err = serde_json::from_str::<GroupOptions>(
        r#"{"mode": "pol", "wait": {"adaptive": {"spins": -1}}, "max_batch": "8"}"#,
    )
    .unwrap_err()
    .to_string();
    for part in [
        "3 errors",
        "mode = \"pol\": unknown choice \"pol\"; did you mean \"poll\"?",
        "wait.adaptive.spins = -1: must be an integer from 0 to 4294967295",
        "max_batch = \"8\": expected an integer from 0 to",
        "remove the quotes: 8",
    ] {
        assert!(err.contains(part), "{part:?} missing in: {err}");
    }
}

#[test]
fn choices_are_read_as_in_a_file() {
    let err = serde_json::from_str::<FullPolicy>("\"blok\"")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("unknown choice \"blok\"; did you mean \"block\"?"),
        "{err}"
    );
    // `"key"` is a configured topic's partitioning, not a built-in
    // partitioner.
    assert_eq!(
        serde_json::from_str::<Partitioning>("\"key\"").unwrap(),
        Partitioning::Key
    );
    let err = serde_json::from_str::<PartitionerKind>("\"key\"")
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown choice \"key\""), "{err}");
    let err = serde_json::from_str::<Backoff>(r#"{"initial": "1.5s"}"#)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("initial = \"1.5s\": not a duration; fractions are not supported"),
        "{err}"
    );
}

#[test]
fn only_the_shapes_a_file_uses_are_read() {
    // The derives also took a struct as a sequence and a unit variant as
    // a one-key table with an empty value; the reader, and so the types,
    // take the shapes a configuration file uses (and `Serialize` prints).
    assert!(serde_json::from_str::<Backoff>(r#"["1ms", "1s", 2]"#).is_err());
    assert!(serde_json::from_str::<WaitStrategy>(r#"{"adaptive": [1, 2]}"#).is_err());
    assert!(serde_json::from_str::<GroupMode>(r#"{"poll": null}"#).is_err());
}
