//! No input panics the configuration reader or validator: arbitrary bytes,
//! and valid configurations randomly mutated. Whatever parses is valid and
//! round-trips; random structured configurations round-trip exactly when
//! they validate.
#![cfg(all(feature = "toml", feature = "json"))]

use std::time::Duration;

use proptest::prelude::*;
use veltrix::config::{Config, ConfigError, GroupConfig, Partitioning, TopicConfig};
use veltrix::{
    Assignment, Backoff, Exhausted, FailurePolicy, FullPolicy, GroupMode, GroupOptions, Producers,
    Retries, TopicOptions, WaitStrategy,
};

const TREASURE_HUNT: &str = include_str!("../examples/treasure_hunt.toml");

/// Reading must end in a config or a typed error, never a panic; what it
/// accepts must be valid and print back to itself.
fn check_reader(result: Result<Config, ConfigError>) {
    match result {
        Ok(config) => {
            let found = config.validate();
            assert!(found.is_ok(), "accepted an invalid config: {found}");
            let text = config.to_toml_string().expect("a valid config prints");
            assert_eq!(
                Config::from_toml_str(&text).expect("prints parse"),
                config,
                "{text}"
            );
        }
        Err(ConfigError::Invalid(found)) => {
            assert!(!found.errors.is_empty());
            for d in found.iter() {
                let _ = d.to_string();
            }
        }
        Err(ConfigError::Syntax { location, .. }) => {
            assert!(location.line >= 1 && location.column >= 1);
        }
        Err(other) => panic!("unexpected error kind: {other}"),
    }
}

/// Pieces a mutation splices in: syntax, keys, choices, extreme numbers.
const TOKENS: &[&str] = &[
    "\"",
    "=",
    "[",
    "]",
    "{",
    "}",
    ",",
    "\n",
    "[[topics]]",
    "[[groups]]",
    "[groups.failure]",
    "name",
    "topic",
    "capacity",
    "partitions",
    "mode",
    "workers",
    "\"poll\"",
    "retries",
    "\"forever\"",
    "backoff",
    "initial",
    "\"0s\"",
    "\"5ms\"",
    "\"1.5s\"",
    "on_exhausted",
    "dead_letter",
    "\"key\"",
    "sticky",
    "fixed",
    "partition",
    "linger",
    "0",
    "-1",
    "1000",
    "18446744073709551616",
    "4294967296",
    "1e308",
    "nan",
    "true",
    "\"\"",
    "\"zone-entries\"",
    "1979-05-27T07:32:00Z",
    "#",
    "'",
    "\\u0000",
    "é",
];

#[derive(Debug, Clone)]
enum Mutation {
    Delete { at: usize, len: usize },
    Insert { at: usize, token: usize },
    Replace { at: usize, token: usize },
    DuplicateLine { line: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1..20usize).prop_map(|(at, len)| Mutation::Delete { at, len }),
        (any::<usize>(), any::<usize>()).prop_map(|(at, token)| Mutation::Insert { at, token }),
        (any::<usize>(), any::<usize>()).prop_map(|(at, token)| Mutation::Replace { at, token }),
        any::<usize>().prop_map(|line| Mutation::DuplicateLine { line }),
    ]
}

/// Applies `m` to `text`, on char boundaries.
fn apply(text: &str, m: &Mutation) -> String {
    let chars: Vec<char> = text.chars().collect();
    let pos = |at: usize| {
        if chars.is_empty() {
            0
        } else {
            at % (chars.len() + 1)
        }
    };
    let token = |i: usize| TOKENS[i % TOKENS.len()];
    match *m {
        Mutation::Delete { at, len } => {
            let start = pos(at);
            let end = (start + len).min(chars.len());
            chars[..start].iter().chain(&chars[end..]).collect()
        }
        Mutation::Insert { at, token: t } => {
            let at = pos(at);
            let mut out: String = chars[..at].iter().collect();
            out.push_str(token(t));
            out.extend(&chars[at..]);
            out
        }
        Mutation::Replace { at, token: t } => {
            // Replace the value of the line holding `at` (after its `=`).
            let lines: Vec<&str> = text.lines().collect();
            let line = if lines.is_empty() {
                0
            } else {
                at % lines.len()
            };
            lines
                .iter()
                .enumerate()
                .map(|(i, l)| match (i == line, l.find('=')) {
                    (true, Some(eq)) => format!("{}= {}", &l[..eq], token(t)),
                    _ => (*l).to_owned(),
                })
                .collect::<Vec<_>>()
                .join("\n")
        }
        Mutation::DuplicateLine { line } => {
            let lines: Vec<&str> = text.lines().collect();
            let line = if lines.is_empty() {
                0
            } else {
                line % lines.len()
            };
            let mut out = Vec::with_capacity(lines.len() + 1);
            for (i, l) in lines.iter().enumerate() {
                out.push(*l);
                if i == line {
                    out.push(*l);
                }
            }
            out.join("\n")
        }
    }
}

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("a".to_owned()),
        Just("b".to_owned()),
        Just("c.dlq".to_owned()),
        Just(String::new()),
        "[a-z.]{1,6}"
    ]
}

fn duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        Just(Duration::ZERO),
        (0u64..5_000_000_000).prop_map(Duration::from_nanos),
        (0u64..100_000).prop_map(Duration::from_secs)
    ]
}

