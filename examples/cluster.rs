//! Two engines, one stream: an "edge" engine exports player input into NATS
//! JetStream and a "sim" engine imports it and moves the players.
//!
//! The example starts its own `nats-server -js` on a free loopback port with
//! a temporary store (or uses `--nats URL`). Midway through it kills the
//! server with SIGKILL and starts it again on the same store (only a server
//! it started itself), while the edge keeps publishing. At the end it checks
//! the books: every player's inputs arrived once each and in order, every
//! player where its inputs put it, the export and the import agree
//! partition by partition. Its last line begins `CLUSTER OK` (exit 0), or
//! says what was lost (exit 1).
//!
//! With `--bench` it measures instead: the bridge's export and import rates
//! and its end-to-end latency, beside raw async-nats publish+ack and
//! consume+ack of the same messages in the same run.
//!
//! ```text
//! cargo run --release --features nats --example cluster -- [--nats URL] [--players N] [--inputs N]
//! cargo run --release --features nats --example cluster -- --bench [--events N] [--reps N]
//! ```

#[path = "common/machine.rs"]
mod machine;
#[path = "../tests/common/nats_server.rs"]
mod nats_server;

use std::error::Error;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use hdrhistogram::Histogram;
use nats_server::NatsServer;
use veltrix::bridge::{
    Export, ExportOptions, Import, ImportOptions, Nats, NatsOptions, Postcard, StreamSpec,
};
use veltrix::partitioner::by_key;
use veltrix::{Engine, EngineBuilder, GroupOptions, TopicOptions};

/// One player input, as it crosses the processes.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
struct Input {
    player: u32,
    /// 0, 1, 2, … per player, in the order the edge published them.
    seq: u32,
    dx: i32,
    /// When the edge published it: nanoseconds since the run's start.
    sent: u64,
}

const PARTITIONS: u32 = 8;

/// Raw publishes in flight: as many as the export's two workers may hold
/// together with the default `max_in_flight` of 2048.
const RAW_IN_FLIGHT: usize = 4096;

struct Args {
    nats: Option<String>,
    players: u32,
    inputs: u32,
    bench: bool,
    events: u64,
    reps: usize,
}

fn args() -> Result<Args, String> {
    let mut args = Args {
        nats: None,
        players: 500,
        inputs: 100,
        bench: false,
        events: 100_000,
        reps: 5,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        let number = |v: String| v.parse::<u64>().map_err(|e| format!("{v:?}: {e}"));
        match arg.as_str() {
            "--nats" => args.nats = Some(value("--nats")?),
            "--players" => args.players = number(value("--players")?)? as u32,
            "--inputs" => args.inputs = number(value("--inputs")?)? as u32,
            "--events" => args.events = number(value("--events")?)?,
            "--reps" => args.reps = number(value("--reps")?)?.max(1) as usize,
            "--bench" => args.bench = true,
            other => {
                return Err(format!(
                    "unknown argument {other:?}; see the header of examples/cluster.rs"
                ))
            }
        }
    }
    Ok(args)
}

fn main() -> ExitCode {
    let args = match args() {
        Ok(args) => args,
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::from(2);
        }
    };
    let mut server = None;
    let url = match &args.nats {
        Some(url) => url.clone(),
        None => match NatsServer::start("cluster") {
            Some(started) => server.insert(started).url(),
            None => {
                eprintln!(
                    "cluster needs nats-server (or --nats URL): {}",
                    nats_server::INSTALL_HINT
                );
                return ExitCode::from(2);
            }
        },
    };
    let outcome = if args.bench {
        bench(&url, args.events, args.reps)
    } else {
        demo(&url, server.as_mut(), &args)
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            println!("CLUSTER FAILED: {error}");
            ExitCode::from(1)
        }
    }
}

fn input_topic(builder: EngineBuilder) -> EngineBuilder {
    builder.topic_with::<Input, _>(
        "input",
        TopicOptions::new(PARTITIONS).capacity(4096),
        by_key(|i: &Input| u64::from(i.player)),
    )
}

/// What the sim saw: per player, the next expected sequence and the
/// position; what went wrong; the latency of every input.
struct Books {
    next: Vec<u32>,
    position: Vec<i64>,
    errors: Vec<String>,
    latency: Histogram<u64>,
}

struct Sim {
    engine: Engine,
    import: Import,
    books: Arc<Mutex<Books>>,
    handled: Arc<AtomicU64>,
}

