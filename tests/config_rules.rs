//! One test per configuration rule: each finding names the path, the bad
//! value and a fix. Also: every error at once, warnings apart, syntax errors
//! with line and column, did-you-mean for unknown keys.
#![cfg(all(feature = "toml", feature = "json"))]

use veltrix::config::{Config, ConfigError, Diagnostic, Diagnostics, Rule, Severity};

/// A valid base: topic "orders" (4 partitions) read by group "billing".
fn config(topic_extra: &str, group_extra: &str) -> String {
    format!(
        "[[topics]]\nname = \"orders\"\npartitions = 4\n{topic_extra}\n\n\
         [[groups]]\nname = \"billing\"\ntopic = \"orders\"\n{group_extra}\n"
    )
}

fn findings(text: &str) -> Diagnostics {
    match Config::from_toml_str(text) {
        Err(ConfigError::Invalid(found)) => found,
        other => panic!("expected findings for:\n{text}\ngot {other:?}"),
    }
}

/// The single finding of `rule` in `text`.
fn only(text: &str, rule: Rule) -> Diagnostic {
    let found = findings(text);
    let matching: Vec<&Diagnostic> = found.iter().filter(|d| d.rule == rule).collect();
    assert_eq!(matching.len(), 1, "{rule:?} in:\n{text}\n{found}");
    matching[0].clone()
}

/// Asserts the finding's path, value, and that its text contains `fix`.
fn assert_finding(d: &Diagnostic, path: &str, value: Option<&str>, fix: &str) {
    assert_eq!(d.path, path, "{d}");
    assert_eq!(d.value.as_deref(), value, "{d}");
    let text = d.to_string();
    assert!(text.contains(fix), "expected {fix:?} in: {text}");
    assert!(text.starts_with(path), "{text}");
    assert!(d.location.is_some(), "TOML findings have a line: {d}");
}

fn warning(text: &str, rule: Rule) -> Diagnostic {
    let config = Config::from_toml_str(text).expect("warnings do not stop the build");
    let found = config.validate();
    assert!(found.errors.is_empty());
    let matching: Vec<&Diagnostic> = found.warnings.iter().filter(|d| d.rule == rule).collect();
    assert_eq!(matching.len(), 1, "{found}");
    assert_eq!(matching[0].severity, Severity::Warning);
    matching[0].clone()
}

#[test]
fn base_config_is_valid() {
    let config = Config::from_toml_str(&config("", "")).unwrap();
    assert_eq!(config.topics[0].partitions, 4);
    assert!(config.validate().warnings.is_empty());
}

#[test]
fn capacity_not_a_power_of_two() {
    let d = only(&config("capacity = 1000", ""), Rule::NotPowerOfTwo);
    assert_finding(&d, "topics[0].capacity", Some("1000"), "use 1024 (or 512)");
    assert!(d.message.contains("capacity 1000 is not a power of two"));
    let d = only(&config("capacity = 0", ""), Rule::NotPowerOfTwo);
    assert_finding(
        &d,
        "topics[0].capacity",
        Some("0"),
        "use 1024 (the default)",
    );
}

#[test]
fn zero_partitions() {
    let text =
        "[[topics]]\nname = \"t\"\npartitions = 0\n[[groups]]\nname = \"g\"\ntopic = \"t\"\n";
    let d = only(text, Rule::OutOfRange);
    assert_finding(
        &d,
        "topics[0].partitions",
        Some("0"),
        "use partitions = 1 or more",
    );
}

#[test]
fn integer_beyond_its_type() {
    let d = only(&config("capacity = -4", ""), Rule::OutOfRange);
    assert_finding(
        &d,
        "topics[0].capacity",
        Some("-4"),
        "use a value from 0 to",
    );
    let text = "[[topics]]\nname = \"t\"\npartitions = 5000000000\n[[groups]]\nname = \"g\"\ntopic = \"t\"\n";
    let d = only(text, Rule::OutOfRange);
    assert_finding(
        &d,
        "topics[0].partitions",
        Some("5000000000"),
        "from 0 to 4294967295",
    );
}

#[test]
fn sticky_linger_zero() {
    let d = only(
        &config("partitioner = { sticky = { linger = 0 } }", ""),
        Rule::OutOfRange,
    );
    assert_finding(
        &d,
        "topics[0].partitioner.sticky.linger",
        Some("0"),
        "use linger = 1 or more",
    );
}

