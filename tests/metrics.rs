//! Metrics: snapshot contents, the Prometheus exposition (every line
//! parsed), metrics switched off, and the `/metrics` endpoint over loopback.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use veltrix::{Engine, GroupOptions, TopicOptions};

/// One parsed sample line: name, labels, value.
type Sample = (String, HashMap<String, String>, f64);

/// Parses the text exposition format strictly: every line is `# HELP`,
/// `# TYPE` with a known type, or a sample of a declared family.
fn parse(text: &str) -> Vec<Sample> {
    let mut declared: HashMap<String, String> = HashMap::new();
    let mut samples = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').expect("HELP has a name and text");
            assert!(name.starts_with("veltrix_") && !help.is_empty(), "{line}");
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE has a name and type");
            assert!(["counter", "gauge", "summary"].contains(&kind), "{line}");
            if kind == "counter" {
                assert!(name.ends_with("_total"), "counter without _total: {line}");
            }
            declared.insert(name.to_owned(), kind.to_owned());
            continue;
        }
        assert!(!line.starts_with('#'), "unknown comment: {line}");
        let (series, value) = line.rsplit_once(' ').expect("sample has a value");
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value in {line}"));
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => {
                let body = rest.strip_suffix('}').expect("labels close");
                let labels = body
                    .split("\",")
                    .map(|pair| {
                        let (k, v) = pair.split_once("=\"").expect("label is key=\"value\"");
                        (k.to_owned(), v.trim_end_matches('"').to_owned())
                    })
                    .collect();
                (name.to_owned(), labels)
            }
            None => (series.to_owned(), HashMap::new()),
        };
        let family = name
            .strip_suffix("_sum")
            .or_else(|| name.strip_suffix("_count"))
            .filter(|f| declared.get(*f).is_some_and(|k| k == "summary"))
            .unwrap_or(&name);
        assert!(
            declared.contains_key(family),
            "sample before its TYPE: {line}"
        );
        samples.push((name, labels, value));
    }
    samples
}

fn sum(samples: &[Sample], name: &str, label: (&str, &str)) -> f64 {
    samples
        .iter()
        .filter(|(n, l, _)| n == name && l.get(label.0).map(String::as_str) == Some(label.1))
        .map(|(_, _, v)| v)
        .sum()
}

fn engine(metrics: bool) -> Engine {
    Engine::builder()
        .metrics(metrics)
        .latency_sampling(1)
        .topic::<u64>("orders", TopicOptions::new(4).capacity(1024))
        .subscribe("billing", "orders", GroupOptions::workers(2), |_| {
            veltrix::listener::from_fn(|_: &u64, _| Ok(()))
        })
        .subscribe("ui", "orders", GroupOptions::poll(), |_| {
            veltrix::listener::from_fn(|v: &u64, _| {
                if v % 10 == 0 {
                    return Err("every tenth order fails".into());
                }
                Ok(())
            })
        })
        .build()
        .unwrap()
}

#[test]
fn snapshot_counts_depth_lag_and_latency() {
    let engine = engine(true);
    let orders = engine.topic::<u64>("orders").unwrap();
    let mut ui = engine.poller("ui").unwrap();
    orders.publish_batch(0..400).unwrap();
    assert_eq!(ui.poll(100), 100);
    let m = engine.metrics();
    let ui_metrics = m.groups.iter().find(|g| g.report.name == "ui").unwrap();
    assert_eq!(ui_metrics.lag.iter().map(|l| l.lag).sum::<u64>(), 300);
    assert_eq!(
        ui_metrics.lag_max,
        ui_metrics.lag.iter().map(|l| l.lag).max().unwrap()
    );
    assert_eq!(
        (ui_metrics.polls, ui_metrics.polls_budget_exhausted),
        (1, 1)
    );
    let latency = ui_metrics.latency.unwrap();
    assert_eq!(latency.count, 100, "every handled or failed event is timed");
    assert!(latency.p50 <= latency.p99 && latency.p99 <= latency.max && latency.p50 > 0);
    assert_eq!(ui_metrics.handler.unwrap().count, 100);
    let depth: u64 = m.topics[0].partitions.iter().map(|p| p.depth).sum();
    assert!(
        depth >= 300,
        "the poll group holds 300 events back: depth {depth}"
    );
    let report = engine.shutdown();
    assert_eq!(report.group("ui").unwrap().handled, 360);
    assert_eq!(report.group("ui").unwrap().skipped, 40);
}

