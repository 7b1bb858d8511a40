//! The Grafana dashboard shipped in `examples/grafana/veltrix.json`: every
//! metric its queries use is one the engine exports, with the labels the
//! queries group and filter by. (CI also runs each query against a real
//! Prometheus: `.ci/prometheus-scrape`.)

use std::collections::{BTreeSet, HashMap};

use veltrix::{Engine, GroupOptions, TopicOptions};

mod common;
use common::dashboard::{assert_query_fits, is_bridge_query, metric_names, queries, series_of};

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
    let series = series_of([engine.metrics().to_prometheus().as_str()]);
    engine.shutdown();
    series
}

#[test]
fn every_dashboard_query_uses_exported_metrics_and_labels() {
    let series = exported();
    let queries = queries();
    assert!(queries.len() >= 15, "{} queries", queries.len());
    // The bridge panels are checked against real bridges, in
    // tests/nats_bridge.rs.
    for query in queries.iter().filter(|q| !is_bridge_query(q)) {
        assert_query_fits(query, &series);
    }
}

/// The bridge panels name families the engine declares (with the `nats`
/// feature), and show both sides of a bridge.
#[cfg(feature = "nats")]
#[test]
fn the_bridge_panels_name_declared_families_of_both_sides() {
    let engine = Engine::builder()
        .topic::<u64>("orders", TopicOptions::new(1))
        .subscribe("billing", "orders", GroupOptions::workers(1), |_| {
            veltrix::listener::from_fn(|_: &u64, _| Ok(()))
        })
        .build()
        .unwrap();
    let text = engine.metrics().to_prometheus();
    engine.shutdown();
    let bridge: Vec<String> = queries()
        .into_iter()
        .filter(|q| is_bridge_query(q))
        .collect();
    let named: BTreeSet<String> = bridge.iter().flat_map(|q| metric_names(q)).collect();
    for name in &named {
        assert!(
            text.contains(&format!("# TYPE {name} ")),
            "{name} is not a family veltrix declares"
        );
    }
    for family in [
        "veltrix_bridge_exported_total",
        "veltrix_bridge_export_acked_total",
        "veltrix_bridge_export_in_flight",
        "veltrix_bridge_export_failed_total",
        "veltrix_bridge_imported_total",
        "veltrix_bridge_redelivered_total",
        "veltrix_bridge_duplicates_total",
        "veltrix_bridge_undecodable_total",
    ] {
        assert!(named.contains(family), "no bridge panel shows {family}");
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