#[test]
fn fixed_partition_out_of_range() {
    let d = only(
        &config("partitioner = { fixed = { partition = 4 } }", ""),
        Rule::OutOfRange,
    );
    assert_finding(
        &d,
        "topics[0].partitioner.fixed.partition",
        Some("4"),
        "use a partition from 0 to 3, or raise partitions to 5",
    );
}

#[test]
fn dedup_window_zero() {
    let d = only(&config("dedup_window = 0", ""), Rule::OutOfRange);
    assert_finding(
        &d,
        "topics[0].dedup_window",
        Some("0"),
        "remove dedup_window",
    );
}

#[test]
fn zero_workers() {
    let d = only(&config("", "mode = { workers = 0 }"), Rule::OutOfRange);
    assert_finding(&d, "groups[0].mode.workers", Some("0"), "mode = \"poll\"");
}

#[test]
fn zero_max_batch() {
    let d = only(&config("", "max_batch = 0"), Rule::OutOfRange);
    assert_finding(
        &d,
        "groups[0].max_batch",
        Some("0"),
        "use 1 or more (the default is 256)",
    );
}

#[test]
fn zero_backoff_multiplier() {
    let group = "[groups.failure]\nbackoff = { multiplier = 0 }";
    let d = only(&config("", group), Rule::OutOfRange);
    assert_finding(
        &d,
        "groups[0].failure.backoff.multiplier",
        Some("0"),
        "use 1 for a constant wait",
    );
}

#[test]
fn backoff_max_below_initial() {
    let group = "[groups.failure]\nbackoff = { initial = \"1s\", max = \"10ms\" }";
    let d = only(&config("", group), Rule::BackoffMaxBelowInitial);
    assert_finding(
        &d,
        "groups[0].failure.backoff.max",
        Some("\"10ms\""),
        "set max to at least \"1s\"",
    );
}

#[test]
fn retry_forever_without_backoff() {
    let group = "[groups.failure]\nretries = \"forever\"\nbackoff = { initial = \"0s\" }";
    let d = only(&config("", group), Rule::RetryWithoutBackoff);
    assert_finding(
        &d,
        "groups[0].failure.backoff.initial",
        Some("\"0s\""),
        "such as \"1ms\"",
    );
}

#[test]
fn invalid_duration() {
    let group = "[groups.failure]\nbackoff = { initial = \"5 sec\" }";
    let d = only(&config("", group), Rule::InvalidDuration);
    assert_finding(
        &d,
        "groups[0].failure.backoff.initial",
        Some("\"5 sec\""),
        "e.g. \"5ms\"",
    );
    let d = only(
        &config("full_policy = { block_timeout = \"1.5s\" }", ""),
        Rule::InvalidDuration,
    );
    assert_finding(
        &d,
        "topics[0].full_policy.block_timeout",
        Some("\"1.5s\""),
        "1500ms",
    );
}

#[test]
fn unknown_key_with_did_you_mean() {
    let d = only(&config("capasity = 1024", ""), Rule::UnknownKey);
    assert_finding(
        &d,
        "topics[0].capasity",
        Some("1024"),
        "did you mean `capacity`?",
    );
    assert_eq!(d.location.unwrap().line, 4);
    let d = only(
        &config("", "[groups.failure]\nretires = 3"),
        Rule::UnknownKey,
    );
    assert_finding(
        &d,
        "groups[0].failure.retires",
        Some("3"),
        "did you mean `retries`?",
    );
    let d = only(
        &format!("{}\nversion = 2\n", config("", "")),
        Rule::UnknownKey,
    );
    assert_eq!(d.path, "groups[0].version"); // TOML: after [[groups]], keys belong to it
    let d = only(
        &format!("version = 2\n{}", config("", "")),
        Rule::UnknownKey,
    );
    assert_finding(
        &d,
        "version",
        Some("2"),
        "known keys: engine, topics, groups",
    );
    let d = only(
        &config("name = 7", "").replace("name = \"orders\"\n", ""),
        Rule::WrongType,
    );
    assert_finding(&d, "topics[0].name", Some("7"), "write it in quotes: \"7\"");
}

