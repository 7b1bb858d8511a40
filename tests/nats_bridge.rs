//! The NATS JetStream bridge against a real `nats-server -js` that each test
//! starts on its own loopback port and store. Without the binary these tests
//! say loudly that they did not run (and how to install it) and pass, unless
//! `VELTRIX_REQUIRE_NATS` is set, as `.ci/run` does.
#![cfg(feature = "nats")]

#[path = "common/dashboard.rs"]
mod dashboard;
// Only its parser, for the dashboard check.
#[allow(dead_code)]
#[path = "common/exposition.rs"]
mod exposition;
#[path = "common/nats_server.rs"]
mod nats_server;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nats_server::NatsServer;
use veltrix::bridge::{
    BridgeError, ExportOptions, ImportOptions, Json, Nats, NatsOptions, Postcard, StreamSpec,
    Undecodable,
};
use veltrix::partitioner::by_key;
use veltrix::{
    DeadLetter, Engine, EngineBuilder, Exhausted, FailurePolicy, GroupOptions, TopicOptions,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Input {
    player: u64,
    n: u64,
}

const PLAYERS: u64 = 1000;
const PARTITIONS: u32 = 8;

/// What the importing side saw: per player, the `n`s in arrival order, and
/// the partition each player arrived on.
#[derive(Default)]
struct Seen {
    per_player: Vec<Vec<u64>>,
    partition: Vec<Option<u32>>,
}

type Shared = Arc<Mutex<Seen>>;

fn seen() -> (Shared, Arc<AtomicU64>) {
    let seen = Seen {
        per_player: vec![Vec::new(); PLAYERS as usize],
        partition: vec![None; PLAYERS as usize],
    };
    (Arc::new(Mutex::new(seen)), Arc::new(AtomicU64::new(0)))
}

fn input_topic(builder: EngineBuilder) -> EngineBuilder {
    builder.topic_with::<Input, _>(
        "input",
        TopicOptions::new(PARTITIONS).capacity(1024),
        by_key(|i: &Input| i.player),
    )
}

/// The importing engine: a two-worker group recording every event.
fn sim(seen: &Shared, handled: &Arc<AtomicU64>) -> Engine {
    let (seen, handled) = (seen.clone(), handled.clone());
    input_topic(Engine::builder())
        .subscribe("physics", "input", GroupOptions::workers(2), move |_| {
            let (seen, handled) = (seen.clone(), handled.clone());
            veltrix::listener::from_fn(move |i: &Input, ctx| {
                let mut seen = seen.lock().unwrap();
                seen.per_player[i.player as usize].push(i.n);
                let p = seen.partition[i.player as usize].get_or_insert(ctx.partition());
                assert_eq!(*p, ctx.partition(), "player {} changed partition", i.player);
                handled.fetch_add(1, Ordering::Relaxed);
                Ok(())
            })
        })
        .build()
        .expect("sim engine")
}

fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Every player's events arrived once each, in order, on one partition.
fn assert_exactly_once_in_order(seen: &Shared, per_player: u64) {
    let seen = seen.lock().unwrap();
    let expected: Vec<u64> = (0..per_player).collect();
    for (player, ns) in seen.per_player.iter().enumerate() {
        assert_eq!(
            ns, &expected,
            "player {player}: lost, duplicated or reordered"
        );
    }
}

/// `promtool check metrics` passes the exposition, where promtool is
/// installed (CI installs it).
fn promtool_accepts(text: &str) {
    use std::io::Write;
    let Ok(mut child) = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
    else {
        eprintln!("promtool not installed: the exposition was not checked by it");
        return;
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn connect(server: &NatsServer) -> Nats {
    Nats::connect(NatsOptions::new(&server.url()).ack_timeout(Duration::from_secs(1)))
        .expect("connects")
}

fn publish_all(engine: &Engine, per_player: std::ops::Range<u64>) -> Vec<Option<u32>> {
    let input = engine.topic::<Input>("input").unwrap();
    let mut partitions = vec![None; PLAYERS as usize];
    for n in per_player {
        for player in 0..PLAYERS {
            let receipt = input.publish(Input { player, n }).expect("published");
            partitions[player as usize] = Some(receipt.partition());
        }
    }
    partitions
}

#[test]
fn hundred_thousand_keyed_events_cross_two_engines_once_each_in_order() {
    let Some(server) = NatsServer::start("hundred_thousand_keyed_events") else {
        return;
    };
    let nats = connect(&server);
    let spec = StreamSpec::new("INPUT", "game.input");
    let (builder, export) = nats
        .export::<Input, _>(
            input_topic(Engine::builder()),
            "input",
            Postcard,
            ExportOptions::new(spec.clone()),
        )
        .unwrap();
    let edge = builder.build().unwrap();
    let (seen, handled) = seen();
    let sim = sim(&seen, &handled);
    let import = nats
        .import::<Input, _>(&sim, "input", Postcard, ImportOptions::new(spec, "sim"))
        .unwrap();

    let sent_on = publish_all(&edge, 0..100);
    let edge_metrics = edge.metrics().to_prometheus();
    let edge_report = edge.shutdown();
    edge_report.check_conservation().unwrap();
    let exported = export.report().total();
    assert_eq!(
        (
            exported.exported,
            exported.acked,
            exported.in_flight,
            exported.failed
        ),
        (100_000, 100_000, 0, 0)
    );

    wait_until(
        "the sim to handle 100k events",
        Duration::from_secs(120),
        || handled.load(Ordering::Relaxed) == 100_000,
    );
    let imported = import.shutdown(Duration::from_secs(10));
    imported.check_against(&export.report()).unwrap();
    let total = imported.total();
    assert_eq!(
        (total.imported, total.acked, total.undecodable),
        (100_000, 100_000, 0),
        "{imported:?}"
    );
    // Both engines' reports and metrics carry their side of the bridge.
    assert_eq!(edge_report.exports, vec![export.report()]);
    assert_eq!(sim.report().imports, vec![imported.clone()]);
    let text = sim.metrics().to_prometheus();
    let p0 = imported.partitions[0].imported;
    assert!(
        text.contains(&format!(
            "veltrix_bridge_imported_total{{topic=\"input\",stream=\"INPUT\",partition=\"0\"}} {p0}"
        )),
        "{text}"
    );
    assert!(text.contains("# TYPE veltrix_bridge_import_acked_total counter"));
    promtool_accepts(&text);
    promtool_accepts(&edge_metrics);
    // The dashboard's bridge panels query what the two sides export.
    let series = dashboard::series_of([edge_metrics.as_str(), text.as_str()]);
    let bridge: Vec<String> = dashboard::queries()
        .into_iter()
        .filter(|q| dashboard::is_bridge_query(q))
        .collect();
    assert!(bridge.len() >= 8, "{} bridge queries", bridge.len());
    for query in &bridge {
        dashboard::assert_query_fits(query, &series);
    }
    assert_exactly_once_in_order(&seen, 100);
    // Partition p went to partition p.
    assert_eq!(seen.lock().unwrap().partition, sent_on);
    sim.shutdown().check_conservation().unwrap();
}

#[test]
fn a_server_killed_and_restarted_mid_stream_loses_nothing_and_duplicates_are_removed() {
    let Some(mut server) = NatsServer::start("server_killed_mid_stream") else {
        return;
    };
    let nats = connect(&server);
    let spec = StreamSpec::new("INPUT", "game.input");
    let (builder, export) = nats
        .export::<Input, _>(
            input_topic(Engine::builder()),
            "input",
            Postcard,
            ExportOptions::new(spec.clone()),
        )
        .unwrap();
    let edge = builder.build().unwrap();
    let (seen, handled) = seen();
    let sim = sim(&seen, &handled);
    let import = nats
        .import::<Input, _>(
            &sim,
            "input",
            Postcard,
            ImportOptions::new(spec, "sim").ack_wait(Duration::from_secs(2)),
        )
        .unwrap();

    std::thread::scope(|s| {
        let publisher = s.spawn(|| publish_all(&edge, 0..100));
        wait_until("a third of the events", Duration::from_secs(120), || {
            handled.load(Ordering::Relaxed) >= 30_000
        });
        server.kill();
        std::thread::sleep(Duration::from_millis(500));
        server.restart();
        publisher.join().unwrap();
    });
    let edge_report = edge.shutdown();
    edge_report.check_conservation().unwrap();
    let exported = export.report().total();
    assert_eq!(
        (exported.exported, exported.acked, exported.failed),
        (100_000, 100_000, 0),
        "{:?}",
        export.report()
    );

    wait_until(
        "the sim to handle 100k events",
        Duration::from_secs(120),
        || handled.load(Ordering::Relaxed) >= 100_000,
    );
    // Redeliveries still on their way are dropped as duplicates.
    std::thread::sleep(Duration::from_millis(500));
    let imported = import.shutdown(Duration::from_secs(10));
    let total = imported.total();
    eprintln!(
        "restart: export resent {} (stream had {} already); import received {}, redelivered {}, duplicates removed {}",
        exported.resent, exported.duplicates, total.received, total.redelivered, total.duplicates
    );
    assert_eq!(
        handled.load(Ordering::Relaxed),
        100_000,
        "an event was imported twice"
    );
    assert_exactly_once_in_order(&seen, 100);
    assert_eq!(total.imported, 100_000);
    assert_eq!(
        total.received,
        total.imported + total.duplicates + total.undecodable
    );
    sim.shutdown().check_conservation().unwrap();
}

#[test]
fn an_import_rebuilt_mid_stream_resumes_from_its_durable_consumer() {
    let Some(server) = NatsServer::start("import_rebuilt") else {
        return;
    };
    let nats = connect(&server);
    let spec = StreamSpec::new("INPUT", "game.input");
    let (builder, export) = nats
        .export::<Input, _>(
            input_topic(Engine::builder()),
            "input",
            Json,
            ExportOptions::new(spec.clone()),
        )
        .unwrap();
    let edge = builder.build().unwrap();
    let (seen, handled) = seen();
    let first = sim(&seen, &handled);
    let import = nats
        .import::<Input, _>(
            &first,
            "input",
            Json,
            ImportOptions::new(spec.clone(), "sim"),
        )
        .unwrap();
    publish_all(&edge, 0..50);
    wait_until(
        "the first sim to handle some events",
        Duration::from_secs(60),
        || handled.load(Ordering::Relaxed) >= 20_000,
    );
    // The first sim goes away mid-stream, gracefully: what it handled is
    // acknowledged, what it pulled and did not take goes back.
    let first_report = import.shutdown(Duration::from_secs(10));
    first.shutdown().check_conservation().unwrap();
    let after_first = handled.load(Ordering::Relaxed);
    assert_eq!(first_report.total().acked, first_report.total().imported);

    publish_all(&edge, 50..100);
    edge.shutdown().check_conservation().unwrap();
    let second = sim(&seen, &handled);
    let import = nats
        .import::<Input, _>(&second, "input", Json, ImportOptions::new(spec, "sim"))
        .unwrap();
    let mut polls = 0u64;
    wait_until(
        "the second sim to handle the rest",
        Duration::from_secs(120),
        || {
            polls += 1;
            if polls % 500 == 0 {
                eprintln!("{} {:?}", handled.load(Ordering::Relaxed), import.report());
            }
            handled.load(Ordering::Relaxed) >= 100_000
        },
    );
    std::thread::sleep(Duration::from_millis(200));
    let second_report = import.shutdown(Duration::from_secs(10));
    assert!(
        after_first < 100_000,
        "the first sim should not have had everything"
    );
    assert_eq!(handled.load(Ordering::Relaxed), 100_000);
    assert_eq!(
        first_report.total().imported + second_report.total().imported,
        100_000
    );
    assert_eq!(export.report().total().acked, 100_000);
    assert_exactly_once_in_order(&seen, 100);
    second.shutdown().check_conservation().unwrap();
}

#[test]
fn the_server_down_at_start_is_waited_for_and_then_a_typed_error() {
    let Some(mut server) = NatsServer::prepare("server_down_at_start", None) else {
        return;
    };
    // Nobody listens: a typed error after the deadline, naming the address.
    let started = Instant::now();
    let error =
        Nats::connect(NatsOptions::new(&server.url()).connect_deadline(Duration::from_millis(400)))
            .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    match &error {
        BridgeError::Unreachable { url, attempts, .. } => {
            assert_eq!(url, &server.url());
            assert!(*attempts >= 2, "{error}");
        }
        other => panic!("expected Unreachable, got {other}"),
    }
    assert!(error.to_string().contains("nats-server -js"), "{error}");

    // The server comes up while the export waits for it: the export works.
    let url = server.url();
    let nats = std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(700));
            server.restart();
        });
        Nats::connect(NatsOptions::new(&url).connect_deadline(Duration::from_secs(30)))
            .expect("connects once the server is up")
    });
    let spec = StreamSpec::new("INPUT", "game.input");
    let (builder, export) = nats
        .export::<Input, _>(
            input_topic(Engine::builder()),
            "input",
            Postcard,
            ExportOptions::new(spec),
        )
        .unwrap();
    let edge = builder.build().unwrap();
    publish_all(&edge, 0..3);
    edge.shutdown().check_conservation().unwrap();
    assert_eq!(export.report().total().acked, 3 * PLAYERS);
}

