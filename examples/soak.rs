//! Soak test: several topics and groups under random faults, panics and slow
//! listeners, for `--seconds S` (default 10). Prints a counts table once a
//! second and the conservation check at the end; exits 1 on any violation.
//!
//! ```text
//! cargo run --release --example soak -- --seconds 30
//! ```

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use veltrix::partitioner::by_key;
use veltrix::{
    Backoff, DeadLetter, Engine, EventContext, Exhausted, FailurePolicy, FullPolicy, GroupOptions,
    Listener, ListenerError, Retries, TopicOptions,
};

#[derive(Debug, Clone)]
struct Order {
    id: u64,
    customer: u64,
    cents: u64,
}

#[derive(Debug, Clone, Copy)]
struct Sample {
    sensor: u32,
    value: f64,
}

/// A cheap deterministic RNG (xorshift), one per thread.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn percent(&mut self, p: u64) -> bool {
        self.next() % 10_000 < p * 100
    }
}

/// A listener that fails with an error `err`% of the time, panics `panic`%
/// of the time and stalls for `slow_us` µs `slow`% of the time.
struct Faulty {
    rng: Rng,
    err: u64,
    panic: u64,
    slow: u64,
    slow_us: u64,
}

impl Faulty {
    fn act(&mut self) -> Result<(), ListenerError> {
        if self.rng.percent(self.slow) {
            thread::sleep(Duration::from_micros(self.slow_us));
        }
        if self.rng.percent(self.panic) {
            panic!("soak: injected panic");
        }
        if self.rng.percent(self.err) {
            return Err("soak: injected error".into());
        }
        Ok(())
    }
}

impl Listener<Order> for Faulty {
    fn on_event(&mut self, _: &Order, _: &EventContext<'_>) -> Result<(), ListenerError> {
        self.act()
    }
}

impl Listener<Sample> for Faulty {
    fn on_event(&mut self, s: &Sample, _: &EventContext<'_>) -> Result<(), ListenerError> {
        let _ = (s.sensor, s.value);
        self.act()
    }
}

fn faulty(seed: u64, err: u64, panic: u64, slow: u64, slow_us: u64) -> Faulty {
    Faulty {
        rng: Rng(seed | 1),
        err,
        panic,
        slow,
        slow_us,
    }
}

fn parse_seconds() -> Result<u64, String> {
    let mut args = std::env::args().skip(1);
    let mut seconds = 10;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seconds" => {
                let v = args.next().ok_or("--seconds needs a number")?;
                seconds = v
                    .parse()
                    .map_err(|_| format!("--seconds: '{v}' is not a whole number"))?;
            }
            other => {
                return Err(format!(
                    "unknown argument '{other}'; usage: soak [--seconds S]"
                ))
            }
        }
    }
    Ok(seconds)
}