#[test]
fn duplicate_key_json() {
    let text = r#"{"topics": [{"name": "t", "capacity": 8, "capacity": 16}],
                   "groups": [{"name": "g", "topic": "t"}]}"#;
    let Err(ConfigError::Invalid(found)) = Config::from_json_str(text) else {
        panic!("expected findings")
    };
    let d = found
        .iter()
        .find(|d| d.rule == Rule::DuplicateKey)
        .expect("duplicate key");
    assert_eq!(d.path, "topics[0].capacity");
    assert_eq!(d.value.as_deref(), Some("16"));
    assert!(d.to_string().contains("keep one of them"));
}

#[test]
fn missing_required_keys() {
    let text = "[[topics]]\npartitions = 1\n[[groups]]\nname = \"g\"\n";
    let found = findings(text);
    let missing: Vec<&Diagnostic> = found
        .iter()
        .filter(|d| d.rule == Rule::MissingKey)
        .collect();
    assert_eq!(missing.len(), 2, "{found}");
    assert_eq!(missing[0].path, "topics[0].name");
    assert!(missing[0].to_string().contains("add name = \"orders\""));
    assert_eq!(missing[1].path, "groups[0].topic");
    assert!(missing[1].to_string().contains("add topic = "));
}

#[test]
fn wrong_types() {
    let d = only(&config("capacity = \"1024\"", ""), Rule::WrongType);
    assert_finding(
        &d,
        "topics[0].capacity",
        Some("\"1024\""),
        "remove the quotes: 1024",
    );
    let d = only(&config("timestamps = \"false\"", ""), Rule::WrongType);
    assert_finding(
        &d,
        "topics[0].timestamps",
        Some("\"false\""),
        "write false without quotes",
    );
    let d = only(
        &config("", "[groups.failure]\nbackoff = { initial = 5 }"),
        Rule::WrongType,
    );
    assert_finding(
        &d,
        "groups[0].failure.backoff.initial",
        Some("5"),
        "\"5ms\"",
    );
    let d = only(&config("partitioner = \"sticky\"", ""), Rule::WrongType);
    assert_finding(
        &d,
        "topics[0].partitioner",
        Some("\"sticky\""),
        "{ sticky = { linger = 16 } }",
    );
    let d = only(&config("capacity = 2048.0", ""), Rule::WrongType);
    assert_finding(
        &d,
        "topics[0].capacity",
        Some("2048.0"),
        "without a decimal point: 2048",
    );
}

#[test]
fn unknown_choice_with_did_you_mean() {
    let d = only(&config("full_policy = \"blok\"", ""), Rule::UnknownVariant);
    assert_finding(
        &d,
        "topics[0].full_policy",
        Some("\"blok\""),
        "did you mean \"block\"?",
    );
    let d = only(
        &config("", "assignment = \"roundrobin\""),
        Rule::UnknownVariant,
    );
    assert_finding(
        &d,
        "groups[0].assignment",
        Some("\"roundrobin\""),
        "did you mean \"round_robin\"?",
    );
    let d = only(
        &config("", "[groups.failure]\nretries = \"forevr\""),
        Rule::UnknownVariant,
    );
    assert_finding(
        &d,
        "groups[0].failure.retries",
        Some("\"forevr\""),
        "did you mean \"forever\"?",
    );
    let d = only(&config("", "mode = \"threads\""), Rule::UnknownVariant);
    assert_finding(&d, "groups[0].mode", Some("\"threads\""), "{ workers = 2 }");
}

#[test]
fn empty_names() {
    let text = "[[topics]]\nname = \"\"\n[[groups]]\nname = \"\"\ntopic = \"\"\n";
    let found = findings(text);
    let empty: Vec<&Diagnostic> = found.iter().filter(|d| d.rule == Rule::EmptyName).collect();
    assert_eq!(empty.len(), 2, "{found}");
    assert_finding(
        empty[0],
        "topics[0].name",
        Some("\"\""),
        "e.g. name = \"orders\"",
    );
    assert_finding(
        empty[1],
        "groups[0].name",
        Some("\"\""),
        "give it a unique name",
    );
}

#[test]
fn duplicate_names() {
    let text = format!("{}\n[[topics]]\nname = \"orders\"\n", config("", ""));
    let d = only(&text, Rule::DuplicateName);
    assert_finding(
        &d,
        "topics[1].name",
        Some("\"orders\""),
        "give each topic its own name",
    );
    assert!(d.message.contains("already declared at topics[0]"));
    let text = format!(
        "{}\n[[groups]]\nname = \"billing\"\ntopic = \"orders\"\n",
        config("", "")
    );
    let d = only(&text, Rule::DuplicateName);
    assert_finding(
        &d,
        "groups[1].name",
        Some("\"billing\""),
        "give each group its own name",
    );
}

