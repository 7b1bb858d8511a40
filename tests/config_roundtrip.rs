//! The effective configuration round-trips: print it (TOML, JSON, any serde
//! format), parse it back, get an equal value — every default spelled out.
#![cfg(all(feature = "toml", feature = "json"))]

use std::time::Duration;

use veltrix::config::{Config, GroupConfig, Partitioning, TopicConfig};
use veltrix::{
    Assignment, Backoff, Exhausted, FailurePolicy, FullPolicy, GroupOptions, PartitionerKind,
    Retries, TopicOptions, WaitStrategy,
};

const TREASURE_HUNT: &str = include_str!("../examples/treasure_hunt.toml");

/// A configuration using every choice of every setting.
fn every_setting() -> Config {
    let failing = FailurePolicy::default()
        .retries(Retries::Limited(7))
        .backoff(Backoff {
            initial: Duration::from_micros(250),
            max: Duration::from_millis(1500),
            multiplier: 3,
        })
        .on_exhausted(Exhausted::DeadLetter {
            topic: "a.dlq".into(),
        });
    Config::new()
        .topic(
            TopicConfig::new("a", TopicOptions::new(8).capacity(4096).timestamps(false))
                .partitioning(Partitioning::Key)
                .dedup_window(512),
        )
        .topic(TopicConfig::new(
            "b",
            TopicOptions::new(3)
                .partitioner(PartitionerKind::Sticky { linger: 9 })
                .full_policy(FullPolicy::BlockTimeout(Duration::from_nanos(1_000_001))),
        ))
        .topic(TopicConfig::new(
            "c",
            TopicOptions::new(2)
                .partitioner(PartitionerKind::Fixed { partition: 1 })
                .full_policy(FullPolicy::DropNewest),
        ))
        .topic(TopicConfig::new(
            "a.dlq",
            TopicOptions::new(1).full_policy(FullPolicy::Reject),
        ))
        .group(GroupConfig::new(
            "ga",
            "a",
            GroupOptions::workers(4)
                .assignment(Assignment::RoundRobin)
                .wait_strategy(WaitStrategy::BusySpin)
                .max_batch(17)
                .failure_policy(failing),
        ))
        .group(GroupConfig::new(
            "gb",
            "b",
            GroupOptions::poll()
                .wait_strategy(WaitStrategy::Adaptive {
                    spins: 3,
                    yields: 0,
                })
                .failure_policy(FailurePolicy::default().retries(Retries::Forever).backoff(
                    Backoff {
                        initial: Duration::from_secs(2),
                        max: Duration::from_secs(3600),
                        multiplier: 1,
                    },
                )),
        ))
        .group(GroupConfig::new(
            "gc",
            "c",
            GroupOptions::workers(1)
                .failure_policy(FailurePolicy::default().on_exhausted(Exhausted::Halt)),
        ))
        .group(GroupConfig::new("gdlq", "a.dlq", GroupOptions::default()))
}

fn assert_round_trips(config: &Config) {
    assert!(config.validate().is_ok(), "{}", config.validate());
    let toml_text = config.to_toml_string().unwrap();
    assert_eq!(
        &Config::from_toml_str(&toml_text).unwrap(),
        config,
        "TOML:\n{toml_text}"
    );
    let json_text = config.to_json_string().unwrap();
    assert_eq!(
        &Config::from_json_str(&json_text).unwrap(),
        config,
        "JSON:\n{json_text}"
    );
    // Through serde's own entry points too (any format works the same way).
    assert_eq!(&toml::from_str::<Config>(&toml_text).unwrap(), config);
    assert_eq!(&serde_json::from_str::<Config>(&json_text).unwrap(), config);
    // And the printed text is stable: printing the parsed value gives the same text.
    assert_eq!(
        Config::from_toml_str(&toml_text)
            .unwrap()
            .to_toml_string()
            .unwrap(),
        toml_text
    );
}

#[test]
fn treasure_hunt_round_trips() {
    let config = Config::from_toml_str(TREASURE_HUNT).unwrap();
    assert_round_trips(&config);
}

#[test]
fn every_setting_round_trips() {
    assert_round_trips(&every_setting());
}

#[test]
fn empty_config_round_trips() {
    assert_round_trips(&Config::new());
    assert_eq!(Config::from_toml_str("").unwrap(), Config::new());
    assert_eq!(Config::from_json_str("{}").unwrap(), Config::new());
}

