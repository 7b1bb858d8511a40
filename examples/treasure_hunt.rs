//! A treasure hunt, configured from `examples/treasure_hunt.toml`.
//!
//! Players roam 16 zones; some carry a key item that opens one zone. When a
//! player enters the zone their key opens, a treasure spawns there. The
//! topology comes from the TOML file; the code binds event types, keys, a
//! validator, the de-duplication id and the listeners to its names:
//!
//! * `zone-entries` (keyed by player, de-duplicated: the network layer
//!   resends some entries; validated: zones must exist) is read by
//!   * `treasure-router`, a [`Router`] emitting a `TreasureSpawn` into
//!     `treasure-spawns` when a player enters the zone their key opens, and
//!   * `key-holder-stats`, a poll-mode group driven by the game loop that
//!     only sees entries of players holding a key (a filtered subscription).
//! * `treasure-spawns` (keyed by player) is read by `world`, which places
//!   treasure — except in the cursed zone 13, where placing fails, is
//!   retried, and ends in `treasure-spawns.dlq`, read by `spawn-audit`.
//!
//! It prints the counts and exits 1 if a spawn was lost, duplicated or out
//! of order for its player, or the conservation check fails.
//!
//! ```text
//! cargo run --release --all-features --example treasure_hunt
//! ```

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use veltrix::config::Config;
use veltrix::partitioner::by_key;
use veltrix::router::Router;
use veltrix::{DeadLetter, EventContext, Listener, ListenerError, PublishError};

const ZONES: u32 = 16;
const CURSED_ZONE: u32 = 13;
const PRODUCERS: u64 = 2;
const PLAYERS_PER_PRODUCER: u64 = 100;
const ENTRIES_PER_PLAYER: u64 = 200;

/// A player walked into a zone.
#[derive(Debug, Clone)]
struct ZoneEntered {
    player: u64,
    /// 1, 2, 3, … per player, in the order the player moved.
    seq: u64,
    zone: u32,
    /// The zone the player's key item opens, if they carry one.
    key_for: Option<u32>,
}

impl ZoneEntered {
    /// Unique per entry: a resent entry has the same id.
    fn id(&self) -> u64 {
        (self.player << 32) | self.seq
    }
}

/// The router's output: treasure appears in a zone for a player.
#[derive(Debug, Clone)]
struct TreasureSpawn {
    player: u64,
    zone: u32,
    /// The entry that triggered it (per-player order check).
    seq: u64,
}

/// The world: places treasure, checking each player's spawns arrive in
/// order. One instance per worker; one player's spawns all reach one
/// worker (same key, same partition).
struct World {
    last_seq: HashMap<u64, u64>,
    verdict: Arc<Verdict>,
}

#[derive(Default)]
struct Verdict {
    placed: AtomicU64,
    out_of_order: AtomicU64,
    /// player → last seq, merged from every worker at shutdown.
    last_seq: Mutex<HashMap<u64, u64>>,
}