#[test]
fn group_on_unknown_topic() {
    let text = "[[topics]]\nname = \"orders\"\n[[groups]]\nname = \"a\"\ntopic = \"orders\"\n\
                [[groups]]\nname = \"b\"\ntopic = \"ordres\"\n[[groups]]\nname = \"c\"\ntopic = \"payments\"\n";
    let found = findings(text);
    let unknown: Vec<&Diagnostic> = found
        .iter()
        .filter(|d| d.rule == Rule::UnknownTopic)
        .collect();
    assert_eq!(unknown.len(), 2, "{found}");
    assert_finding(
        unknown[0],
        "groups[1].topic",
        Some("\"ordres\""),
        "did you mean \"orders\"?",
    );
    assert_finding(
        unknown[1],
        "groups[2].topic",
        Some("\"payments\""),
        "[[topics]] name = \"payments\"",
    );
}

#[test]
fn missing_dead_letter_topic() {
    let group = "[groups.failure]\non_exhaustive = \"skip\"\n";
    // (A typo of the key itself is an unknown key.)
    assert_eq!(
        only(&config("", group), Rule::UnknownKey).path,
        "groups[0].failure.on_exhaustive"
    );
    let group = "[groups.failure]\nretries = 1\non_exhausted = { dead_letter = \"orders.dlq\" }";
    let d = only(&config("", group), Rule::MissingDeadLetterTopic);
    assert_finding(
        &d,
        "groups[0].failure.on_exhausted.dead_letter",
        Some("\"orders.dlq\""),
        "[[topics]] name = \"orders.dlq\"",
    );
}

#[test]
fn dead_letter_into_own_topic() {
    let group = "[groups.failure]\non_exhausted = { dead_letter = \"orders\" }";
    let d = only(&config("", group), Rule::DeadLetterLoop);
    assert_finding(
        &d,
        "groups[0].failure.on_exhausted.dead_letter",
        Some("\"orders\""),
        "\"orders.dlq\"",
    );
}

#[test]
fn topic_without_group() {
    let text = format!("{}\n[[topics]]\nname = \"audit\"\n", config("", ""));
    let d = only(&text, Rule::TopicWithoutGroup);
    assert_finding(
        &d,
        "topics[1]",
        Some("\"audit\""),
        "add a [[groups]] entry with topic = \"audit\"",
    );
}

#[test]
fn more_workers_than_partitions_is_a_warning() {
    let d = warning(&config("", "mode = { workers = 6 }"), Rule::IdleWorkers);
    assert_eq!(d.path, "groups[0].mode.workers");
    assert_eq!(d.value.as_deref(), Some("6"));
    assert!(
        d.to_string().contains("2 of the 6 workers would be idle"),
        "{d}"
    );
    assert!(d.to_string().contains("use at most 4 workers"), "{d}");
}

#[test]
fn unreachable_on_exhausted_is_a_warning() {
    let group = "[groups.failure]\nretries = \"forever\"\non_exhausted = \"halt\"";
    let d = warning(&config("", group), Rule::UnreachableExhausted);
    assert_eq!(d.path, "groups[0].failure.on_exhausted");
    assert!(d.to_string().contains("set retries to a count"));
}

#[test]
fn zero_block_timeout_is_a_warning() {
    let d = warning(
        &config("full_policy = { block_timeout = \"0s\" }", ""),
        Rule::ZeroTimeout,
    );
    assert_eq!(d.path, "topics[0].full_policy.block_timeout");
    assert!(d.to_string().contains("full_policy = \"reject\""));
}

