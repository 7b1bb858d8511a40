//! The main demo: a game server's event flow.
//!
//! 4 producer threads (the network layer) emit player events — move, shoot,
//! chat — keyed by player id over 8 partitions. Three groups consume them:
//! "physics" on 2 worker threads, "analytics" on 1, and "replication" in
//! poll mode, driven by a 60 Hz tick loop on the main thread with a
//! per-tick budget. At the end it prints per-group counts, whether every
//! player's events arrived in order, and the throughput, and exits 1 if any
//! event was lost, duplicated or reordered.
//!
//! ```text
//! cargo run --release --example game_server -- --events 4000000
//! ```

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use veltrix::partitioner::by_key;
use veltrix::{Engine, EventContext, GroupOptions, Listener, ListenerError, TopicOptions};

const PRODUCERS: u64 = 4;
const PLAYERS_PER_PRODUCER: u64 = 250;
const TICK: Duration = Duration::from_micros(16_667);
const TICK_BUDGET: usize = 250_000;

#[derive(Debug, Clone, Copy)]
enum Action {
    Move { dx: f32, dy: f32 },
    Shoot { target: u64 },
    Chat { len: u16 },
}

#[derive(Debug, Clone, Copy)]
struct PlayerEvent {
    player: u64,
    /// 1, 2, 3, … per player, in publish order.
    seq: u64,
    action: Action,
}

/// What every group checks: each player's events arrive exactly once, in
/// order. One instance per worker; a player's events all reach the same
/// worker because they share a partition.
#[derive(Default)]
struct OrderCheck {
    last_seq: HashMap<u64, u64>,
    violations: u64,
}

impl OrderCheck {
    fn observe(&mut self, e: &PlayerEvent) {
        let last = self.last_seq.entry(e.player).or_insert(0);
        if e.seq != *last + 1 {
            self.violations += 1;
        }
        *last = e.seq;
    }
}

/// Where groups leave their final per-player state for the verdict.
#[derive(Default)]
struct Verdict {
    last_seq: Mutex<HashMap<&'static str, HashMap<u64, u64>>>,
    violations: AtomicU64,
}