#[test]
fn defaults_are_filled_in() {
    let config = Config::from_toml_str(
        "[[topics]]\nname = \"t\"\n[[groups]]\nname = \"g\"\ntopic = \"t\"\n",
    )
    .unwrap();
    assert_eq!(
        config.topics[0],
        TopicConfig::new("t", TopicOptions::default())
    );
    assert_eq!(
        config.groups[0],
        GroupConfig::new("g", "t", GroupOptions::default())
    );
    let printed = config.to_toml_string().unwrap();
    let WaitStrategy::Adaptive { spins, yields } = WaitStrategy::default() else {
        panic!("the default wait strategy is adaptive")
    };
    let wait = format!("wait = {{ adaptive = {{ spins = {spins}, yields = {yields} }} }}");
    for line in [
        "partitions = 1",
        "capacity = 1024",
        "partitioner = \"round_robin\"",
        "timestamps = false",
        "full_policy = \"block\"",
        "mode = { workers = 1 }",
        "assignment = \"range\"",
        wait.as_str(),
        "max_batch = 256",
        "[groups.failure]",
        "retries = 0",
        "backoff = { initial = \"1ms\", max = \"1s\", multiplier = 2 }",
        "on_exhausted = \"skip\"",
    ] {
        assert!(
            printed.lines().any(|l| l == line),
            "missing {line:?} in:\n{printed}"
        );
    }
    assert!(
        !printed.contains("dedup_window"),
        "absent means off:\n{printed}"
    );
}

#[test]
fn shorthand_wait_reads_as_the_default() {
    let text =
        "[[topics]]\nname = \"t\"\n[[groups]]\nname = \"g\"\ntopic = \"t\"\nwait = \"adaptive\"\n";
    assert_eq!(
        Config::from_toml_str(text).unwrap().groups[0].options.wait,
        WaitStrategy::default()
    );
}

