//! Metrics: snapshot contents, the Prometheus exposition (every line
//! parsed), metrics switched off, and the `/metrics` endpoint over loopback.

#[cfg(feature = "http")]
use std::io::{Read, Write};
#[cfg(feature = "http")]
use std::net::TcpStream;

use veltrix::{Engine, GroupOptions, TopicOptions};

mod common;
use common::exposition::{parse, sum};

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
    let latency = ui_metrics.latency.as_ref().unwrap();
    assert_eq!(latency.count, 100, "every handled or failed event is timed");
    assert!(latency.p50 <= latency.p99 && latency.p99 <= latency.max && latency.p50 > 0);
    // The exact sum lies within the histogram's range of values.
    assert!(latency.sum >= latency.count && latency.sum <= latency.max * latency.count);
    let buckets: Vec<u64> = latency.buckets.iter().map(|b| b.count).collect();
    assert_eq!(
        buckets.len(),
        veltrix::metrics::DEFAULT_LATENCY_BUCKETS.len()
    );
    assert!(
        buckets.windows(2).all(|w| w[0] <= w[1]),
        "cumulative: {buckets:?}"
    );
    assert!(*buckets.last().unwrap() <= latency.count);
    assert_eq!(ui_metrics.handler.as_ref().unwrap().count, 100);
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
    // Buckets: cumulative in increasing `le`, `+Inf` equal to `_count`.
    for group in ["ui", "billing"] {
        for family in [
            "veltrix_event_latency_seconds",
            "veltrix_handler_duration_seconds",
        ] {
            let buckets: Vec<(f64, f64)> = samples
                .iter()
                .filter(|(n, l, _)| *n == format!("{family}_bucket") && l["group"] == group)
                .map(|(_, l, v)| {
                    let le = match l["le"].as_str() {
                        "+Inf" => f64::INFINITY,
                        le => le.parse().unwrap(),
                    };
                    (le, *v)
                })
                .collect();
            assert_eq!(buckets.len(), 23, "{family} {group}: 22 bounds and +Inf");
            assert!(
                buckets
                    .windows(2)
                    .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1),
                "{buckets:?}"
            );
            let count = sum(&samples, &format!("{family}_count"), ("group", group));
            assert_eq!(buckets.last().unwrap().1, count, "+Inf is the count");
            let total = sum(&samples, &format!("{family}_sum"), ("group", group));
            assert!(total > 0.0 && total < count * 600.0, "{family} sum {total}");
        }
    }
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
    assert_eq!(m.groups[0].latency.as_ref().unwrap().count, 2 * 2);
    assert_eq!(m.latency_sampling, 64);
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

#[cfg(feature = "http")]
fn scrape(addr: std::net::SocketAddr, request: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

#[cfg(feature = "http")]
#[test]
fn metrics_endpoint_serves_the_counts_over_loopback() {
    use veltrix::metrics::MetricsServer;
    let engine = engine(true);
    let server = MetricsServer::loopback(0, engine.metrics_handle()).unwrap();
    assert!(server.local_addr().ip().is_loopback());
    engine
        .topic::<u64>("orders")
        .unwrap()
        .publish_batch(0..250)
        .unwrap();
    let get = "GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    let response = scrape(server.local_addr(), get);
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("text/plain; version=0.0.4"), "{head}");
    let samples = parse(body);
    assert_eq!(
        sum(&samples, "veltrix_published_total", ("topic", "orders")),
        250.0
    );
    let other = "GET /other HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    assert!(scrape(server.local_addr(), other).starts_with("HTTP/1.1 404"));
    let post = "POST /metrics HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    assert!(scrape(server.local_addr(), post).starts_with("HTTP/1.1 405"));
    server.stop();
    assert_eq!(engine.shutdown().group("billing").unwrap().handled, 250);
}

#[cfg(feature = "http")]
#[test]
fn concurrent_scrapes_are_served_and_a_silent_client_blocks_no_one() {
    use veltrix::metrics::MetricsServer;
    let engine = engine(true);
    engine
        .topic::<u64>("orders")
        .unwrap()
        .publish_batch(0..100)
        .unwrap();
    let server = MetricsServer::loopback(0, engine.metrics_handle()).unwrap();
    let addr = server.local_addr();
    // Connected, never sends a request: a single-threaded server would wait
    // on it.
    let silent = TcpStream::connect(addr).unwrap();
    let scrapers: Vec<_> = (0..8)
        .map(|_| {
            std::thread::spawn(move || {
                scrape(
                    addr,
                    "GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
                )
            })
        })
        .collect();
    for scraper in scrapers {
        let response = scraper.join().unwrap();
        let (head, body) = response.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert_eq!(
            sum(&parse(body), "veltrix_published_total", ("topic", "orders")),
            100.0
        );
    }
    drop(silent);
    drop(server);
}

