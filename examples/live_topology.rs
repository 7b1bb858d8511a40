//! A living topology: the engine's shape changes while four producers keep
//! publishing keyed player input.
//!
//! - "physics" (threads) is scaled 1 → 4 → 2 → 1, three times over;
//! - "replication" runs after physics on the same ring (a stage
//!   dependency: it never sees an event before physics has handled it);
//! - "spectator", a lossy poll-mode group, is stalled for a second (no
//!   polls) and skips ahead instead of holding anyone back;
//! - "analytics" subscribes late, at the newest event, and unsubscribes
//!   after draining;
//! - a per-match topic "match-7" with its group is attached and removed.
//!
//! Every event is checked as it arrives: per player, physics and
//! replication see 1, 2, 3, … exactly once and in order; the spectator sees
//! each player's events in order (with gaps where it lagged); analytics
//! sees a gapless run of sequences in every partition. At the end the
//! conservation equation must hold for every group (`lagged` and
//! `joined_at` included). The last line begins `LIVE OK` (exit 0), or says
//! what broke (exit 1).
//!
//! ```text
//! cargo run --release --example live_topology
//! ```

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use veltrix::partitioner::by_key;
use veltrix::{Engine, EventContext, GroupOptions, LagPolicy, Leave, StartAt, TopicOptions};

const PRODUCERS: u64 = 4;
const PLAYERS_PER_PRODUCER: u64 = 64;
const PLAYERS: u64 = PRODUCERS * PLAYERS_PER_PRODUCER;
const PARTITIONS: u32 = 8;
/// The spectator skips ahead when more than this many events behind.
const SPECTATOR_BOUND: u64 = 2048;

#[derive(Debug, Clone, Copy)]
struct Input {
    player: u64,
    /// 1, 2, 3, … per player, in publish order.
    n: u64,
}

/// What the listeners check and count.
struct Books {
    /// Per player: the last `n` physics handled.
    physics: Vec<AtomicU64>,
    /// Per partition: 1 + the last sequence physics handled.
    physics_done: Vec<AtomicU64>,
    /// Per player: the last `n` replication handled.
    replication: Vec<AtomicU64>,
    /// Per player: the last `n` the spectator saw.
    spectator: Mutex<Vec<u64>>,
    /// Per partition: 1 + the last sequence analytics saw (0: none yet).
    analytics: Mutex<Vec<u64>>,
    violations: Mutex<Vec<String>>,
}

impl Books {
    fn violation(&self, what: String) {
        let mut v = self.violations.lock().unwrap();
        if v.len() < 10 {
            v.push(what);
        }
    }

    /// The next `n` of `player` in `book`, exactly once and in order.
    fn in_order(&self, group: &str, book: &[AtomicU64], e: &Input) {
        let last = book[e.player as usize].swap(e.n, Ordering::Relaxed);
        if last + 1 != e.n {
            self.violation(format!(
                "{group}: player {} got {} after {last}",
                e.player, e.n
            ));
        }
    }
}

