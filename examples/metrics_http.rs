//! Serves `/metrics` on 127.0.0.1 for a Prometheus scraper while a workload
//! runs, then stops by itself. With `--events N` it publishes exactly `N`
//! trades at a steady pace over the first half of its time and then keeps
//! serving, idle, until its time is up, so a scraper sees the rates and can
//! check the final counters against `N` (CI does, with a real Prometheus).
//!
//! ```text
//! cargo run --release --features http --example metrics_http -- --seconds 30 --port 9898
//! curl -s 127.0.0.1:9898/metrics | grep veltrix_handled_total
//! ```

use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};

use veltrix::metrics::MetricsServer;
use veltrix::partitioner::by_key;
use veltrix::{Engine, GroupOptions, TopicOptions};

#[derive(Debug, Clone, Copy)]
struct Trade {
    account: u64,
    qty: i64,
}

/// What to run: seconds to serve, port (0: any), trades to publish (`None`:
/// as many as fit in the time).
struct Args {
    seconds: u64,
    port: u16,
    events: Option<u64>,
}

fn parse() -> Result<Args, String> {
    let (mut seconds, mut port, mut events) = (5u64, 0u16, None);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--seconds" => {
                let v = value("--seconds")?;
                seconds = v
                    .parse()
                    .map_err(|_| format!("--seconds: '{v}' is not a whole number"))?;
            }
            "--port" => {
                let v = value("--port")?;
                port = v
                    .parse()
                    .map_err(|_| format!("--port: '{v}' is not a port number (0-65535)"))?;
            }
            "--events" => {
                let v = value("--events")?;
                events = Some(
                    v.parse()
                        .map_err(|_| format!("--events: '{v}' is not a whole number"))?,
                );
            }
            other => {
                return Err(format!(
                    "unknown argument '{other}'; usage: metrics_http [--seconds S] [--port P] [--events N]"
                ))
            }
        }
    }
    Ok(Args {
        seconds,
        port,
        events,
    })
}

fn main() -> ExitCode {
    let Args {
        seconds,
        port,
        events,
    } = match parse() {
        Ok(v) => v,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let engine = Engine::builder()
        .topic_with::<Trade, _>(
            "trades",
            TopicOptions::new(4).capacity(4096),
            by_key(|t: &Trade| t.account),
        )
        .subscribe("risk", "trades", GroupOptions::workers(2), |_| {
            let mut exposure = 0i64;
            veltrix::listener::from_fn(move |t: &Trade, _| {
                exposure += t.qty;
                if exposure.unsigned_abs() > 1 << 40 {
                    return Err(format!("exposure {exposure} over the risk limit").into());
                }
                Ok(())
            })
        })
        .build()
        .expect("valid topology");
    let server = match MetricsServer::loopback(port, engine.metrics_handle()) {
        Ok(server) => server,
        Err(e) => {
            eprintln!("cannot serve on 127.0.0.1:{port}: {e}");
            return ExitCode::from(1);
        }
    };
    println!(
        "serving http://{}/metrics for {seconds} s",
        server.local_addr()
    );
    let trades = engine.topic::<Trade>("trades").expect("declared");
    let started = Instant::now();
    let mut n = 0u64;
    let limit = events.unwrap_or(u64::MAX);
    while started.elapsed() < Duration::from_secs(seconds) {
        if n == limit {
            // Published all it was asked to: serve the final counts.
            thread::sleep(Duration::from_millis(20));
            continue;
        }
        for _ in 0..1000.min(limit - n) {
            n += 1;
            trades
                .publish(Trade {
                    account: n % 97,
                    qty: (n % 7) as i64 - 3,
                })
                .expect("running");
        }
        match events {
            // On schedule: trade `n` is due `n / total` into the first half.
            Some(total) => {
                let due = (Duration::from_secs(seconds) / 2).mul_f64(n as f64 / total as f64);
                if let Some(early) = due.checked_sub(started.elapsed()) {
                    thread::sleep(early);
                }
            }
            // A steady, modest rate: about 1 M trades/s at most.
            None => thread::sleep(Duration::from_millis(1)),
        }
    }
    server.stop();
    let report = engine.shutdown();
    println!("published {n}");
    println!("{report}");
    ExitCode::SUCCESS
}