fn start_sim(
    nats: &Nats,
    spec: &StreamSpec,
    players: u32,
    start: Instant,
) -> Result<Sim, Box<dyn Error>> {
    let books = Arc::new(Mutex::new(Books {
        next: vec![0; players as usize],
        position: vec![0; players as usize],
        errors: Vec::new(),
        latency: Histogram::new(3)?,
    }));
    let handled = Arc::new(AtomicU64::new(0));
    let (b, h) = (books.clone(), handled.clone());
    let engine = input_topic(Engine::builder())
        .subscribe("physics", "input", GroupOptions::workers(2), move |_| {
            let (books, handled) = (b.clone(), h.clone());
            veltrix::listener::from_fn(move |i: &Input, _ctx| {
                let now = start.elapsed().as_nanos() as u64;
                let mut books = books.lock().expect("books");
                let p = i.player as usize;
                if i.seq != books.next[p] {
                    let expected = books.next[p];
                    books.errors.push(format!(
                        "player {}: input {} arrived where {expected} was due",
                        i.player, i.seq
                    ));
                }
                books.next[p] = i.seq + 1;
                books.position[p] += i64::from(i.dx);
                let _ = books.latency.record(now.saturating_sub(i.sent).max(1));
                handled.fetch_add(1, Ordering::Relaxed);
                Ok(())
            })
        })
        .build()?;
    let import = nats.import::<Input, _>(
        &engine,
        "input",
        Postcard,
        ImportOptions::new(spec.clone(), "sim").ack_wait(Duration::from_secs(5)),
    )?;
    Ok(Sim {
        engine,
        import,
        books,
        handled,
    })
}

fn start_edge(nats: &Nats, spec: &StreamSpec) -> Result<(Engine, Export), Box<dyn Error>> {
    let (builder, export) = nats.export::<Input, _>(
        input_topic(Engine::builder()),
        "input",
        Postcard,
        ExportOptions::new(spec.clone()),
    )?;
    Ok((builder.build()?, export))
}

/// The movement of input `seq` of `player`: a pattern whose sum is known.
fn dx(player: u32, seq: u32) -> i32 {
    ((player + seq) % 7) as i32 - 3
}