#[test]
fn every_error_at_once_and_warnings_apart() {
    let text = "\
[[topics]]
name = \"moves\"
partitions = 4
capacity = 1000
full_policy = \"blok\"
colour = \"red\"

[[groups]]
name = \"physics\"
topic = \"moves\"
mode = { workers = 8 }
max_batch = 0

[[groups]]
name = \"replay\"
topic = \"movs\"
";
    let found = findings(text);
    let rules: Vec<Rule> = found.errors.iter().map(|d| d.rule).collect();
    assert_eq!(
        rules,
        [
            Rule::NotPowerOfTwo,
            Rule::UnknownVariant,
            Rule::UnknownKey,
            Rule::OutOfRange,
            Rule::UnknownTopic
        ],
        "{found}"
    );
    // Source order, each with its line.
    let lines: Vec<usize> = found
        .errors
        .iter()
        .map(|d| d.location.unwrap().line)
        .collect();
    assert_eq!(lines, [4, 5, 6, 12, 16]);
    assert_eq!(found.warnings.len(), 1);
    assert_eq!(found.warnings[0].rule, Rule::IdleWorkers);
    let text = found.to_string();
    assert!(
        text.starts_with("invalid configuration: 5 errors, 1 warning"),
        "{text}"
    );
}

#[test]
fn a_broken_value_does_not_cascade() {
    // The topic's name is unreadable: no "unknown topic" or "no group"
    // follow-ups about it.
    let text = "[[topics]]\nname = 5\n[[groups]]\nname = \"g\"\ntopic = \"t\"\n";
    let found = findings(text);
    assert_eq!(found.errors.len(), 1, "{found}");
    assert_eq!(found.errors[0].rule, Rule::WrongType);
    // Unreadable partitions: no idle-worker warning computed from a default.
    let text =
        config("partitions = \"many\"", "mode = { workers = 3 }").replace("partitions = 4\n", "");
    let found = findings(&text);
    assert_eq!(found.errors.len(), 1, "{found}");
    assert!(found.warnings.is_empty(), "{found}");
}

#[test]
fn toml_syntax_error_keeps_line_and_column() {
    let text = "[[topics]]\nname = \"orders\"\npartitions = = 3\n";
    match Config::from_toml_str(text) {
        Err(ConfigError::Syntax {
            format,
            location,
            message,
        }) => {
            assert_eq!(format, "TOML");
            assert_eq!((location.line, location.column), (3, 14));
            assert!(!message.is_empty());
        }
        other => panic!("expected a syntax error, got {other:?}"),
    }
}

#[test]
fn json_syntax_error_keeps_line_and_column() {
    let text = "{\n  \"topics\": [\n    {\"name\": \"orders\",}\n  ]\n}";
    match Config::from_json_str(text) {
        Err(e @ ConfigError::Syntax { .. }) => {
            let ConfigError::Syntax {
                format, location, ..
            } = &e
            else {
                unreachable!()
            };
            assert_eq!(*format, "JSON");
            assert_eq!(location.line, 3);
            assert!(e.to_string().contains("line 3, column"), "{e}");
        }
        other => panic!("expected a syntax error, got {other:?}"),
    }
}

#[test]
fn json_findings_have_paths() {
    let text =
        r#"{"topics": [{"name": "t", "capacity": 100}], "groups": [{"name": "g", "topic": "t"}]}"#;
    let Err(ConfigError::Invalid(found)) = Config::from_json_str(text) else {
        panic!("expected findings")
    };
    assert_eq!(found.errors.len(), 1);
    let d = &found.errors[0];
    assert_eq!(d.path, "topics[0].capacity");
    assert!(d.to_string().contains("use 128 (or 64)"));
    assert!(d.location.is_none(), "JSON keeps no positions per value");
}

#[test]
fn not_a_table_at_the_top() {
    let Err(ConfigError::Invalid(found)) = Config::from_json_str("[1, 2]") else {
        panic!("expected findings")
    };
    assert_eq!(found.errors[0].rule, Rule::WrongType);
    assert_eq!(found.errors[0].path, "");
    assert!(found.errors[0].to_string().starts_with("(top level)"));
    let Err(ConfigError::Invalid(found)) = Config::from_toml_str("topics = 3") else {
        panic!("expected findings")
    };
    assert_eq!(found.errors[0].path, "topics");
    assert!(found.errors[0].to_string().contains("[[topics]]"));
}

#[test]
fn unknown_file_extension() {
    let err = Config::from_path("topology.yaml").unwrap_err();
    assert!(matches!(err, ConfigError::UnknownFormat { .. }), "{err}");
    assert!(err.to_string().contains("use .toml or .json"));
    let err = Config::from_path("/nonexistent/veltrix.toml").unwrap_err();
    assert!(matches!(err, ConfigError::Io { .. }), "{err}");
}

