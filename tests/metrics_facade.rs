//! The `metrics` facade gets exactly the series of the Prometheus text:
//! same names, same labels, same values (one family table drives both).
#![cfg(feature = "metrics")]

use std::collections::BTreeMap;

use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use veltrix::{Engine, GroupOptions, TopicOptions};

mod common;
use common::exposition::parse;

/// A series: its name and its labels, sorted.
type Series = (String, Vec<(String, String)>);

/// The series of the text exposition, with their values.
fn from_text(text: &str) -> BTreeMap<Series, f64> {
    parse(text)
        .into_iter()
        .map(|(name, labels, value)| {
            let mut labels: Vec<(String, String)> = labels.into_iter().collect();
            labels.sort();
            ((name, labels), value)
        })
        .collect()
}

#[test]
fn the_facade_gets_the_same_series_as_the_prometheus_text() {
    let engine = Engine::builder()
        .latency_sampling(1)
        .topic::<u64>("orders", TopicOptions::new(2))
        .subscribe("billing", "orders", GroupOptions::workers(1), |_| {
            veltrix::listener::from_fn(|_: &u64, _| Ok(()))
        })
        .subscribe("ui", "orders", GroupOptions::poll(), |_| {
            veltrix::listener::from_fn(|n: &u64, _| {
                if n % 10 == 0 {
                    return Err("every tenth fails".into());
                }
                Ok(())
            })
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
    let snapshot = engine.metrics();

    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || snapshot.record_to_metrics());
    let mut facade = BTreeMap::new();
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let key = key.key();
        let mut labels: Vec<(String, String)> = key
            .labels()
            .map(|l| (l.key().to_owned(), l.value().to_owned()))
            .collect();
        labels.sort();
        let value = match value {
            DebugValue::Counter(n) => n as f64,
            DebugValue::Gauge(g) => g.into_inner(),
            DebugValue::Histogram(_) => panic!("{} sent as a facade histogram", key.name()),
        };
        facade.insert((key.name().to_owned(), labels), value);
    }

    let text = from_text(&snapshot.to_prometheus());
    assert!(text.len() > 50, "{} series", text.len());
    let only_text: Vec<_> = text.keys().filter(|k| !facade.contains_key(*k)).collect();
    let only_facade: Vec<_> = facade.keys().filter(|k| !text.contains_key(*k)).collect();
    assert!(
        only_text.is_empty(),
        "missing from the facade: {only_text:?}"
    );
    assert!(
        only_facade.is_empty(),
        "only in the facade: {only_facade:?}"
    );
    for (series, value) in &text {
        assert_eq!(facade[series], *value, "{series:?}");
    }
    drop(poller);
    engine.shutdown();
}
