//! Serves `/metrics` on 127.0.0.1 for a Prometheus scraper while a workload
//! runs, then stops by itself.
//!
//! ```text
//! cargo run --release --example metrics_http -- --seconds 30 --port 9898
//! curl -s 127.0.0.1:9898/metrics | grep veltrix_handled_total
//! ```

use std::net::TcpListener;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use veltrix::partitioner::by_key;
use veltrix::{Engine, GroupOptions, TopicOptions};

#[derive(Debug, Clone, Copy)]
struct Trade {
    account: u64,
    qty: i64,
}

fn parse() -> Result<(u64, u16), String> {
    let (mut seconds, mut port) = (5u64, 0u16);
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
            other => {
                return Err(format!(
                    "unknown argument '{other}'; usage: metrics_http [--seconds S] [--port P]"
                ))
            }
        }
    }
    Ok((seconds, port))
}

fn main() -> ExitCode {
    let (seconds, port) = match parse() {
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
    let listener = match TcpListener::bind(("127.0.0.1", port)) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("cannot listen on 127.0.0.1:{port}: {e}");
            return ExitCode::from(1);
        }
    };
    let addr = listener.local_addr().expect("bound");
    println!("serving http://{addr}/metrics for {seconds} s");
    let stop = Arc::new(AtomicBool::new(false));
    let server = {
        let (handle, stop) = (engine.metrics_handle(), stop.clone());
        thread::spawn(move || veltrix::metrics::serve_prometheus(listener, &handle, &stop))
    };
    let trades = engine.topic::<Trade>("trades").expect("declared");
    let started = Instant::now();
    let mut n = 0u64;
    while started.elapsed() < Duration::from_secs(seconds) {
        for _ in 0..1000 {
            n += 1;
            trades
                .publish(Trade {
                    account: n % 97,
                    qty: (n % 7) as i64 - 3,
                })
                .expect("running");
        }
        // A steady, modest rate: about 1 M trades/s at most.
        thread::sleep(Duration::from_millis(1));
    }
    stop.store(true, Ordering::Relaxed);
    let served = server.join().expect("server thread");
    let report = engine.shutdown();
    println!("{report}");
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("metrics endpoint failed: {e}");
            ExitCode::from(1)
        }
    }
}