impl Verdict {
    fn record(&self, group: &'static str, check: &mut OrderCheck) {
        self.violations
            .fetch_add(check.violations, Ordering::Relaxed);
        let mut all = self.last_seq.lock().unwrap();
        let map = all.entry(group).or_default();
        for (player, seq) in check.last_seq.drain() {
            if map.insert(player, seq).is_some() {
                // The same player reached two workers of one group.
                self.violations.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

struct Physics {
    check: OrderCheck,
    positions: HashMap<u64, (f32, f32)>,
    hits: u64,
    verdict: Arc<Verdict>,
}

impl Listener<PlayerEvent> for Physics {
    fn on_event(&mut self, e: &PlayerEvent, _: &EventContext<'_>) -> Result<(), ListenerError> {
        self.check.observe(e);
        match e.action {
            Action::Move { dx, dy } => {
                let p = self.positions.entry(e.player).or_default();
                p.0 += dx;
                p.1 += dy;
            }
            Action::Shoot { target } => self.hits += u64::from(target % 3 == 0),
            Action::Chat { .. } => {}
        }
        Ok(())
    }

    fn on_shutdown(&mut self) {
        self.verdict.record("physics", &mut self.check);
    }
}

struct Analytics {
    check: OrderCheck,
    by_kind: [u64; 3],
    chat_bytes: u64,
    verdict: Arc<Verdict>,
}

impl Listener<PlayerEvent> for Analytics {
    fn on_event(&mut self, e: &PlayerEvent, _: &EventContext<'_>) -> Result<(), ListenerError> {
        self.check.observe(e);
        let kind = match e.action {
            Action::Move { .. } => 0,
            Action::Shoot { .. } => 1,
            Action::Chat { len } => {
                self.chat_bytes += u64::from(len);
                2
            }
        };
        self.by_kind[kind] += 1;
        Ok(())
    }

    fn on_shutdown(&mut self) {
        println!(
            "analytics: moves {} shots {} chats {} ({} chat bytes)",
            self.by_kind[0], self.by_kind[1], self.by_kind[2], self.chat_bytes
        );
        self.verdict.record("analytics", &mut self.check);
    }
}

struct Replication {
    check: OrderCheck,
    bytes_out: u64,
    verdict: Arc<Verdict>,
}

impl Listener<PlayerEvent> for Replication {
    fn on_event(&mut self, e: &PlayerEvent, _: &EventContext<'_>) -> Result<(), ListenerError> {
        self.check.observe(e);
        self.bytes_out += std::mem::size_of::<PlayerEvent>() as u64;
        Ok(())
    }

    fn on_shutdown(&mut self) {
        self.verdict.record("replication", &mut self.check);
    }
}

struct Args {
    events: u64,
    prometheus: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    let mut parsed = Args {
        events: 2_000_000,
        prometheus: false,
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--events" => {
                let value = args.next().ok_or("--events needs a number")?;
                parsed.events = value
                    .parse()
                    .map_err(|_| format!("--events: '{value}' is not a whole number"))?;
            }
            "--prometheus" => parsed.prometheus = true,
            other => {
                return Err(format!(
                    "unknown argument '{other}'; usage: game_server [--events N] [--prometheus]"
                ))
            }
        }
    }
    parsed.events = parsed.events.max(PRODUCERS);
    Ok(parsed)
}

/// Prints one line per second while the demo runs: per group, events
/// handled per second, the largest partition lag and the p99 publish ->
/// handle latency.
fn live_table(handle: veltrix::metrics::MetricsHandle, done: Arc<AtomicBool>) {
    let mut last: HashMap<String, u64> = HashMap::new();
    let mut next = Instant::now() + Duration::from_secs(1);
    while !done.load(Ordering::Relaxed) {
        if Instant::now() < next {
            thread::sleep(Duration::from_millis(20));
            continue;
        }
        next += Duration::from_secs(1);
        let snapshot = handle.snapshot();
        let mut line = String::from("live:");
        for g in &snapshot.groups {
            let handled = g.report.handled;
            let rate = handled - last.insert(g.report.name.clone(), handled).unwrap_or(0);
            let p99 = g.latency.as_ref().map_or(0, |l| l.p99);
            line.push_str(&format!(
                "  {} {:.2} M/s lag<= {} p99 {:.1} us |",
                g.report.name,
                rate as f64 / 1e6,
                g.lag_max,
                p99 as f64 / 1e3
            ));
        }
        println!("{line}");
    }
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let total = args.events;
    let per_producer = total / PRODUCERS;
    let verdict = Arc::new(Verdict::default());

    let (v1, v2, v3) = (verdict.clone(), verdict.clone(), verdict.clone());
    let engine = Engine::builder()
        .topic_with::<PlayerEvent, _>(
            "player-events",
            TopicOptions::new(8).capacity(16_384),
            by_key(|e: &PlayerEvent| e.player),
        )
        .subscribe(
            "physics",
            "player-events",
            GroupOptions::workers(2),
            move |_| Physics {
                check: OrderCheck::default(),
                positions: HashMap::new(),
                hits: 0,
                verdict: v1.clone(),
            },
        )
        .subscribe(
            "analytics",
            "player-events",
            GroupOptions::workers(1),
            move |_| Analytics {
                check: OrderCheck::default(),
                by_kind: [0; 3],
                chat_bytes: 0,
                verdict: v2.clone(),
            },
        )
        .subscribe(
            "replication",
            "player-events",
            GroupOptions::poll(),
            move |_| Replication {
                check: OrderCheck::default(),
                bytes_out: 0,
                verdict: v3.clone(),
            },
        )
        .build()
        .expect("the demo's topology is valid");

    let topic = engine
        .topic::<PlayerEvent>("player-events")
        .expect("declared above");
    let mut replication = engine.poller("replication").expect("poll-mode group");

    println!(
        "game_server: {} producers x {} events, 8 partitions, groups physics(2 workers) analytics(1) replication(poll @60Hz, budget {}/tick)",
        PRODUCERS, per_producer, TICK_BUDGET
    );
    let done = Arc::new(AtomicBool::new(false));
    let reporter = {
        let (handle, done) = (engine.metrics_handle(), done.clone());
        thread::spawn(move || live_table(handle, done))
    };
    let started = Instant::now();
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let topic = topic.clone();
            thread::spawn(move || {
                let first_player = p * PLAYERS_PER_PRODUCER;
                let mut seq = vec![0u64; PLAYERS_PER_PRODUCER as usize];
                for i in 0..per_producer {
                    let slot = (i.wrapping_mul(2_654_435_761) % PLAYERS_PER_PRODUCER) as usize;
                    seq[slot] += 1;
                    let action = match i % 10 {
                        0..=6 => Action::Move { dx: 1.0, dy: -0.5 },
                        7 | 8 => Action::Shoot { target: i },
                        _ => Action::Chat {
                            len: (i % 120) as u16,
                        },
                    };
                    let event = PlayerEvent {
                        player: first_player + slot as u64,
                        seq: seq[slot],
                        action,
                    };
                    topic.publish(event).expect("engine is running");
                }
                seq
            })
        })
        .collect();