#[test]
fn any_serde_format_goes_through_the_same_checks() {
    let value = serde_json::json!({
        "topics": [{"name": "t", "capacity": 1000, "colour": 1}],
        "groups": [{"name": "g", "topic": "t"}]
    });
    let err = serde_json::from_value::<Config>(value)
        .unwrap_err()
        .to_string();
    assert!(err.contains("2 errors"), "{err}");
    assert!(err.contains("topics[0].capacity = 1000"), "{err}");
    assert!(err.contains("topics[0].colour"), "{err}");
}

#[test]
fn names_with_control_characters_are_invalid_as_in_code() {
    let text = "[[topics]]\nname = \"ord\\u0000ers\"\n\n\
                [[groups]]\nname = \"bil\\nling\"\ntopic = \"ord\\u0000ers\"\n";
    let found = findings(text);
    let invalid: Vec<&Diagnostic> = found
        .errors
        .iter()
        .filter(|d| d.rule == Rule::InvalidName)
        .collect();
    assert_eq!(invalid.len(), 2, "{found}");
    assert_eq!(invalid[0].path, "topics[0].name");
    assert_eq!(invalid[1].path, "groups[0].name");
    assert!(
        invalid[0].to_string().contains("control character"),
        "{found}"
    );
}

#[test]
fn a_backoff_past_an_hour_is_out_of_range_as_in_code() {
    let d = only(
        &config(
            "",
            "[groups.failure.backoff]\ninitial = \"1ms\"\nmax = \"2h\"",
        ),
        Rule::OutOfRange,
    );
    assert_finding(
        &d,
        "groups[0].failure.backoff.max",
        Some("\"2h\""),
        "at most \"1h\"",
    );
}

/// The base config plus groups "physics" and "replication" on "orders" and
/// "audit" on a second topic "moves"; `extra[i]` goes into group `i`
/// (billing, physics, replication, audit).
fn staged(extra: [&str; 4]) -> String {
    format!(
        "[[topics]]\nname = \"orders\"\npartitions = 4\n\n\
         [[topics]]\nname = \"moves\"\npartitions = 2\n\n\
         [[groups]]\nname = \"billing\"\ntopic = \"orders\"\n{}\n\n\
         [[groups]]\nname = \"physics\"\ntopic = \"orders\"\n{}\n\n\
         [[groups]]\nname = \"replication\"\ntopic = \"orders\"\n{}\n\n\
         [[groups]]\nname = \"audit\"\ntopic = \"moves\"\n{}\n",
        extra[0], extra[1], extra[2], extra[3]
    )
}

#[test]
fn stages_are_read_and_a_valid_diamond_passes() {
    let text = staged([
        "",
        "after = [\"billing\"]",
        "after = [\"billing\", \"physics\"]",
        "",
    ]);
    let config = Config::from_toml_str(&text).unwrap();
    assert!(config.groups[0].options.after.is_empty());
    assert_eq!(config.groups[1].options.after, ["billing"]);
    assert_eq!(config.groups[2].options.after, ["billing", "physics"]);
    assert!(config.validate().errors.is_empty());
}

#[test]
fn stage_naming_an_undeclared_group() {
    let d = only(
        &staged(["", "after = [\"phisics\"]", "", ""]),
        Rule::UnknownStage,
    );
    assert_finding(
        &d,
        "groups[1].after",
        Some("\"phisics\""),
        "groups of topic \"orders\": \"billing\", \"replication\"",
    );
}

#[test]
fn stage_on_another_topic() {
    let d = only(
        &staged(["", "", "", "after = [\"billing\"]"]),
        Rule::StageOnOtherTopic,
    );
    assert_finding(&d, "groups[3].after", Some("\"billing\""), "with a router");
    assert!(
        d.message.contains("reads topic \"orders\", not \"moves\""),
        "{d}"
    );
}

#[test]
fn stage_after_itself() {
    let d = only(
        &staged(["after = [\"billing\"]", "", "", ""]),
        Rule::StageCycle,
    );
    assert_finding(
        &d,
        "groups[0].after",
        Some("\"billing\""),
        "remove its own name",
    );
}