#[test]
fn a_stream_with_other_settings_is_a_typed_error_naming_the_setting() {
    let Some(server) = NatsServer::start("stream_mismatch") else {
        return;
    };
    let nats = connect(&server);
    let spec = StreamSpec::new("INPUT", "game.input");
    let (_, _) = nats
        .export::<Input, _>(
            input_topic(Engine::builder()),
            "input",
            Postcard,
            ExportOptions::new(spec.clone()),
        )
        .unwrap();
    let other = spec.clone().duplicate_window(Duration::from_secs(5));
    let error = nats
        .export::<Input, _>(
            input_topic(Engine::builder()),
            "input",
            Postcard,
            ExportOptions::new(other),
        )
        .unwrap_err();
    assert!(
        matches!(&error, BridgeError::StreamMismatch { setting: "duplicate_window", stream, .. } if stream == "INPUT"),
        "{error}"
    );
    let moved = StreamSpec::new("INPUT", "game.other");
    let error = nats
        .export::<Input, _>(
            input_topic(Engine::builder()),
            "input",
            Postcard,
            ExportOptions::new(moved),
        )
        .unwrap_err();
    assert!(
        matches!(
            &error,
            BridgeError::StreamMismatch {
                setting: "subjects",
                ..
            }
        ),
        "{error}"
    );
    // An undeclared topic, a bad name: typed errors before anything is sent.
    let error = nats
        .export::<Input, _>(
            Engine::builder(),
            "input",
            Postcard,
            ExportOptions::new(spec),
        )
        .unwrap_err();
    assert!(
        matches!(&error, BridgeError::Topic { .. }) && error.to_string().contains("declare"),
        "{error}"
    );
    let error = nats
        .export::<Input, _>(
            input_topic(Engine::builder()),
            "input",
            Postcard,
            ExportOptions::new(StreamSpec::new("A.B", "x")),
        )
        .unwrap_err();
    assert!(
        matches!(
            &error,
            BridgeError::InvalidName {
                what: "stream name",
                ..
            }
        ),
        "{error}"
    );
}

