//! Reading a huge broken configuration: the findings are capped at
//! [`MAX_DIAGNOSTICS`] (the first in source order), the rest counted, and
//! the result stays an error. And no input, however mangled, panics the
//! reader. (How long reading takes is measured by hand, not asserted here:
//! timings on a shared machine are noise.)
#![cfg(all(feature = "toml", feature = "json"))]

use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::prelude::*;
use veltrix::config::{
    Config, ConfigError, Diagnostics, GroupConfig, Rule, TopicConfig, MAX_DIAGNOSTICS,
};
use veltrix::{GroupOptions, TopicOptions};

/// A file of at least `target` bytes made of unknown keys
/// (`unknown_key_17 = 1`): a third at the top level, a third in a
/// `[[topics]]` table, a third in a `[[groups]]` table. Apart from them the
/// file is valid (one topic, one group reading it), so every error is one
/// junk key. Returns the text and the number of junk keys.
fn junk_file(target: usize) -> (String, usize) {
    let mut text = String::with_capacity(target + 64);
    let mut junk = 0;
    let mut fill_to = |text: &mut String, end: usize| {
        while text.len() < end {
            let _ = writeln!(text, "unknown_key_{junk} = 1");
            junk += 1;
        }
    };
    fill_to(&mut text, target / 3);
    text.push_str("[[topics]]\nname = \"t\"\n");
    fill_to(&mut text, 2 * target / 3);
    text.push_str("[[groups]]\nname = \"g\"\ntopic = \"t\"\n");
    fill_to(&mut text, target);
    (text, junk)
}

fn findings(result: Result<Config, ConfigError>) -> Diagnostics {
    match result {
        Err(ConfigError::Invalid(found)) => found,
        other => panic!("expected findings, got {other:?}"),
    }
}

/// The cap's invariants, whatever the input.
fn assert_capped(found: &Diagnostics) {
    assert!(found.errors.len() <= MAX_DIAGNOSTICS, "{found}");
    assert!(found.warnings.len() <= MAX_DIAGNOSTICS, "{found}");
    if found.omitted_errors() > 0 {
        assert_eq!(found.errors.len(), MAX_DIAGNOSTICS);
    }
    if found.omitted_warnings() > 0 {
        assert_eq!(found.warnings.len(), MAX_DIAGNOSTICS);
    }
    let text = found.to_string();
    let more = |n: usize, what: &str| {
        let s = if n == 1 { "" } else { "s" };
        format!("\n  ... and {n} more {what}{s}")
    };
    assert_eq!(
        text.contains(&more(found.omitted_errors(), "error")),
        found.omitted_errors() > 0,
        "{text}"
    );
    assert_eq!(
        text.contains(&more(found.omitted_warnings(), "warning")),
        found.omitted_warnings() > 0,
        "{text}"
    );
    // Source order, wherever there are positions.
    for list in [&found.errors, &found.warnings] {
        let located: Vec<_> = list
            .iter()
            .filter_map(|d| d.location.map(|l| (l.line, l.column)))
            .collect();
        assert!(located.windows(2).all(|w| w[0] <= w[1]), "{found}");
    }
}

#[test]
fn ten_megabytes_of_unknown_keys_keep_the_first_hundred_and_count_the_rest() {
    let (text, junk) = junk_file(10 * 1024 * 1024);
    assert!(junk > 2 * MAX_DIAGNOSTICS);
    let found = findings(Config::from_toml_str(&text));
    assert_eq!(found.errors.len(), MAX_DIAGNOSTICS);
    assert_eq!(found.omitted_errors(), junk - MAX_DIAGNOSTICS);
    assert!(found.warnings.is_empty());
    assert_eq!(found.omitted_warnings(), 0);
    assert!(!found.is_ok());
    assert_capped(&found);
    // The first ones in the file, though the top level is read last.
    for (i, error) in found.errors.iter().enumerate() {
        assert_eq!(error.rule, Rule::UnknownKey, "{error}");
        assert_eq!(error.path, format!("unknown_key_{i}"));
        assert_eq!(error.location.map(|l| (l.line, l.column)), Some((i + 1, 1)));
    }
    let shown = found.to_string();
    let total = format!("invalid configuration: {junk} errors, 0 warnings");
    assert!(shown.starts_with(&total), "{}", &shown[..200]);
    let more = format!("\n  ... and {} more errors", junk - MAX_DIAGNOSTICS);
    assert!(shown.ends_with(&more), "{}", &shown[shown.len() - 200..]);
}