fn main() -> ExitCode {
    let seconds = match parse_seconds() {
        Ok(s) => s,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    // Injected panics are expected; don't print thousands of them.
    std::panic::set_hook(Box::new(|info| {
        let injected = info
            .payload()
            .downcast_ref::<&str>()
            .is_some_and(|s| s.starts_with("soak:"));
        if !injected {
            eprintln!("{info}");
        }
    }));

    let retry = FailurePolicy::default()
        .retries(Retries::Limited(2))
        .backoff(Backoff {
            initial: Duration::from_micros(50),
            max: Duration::from_millis(2),
            multiplier: 4,
        })
        .on_exhausted(Exhausted::DeadLetter {
            topic: "orders.dlq".into(),
        });
    let dead_seen = Arc::new(AtomicU64::new(0));
    let dead = dead_seen.clone();
    let engine = Engine::builder()
        .topic_with::<Order, _>(
            "orders",
            TopicOptions::new(4).capacity(256),
            by_key(|o: &Order| o.customer),
        )
        .deduplicate::<Order, _>("orders", 1024, |o| o.id)
        .dead_letter_topic::<Order>("orders.dlq", TopicOptions::new(1).capacity(1024))
        .topic::<Sample>(
            "telemetry",
            TopicOptions::new(2)
                .capacity(64)
                .full_policy(FullPolicy::DropNewest),
        )
        .subscribe::<Order, _, _>(
            "billing",
            "orders",
            GroupOptions::workers(2).failure_policy(retry),
            |w| faulty(w.worker() as u64 + 1, 5, 1, 1, 200),
        )
        .subscribe::<Order, _, _>("audit", "orders", GroupOptions::workers(1), |_| {
            faulty(99, 0, 2, 0, 0)
        })
        .subscribe::<Order, _, _>(
            "ui",
            "orders",
            GroupOptions::poll()
                .failure_policy(FailurePolicy::default().retries(Retries::Limited(1))),
            |_| faulty(7, 3, 0, 0, 0),
        )
        .subscribe("dlq", "orders.dlq", GroupOptions::workers(1), move |_| {
            let dead = dead.clone();
            veltrix::listener::from_fn(move |letter: &DeadLetter<Order>, _| {
                let _ = (letter.event.cents, &letter.error);
                dead.fetch_add(1, Ordering::Relaxed);
                Ok(())
            })
        })
        .subscribe::<Sample, _, _>("metrics", "telemetry", GroupOptions::workers(1), |_| {
            faulty(5, 1, 0, 2, 500)
        })
        .build()
        .expect("the soak topology is valid");

    let orders = engine.topic::<Order>("orders").unwrap();
    let telemetry = engine.topic::<Sample>("telemetry").unwrap();
    let mut ui = engine.poller("ui").unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let mut producers = Vec::new();
    for p in 0..2u64 {
        let (orders, stop) = (orders.clone(), stop.clone());
        producers.push(thread::spawn(move || {
            let mut rng = Rng(0xC0FFEE + p);
            let mut id = p << 40;
            while !stop.load(Ordering::Relaxed) {
                id += 1;
                let order = Order {
                    id,
                    customer: rng.next() % 500,
                    cents: rng.next() % 10_000,
                };
                // 1% of orders are sent twice (an at-least-once upstream).
                if rng.percent(1) {
                    orders.publish(order.clone()).unwrap();
                }
                orders.publish(order).unwrap();
            }
        }));
    }
    {
        let (telemetry, stop) = (telemetry.clone(), stop.clone());
        producers.push(thread::spawn(move || {
            let mut rng = Rng(42);
            while !stop.load(Ordering::Relaxed) {
                let sample = Sample {
                    sensor: (rng.next() % 16) as u32,
                    value: 1.0,
                };
                if telemetry.publish(sample).unwrap().is_dropped() {
                    // Full: the sensor's next reading comes later anyway.
                    thread::yield_now();
                }
            }
        }));
    }

    let started = Instant::now();
    let mut next_print = started + Duration::from_secs(1);
    while started.elapsed() < Duration::from_secs(seconds) {
        ui.poll_for(10_000, Duration::from_millis(5));
        if Instant::now() >= next_print {
            next_print += Duration::from_secs(1);
            let r = engine.report();
            print!("t={:>3}s", started.elapsed().as_secs());
            for g in &r.groups {
                print!(
                    "  {}: {} ok {} retry {} dead {} skip {} dedup",
                    g.name, g.handled, g.retried, g.dead_lettered, g.skipped, g.deduplicated
                );
            }
            let t = r.topic("telemetry").unwrap();
            println!("  telemetry dropped {}", t.dropped_full);
        }
        thread::sleep(Duration::from_millis(2));
    }
    stop.store(true, Ordering::Relaxed);
    // Keep ticking the poll-mode group until the producers are out: a
    // producer may be blocked on a partition only this loop drains.
    while producers.iter().any(|p| !p.is_finished()) {
        ui.poll(10_000);
    }
    for p in producers {
        p.join().unwrap();
    }
    let out = engine.shutdown_timeout(Duration::from_secs(10));
    println!("\n{}", out.report);

    let mut ok = true;
    match out.report.check_conservation() {
        Ok(()) => println!("conservation: published = handled + dead_lettered + skipped + deduplicated + lag, for every group: OK"),
        Err(broken) => {
            ok = false;
            for b in broken {
                println!("conservation VIOLATED: {b}");
            }
        }
    }
    let billing = out.report.group("billing").unwrap();
    let dlq_handled = out.report.group("dlq").unwrap().handled;
    let dead_letters = dead_seen.load(Ordering::Relaxed);
    println!(
        "dead letters: billing sent {}, dlq topic handled {} (listener saw {})",
        billing.dead_lettered, dlq_handled, dead_letters
    );
    ok &= billing.dead_lettered == dlq_handled && dlq_handled == dead_letters;
    ok &= billing.dead_letter_failed == 0;
    println!("left unhandled at shutdown: {}", out.unhandled.len());
    ok &= out.unhandled.is_empty();
    if ok {
        println!("SOAK OK");
        ExitCode::SUCCESS
    } else {
        println!("SOAK FAILED");
        ExitCode::from(1)
    }
}