#[test]
fn undecodable_messages_are_counted_reported_and_set_aside_never_retried() {
    let Some(server) = NatsServer::start("undecodable") else {
        return;
    };
    let nats = connect(&server);
    let spec = StreamSpec::new("INPUT", "game.input");
    // Written by hand: garbage on partition 0's subject, then a JSON event
    // where the import expects postcard.
    let (_, _) = nats
        .export::<Input, _>(
            input_topic(Engine::builder()),
            "input",
            Json,
            ExportOptions::new(spec.clone()),
        )
        .unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let js = async_nats::jetstream::new(nats.client().clone());
        js.publish("game.input.0", vec![0xff; 3].into())
            .await
            .unwrap()
            .await
            .unwrap();
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Veltrix", "json -");
        js.publish_with_headers(
            "game.input.1",
            headers,
            br#"{"player":1,"n":0}"#.to_vec().into(),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    });
    let letters: Arc<Mutex<Vec<Undecodable>>> = Arc::default();
    let sink = letters.clone();
    let local = input_topic(Engine::builder())
        .topic::<Undecodable>("undecodable", TopicOptions::new(1))
        .subscribe("physics", "input", GroupOptions::workers(1), |_| {
            veltrix::listener::from_fn(|_: &Input, _| Err("nothing decodable was sent".into()))
        })
        .subscribe(
            "triage",
            "undecodable",
            GroupOptions::workers(1),
            move |_| {
                let sink = sink.clone();
                veltrix::listener::from_fn(move |u: &Undecodable, _| {
                    sink.lock().unwrap().push(u.clone());
                    Ok(())
                })
            },
        )
        .build()
        .unwrap();
    let import = nats
        .import::<Input, _>(
            &local,
            "input",
            Postcard,
            ImportOptions::new(spec, "sim")
                .undecodable(local.topic::<Undecodable>("undecodable").unwrap()),
        )
        .unwrap();
    wait_until("two undecodable messages", Duration::from_secs(30), || {
        letters.lock().unwrap().len() == 2
    });
    let report = import.shutdown(Duration::from_secs(5));
    let total = report.total();
    assert_eq!(
        (
            total.received,
            total.undecodable,
            total.imported,
            total.acked
        ),
        (2, 2, 0, 2),
        "{report:?}"
    );
    let mut letters = letters.lock().unwrap().clone();
    letters.sort_by_key(|l| l.stream_sequence);
    assert_eq!(
        (letters[0].subject.as_str(), letters[0].stream_sequence),
        ("game.input.0", 1)
    );
    assert!(
        letters[0].reason.contains("postcard"),
        "{}",
        letters[0].reason
    );
    assert_eq!(letters[0].payload, vec![0xff; 3]);
    assert_eq!(
        (letters[1].subject.as_str(), letters[1].stream_sequence),
        ("game.input.1", 2)
    );
    assert!(
        letters[1].reason.contains("\"json\""),
        "{}",
        letters[1].reason
    );
    assert!(
        report
            .errors
            .iter()
            .any(|e| e.contains("game.input.0") && e.contains("message 1 ")),
        "{:?}",
        report.errors
    );
    local.shutdown();
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Blob {
    id: u64,
    bytes: Vec<u8>,
}

#[test]
fn an_event_larger_than_the_server_accepts_goes_through_the_failure_policy() {
    let Some(server) = NatsServer::start_with("oversized", Some("max_payload: 4096\n")) else {
        return;
    };
    let nats = connect(&server);
    assert_eq!(nats.max_payload(), 4096);
    let spec = StreamSpec::new("BLOBS", "blobs");
    let dead: Arc<Mutex<Vec<(u64, String)>>> = Arc::default();
    let sink = dead.clone();
    let builder = Engine::builder()
        .topic::<Blob>("blobs", TopicOptions::new(1))
        .dead_letter_topic::<Blob>("blobs.dlq", TopicOptions::new(1))
        .subscribe("dlq", "blobs.dlq", GroupOptions::workers(1), move |_| {
            let sink = sink.clone();
            veltrix::listener::from_fn(move |l: &DeadLetter<Blob>, _| {
                sink.lock().unwrap().push((l.event.id, l.error.clone()));
                Ok(())
            })
        });
    let policy = FailurePolicy::default().on_exhausted(Exhausted::DeadLetter {
        topic: "blobs.dlq".into(),
    });
    let (builder, export) = nats
        .export::<Blob, _>(
            builder,
            "blobs",
            Postcard,
            ExportOptions::new(spec).failure_policy(policy),
        )
        .unwrap();
    let engine = builder.build().unwrap();
    let blobs = engine.topic::<Blob>("blobs").unwrap();
    for id in 0..10u64 {
        let size = if id == 4 { 10_000 } else { 100 };
        blobs
            .publish(Blob {
                id,
                bytes: vec![7; size],
            })
            .unwrap();
    }
    let report = engine.shutdown();
    report.check_conservation().unwrap();
    let flow = export.report().total();
    assert_eq!(
        (flow.exported, flow.acked, flow.failed, flow.in_flight),
        (10, 9, 1, 0)
    );
    let dead = dead.lock().unwrap().clone();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].0, 4);
    assert!(dead[0].1.contains("max_payload of 4096"), "{}", dead[0].1);
    assert_eq!(report.group(export.group()).unwrap().dead_lettered, 1);
}