#[test]
fn stage_cycle_is_reported_on_every_group_on_it() {
    let text = staged([
        "after = [\"replication\"]",
        "after = [\"billing\"]",
        "after = [\"physics\"]",
        "",
    ]);
    let found = findings(&text);
    let cycles: Vec<&Diagnostic> = found
        .iter()
        .filter(|d| d.rule == Rule::StageCycle)
        .collect();
    let paths: Vec<&str> = cycles.iter().map(|d| d.path.as_str()).collect();
    assert_eq!(
        paths,
        ["groups[0].after", "groups[1].after", "groups[2].after"],
        "{found}"
    );
    assert!(
        cycles[0]
            .message
            .contains("billing runs after replication runs after physics runs after billing"),
        "{}",
        cycles[0]
    );
    assert!(cycles[0].to_string().contains("remove one of the names"));
}

#[test]
fn stage_list_of_the_wrong_type() {
    let d = only(
        &staged(["", "after = \"billing\"", "", ""]),
        Rule::WrongType,
    );
    assert_finding(
        &d,
        "groups[1].after",
        Some("\"billing\""),
        "write after = [\"physics\"]",
    );
    let d = only(&staged(["", "after = [3]", "", ""]), Rule::WrongType);
    assert_eq!(d.path, "groups[1].after[0]", "{d}");
}

#[test]
fn lag_policies_are_read() {
    use veltrix::LagPolicy;
    let lag = |extra: &str| {
        Config::from_toml_str(&config("", extra)).unwrap().groups[0]
            .options
            .lag
    };
    assert_eq!(lag("lag = { lossy = 512 }"), LagPolicy::Lossy(512));
    assert_eq!(lag("lag = \"backpressure\""), LagPolicy::Backpressure);
    assert_eq!(lag(""), LagPolicy::Backpressure);
}

#[test]
fn lossy_bound_zero() {
    let d = only(&config("", "lag = { lossy = 0 }"), Rule::OutOfRange);
    assert_finding(
        &d,
        "groups[0].lag.lossy",
        Some("0"),
        "lag = { lossy = 1 } or more",
    );
}

#[test]
fn lag_of_the_wrong_shape() {
    let found = findings(&config("", "lag = \"lossy\""));
    let d = found
        .iter()
        .find(|d| d.path == "groups[0].lag")
        .unwrap_or_else(|| panic!("no finding at groups[0].lag in {found}"));
    assert!(d.to_string().contains("{ lossy = 4096 }"), "{d}");
}

#[test]
fn lossy_group_in_stages() {
    let d = only(
        &staged(["lag = { lossy = 64 }", "after = [\"billing\"]", "", ""]),
        Rule::LossyStage,
    );
    assert_finding(
        &d,
        "groups[1].after",
        Some("\"billing\""),
        "lag = \"backpressure\"",
    );
    assert!(d.message.contains("group \"billing\" is lossy"), "{d}");
}

#[test]
fn max_workers_is_read() {
    let options = |extra: &str| {
        Config::from_toml_str(&config("", extra)).unwrap().groups[0]
            .options
            .clone()
    };
    assert_eq!(
        options("mode = { workers = 2 }\nmax_workers = 8").max_workers,
        Some(8)
    );
    assert_eq!(options("").max_workers, None);
}

#[test]
fn max_workers_below_the_initial_count() {
    let d = only(
        &config("", "mode = { workers = 4 }\nmax_workers = 2"),
        Rule::OutOfRange,
    );
    assert_finding(
        &d,
        "groups[0].max_workers",
        Some("2"),
        "max_workers = 4 or more",
    );
}

#[test]
fn max_workers_of_a_poll_group() {
    let d = only(
        &config("", "mode = \"poll\"\nmax_workers = 2"),
        Rule::OutOfRange,
    );
    assert_finding(&d, "groups[0].max_workers", Some("2"), "remove max_workers");
}

#[test]
fn spare_groups_is_read_and_bounded() {
    let config_of = |extra: &str| Config::from_toml_str(&config(extra, "")).unwrap();
    assert_eq!(config_of("spare_groups = 3").topics[0].spare_groups, 3);
    assert_eq!(
        config_of("spare_groups = 3").topics[0]
            .options()
            .spare_groups,
        3
    );
    assert_eq!(config_of("").topics[0].spare_groups, 0);
    let d = only(
        &config(
            &format!("spare_groups = {}", veltrix::MAX_SPARE_GROUPS + 1),
            "",
        ),
        Rule::OutOfRange,
    );
    assert_finding(
        &d,
        "topics[0].spare_groups",
        Some("65"),
        "use spare_groups = 0 (the default) up to 64",
    );
}