#[test]
fn every_exported_family_is_in_the_readme_table_with_its_type() {
    let engine = engine(true);
    engine
        .topic::<u64>("orders")
        .unwrap()
        .publish_batch(0..10)
        .unwrap();
    let text = engine.metrics().to_prometheus();
    let readme = include_str!("../README.md");
    let mut families = 0;
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("# TYPE ") else {
            continue;
        };
        let (name, kind) = rest.split_once(' ').unwrap();
        families += 1;
        assert!(
            readme.contains(&format!("| `{name}` | {kind} |")),
            "README's metrics table lacks `{name}` ({kind})"
        );
    }
    assert!(families >= 19, "{families} families");
}

#[test]
fn custom_bucket_bounds_shape_the_histogram() {
    use std::time::Duration;
    let engine = Engine::builder()
        .latency_sampling(1)
        .latency_buckets([Duration::from_nanos(1), Duration::from_secs(60)])
        .topic::<u64>("t", TopicOptions::new(1))
        .subscribe("g", "t", GroupOptions::poll(), |_| {
            veltrix::listener::from_fn(|_: &u64, _| Ok(()))
        })
        .build()
        .unwrap();
    engine
        .topic::<u64>("t")
        .unwrap()
        .publish_batch(0..50)
        .unwrap();
    assert_eq!(engine.poller("g").unwrap().poll(100), 50);
    let m = engine.metrics();
    let latency = m.groups[0].latency.as_ref().unwrap();
    let counts: Vec<(Duration, u64)> = latency.buckets.iter().map(|b| (b.le, b.count)).collect();
    // Nothing takes a nanosecond from publish to handling; everything takes
    // less than a minute.
    assert_eq!(
        counts,
        [(Duration::from_nanos(1), 0), (Duration::from_secs(60), 50)]
    );
    let samples = parse(&m.to_prometheus());
    let les: Vec<String> = samples
        .iter()
        .filter(|(n, _, _)| n == "veltrix_event_latency_seconds_bucket")
        .map(|(_, l, _)| l["le"].clone())
        .collect();
    assert_eq!(les, ["0.000000001", "60", "+Inf"]);
}

#[test]
fn bucket_bounds_that_cannot_work_are_typed_errors() {
    use std::time::Duration;
    let build = |bounds: Vec<Duration>| {
        Engine::builder()
            .latency_buckets(bounds)
            .topic::<u64>("t", TopicOptions::new(1))
            .subscribe("g", "t", GroupOptions::poll(), |_| {
                veltrix::listener::from_fn(|_: &u64, _| Ok(()))
            })
            .build()
    };
    let ms = Duration::from_millis;
    for (bounds, says) in [
        (vec![], "at least one bucket bound"),
        (vec![Duration::ZERO, ms(1)], "zero"),
        (
            vec![ms(5), ms(1)],
            "must increase, but \"1ms\" comes after \"5ms\"",
        ),
        (vec![ms(1), ms(1)], "must increase"),
        ((1..=65).map(ms).collect(), "65 bucket bounds"),
    ] {
        match build(bounds) {
            Err(veltrix::BuildError::InvalidSetting(e)) => {
                assert_eq!(e.rule, veltrix::Rule::BucketBounds);
                assert_eq!(e.owner, "engine");
                assert_eq!(e.field, "latency_buckets");
                let text = e.to_string();
                assert!(text.contains(says), "{text}");
                assert!(text.contains("increasing bounds above zero"), "{text}");
            }
            other => panic!("expected a BucketBounds error, got {other:?}"),
        }
    }
}

#[test]
fn a_poll_cut_off_by_its_time_budget_counts_as_budget_exhausted() {
    use std::time::Duration;
    let engine = Engine::builder()
        .topic::<u64>("t", TopicOptions::new(1))
        .subscribe("g", "t", GroupOptions::poll().max_batch(1), |_| {
            veltrix::listener::from_fn(|_: &u64, _| {
                std::thread::sleep(Duration::from_millis(2));
                Ok(())
            })
        })
        .build()
        .unwrap();
    engine
        .topic::<u64>("t")
        .unwrap()
        .publish_batch(0..20)
        .unwrap();
    let mut poller = engine.poller("g").unwrap();
    // Each event takes 2 ms: a 1 ms budget stops after the first batch.
    let handled = poller.poll_for(1000, Duration::from_millis(1));
    assert!((1..20).contains(&handled), "handled {handled}");
    let g = &engine.metrics().groups[0];
    assert_eq!((g.polls, g.polls_budget_exhausted), (1, 1));
    // A poll that drains everything is not cut off.
    while poller.poll(1000) > 0 {}
    let g = &engine.metrics().groups[0];
    assert_eq!(g.polls_budget_exhausted, 1);
}