impl Listener<TreasureSpawn> for World {
    fn on_event(
        &mut self,
        s: &TreasureSpawn,
        _ctx: &EventContext<'_>,
    ) -> Result<(), ListenerError> {
        if s.zone == CURSED_ZONE {
            return Err(format!("zone {} is cursed: treasure cannot be placed", s.zone).into());
        }
        let last = self.last_seq.entry(s.player).or_insert(0);
        if s.seq <= *last {
            self.verdict.out_of_order.fetch_add(1, Ordering::Relaxed);
        }
        *last = s.seq;
        self.verdict.placed.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn on_shutdown(&mut self) {
        let mut all = self.verdict.last_seq.lock().unwrap();
        for (player, seq) in self.last_seq.drain() {
            if all.insert(player, seq).is_some() {
                // One player's spawns reached two workers.
                self.verdict.out_of_order.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// What the producers expect to happen, computed as they publish.
#[derive(Default)]
struct Expected {
    spawns: AtomicU64,
    cursed_spawns: AtomicU64,
    key_holder_entries: AtomicU64,
    resent: AtomicU64,
    rejected: AtomicU64,
}

/// A tiny deterministic generator (no dependency needed for a demo).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<bool, Box<dyn std::error::Error>> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/treasure_hunt.toml");
    let config = Config::from_path(path)?;
    for warning in config.validate().warnings {
        eprintln!("warning: {warning}");
    }

    let verdict = Arc::new(Verdict::default());
    let key_holder_entries = Arc::new(AtomicU64::new(0));
    let audited = Arc::new(AtomicU64::new(0));

    // The rule of the hunt: entering the zone your key opens spawns treasure.
    let router = Router::<ZoneEntered>::new().route("treasure-spawns", |e: &ZoneEntered| {
        (e.key_for == Some(e.zone)).then_some(TreasureSpawn {
            player: e.player,
            zone: e.zone,
            seq: e.seq,
        })
    });

    let engine = config
        .bind()
        .keyed_topic::<ZoneEntered, _>("zone-entries", by_key(|e: &ZoneEntered| e.player))
        .validator::<ZoneEntered, _>("zone-entries", |e: &ZoneEntered| {
            if e.zone < ZONES {
                Ok(())
            } else {
                Err(format!(
                    "zone {} does not exist; zones are 0..{ZONES}",
                    e.zone
                ))
            }
        })
        .dedup_id::<ZoneEntered, _>("zone-entries", ZoneEntered::id)
        .keyed_topic::<TreasureSpawn, _>("treasure-spawns", by_key(|s: &TreasureSpawn| s.player))
        .dead_letter_topic::<TreasureSpawn>("treasure-spawns.dlq")
        .router("treasure-router", router)
        .group_where("key-holder-stats", |e: &ZoneEntered| e.key_for.is_some(), {
            let seen = Arc::clone(&key_holder_entries);
            move |_| {
                let seen = Arc::clone(&seen);
                veltrix::listener::from_fn(move |_e: &ZoneEntered, _ctx| {
                    seen.fetch_add(1, Ordering::Relaxed);
                    Ok(())
                })
            }
        })
        .group("world", {
            let verdict = Arc::clone(&verdict);
            move |_| World {
                last_seq: HashMap::new(),
                verdict: Arc::clone(&verdict),
            }
        })
        .group("spawn-audit", {
            let audited = Arc::clone(&audited);
            move |_| {
                let audited = Arc::clone(&audited);
                veltrix::listener::from_fn(move |d: &DeadLetter<TreasureSpawn>, _ctx| {
                    assert_eq!(d.event.zone, CURSED_ZONE, "only cursed spawns fail");
                    audited.fetch_add(1, Ordering::Relaxed);
                    Ok(())
                })
            }
        })
        .build()?;

    let entries = engine.topic::<ZoneEntered>("zone-entries")?;
    let mut stats = engine.poller("key-holder-stats")?;
    let expected = Arc::new(Expected::default());
    let started = Instant::now();

    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let entries = entries.clone();
            let expected = Arc::clone(&expected);
            thread::spawn(move || -> Result<(), PublishError<ZoneEntered>> {
                let mut rng = Lcg(p + 1);
                let players = p * PLAYERS_PER_PRODUCER..(p + 1) * PLAYERS_PER_PRODUCER;
                // Every third player carries a key to some zone.
                let keys: HashMap<u64, u32> = players
                    .clone()
                    .filter(|player| player % 3 == 0)
                    .map(|player| (player, (rng.next() % u64::from(ZONES)) as u32))
                    .collect();
                for seq in 1..=ENTRIES_PER_PLAYER {
                    for player in players.clone() {
                        let key_for = keys.get(&player).copied();
                        let entry = ZoneEntered {
                            player,
                            seq,
                            zone: (rng.next() % u64::from(ZONES)) as u32,
                            key_for,
                        };
                        if key_for == Some(entry.zone) {
                            expected.spawns.fetch_add(1, Ordering::Relaxed);
                            if entry.zone == CURSED_ZONE {
                                expected.cursed_spawns.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        if key_for.is_some() {
                            expected.key_holder_entries.fetch_add(1, Ordering::Relaxed);
                        }
                        // The network layer resends 1 entry in 50: de-duplicated.
                        let resend = rng.next() % 50 == 0;
                        if resend {
                            expected.resent.fetch_add(1, Ordering::Relaxed);
                            entries.publish(entry.clone())?;
                        }
                        entries.publish(entry)?;
                        // A corrupt packet now and then: the validator hands it back.
                        if rng.next() % 1000 == 0 {
                            let bogus = ZoneEntered {
                                player,
                                seq,
                                zone: 99,
                                key_for: None,
                            };
                            match entries.publish(bogus) {
                                Err(PublishError::Invalid { event, reason }) => {
                                    assert_eq!(event.zone, 99, "the event comes back");
                                    assert!(reason.contains("zone 99 does not exist"));
                                    expected.rejected.fetch_add(1, Ordering::Relaxed);
                                }
                                other => panic!("expected a validation error, got {other:?}"),
                            }
                        }
                    }
                }
                Ok(())
            })
        })
        .collect();

    // The game loop: one poll of the stats group per tick.
    while producers.iter().any(|p| !p.is_finished()) {
        stats.poll(4096);
        thread::sleep(Duration::from_millis(1));
    }
    for producer in producers {
        producer.join().expect("producer panicked")?;
    }
    while stats.pending() > 0 {
        stats.poll(4096);
    }
    drop(stats);

    let report = engine.shutdown(); // the router drains before its targets close
    let elapsed = started.elapsed();

    let group = |name: &str| report.group(name).expect("declared group").clone();
    let (router, world, audit) = (
        group("treasure-router"),
        group("world"),
        group("spawn-audit"),
    );
    let published = report.topic("zone-entries").map_or(0, |t| t.published);
    let invalid = report.topic("zone-entries").map_or(0, |t| t.invalid);
    let expected_spawns = expected.spawns.load(Ordering::Relaxed);
    let cursed = expected.cursed_spawns.load(Ordering::Relaxed);

    println!("treasure hunt: {published} zone entries published in {elapsed:.2?}");
    println!(
        "  resent and de-duplicated: {} (router saw {} duplicates)",
        expected.resent.load(Ordering::Relaxed),
        router.deduplicated
    );
    println!(
        "  rejected by the validator and handed back: {} (topic counted {invalid})",
        expected.rejected.load(Ordering::Relaxed)
    );
    println!(
        "  key-holder entries seen by the filtered poll group: {} of {}",
        key_holder_entries.load(Ordering::Relaxed),
        expected.key_holder_entries.load(Ordering::Relaxed)
    );
    println!(
        "  treasure spawns: expected {expected_spawns}, placed {}, cursed -> dead letters {} (audited {})",
        verdict.placed.load(Ordering::Relaxed),
        world.dead_lettered,
        audit.handled
    );
    println!(
        "  spawns out of order for their player: {}",
        verdict.out_of_order.load(Ordering::Relaxed)
    );

    let mut ok = true;
    let mut check = |what: &str, good: bool| {
        if !good {
            eprintln!("FAILED: {what}");
            ok = false;
        }
    };
    check("conservation", report.check_conservation().is_ok());
    check("drained", report.is_drained());
    check(
        "every entry of a key holder reached the filtered group",
        key_holder_entries.load(Ordering::Relaxed)
            == expected.key_holder_entries.load(Ordering::Relaxed),
    );
    check(
        "duplicates removed",
        router.deduplicated == expected.resent.load(Ordering::Relaxed),
    );
    check(
        "invalid entries counted",
        invalid == expected.rejected.load(Ordering::Relaxed),
    );
    check(
        "every spawn placed or dead-lettered",
        verdict.placed.load(Ordering::Relaxed) == expected_spawns - cursed
            && world.dead_lettered == cursed
            && audited.load(Ordering::Relaxed) == cursed,
    );
    check(
        "per-player spawn order",
        verdict.out_of_order.load(Ordering::Relaxed) == 0,
    );
    println!(
        "{}",
        if ok {
            "all checks passed"
        } else {
            "CHECKS FAILED"
        }
    );
    Ok(ok)
}