#[test]
fn a_shutdown_deadline_stops_an_export_waiting_for_a_server_that_is_gone() {
    let Some(mut server) = NatsServer::start("export_deadline") else {
        return;
    };
    let nats = connect(&server);
    let spec = StreamSpec::new("INPUT", "game.input");
    let (builder, export) = nats
        .export::<Input, _>(
            input_topic(Engine::builder()),
            "input",
            Postcard,
            ExportOptions::new(spec),
        )
        .unwrap();
    let edge = builder.build().unwrap();
    publish_all(&edge, 0..1);
    wait_until(
        "the first events acknowledged",
        Duration::from_secs(30),
        || export.report().total().acked == PLAYERS,
    );
    server.kill();
    publish_all(&edge, 1..2);
    let started = Instant::now();
    let shutdown = edge.shutdown_timeout(Duration::from_millis(500));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    let flow = export.report().total();
    // Nothing in flight, nothing unaccounted: what was not acknowledged is
    // counted failed (and what the group never took is its lag).
    assert_eq!(flow.in_flight, 0, "{flow:?}");
    assert_eq!(flow.exported, flow.acked + flow.failed);
    assert_eq!(flow.acked, PLAYERS);
    shutdown.report.check_conservation().unwrap();
    assert!(
        export
            .report()
            .errors
            .iter()
            .any(|e| e.contains("shutdown deadline")),
        "{:?}",
        export.report().errors
    );
}