    // The game loop: one tick every 16.7 ms, a bounded amount of replication
    // work per tick, on this thread.
    let mut ticks = 0u64;
    let mut next_tick = Instant::now();
    while producers.iter().any(|p| !p.is_finished()) {
        replication.poll_for(TICK_BUDGET, TICK / 2);
        ticks += 1;
        next_tick += TICK;
        if let Some(wait) = next_tick.checked_duration_since(Instant::now()) {
            thread::sleep(wait);
        }
    }
    let emitted: Vec<Vec<u64>> = producers.into_iter().map(|p| p.join().unwrap()).collect();
    let published_in = started.elapsed();
    done.store(true, Ordering::Relaxed);
    reporter.join().unwrap();
    let metrics = engine.metrics_handle();
    let report = engine.shutdown();
    let snapshot = metrics.snapshot();
    for g in &snapshot.groups {
        if let Some(l) = &g.latency {
            println!(
                "{:<12} publish->handle latency p50 {:.1} us  p99 {:.1} us  p99.9 {:.1} us  max {:.1} us",
                g.report.name,
                l.p50 as f64 / 1e3,
                l.p99 as f64 / 1e3,
                l.p999 as f64 / 1e3,
                l.max as f64 / 1e3
            );
        }
    }
    if args.prometheus {
        println!("\n{}", snapshot.to_prometheus());
    }
    let elapsed = started.elapsed();

    println!("\n{report}");
    let published = report.topic("player-events").map_or(0, |t| t.published);
    let mut ok = published == per_producer * PRODUCERS;
    for group in &report.groups {
        let exact = group.handled == published && group.failures == 0;
        println!(
            "{:<12} handled {:>10} of {:>10} {}",
            group.name,
            group.handled,
            published,
            if exact { "exactly once" } else { "MISMATCH" }
        );
        ok &= exact;
    }
    // Every player's last sequence seen by every group must be the last one
    // emitted: nothing lost at the tail.
    let last_seen = verdict.last_seq.lock().unwrap();
    for group in ["physics", "analytics", "replication"] {
        let seen = last_seen.get(group).cloned().unwrap_or_default();
        for (p, seqs) in emitted.iter().enumerate() {
            for (slot, &last) in seqs.iter().enumerate() {
                let player = p as u64 * PLAYERS_PER_PRODUCER + slot as u64;
                if last > 0 && seen.get(&player) != Some(&last) {
                    println!(
                        "{group}: player {player} ended at {:?}, expected {last}",
                        seen.get(&player)
                    );
                    ok = false;
                }
            }
        }
    }
    let violations = verdict.violations.load(Ordering::Relaxed);
    println!(
        "per-player order: {}",
        if violations == 0 {
            "held".to_owned()
        } else {
            format!("VIOLATED {violations} times")
        }
    );
    ok &= violations == 0;
    println!(
        "throughput: {:.2} M events/s published ({:.2} M deliveries/s over 3 groups), {} ticks, {:.2?} total",
        published as f64 / published_in.as_secs_f64() / 1e6,
        (published * 3) as f64 / elapsed.as_secs_f64() / 1e6,
        ticks,
        elapsed
    );
    if ok {
        println!("OK: nothing lost, nothing duplicated, order kept");
        ExitCode::SUCCESS
    } else {
        println!("FAILED");
        ExitCode::from(1)
    }
}