#[test]
fn one_error_past_the_cap_is_counted_and_still_an_error() {
    let text: String = (0..=MAX_DIAGNOSTICS)
        .map(|i| format!("typo_{i} = {i}\n"))
        .collect();
    let found = findings(Config::from_toml_str(&text));
    assert_eq!(found.errors.len(), MAX_DIAGNOSTICS);
    assert_eq!(found.omitted_errors(), 1);
    assert!(!found.is_ok());
    assert!(found.to_string().ends_with("\n  ... and 1 more error"));
    assert_eq!(
        found.errors.last().map(|d| d.path.as_str()),
        Some("typo_99")
    );
}

#[test]
fn exactly_the_cap_omits_nothing() {
    let text: String = (0..MAX_DIAGNOSTICS)
        .map(|i| format!("typo_{i} = {i}\n"))
        .collect();
    let found = findings(Config::from_toml_str(&text));
    assert_eq!(found.errors.len(), MAX_DIAGNOSTICS);
    assert_eq!(found.omitted_errors(), 0);
    assert!(!found.to_string().contains("more error"));
}

#[test]
fn errors_in_tables_read_first_give_way_to_earlier_lines() {
    // The reader visits the topics before the top-level keys; the report
    // still begins at the top of the file, and keeps rule errors found
    // after the reading (a group on an undeclared topic) in their place.
    let mut text = String::new();
    for i in 0..60 {
        let _ = writeln!(text, "early_{i} = 1");
    }
    text.push_str("[[topics]]\nname = \"t\"\n");
    for i in 0..60 {
        let _ = writeln!(text, "late_{i} = 1");
    }
    text.push_str("[[groups]]\nname = \"g\"\ntopic = \"nope\"\n");
    let found = findings(Config::from_toml_str(&text));
    assert_capped(&found);
    // 120 unknown keys, one unknown topic, one topic without a group.
    assert_eq!(found.errors.len() + found.omitted_errors(), 122, "{found}");
    assert_eq!(found.omitted_errors(), 22);
    let paths: Vec<&str> = found.errors.iter().map(|d| d.path.as_str()).collect();
    assert_eq!(paths[0], "early_0");
    assert_eq!(paths[59], "early_59");
    assert_eq!(paths[60], "topics[0]", "{found}"); // no group reads "t"
    assert_eq!(paths[61], "topics[0].late_0");
    assert_eq!(paths[99], "topics[0].late_38");
}

#[test]
fn json_keeps_the_first_in_reading_order() {
    let keys: Vec<String> = (0..MAX_DIAGNOSTICS + 40)
        .map(|i| format!("\"typo_{i}\": {i}"))
        .collect();
    let text = format!("{{{}}}", keys.join(", "));
    let found = findings(Config::from_json_str(&text));
    assert_capped(&found);
    assert_eq!(found.omitted_errors(), 40);
    assert_eq!(found.errors[0].path, "typo_0");
    assert_eq!(found.errors[MAX_DIAGNOSTICS - 1].path, "typo_99");
    assert!(found.errors.iter().all(|d| d.location.is_none()));
}

#[test]
fn warnings_are_capped_apart_from_errors() {
    // Every group runs two workers on a one-partition topic: one warning
    // each, and no error.
    let config = (0..MAX_DIAGNOSTICS + 5).fold(
        Config::new().topic(TopicConfig::new("t", TopicOptions::new(1))),
        |config, i| {
            config.group(GroupConfig::new(
                format!("g{i}"),
                "t",
                GroupOptions::workers(2),
            ))
        },
    );
    let found = config.validate();
    assert!(found.is_ok(), "{found}");
    assert_eq!(found.warnings.len(), MAX_DIAGNOSTICS);
    assert_eq!(found.omitted_warnings(), 5);
    assert_eq!(found.warnings[0].path, "groups[0].mode.workers");
    assert_capped(&found);
    let shown = found.to_string();
    assert!(
        shown.starts_with("valid configuration: 0 errors, 105 warnings"),
        "{shown}"
    );
    assert!(shown.ends_with("\n  ... and 5 more warnings"), "{shown}");
}