#[test]
fn export_windows_larger_than_the_clients_default_permits_do_not_wait_for_each_other() {
    // Four workers of 4096 messages each: more than async-nats' default of
    // 5000 unacknowledged publishes per context. Each worker sends its whole
    // window before it awaits it, so a shared bound below their sum leaves
    // workers waiting for permits the others hold (with that bound back,
    // this test hangs).
    let Some(server) = NatsServer::start("export_windows") else {
        return;
    };
    let nats = connect(&server);
    let spec = StreamSpec::new("INPUT", "game.input");
    let (builder, export) = nats
        .export::<Input, _>(
            Engine::builder().topic_with::<Input, _>(
                "input",
                TopicOptions::new(PARTITIONS).capacity(8192),
                by_key(|i: &Input| i.player),
            ),
            "input",
            Postcard,
            ExportOptions::new(spec).workers(4).max_in_flight(4096),
        )
        .unwrap();
    let edge = builder.build().unwrap();
    let input = edge.topic::<Input>("input").unwrap();
    // All before the workers start taking them: full windows.
    input
        .publish_batch((0..60_000).map(|n| Input { player: n % 64, n }))
        .unwrap();
    wait_until("every event acknowledged", Duration::from_secs(60), || {
        export.report().total().acked == 60_000
    });
    edge.shutdown().check_conservation().unwrap();
}