fn main() -> ExitCode {
    let books = Arc::new(Books {
        physics: (0..PLAYERS).map(|_| AtomicU64::new(0)).collect(),
        physics_done: (0..PARTITIONS).map(|_| AtomicU64::new(0)).collect(),
        replication: (0..PLAYERS).map(|_| AtomicU64::new(0)).collect(),
        spectator: Mutex::new(vec![0; PLAYERS as usize]),
        analytics: Mutex::new(vec![0; PARTITIONS as usize]),
        violations: Mutex::new(Vec::new()),
    });
    let (b1, b2, b3) = (Arc::clone(&books), Arc::clone(&books), Arc::clone(&books));
    let mut engine = Engine::builder()
        .topic_with::<Input, _>(
            "input",
            TopicOptions::new(PARTITIONS).capacity(4096).spare_groups(1),
            by_key(|e: &Input| e.player),
        )
        .subscribe("physics", "input", GroupOptions::workers(1).max_workers(4), move |_| {
            let books = Arc::clone(&b1);
            move |e: &Input, ctx: &EventContext<'_>| {
                books.in_order("physics", &books.physics, e);
                books.physics_done[ctx.partition() as usize].store(ctx.sequence() + 1, Ordering::Release);
                Ok(())
            }
        })
        .subscribe(
            "replication",
            "input",
            GroupOptions::workers(1).after(["physics"]),
            move |_| {
                let books = Arc::clone(&b2);
                move |e: &Input, ctx: &EventContext<'_>| {
                    let done = books.physics_done[ctx.partition() as usize].load(Ordering::Acquire);
                    if done <= ctx.sequence() {
                        books.violation(format!(
                            "replication saw sequence {} of partition {} before physics finished it",
                            ctx.sequence(),
                            ctx.partition()
                        ));
                    }
                    books.in_order("replication", &books.replication, e);
                    Ok(())
                }
            },
        )
        .subscribe(
            "spectator",
            "input",
            GroupOptions::poll().lag(LagPolicy::Lossy(SPECTATOR_BOUND)),
            move |_| {
                let books = Arc::clone(&b3);
                move |e: &Input, _: &EventContext<'_>| {
                    let mut seen = books.spectator.lock().unwrap();
                    let last = &mut seen[e.player as usize];
                    if e.n <= *last {
                        books.violation(format!("spectator: player {} got {} after {last}", e.player, e.n));
                    }
                    *last = e.n;
                    Ok(())
                }
            },
        )
        .build()
        .expect("a valid topology");
    let input = engine.topic::<Input>("input").expect("declared");
    let mut spectator = engine.poller("spectator").expect("a poll-mode group");

    let stop = Arc::new(AtomicBool::new(false));
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let (input, stop) = (input.clone(), Arc::clone(&stop));
            thread::spawn(move || {
                let mut n = vec![0u64; PLAYERS_PER_PRODUCER as usize];
                let mut sent = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    for (k, n) in (0u64..).zip(n.iter_mut()) {
                        *n += 1;
                        let player = p * PLAYERS_PER_PRODUCER + k;
                        input.publish(Input { player, n: *n }).expect("open");
                        sent += 1;
                    }
                }
                sent
            })
        })
        .collect();
    let mut table: Vec<(String, String)> = Vec::new();
    let handled =
        |engine: &Engine, group: &str| engine.report().group(group).map_or(0, |g| g.handled);

    // The spectator keeps up for a while, polled like a frame loop.
    let until = Instant::now() + Duration::from_millis(200);
    while Instant::now() < until {
        spectator.poll(8192);
        thread::sleep(Duration::from_millis(1));
    }

    // Physics scales 1 -> 4 -> 2 -> 1, three times, under load.
    for _ in 0..3 {
        for workers in [4, 2, 1] {
            let before = handled(&engine, "physics");
            engine
                .scale("physics", workers)
                .expect("within max_workers");
            thread::sleep(Duration::from_millis(60));
            let after = handled(&engine, "physics");
            table.push((
                format!("scale physics to {workers}"),
                format!("{} events handled in the next 60 ms", after - before),
            ));
            spectator.poll(65_536);
        }
    }

    // A late analytics group: joins at the newest event, leaves drained.
    let b4 = Arc::clone(&books);
    engine
        .subscribe(
            "analytics",
            "input",
            GroupOptions::workers(2),
            StartAt::Newest,
            move |_| {
                let books = Arc::clone(&b4);
                move |_: &Input, ctx: &EventContext<'_>| {
                    let mut next = books.analytics.lock().unwrap();
                    let p = ctx.partition() as usize;
                    if next[p] != 0 && next[p] != ctx.sequence() {
                        books.violation(format!(
                            "analytics: partition {p} sequence {} after {}",
                            ctx.sequence(),
                            next[p] - 1
                        ));
                    }
                    next[p] = ctx.sequence() + 1;
                    Ok(())
                }
            },
        )
        .expect("a spare slot");
    thread::sleep(Duration::from_millis(200));
    spectator.poll(65_536);
    let analytics = engine
        .unsubscribe("analytics", Leave::Drain)
        .expect("subscribed");
    table.push((
        "analytics joined late, left".into(),
        format!(
            "joined at {} events, handled {}, lag {} when it left",
            analytics.joined_at, analytics.handled, analytics.lag
        ),
    ));

    // A per-match topic comes and goes.
    let match_events = Arc::new(AtomicU64::new(0));
    let counted = Arc::clone(&match_events);
    engine
        .attach(
            Engine::builder()
                .topic::<u32>("match-7", TopicOptions::new(2))
                .subscribe(
                    "match-7-sim",
                    "match-7",
                    GroupOptions::workers(1),
                    move |_| {
                        let counted = Arc::clone(&counted);
                        move |_: &u32, _: &EventContext<'_>| {
                            counted.fetch_add(1, Ordering::Relaxed);
                            Ok(())
                        }
                    },
                ),
        )
        .expect("new names");
    let room = engine.topic::<u32>("match-7").expect("attached");
    for i in 0..10_000 {
        room.publish(i).expect("open");
    }
    let removed = engine.remove_topic("match-7").expect("nobody feeds it");
    let match_handled = removed.group("match-7-sim").map_or(0, |g| g.handled);
    table.push((
        "match-7 attached, removed".into(),
        format!("10000 published, {match_handled} handled, then closed"),
    ));
    if match_handled != 10_000 || match_events.load(Ordering::Relaxed) != 10_000 {
        books.violation(format!("match-7 handled {match_handled} of 10000"));
    }

    // The spectator stalls for a second: producers and physics go on.
    spectator.poll(65_536);
    let lagged_before = engine.report().group("spectator").map_or(0, |g| g.lagged);
    let physics_before = handled(&engine, "physics");
    let stalled_at = Instant::now();
    thread::sleep(Duration::from_secs(1));
    let stall = stalled_at.elapsed().as_secs_f64();
    let physics_rate = (handled(&engine, "physics") - physics_before) as f64 / stall;
    let caught_up = spectator.poll(65_536);
    let lagged = engine.report().group("spectator").map_or(0, |g| g.lagged) - lagged_before;
    table.push((
        "spectator stalled 1 s".into(),
        format!(
            "physics went on at {:.2} M events/s; spectator skipped {lagged} events, then read {caught_up}",
            physics_rate / 1e6
        ),
    ));

    stop.store(true, Ordering::Relaxed);
    let published: u64 = producers
        .into_iter()
        .map(|p| p.join().expect("producer"))
        .sum();
    while spectator.poll(65_536) > 0 {}
    drop(spectator);
    let report = engine.shutdown();

    println!("{:<30} what happened", "step");
    for (step, what) in &table {
        println!("{step:<30} {what}");
    }
    println!();
    print!("{report}");
    let mut broken: Vec<String> = books.violations.lock().unwrap().clone();
    for group in ["physics", "replication"] {
        let handled = report.group(group).map_or(0, |g| g.handled);
        if handled != published {
            broken.push(format!("{group} handled {handled} of {published}"));
        }
    }
    if lagged == 0 {
        broken.push("the stalled spectator skipped nothing: it held the producers".into());
    }
    if analytics.handled == 0 {
        broken.push("analytics handled nothing".into());
    }
    if let Err(errors) = report.check_conservation() {
        broken.extend(errors.iter().map(ToString::to_string));
    }
    if broken.is_empty() {
        println!(
            "LIVE OK: {published} events; physics scaled 9 times, analytics joined and left, a match topic came and went, the spectator lagged {lagged} events; per-key order, exactly-once and conservation hold"
        );
        ExitCode::SUCCESS
    } else {
        println!("LIVE BROKEN:");
        for b in &broken {
            println!("  {b}");
        }
        ExitCode::FAILURE
    }
}