fn wait_for(what: &str, timeout: Duration, done: impl Fn() -> bool) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    while !done() {
        if Instant::now() > deadline {
            return Err(format!("timed out after {timeout:?} waiting for {what}"));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

fn demo(url: &str, server: Option<&mut NatsServer>, args: &Args) -> Result<(), Box<dyn Error>> {
    let start = Instant::now();
    let nats = Nats::connect(NatsOptions::new(url).ack_timeout(Duration::from_secs(1)))?;
    let spec = StreamSpec::new("CLUSTER_INPUT", "cluster.input");
    let (edge, export) = start_edge(&nats, &spec)?;
    let sim = start_sim(&nats, &spec, args.players, start)?;
    let total = u64::from(args.players) * u64::from(args.inputs);
    println!(
        "edge -> {url} stream {} ({}.0..{}) -> sim: {} players x {} inputs = {total} events",
        spec.name(),
        spec.subject_prefix(),
        PARTITIONS - 1,
        args.players,
        args.inputs
    );
    let input = edge.topic::<Input>("input")?;
    let restarted = std::thread::scope(|s| -> Result<bool, String> {
        let publisher = s.spawn(|| -> Result<(), String> {
            for seq in 0..args.inputs {
                for player in 0..args.players {
                    let sent = start.elapsed().as_nanos() as u64;
                    input
                        .publish(Input {
                            player,
                            seq,
                            dx: dx(player, seq),
                            sent,
                        })
                        .map_err(|e| format!("publish: {e}"))?;
                }
            }
            Ok(())
        });
        let mut restarted = false;
        if let Some(server) = server {
            wait_for("40% of the events", Duration::from_secs(120), || {
                sim.handled.load(Ordering::Relaxed) >= total * 2 / 5
            })?;
            println!(
                "killing nats-server (SIGKILL) at {} handled events, restarting it on the same store",
                sim.handled.load(Ordering::Relaxed)
            );
            server.kill();
            std::thread::sleep(Duration::from_millis(500));
            server.restart();
            restarted = true;
        }
        publisher
            .join()
            .map_err(|_| "the publisher panicked".to_owned())??;
        Ok(restarted)
    })?;
    let edge_report = edge.shutdown();
    edge_report
        .check_conservation()
        .map_err(|e| format!("edge conservation: {e:?}"))?;
    wait_for(
        "the sim to handle every event",
        Duration::from_secs(120),
        || sim.handled.load(Ordering::Relaxed) >= total,
    )?;
    // Redeliveries still on their way are dropped as duplicates.
    std::thread::sleep(Duration::from_millis(300));
    let elapsed = start.elapsed();
    let imported = sim.import.shutdown(Duration::from_secs(10));
    let sim_report = sim.engine.shutdown();
    let exported = export.report();
    let (out, inn) = (exported.total(), imported.total());
    println!(
        "export: {} exported, {} acked, {} in flight, {} failed, {} re-sent ({} already in the stream)",
        out.exported, out.acked, out.in_flight, out.failed, out.resent, out.duplicates
    );
    println!(
        "import: {} received, {} imported, {} acked, {} redelivered, {} duplicates removed, {} undecodable, {} gaps",
        inn.received, inn.imported, inn.acked, inn.redelivered, inn.duplicates, inn.undecodable, inn.gaps
    );
    let books = sim.books.lock().expect("books");
    let latency = &books.latency;
    println!(
        "end to end: {:.0} events/s over {elapsed:.2?}, latency p50 {:.2} ms, p99 {:.2} ms (through a server restart)",
        total as f64 / elapsed.as_secs_f64(),
        latency.value_at_quantile(0.5) as f64 / 1e6,
        latency.value_at_quantile(0.99) as f64 / 1e6
    );
    let mut problems: Vec<String> = books.errors.iter().take(5).cloned().collect();
    let handled = sim.handled.load(Ordering::Relaxed);
    if handled != total {
        problems.push(format!(
            "the sim handled {handled} events, {total} were published"
        ));
    }
    for player in 0..args.players {
        let p = player as usize;
        let want: i64 = (0..args.inputs).map(|s| i64::from(dx(player, s))).sum();
        if books.next[p] != args.inputs || books.position[p] != want {
            problems.push(format!(
                "player {player}: {} of {} inputs, at {} instead of {want}",
                books.next[p], args.inputs, books.position[p]
            ));
            break;
        }
    }
    if let Err(imbalance) = imported.check_against(&exported) {
        problems.push(imbalance.to_string());
    }
    if let Err(e) = sim_report.check_conservation() {
        problems.push(format!("sim conservation: {e:?}"));
    }
    if out.failed > 0 || inn.gaps > 0 {
        problems.push(format!("{} export failures, {} gaps", out.failed, inn.gaps));
    }
    if !problems.is_empty() {
        return Err(problems.join("; ").into());
    }
    let restart = if restarted {
        format!(
            "server restarted mid-stream: {} re-sent, {} redelivered, {} duplicates removed",
            out.resent, inn.redelivered, inn.duplicates
        )
    } else {
        "no restart (an external server)".to_owned()
    };
    println!(
        "CLUSTER OK: {total} events of {} players crossed once each in order; {restart}; nothing lost",
        args.players
    );
    Ok(())
}

/// Events per second of `n` events over `elapsed`.
fn rate(n: u64, elapsed: Duration) -> f64 {
    n as f64 / elapsed.as_secs_f64()
}

/// Raw async-nats on the same server: pipelined publish+ack
/// (`RAW_IN_FLIGHT` in flight, as the export's workers together) of `n` messages the size of an encoded `Input`,
/// then a durable pull consumer reading and acknowledging each.
fn raw(url: &str, n: u64) -> Result<(f64, f64), Box<dyn Error>> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        use async_nats::jetstream::{self, consumer::pull, stream};
        let client = async_nats::connect(url).await?;
        let js = jetstream::new(client);
        let _ = js.delete_stream("RAW").await;
        let stream = js
            .create_stream(stream::Config {
                name: "RAW".into(),
                subjects: vec!["raw.*".into()],
                ..Default::default()
            })
            .await?;
        let payload = bytes::Bytes::from(vec![7u8; 16]);
        let start = Instant::now();
        let mut acks = std::collections::VecDeque::new();
        for i in 0..n {
            let message = jetstream::message::PublishMessage::build()
                .payload(payload.clone())
                .message_id(format!("raw:{i}"));
            acks.push_back(
                js.send_publish(format!("raw.{}", i % u64::from(PARTITIONS)), message)
                    .await?,
            );
            if acks.len() >= RAW_IN_FLIGHT {
                acks.pop_front().expect("queued").await?;
            }
        }
        for ack in acks {
            ack.await?;
        }
        let publish = rate(n, start.elapsed());
        let consumer = stream
            .create_consumer(pull::Config {
                durable_name: Some("raw".into()),
                ..Default::default()
            })
            .await?;
        let start = Instant::now();
        let mut messages = consumer.messages().await?;
        let mut got = 0;
        while let Some(message) = messages.next().await {
            message?.ack().await.map_err(|e| e.to_string())?;
            got += 1;
            if got == n {
                break;
            }
        }
        let consume = rate(n, start.elapsed());
        js.delete_stream("RAW").await?;
        Ok::<_, Box<dyn Error>>((publish, consume))
    })
}

