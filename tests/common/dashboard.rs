//! The Grafana dashboard shipped in `examples/grafana/veltrix.json`, read
//! for the tests that check its queries against what veltrix exports.

use std::collections::{BTreeSet, HashMap};

use super::exposition::parse;

const DASHBOARD: &str = include_str!("../../examples/grafana/veltrix.json");

/// Every query (`expr`) of every panel.
pub fn queries() -> Vec<String> {
    let dashboard: serde_json::Value = serde_json::from_str(DASHBOARD).expect("valid JSON");
    let mut out = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().into_iter().flatten() {
            out.push(target["expr"].as_str().expect("expr is text").to_owned());
        }
    }
    out
}

/// The `veltrix_…` names a query mentions.
pub fn metric_names(query: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = query;
    while let Some(at) = rest.find("veltrix_") {
        let name: String = rest[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        rest = &rest[at + name.len()..];
        names.push(name);
    }
    names
}

/// The labels of `by (…)` and `{label=…}` clauses of a query.
pub fn labels_used(query: &str) -> Vec<String> {
    let mut labels = Vec::new();
    for (open, close) in [("by (", ")"), ("{", "}")] {
        let mut rest = query;
        while let Some(at) = rest.find(open) {
            let body = &rest[at + open.len()..];
            let end = body.find(close).expect("clause closes");
            for part in body[..end].split(',') {
                let label = part
                    .split(['=', '!', '~'])
                    .next()
                    .unwrap_or_default()
                    .trim();
                if !label.is_empty() {
                    labels.push(label.to_owned());
                }
            }
            rest = &body[end..];
        }
    }
    labels
}

/// Series names and their label names in expositions (`to_prometheus`).
pub fn series_of<'a>(
    texts: impl IntoIterator<Item = &'a str>,
) -> HashMap<String, BTreeSet<String>> {
    let mut series: HashMap<String, BTreeSet<String>> = HashMap::new();
    for text in texts {
        for (name, labels, _) in parse(text) {
            series.entry(name).or_default().extend(labels.into_keys());
        }
    }
    series
}

/// Asserts that `query` names only series in `series`, and groups and
/// filters only by labels those series have.
pub fn assert_query_fits(query: &str, series: &HashMap<String, BTreeSet<String>>) {
    let names = metric_names(query);
    assert!(
        !names.is_empty(),
        "a query without a veltrix metric: {query}"
    );
    let mut known: BTreeSet<String> = BTreeSet::new();
    for name in &names {
        let labels = series
            .get(name)
            .unwrap_or_else(|| panic!("{query}: `{name}` is not exported"));
        known.extend(labels.iter().cloned());
    }
    for label in labels_used(query) {
        assert!(
            known.contains(&label),
            "{query}: label `{label}` is not on {names:?} (it has {known:?})"
        );
    }
}

/// Whether `query` reads the NATS bridge's families (which an engine
/// without a bridge declares but has no samples of).
pub fn is_bridge_query(query: &str) -> bool {
    metric_names(query)
        .iter()
        .any(|n| n.starts_with("veltrix_bridge_"))
}
