//! The Grafana dashboard shipped in `examples/grafana/veltrix.json`: every
//! metric its queries use is one the engine exports, with the labels the
//! queries group and filter by. (CI also runs each query against a real
//! Prometheus: `.ci/prometheus-scrape`.)

use std::collections::{BTreeSet, HashMap};

use veltrix::{Engine, GroupOptions, TopicOptions};

mod common;
use common::exposition::parse;

const DASHBOARD: &str = include_str!("../examples/grafana/veltrix.json");

/// Every query (`expr`) of every panel.
fn queries() -> Vec<String> {
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
fn metric_names(query: &str) -> Vec<String> {
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
fn labels_used(query: &str) -> Vec<String> {
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

/// Series names and their label names, from the exposition of an engine
/// with a threaded and a poll-mode group (every family has samples).
fn exported() -> HashMap<String, BTreeSet<String>> {
    let engine = Engine::builder()
        .latency_sampling(1)
        .topic::<u64>("orders", TopicOptions::new(2))
        .subscribe("billing", "orders", GroupOptions::workers(1), |_| {
            veltrix::listener::from_fn(|_: &u64, _| Ok(()))
        })
        .subscribe("ui", "orders", GroupOptions::poll(), |_| {
            veltrix::listener::from_fn(|_: &u64, _| Ok(()))
        })
        .build()
        .unwrap();
    engine
        .topic::<u64>("orders")
        .unwrap()
        .publish_batch(0..100)
        .unwrap();
    let mut poller = engine.poller("ui").unwrap();
    while poller.poll(1000) > 0 {}
    let mut series: HashMap<String, BTreeSet<String>> = HashMap::new();
    for (name, labels, _) in parse(&engine.metrics().to_prometheus()) {
        series.entry(name).or_default().extend(labels.into_keys());
    }
    engine.shutdown();
    series
}

#[test]
fn every_dashboard_query_uses_exported_metrics_and_labels() {
    let series = exported();
    let queries = queries();
    assert!(queries.len() >= 15, "{} queries", queries.len());
    for query in &queries {
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
}

#[test]
fn the_dashboard_covers_what_operators_watch() {
    let all = queries().join("\n");
    for family in [
        "veltrix_published_total",
        "veltrix_handled_total",
        "veltrix_lag",
        "veltrix_event_latency_seconds_bucket",
        "veltrix_handler_duration_seconds_bucket",
        "veltrix_refused_total",
        "veltrix_dropped_total",
        "veltrix_dead_lettered_total",
        "veltrix_retried_total",
    ] {
        assert!(
            metric_names(&all).iter().any(|n| n == family),
            "no panel shows {family}"
        );
    }
    assert!(
        all.contains("histogram_quantile("),
        "latency quantiles come from buckets"
    );
}