/// One round of the rate measurements: raw publish+ack and consume+ack,
/// then the export alone (first publish to last acknowledgement) and the
/// import alone (a full stream to the last event handled).
fn rates(nats: &Nats, url: &str, n: u64, start: Instant) -> Result<[f64; 4], Box<dyn Error>> {
    let players = 1000;
    let (raw_publish, raw_consume) = raw(url, n)?;
    let spec = StreamSpec::new("BENCH_INPUT", "bench.input");
    delete_stream(url, spec.name())?;
    delete_stream(url, &format!("veltrix-import-{}", spec.name()))?;
    let (edge, export) = start_edge(nats, &spec)?;
    let input = edge.topic::<Input>("input")?;
    let t = Instant::now();
    for i in 0..n {
        let (player, seq) = ((i % players) as u32, (i / players) as u32);
        let sent = start.elapsed().as_nanos() as u64;
        input.publish(Input {
            player,
            seq,
            dx: 1,
            sent,
        })?;
    }
    edge.shutdown();
    let export_rate = rate(n, t.elapsed());
    assert_eq!(export.report().total().acked, n);
    let t = Instant::now();
    let sim = start_sim(nats, &spec, players as u32, start)?;
    wait_for("the import", Duration::from_secs(300), || {
        sim.handled.load(Ordering::Relaxed) >= n
    })?;
    let import_rate = rate(n, t.elapsed());
    sim.import.shutdown(Duration::from_secs(10));
    sim.engine.shutdown();
    Ok([raw_publish, export_rate, raw_consume, import_rate])
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn bench(url: &str, n: u64, reps: usize) -> Result<(), Box<dyn Error>> {
    let players = 1000;
    let nats = Nats::connect(NatsOptions::new(url))?;
    let start = Instant::now();
    // Rounds alternate raw and bridged, so a noisy moment hits both; each
    // figure is the median of its rounds, each ratio the median of the
    // rounds' ratios.
    let mut rounds = Vec::with_capacity(reps);
    for _ in 0..reps {
        rounds.push(rates(&nats, url, n, start)?);
    }
    let column = |i: usize| median(rounds.iter().map(|r| r[i]).collect());
    let ratio = |a: usize, b: usize| median(rounds.iter().map(|r| r[a] / r[b]).collect());
    let (raw_publish, export_rate, raw_consume, import_rate) =
        (column(0), column(1), column(2), column(3));
    let (export_ratio, import_ratio) = (ratio(1, 0), ratio(3, 2));
    // End to end, both at once, on a fresh stream, as fast as it goes.
    let (e2e_rate, _) = end_to_end(&nats, url, "BENCH_E2E", n, None, start)?;
    // End to end at a steady 10k events/s: the latency of each event.
    let paced = (n / 10).max(1000);
    let (_, latency) = end_to_end(&nats, url, "BENCH_PACED", paced, Some(10_000), start)?;
    let raw_latency = raw_latency(url, paced, 10_000)?;
    println!(
        "bridge bench: {n} events of {players} players, {PARTITIONS} partitions, loopback nats-server, medians of {reps} rounds, CPU {}",
        machine::cpu_model()
    );
    println!("| what | events/s | vs raw |");
    println!("| --- | ---: | ---: |");
    println!(
        "| raw async-nats publish+ack ({RAW_IN_FLIGHT} in flight) | {raw_publish:.0} | 1.00 |"
    );
    println!(
        "| veltrix export (publish -> acked) | {export_rate:.0} | {:.2} |",
        export_ratio
    );
    println!("| raw async-nats consume+ack | {raw_consume:.0} | 1.00 |");
    println!(
        "| veltrix import (stream -> handled, acked) | {import_rate:.0} | {:.2} |",
        import_ratio
    );
    println!(
        "| veltrix end to end (publish -> handled in the other engine, both at once) | {e2e_rate:.0} | {:.2} of the slower raw |",
        e2e_rate / raw_publish.min(raw_consume)
    );
    let ms = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1e6;
    println!(
        "latency at 10k events/s ({paced} events): veltrix publish -> handled p50 {:.2} ms, p99 {:.2} ms; raw publish -> consumed p50 {:.2} ms, p99 {:.2} ms",
        ms(&latency, 0.5),
        ms(&latency, 0.99),
        ms(&raw_latency, 0.5),
        ms(&raw_latency, 0.99)
    );
    for (name, ratio) in [
        ("bridge_export_vs_raw_publish", export_ratio),
        ("bridge_import_vs_raw_consume", import_ratio),
    ] {
        let verdict = if ratio >= 0.8 { "PASS" } else { "FAIL" };
        println!("TARGET {name} ratio={ratio:.2} goal=0.80 {verdict}");
    }
    Ok(())
}

/// An edge and a sim on stream `name`: `n` events published (at `pace`
/// events per second, or as fast as they go) until all are handled.
/// Returns the rate and the latency of every event.
fn end_to_end(
    nats: &Nats,
    url: &str,
    name: &str,
    n: u64,
    pace: Option<u64>,
    start: Instant,
) -> Result<(f64, Histogram<u64>), Box<dyn Error>> {
    let players = 1000;
    let spec = StreamSpec::new(name, &format!("bench.{}", name.to_lowercase()));
    delete_stream(url, spec.name())?;
    let (edge, _export) = start_edge(nats, &spec)?;
    let sim = start_sim(nats, &spec, players as u32, start)?;
    let input = edge.topic::<Input>("input")?;
    let t = Instant::now();
    for i in 0..n {
        if let Some(pace) = pace {
            // An absolute schedule: late events do not push the rest back.
            let due = t + Duration::from_nanos(i * 1_000_000_000 / pace);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
        let (player, seq) = ((i % players) as u32, (i / players) as u32);
        let sent = start.elapsed().as_nanos() as u64;
        input.publish(Input {
            player,
            seq,
            dx: 1,
            sent,
        })?;
    }
    wait_for("end to end", Duration::from_secs(300), || {
        sim.handled.load(Ordering::Relaxed) >= n
    })?;
    let e2e = rate(n, t.elapsed());
    edge.shutdown();
    sim.import.shutdown(Duration::from_secs(10));
    sim.engine.shutdown();
    let latency = sim.books.lock().expect("books").latency.clone();
    Ok((e2e, latency))
}

/// Raw async-nats at `pace` messages per second: a publisher awaiting each
/// ack in the background, a consumer acknowledging each message and timing
/// it from its send (a timestamp in the payload).
fn raw_latency(url: &str, n: u64, pace: u64) -> Result<Histogram<u64>, Box<dyn Error>> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        use async_nats::jetstream::{self, consumer::pull, stream};
        let js = jetstream::new(async_nats::connect(url).await?);
        let _ = js.delete_stream("RAW_PACED").await;
        let stream = js
            .create_stream(stream::Config {
                name: "RAW_PACED".into(),
                subjects: vec!["rawpaced.*".into()],
                ..Default::default()
            })
            .await?;
        let consumer = stream
            .create_consumer(pull::Config {
                durable_name: Some("raw".into()),
                ..Default::default()
            })
            .await?;
        let base = Instant::now();
        let publisher = {
            let js = js.clone();
            tokio::spawn(async move {
                // A bounded window: the context's in-flight permits are
                // held until an ack is awaited.
                let mut acks = std::collections::VecDeque::new();
                for i in 0..n {
                    let due = base + Duration::from_nanos(i * 1_000_000_000 / pace);
                    tokio::time::sleep_until(due.into()).await;
                    let sent = base.elapsed().as_nanos() as u64;
                    let payload = bytes::Bytes::copy_from_slice(&sent.to_le_bytes());
                    let subject = format!("rawpaced.{}", i % u64::from(PARTITIONS));
                    if let Ok(ack) = js.publish(subject, payload).await {
                        acks.push_back(ack);
                    }
                    if acks.len() >= 1024 {
                        if let Some(ack) = acks.pop_front() {
                            let _ = ack.await;
                        }
                    }
                }
                for ack in acks {
                    let _ = ack.await;
                }
            })
        };
        let mut latency = Histogram::<u64>::new(3)?;
        let mut messages = consumer.messages().await?;
        let mut got = 0;
        while let Some(message) = messages.next().await {
            let message = message?;
            let mut sent = [0u8; 8];
            sent.copy_from_slice(&message.payload[..8]);
            let _ = latency.record(
                (base.elapsed().as_nanos() as u64)
                    .saturating_sub(u64::from_le_bytes(sent))
                    .max(1),
            );
            message.ack().await.map_err(|e| e.to_string())?;
            got += 1;
            if got == n {
                break;
            }
        }
        publisher.await?;
        js.delete_stream("RAW_PACED").await?;
        Ok::<_, Box<dyn Error>>(latency)
    })
}

/// Removes stream `name` if it exists: a bench starts from an empty stream,
/// also on a server that outlives it (`--nats`).
fn delete_stream(url: &str, name: &str) -> Result<(), Box<dyn Error>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let js = async_nats::jetstream::new(async_nats::connect(url).await?);
        let _ = js.delete_stream(name).await;
        Ok(())
    })
}