fn topic() -> impl Strategy<Value = TopicConfig> {
    let partitioning = prop_oneof![
        Just(Partitioning::RoundRobin),
        Just(Partitioning::Key),
        (0u64..4).prop_map(|linger| Partitioning::Sticky { linger }),
        (0u32..6).prop_map(|partition| Partitioning::Fixed { partition }),
    ];
    let full = prop_oneof![
        Just(FullPolicy::Block),
        Just(FullPolicy::Reject),
        Just(FullPolicy::DropNewest),
        duration().prop_map(FullPolicy::BlockTimeout),
    ];
    (
        name(),
        0u32..6,
        prop_oneof![
            Just(0usize),
            Just(1000),
            (0u32..20).prop_map(|b| 1usize << b)
        ],
        partitioning,
        (any::<bool>(), any::<bool>()),
        full,
        proptest::option::of(0usize..3),
    )
        .prop_map(
            |(name, partitions, capacity, partitioner, (timestamps, single), full, dedup)| {
                let producers = if single {
                    Producers::Single
                } else {
                    Producers::Multi
                };
                let mut t = TopicConfig::new(
                    name,
                    TopicOptions::new(partitions)
                        .capacity(capacity)
                        .timestamps(timestamps)
                        .producers(producers)
                        .full_policy(full),
                )
                .partitioning(partitioner);
                t.dedup_window = dedup;
                t
            },
        )
}

fn group() -> impl Strategy<Value = GroupConfig> {
    let mode = prop_oneof![
        Just(GroupMode::Poll),
        (0usize..8).prop_map(GroupMode::Workers)
    ];
    let wait = prop_oneof![
        Just(WaitStrategy::BusySpin),
        (any::<u32>(), any::<u32>())
            .prop_map(|(spins, yields)| WaitStrategy::Adaptive { spins, yields }),
    ];
    let retries = prop_oneof![
        Just(Retries::Forever),
        any::<u32>().prop_map(Retries::Limited)
    ];
    let exhausted = prop_oneof![
        Just(Exhausted::Skip),
        Just(Exhausted::Halt),
        name().prop_map(|topic| Exhausted::DeadLetter { topic }),
    ];
    let backoff =
        (duration(), duration(), 0u32..4).prop_map(|(initial, max, multiplier)| Backoff {
            initial,
            max,
            multiplier,
        });
    (
        name(),
        name(),
        mode,
        any::<bool>(),
        wait,
        0usize..300,
        retries,
        backoff,
        exhausted,
    )
        .prop_map(
            |(name, topic, mode, round_robin, wait, max_batch, retries, backoff, exhausted)| {
                let mut options = match mode {
                    GroupMode::Poll => GroupOptions::poll(),
                    GroupMode::Workers(n) => GroupOptions::workers(n),
                    _ => unreachable!(),
                };
                options.assignment = if round_robin {
                    Assignment::RoundRobin
                } else {
                    Assignment::Range
                };
                options.wait = wait;
                options.max_batch = max_batch;
                options.failure = FailurePolicy::default()
                    .retries(retries)
                    .backoff(backoff)
                    .on_exhausted(exhausted);
                GroupConfig::new(name, topic, options)
            },
        )
}

fn config() -> impl Strategy<Value = Config> {
    (
        proptest::collection::vec(topic(), 0..4),
        proptest::collection::vec(group(), 0..4),
    )
        .prop_map(|(topics, groups)| {
            let mut config = Config::new();
            config.topics = topics;
            config.groups = groups;
            config
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let text = String::from_utf8_lossy(&bytes);
        check_reader(Config::from_toml_str(&text));
        check_reader(Config::from_json_str(&text));
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,300}") {
        check_reader(Config::from_toml_str(&text));
        check_reader(Config::from_json_str(&text));
    }

    #[test]
    fn mutated_toml_never_panics(mutations in proptest::collection::vec(mutation(), 1..6)) {
        let text = mutations.iter().fold(TREASURE_HUNT.to_owned(), |t, m| apply(&t, m));
        check_reader(Config::from_toml_str(&text));
        let _ = toml::from_str::<Config>(&text);
    }

    #[test]
    fn mutated_json_never_panics(mutations in proptest::collection::vec(mutation(), 1..6)) {
        let base = Config::from_toml_str(TREASURE_HUNT).unwrap().to_json_string().unwrap();
        let text = mutations.iter().fold(base, |t, m| apply(&t, m));
        check_reader(Config::from_json_str(&text));
        let _ = serde_json::from_str::<Config>(&text);
    }

    #[test]
    fn random_configs_round_trip_when_valid(config in config()) {
        let valid = config.validate().is_ok();
        for (format, parsed) in [
            ("TOML", Config::from_toml_str(&config.to_toml_string().unwrap())),
            ("JSON", Config::from_json_str(&config.to_json_string().unwrap())),
        ] {
            match parsed {
                Ok(parsed) => {
                    prop_assert!(valid, "{format}: parsed an invalid config");
                    prop_assert_eq!(&parsed, &config);
                }
                Err(ConfigError::Invalid(found)) => {
                    prop_assert!(!valid, "{format}: rejected a valid config: {found}");
                    // The file reader finds what `validate` finds.
                    prop_assert_eq!(found.errors.len(), config.validate().errors.len(), "{}", found);
                }
                Err(other) => prop_assert!(false, "{format}: {other}"),
            }
        }
    }
}