#[test]
fn option_types_serde_in_the_same_shapes() {
    // The engine's option types (feature `serde`) read, on their own, what
    // the configuration prints for them.
    let config = every_setting();
    let json: serde_json::Value = serde_json::from_str(&config.to_json_string().unwrap()).unwrap();
    for (i, group) in config.groups.iter().enumerate() {
        let mut table = json["groups"][i].clone();
        let object = table.as_object_mut().unwrap();
        object.remove("name");
        object.remove("topic");
        let options: GroupOptions = serde_json::from_value(table).unwrap();
        assert_eq!(options, group.options);
        let text = toml::to_string(&group.options).unwrap();
        assert_eq!(
            toml::from_str::<GroupOptions>(&text).unwrap(),
            group.options,
            "{text}"
        );
    }
    for topic in config
        .topics
        .iter()
        .filter(|t| t.partitioner != Partitioning::Key)
    {
        let options = topic.options();
        let text = toml::to_string(&options).unwrap();
        assert_eq!(
            toml::from_str::<TopicOptions>(&text).unwrap(),
            options,
            "{text}"
        );
        assert!(text.contains(&format!("capacity = {}", topic.capacity)));
    }
    // Missing keys take the defaults; unknown ones are refused, in the
    // configuration reader's words (one schema).
    assert_eq!(
        toml::from_str::<TopicOptions>("partitions = 4").unwrap(),
        TopicOptions::new(4)
    );
    let err = toml::from_str::<GroupOptions>("max_bach = 4")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("unknown key `max_bach`; did you mean `max_batch`?"),
        "{err}"
    );
    assert_eq!(
        serde_json::from_str::<Retries>("\"forever\"").unwrap(),
        Retries::Forever
    );
    assert_eq!(
        serde_json::from_str::<Retries>("3").unwrap(),
        Retries::Limited(3)
    );
    assert!(serde_json::from_str::<Retries>("-1").is_err());
    assert_eq!(
        serde_json::from_str::<Exhausted>(r#"{"dead_letter": "x"}"#).unwrap(),
        Exhausted::DeadLetter { topic: "x".into() }
    );
    assert!(serde_json::from_str::<Exhausted>(r#"{"dead_letter": "x", "y": 1}"#).is_err());
}

#[test]
fn single_items_deserialize_with_all_their_errors() {
    let topic: TopicConfig = serde_json::from_str(r#"{"name": "t", "capacity": 64}"#).unwrap();
    assert_eq!(
        topic,
        TopicConfig::new("t", TopicOptions::new(1).capacity(64))
    );
    let err = serde_json::from_str::<TopicConfig>(r#"{"capacity": 63, "colour": 1}"#)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("3 errors")
            && err.contains("name")
            && err.contains("capacity")
            && err.contains("colour"),
        "{err}"
    );
    let group: GroupConfig =
        toml::from_str("name = \"g\"\ntopic = \"t\"\nmode = \"poll\"").unwrap();
    assert_eq!(group, GroupConfig::new("g", "t", GroupOptions::poll()));
}

#[cfg(feature = "toml")]
#[test]
fn engine_settings_are_read_applied_and_written_back() {
    use veltrix::config::Config;
    let text = "[engine]\nmemory_budget = 1048576\nmetrics = false\nlatency_sampling = 8\n\n\
                [[topics]]\nname = \"t\"\ncapacity = 65536\n\n\
                [[groups]]\nname = \"g\"\ntopic = \"t\"\n";
    let config = Config::from_toml_str(text).unwrap();
    assert_eq!(config.engine.memory_budget, 1 << 20);
    assert!(!config.engine.metrics);
    assert_eq!(config.engine.latency_sampling, 8);
    let back = Config::from_toml_str(&config.to_toml_string().unwrap()).unwrap();
    assert_eq!(back, config);
    // The budget reaches the builder: 64 Ki slots do not fit in 1 MiB.
    let error = config
        .bind()
        .topic::<u64>("t")
        .group("g", |_| veltrix::listener::from_fn(|_: &u64, _| Ok(())))
        .build()
        .unwrap_err();
    assert!(
        error.to_string().contains("memory budget of 1048576 bytes"),
        "{error}"
    );
}

#[cfg(feature = "toml")]
#[test]
fn latency_buckets_are_read_validated_applied_and_written_back() {
    use std::time::Duration;
    use veltrix::config::Config;
    let text = "[engine]\nlatency_buckets = [\"10us\", \"1ms\"]\n\n\
                [[topics]]\nname = \"t\"\n\n\
                [[groups]]\nname = \"g\"\ntopic = \"t\"\nmode = \"poll\"\n";
    let config = Config::from_toml_str(text).unwrap();
    assert_eq!(
        config.engine.latency_buckets,
        [Duration::from_micros(10), Duration::from_millis(1)]
    );
    let written = config.to_toml_string().unwrap();
    assert!(
        written.contains("latency_buckets = [\"10us\", \"1ms\"]"),
        "{written}"
    );
    assert_eq!(Config::from_toml_str(&written).unwrap(), config);
    let engine = config
        .bind()
        .topic::<u64>("t")
        .group("g", |_| veltrix::listener::from_fn(|_: &u64, _| Ok(())))
        .build()
        .unwrap();
    let text = engine.metrics().to_prometheus();
    assert!(
        text.contains("le=\"0.00001\"") && text.contains("le=\"0.001\""),
        "{text}"
    );
    assert!(
        !text.contains("le=\"0.000001\""),
        "the default bounds are gone"
    );

    // Bounds that break the rule, and one that is not a duration: each
    // found at its path.
    let bad = "[engine]\nlatency_buckets = [\"5ms\", \"1ms\"]\n\n\
               [[topics]]\nname = \"t\"\n\n[[groups]]\nname = \"g\"\ntopic = \"t\"\n";
    let found = Config::from_toml_str(bad).unwrap_err();
    let d = found.diagnostics().expect("invalid");
    let e = d.errors.first().expect("an error");
    assert_eq!(e.path, "engine.latency_buckets");
    assert_eq!(e.rule, veltrix::Rule::BucketBounds);
    let unreadable = "[engine]\nlatency_buckets = [\"1ms\", \"2 ms\"]\n\n\
                      [[topics]]\nname = \"t\"\n\n[[groups]]\nname = \"g\"\ntopic = \"t\"\n";
    let found = Config::from_toml_str(unreadable).unwrap_err();
    let e = &found.diagnostics().unwrap().errors[0];
    assert_eq!(e.path, "engine.latency_buckets[1]");
    assert_eq!(e.rule, veltrix::Rule::InvalidDuration);
}

#[cfg(feature = "toml")]
#[test]
fn config_errors_debug_as_their_readable_message() {
    use veltrix::config::Config;
    let error = Config::from_toml_str("[[topics]]\nname = \"t\"\ncapacity = 1000\n").unwrap_err();
    // What `fn main() -> Result<(), ConfigError>` prints after `Error: `.
    let debug = format!("{error:?}");
    assert_eq!(debug, error.to_string());
    assert!(debug.contains("topics[0].capacity"), "{debug}");
    assert!(!debug.contains("Diagnostic {"), "{debug}");
}