#[test]
fn an_export_keeps_its_connection_when_the_host_drops_its_handle() {
    let Some(server) = NatsServer::start("export_keeps_connection") else {
        return;
    };
    let nats = connect(&server);
    let (builder, export) = nats
        .export::<Input, _>(
            input_topic(Engine::builder()),
            "input",
            Postcard,
            ExportOptions::new(StreamSpec::new("INPUT", "game.input")),
        )
        .unwrap();
    let edge = builder.build().unwrap();
    drop(nats);
    publish_all(&edge, 0..2);
    edge.shutdown().check_conservation().unwrap();
    let flow = export.report().total();
    assert_eq!((flow.acked, flow.failed), (2 * PLAYERS, 0), "{flow:?}");
}

#[test]
fn an_import_into_a_topic_with_fewer_partitions_than_the_stream_is_refused() {
    let Some(server) = NatsServer::start("partition_mismatch") else {
        return;
    };
    let nats = connect(&server);
    let spec = StreamSpec::new("INPUT", "game.input");
    let (builder, export) = nats
        .export::<Input, _>(
            input_topic(Engine::builder()),
            "input",
            Postcard,
            ExportOptions::new(spec.clone()),
        )
        .unwrap();
    let edge = builder.build().unwrap();
    publish_all(&edge, 0..1);
    edge.shutdown().check_conservation().unwrap();
    assert_eq!(export.report().total().acked, PLAYERS);
    // The same topic with half the partitions: subjects 4..8 would never
    // be read.
    let small = Engine::builder()
        .topic_with::<Input, _>(
            "input",
            TopicOptions::new(PARTITIONS / 2),
            by_key(|i: &Input| i.player),
        )
        .subscribe("physics", "input", GroupOptions::workers(1), |_| {
            veltrix::listener::from_fn(|_: &Input, _| Ok(()))
        })
        .build()
        .unwrap();
    let error = nats
        .import::<Input, _>(
            &small,
            "input",
            Postcard,
            ImportOptions::new(spec.clone(), "small"),
        )
        .unwrap_err();
    let text = error.to_string();
    assert!(
        matches!(&error, BridgeError::Topic { topic, .. } if topic == "input")
            && text.contains("game.input.7")
            && text.contains("at least 8"),
        "{text}"
    );
    small.shutdown();
    // With the exporter's partition count it imports.
    let (seen, handled) = seen();
    let sim = sim(&seen, &handled);
    let import = nats
        .import::<Input, _>(&sim, "input", Postcard, ImportOptions::new(spec, "sim"))
        .unwrap();
    wait_until(
        "the sim to handle every event",
        Duration::from_secs(60),
        || handled.load(Ordering::Relaxed) == PLAYERS,
    );
    import.shutdown(Duration::from_secs(10));
    sim.shutdown().check_conservation().unwrap();
}