/// Reading ends in a configuration or a typed error, never a panic; an
/// accepted configuration is valid, a refused one says why within the cap.
fn check_reader(result: Result<Config, ConfigError>) {
    match result {
        Ok(config) => {
            let found = config.validate();
            assert!(found.is_ok(), "accepted an invalid config: {found}");
        }
        Err(ConfigError::Invalid(found)) => {
            assert!(!found.errors.is_empty());
            assert_capped(&found);
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

/// A TOML-like file: sections (a header, then distinct keys with values),
/// with known and unknown keys (quoted ones with path punctuation too),
/// values of every kind, well and badly formed, and now and then a line of
/// anything.
fn toml_like() -> impl Strategy<Value = String> {
    const HEADERS: &[&str] = &[
        "[[topics]]",
        "[[topics]]",
        "[[topics]]",
        "[[topics]]",
        "[[groups]]",
        "[[groups]]",
        "[[groups]]",
        "[[groups]]",
        "[groups.failure]",
        "[groups.failure.backoff]",
        "[topics.partitioner]",
        "[junk]",
    ];
    const KEYS: &[&str] = &[
        "name",
        "topic",
        "partitions",
        "capacity",
        "partitioner",
        "full_policy",
        "mode",
        "wait",
        "retries",
        "initial",
        "on_exhausted",
        "capasity",
        "unknown_key",
        "\"topics[0]\"",
        "\"a.b[\"",
        "\"\"",
        "\"é\"",
    ];
    let value = prop_oneof![
        60 => prop::sample::select(vec![
            "1", "0", "-1", "1000", "18446744073709551616", "1.5", "true", "\"t\"",
            "\"5ms\"", "\"forever\"", "\"blok\"", "{ workers = 2 }",
            "{ sticky = { linger = 0 } }", "{ dead_letter = \"t\" }",
            "[1, \"a\", { b = 2 }]", "1979-05-27T07:32:00Z",
        ])
        .prop_map(str::to_owned),
        6 => "\"[a-z]{0,70}\"",
        1 => Just("{".to_owned()),
    ];
    let entries = || prop::collection::btree_map(prop::sample::select(KEYS), value.clone(), 0..6);
    let lines = |entries: std::collections::BTreeMap<&str, String>| {
        entries
            .into_iter()
            .map(|(key, value)| format!("{key} = {value}\n"))
            .collect::<String>()
    };
    let section = (prop::sample::select(HEADERS), entries())
        .prop_map(move |(header, entries)| format!("{header}\n{}", lines(entries)));
    let garbage = prop::option::weighted(0.1, (any::<usize>(), any::<String>()));
    (entries(), prop::collection::vec(section, 0..12), garbage).prop_map(
        move |(top, sections, garbage)| {
            let mut text = lines(top) + &sections.concat();
            if let Some((at, junk)) = garbage {
                let mut at = at % (text.len() + 1);
                while !text.is_char_boundary(at) {
                    at -= 1;
                }
                text.insert_str(at, &junk);
            }
            text
        },
    )
}

static FILES: AtomicUsize = AtomicUsize::new(0);

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn no_bytes_panic_the_reader(bytes in prop_oneof![
        prop::collection::vec(any::<u8>(), 0..512),
        // Mostly text, now and then a byte that breaks UTF-8.
        prop::collection::vec(prop_oneof![20 => 0x20..0x7fu8, 2 => Just(b'\n'), 1 => any::<u8>()], 0..512),
    ]) {
        match std::str::from_utf8(&bytes) {
            Ok(text) => {
                check_reader(Config::from_toml_str(text));
                check_reader(Config::from_json_str(text));
            }
            Err(_) => {
                // Only a file can hold bytes that are not UTF-8.
                let n = FILES.fetch_add(1, Ordering::Relaxed);
                let path = std::env::temp_dir()
                    .join(format!("veltrix-config-scale-{}-{n}.toml", std::process::id()));
                std::fs::write(&path, &bytes).expect("temp file");
                let result = Config::from_path(&path);
                let _ = std::fs::remove_file(&path);
                match result {
                    Err(ConfigError::Io { source, .. }) => {
                        prop_assert_eq!(source.kind(), std::io::ErrorKind::InvalidData);
                    }
                    other => prop_assert!(false, "expected an Io error, got {:?}", other),
                }
            }
        }
    }

    #[test]
    fn no_toml_like_file_panics_the_reader(mut text in toml_like(), junk in 0..250usize) {
        // Unknown keys at the end, past the cap often enough.
        for i in 0..junk {
            let _ = write!(text, "\nextra_{i} = {i}");
        }
        check_reader(Config::from_toml_str(&text));
    }

    #[test]
    fn no_string_panics_the_reader(text in any::<String>()) {
        check_reader(Config::from_toml_str(&text));
        check_reader(Config::from_json_str(&text));
    }
}