#[test]
fn prometheus_exposition_parses_and_matches_the_counts() {
    let engine = engine(true);
    let orders = engine.topic::<u64>("orders").unwrap();
    let mut ui = engine.poller("ui").unwrap();
    orders.publish_batch(0..1000).unwrap();
    while ui.poll(1000) > 0 {}
    // Wait until the threaded group caught up, without timing anything.
    while engine.report().group("billing").unwrap().lag > 0 {
        std::thread::yield_now();
    }
    let samples = parse(&engine.metrics().to_prometheus());
    assert_eq!(
        sum(&samples, "veltrix_published_total", ("topic", "orders")),
        1000.0
    );
    assert_eq!(
        sum(&samples, "veltrix_handled_total", ("group", "billing")),
        1000.0
    );
    assert_eq!(
        sum(&samples, "veltrix_handled_total", ("group", "ui")),
        900.0
    );
    assert_eq!(
        sum(&samples, "veltrix_skipped_total", ("group", "ui")),
        100.0
    );
    assert_eq!(
        sum(&samples, "veltrix_failures_total", ("group", "ui")),
        100.0
    );
    assert_eq!(sum(&samples, "veltrix_lag", ("group", "ui")), 0.0);
    assert_eq!(
        sum(
            &samples,
            "veltrix_event_latency_seconds_count",
            ("group", "billing")
        ),
        1000.0
    );
    let quantiles: Vec<_> = samples
        .iter()
        .filter(|(n, l, _)| n == "veltrix_event_latency_seconds" && l["group"] == "ui")
        .map(|(_, l, v)| (l["quantile"].clone(), *v))
        .collect();
    assert_eq!(quantiles.len(), 4);
    assert!(
        quantiles.windows(2).all(|w| w[0].1 <= w[1].1),
        "{quantiles:?}"
    );
    // Partition labels cover every partition exactly once.
    let mut partitions: Vec<_> = samples
        .iter()
        .filter(|(n, _, _)| n == "veltrix_published_total")
        .map(|(_, l, _)| l["partition"].clone())
        .collect();
    partitions.sort();
    assert_eq!(partitions, ["0", "1", "2", "3"]);
}

#[test]
fn default_sampling_times_one_event_in_64_per_partition() {
    let engine = Engine::builder()
        .topic::<u64>("t", TopicOptions::new(2).capacity(1024))
        .subscribe("g", "t", GroupOptions::poll(), |_| {
            veltrix::listener::from_fn(|_: &u64, _| Ok(()))
        })
        .build()
        .unwrap();
    engine
        .topic::<u64>("t")
        .unwrap()
        .publish_batch(0..200)
        .unwrap();
    let mut poller = engine.poller("g").unwrap();
    assert_eq!(poller.poll(1000), 200);
    let m = engine.metrics();
    // 100 events per partition, sequences 0..100: 0 and 64 are timed.
    assert_eq!(veltrix::DEFAULT_LATENCY_SAMPLING, 64);
    assert_eq!(m.groups[0].latency.unwrap().count, 2 * 2);
    assert_eq!(m.groups[0].report.handled, 200, "counts stay exact");
}

#[test]
fn metrics_off_keeps_counters_and_drops_latency() {
    let engine = engine(false);
    let orders = engine.topic::<u64>("orders").unwrap();
    orders.publish_batch(0..10).unwrap();
    let m = engine.metrics();
    assert!(m
        .groups
        .iter()
        .all(|g| g.latency.is_none() && g.handler.is_none()));
    let samples = parse(&m.to_prometheus());
    assert_eq!(
        sum(&samples, "veltrix_published_total", ("topic", "orders")),
        10.0
    );
    assert!(!samples
        .iter()
        .any(|(n, _, _)| n.starts_with("veltrix_event_latency")));
}

#[test]
fn metrics_endpoint_serves_the_counts_over_loopback() {
    let engine = engine(true);
    let handle = engine.metrics_handle();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let server = {
        let stop = stop.clone();
        std::thread::spawn(move || veltrix::metrics::serve_prometheus(listener, &handle, &stop))
    };
    engine
        .topic::<u64>("orders")
        .unwrap()
        .publish_batch(0..250)
        .unwrap();
    let scrape = |path: &str| {
        let mut stream = TcpStream::connect(addr).unwrap();
        write!(stream, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        response
    };
    let response = scrape("/metrics");
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    assert!(head.contains("text/plain; version=0.0.4"));
    let samples = parse(body);
    assert_eq!(
        sum(&samples, "veltrix_published_total", ("topic", "orders")),
        250.0
    );
    assert!(scrape("/other").starts_with("HTTP/1.1 404"));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    server.join().unwrap().unwrap();
    assert_eq!(engine.shutdown().group("billing").unwrap().handled, 250);
}
