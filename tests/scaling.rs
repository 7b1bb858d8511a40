//! `Engine::scale` under load: four producers publish keyed events while a
//! group is scaled 1 → 4 → 2 → 1, again and again. Every event is checked
//! as it arrives: each partition's sequences 0, 1, 2, … with none skipped
//! or repeated (a retry is the same event's next attempt, after its first),
//! each producer's events of a partition in publish order, and the event
//! handled by the listener that owns its partition according to the
//! `on_start` / `on_partitions_assigned` / `on_partitions_revoked`
//! callbacks. Some events fail their first attempt, so partitions move
//! with retries pending. And the typed errors of a scale that cannot be.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use veltrix::partitioner::by_key;
use veltrix::{
    Backoff, Engine, EventContext, FailurePolicy, GroupOptions, Listener, ListenerError, Retries,
    ScaleError, TopicOptions, WorkerInfo,
};

const PRODUCERS: u64 = 4;
const PER_PRODUCER: u64 = if cfg!(debug_assertions) {
    15_000
} else {
    100_000
};
const KEYS: u64 = 61;
const PARTITIONS: u32 = 8;
/// Events whose `seq % FAIL_EVERY == 0` fail their first attempt.
const FAIL_EVERY: u64 = 97;

#[derive(Debug, Clone, Copy)]
struct Event {
    producer: u64,
    seq: u64,
    key: u64,
}

/// What every listener instance writes and the test checks.
struct Books {
    /// Per partition: the next sequence expected.
    next: Vec<AtomicU64>,
    /// Per partition: the id of the listener instance that owns it (0: none).
    owner: Vec<AtomicUsize>,
    /// Per partition and producer: 1 + the last `seq` seen.
    last: Vec<Vec<AtomicU64>>,
    /// Listener ids, from 1.
    ids: AtomicUsize,
    assigned: AtomicU64,
    revoked: AtomicU64,
    handled: AtomicU64,
    violations: Mutex<Vec<String>>,
}

impl Books {
    fn new() -> Arc<Self> {
        Arc::new(Books {
            next: (0..PARTITIONS).map(|_| AtomicU64::new(0)).collect(),
            owner: (0..PARTITIONS).map(|_| AtomicUsize::new(0)).collect(),
            last: (0..PARTITIONS)
                .map(|_| (0..PRODUCERS).map(|_| AtomicU64::new(0)).collect())
                .collect(),
            ids: AtomicUsize::new(1),
            assigned: AtomicU64::new(0),
            revoked: AtomicU64::new(0),
            handled: AtomicU64::new(0),
            violations: Mutex::new(Vec::new()),
        })
    }

    fn violation(&self, what: String) {
        let mut v = self.violations.lock().unwrap();
        if v.len() < 20 {
            v.push(what);
        }
    }

    /// Listener `me` takes partition `p`, which nobody may own.
    fn take(&self, me: usize, p: u32, how: &str) {
        if let Err(other) =
            self.owner[p as usize].compare_exchange(0, me, Ordering::AcqRel, Ordering::Acquire)
        {
            self.violation(format!(
                "{how}: partition {p} to listener {me}, still owned by {other}"
            ));
        }
    }

    /// Listener `me` gives partition `p` up.
    fn give(&self, me: usize, p: u32, how: &str) {
        if let Err(other) =
            self.owner[p as usize].compare_exchange(me, 0, Ordering::AcqRel, Ordering::Acquire)
        {
            self.violation(format!(
                "{how}: partition {p} from listener {me}, owned by {other}"
            ));
        }
    }
}

struct Tracker {
    me: usize,
    mine: Vec<u32>,
    books: Arc<Books>,
}

impl Listener<Event> for Tracker {
    fn on_event(&mut self, event: &Event, ctx: &EventContext<'_>) -> Result<(), ListenerError> {
        let (p, seq) = (ctx.partition(), ctx.sequence());
        let books = &self.books;
        let owner = books.owner[p as usize].load(Ordering::Acquire);
        if owner != self.me {
            books.violation(format!(
                "partition {p} seq {seq} handled by {}, owned by {owner}",
                self.me
            ));
        }
        if ctx.attempt() == 1 {
            let expected = books.next[p as usize].swap(seq + 1, Ordering::AcqRel);
            if expected != seq {
                books.violation(format!(
                    "partition {p}: seq {seq} arrived, {expected} expected"
                ));
            }
            let last = books.last[p as usize][event.producer as usize]
                .swap(event.seq + 1, Ordering::AcqRel);
            if event.seq < last {
                books.violation(format!(
                    "partition {p}: producer {} seq {} after {}",
                    event.producer,
                    event.seq,
                    last - 1
                ));
            }
            if event.seq % FAIL_EVERY == 0 {
                return Err("first attempt fails".into());
            }
        } else if books.next[p as usize].load(Ordering::Acquire) != seq + 1 {
            books.violation(format!("partition {p}: retry of seq {seq} out of turn"));
        }
        books.handled.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn on_start(&mut self, worker: &WorkerInfo) {
        for &p in worker.partitions() {
            self.books.take(self.me, p, "on_start");
        }
        self.mine = worker.partitions().to_vec();
    }

    fn on_partitions_assigned(&mut self, partitions: &[u32]) {
        self.books
            .assigned
            .fetch_add(partitions.len() as u64, Ordering::Relaxed);
        for &p in partitions {
            self.books.take(self.me, p, "assigned");
        }
        self.mine.extend_from_slice(partitions);
    }

    fn on_partitions_revoked(&mut self, partitions: &[u32]) {
        self.books
            .revoked
            .fetch_add(partitions.len() as u64, Ordering::Relaxed);
        for &p in partitions {
            self.books.give(self.me, p, "revoked");
            if !self.mine.contains(&p) {
                self.books.violation(format!(
                    "revoked partition {p}, never assigned to {}",
                    self.me
                ));
            }
        }
        self.mine.retain(|p| !partitions.contains(p));
    }

    fn on_shutdown(&mut self) {
        for &p in &self.mine {
            self.books.give(self.me, p, "on_shutdown");
        }
    }
}

fn engine(books: &Arc<Books>) -> Engine {
    let books = Arc::clone(books);
    Engine::builder()
        .topic_with::<Event, _>(
            "events",
            TopicOptions::new(PARTITIONS).capacity(256),
            by_key(|e: &Event| e.key),
        )
        .subscribe(
            "physics",
            "events",
            GroupOptions::workers(1)
                .max_workers(4)
                .max_batch(32)
                .failure_policy(
                    FailurePolicy::default()
                        .retries(Retries::Limited(1))
                        .backoff(Backoff::doubling(
                            Duration::from_micros(50),
                            Duration::from_millis(1),
                        )),
                ),
            move |_: &WorkerInfo| Tracker {
                me: books.ids.fetch_add(1, Ordering::Relaxed),
                mine: Vec::new(),
                books: Arc::clone(&books),
            },
        )
        .build()
        .expect("valid topology")
}

#[test]
fn scaling_under_load_loses_repeats_and_reorders_nothing() {
    let books = Books::new();
    let engine = engine(&books);
    let topic = engine.topic::<Event>("events").unwrap();
    let scales = AtomicU64::new(0);
    let done = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for producer in 0..PRODUCERS {
            let topic = topic.clone();
            let done = &done;
            s.spawn(move || {
                for seq in 0..PER_PRODUCER {
                    let key = (seq + producer * 17) % KEYS;
                    topic
                        .publish(Event { producer, seq, key })
                        .expect("published");
                }
                done.fetch_add(1, Ordering::Release);
            });
        }
        // Scale while they publish (and at least two full cycles).
        let mut cycles = 0;
        while cycles < 2 || done.load(Ordering::Acquire) < PRODUCERS as usize {
            for workers in [4, 2, 1] {
                engine.scale("physics", workers).expect("scaled");
                scales.fetch_add(1, Ordering::Relaxed);
            }
            cycles += 1;
        }
    });
    engine
        .scale("physics", 3)
        .expect("scaled once the producers are done");
    let report = engine.shutdown();
    let total = PRODUCERS * PER_PRODUCER;
    let violations = books.violations.lock().unwrap().clone();
    assert!(violations.is_empty(), "{violations:#?}");
    let group = report.group("physics").unwrap();
    let failing = PRODUCERS * PER_PRODUCER.div_ceil(FAIL_EVERY);
    assert_eq!(
        (group.handled, group.failures, group.retried, group.lag),
        (total, failing, failing, 0),
        "{report}"
    );
    assert_eq!(books.handled.load(Ordering::Relaxed), total);
    let published: u64 = books.next.iter().map(|n| n.load(Ordering::Relaxed)).sum();
    assert_eq!(
        published, total,
        "every partition's sequences seen to its end"
    );
    assert!(report.is_drained(), "{report}");
    for (p, owner) in books.owner.iter().enumerate() {
        assert_eq!(
            owner.load(Ordering::Relaxed),
            0,
            "partition {p} still owned after shutdown"
        );
    }
    // 1 -> 4 -> 2 -> 1 moves partitions each time: the callbacks ran.
    let (assigned, revoked) = (
        books.assigned.load(Ordering::Relaxed),
        books.revoked.load(Ordering::Relaxed),
    );
    assert!(
        assigned >= 12 && revoked >= 12,
        "assigned {assigned}, revoked {revoked}"
    );
    assert!(scales.load(Ordering::Relaxed) >= 6);
    eprintln!(
        "scales {} assigned {assigned}",
        scales.load(Ordering::Relaxed)
    );
}

#[test]
fn a_scale_that_cannot_be_is_a_typed_error_and_changes_nothing() {
    let books = Books::new();
    let engine = Engine::builder()
        .topic::<u64>("ticks", TopicOptions::new(2))
        .subscribe("host", "ticks", GroupOptions::poll(), |_| {
            |_: &u64, _: &EventContext<'_>| Ok(())
        })
        .subscribe("two", "ticks", GroupOptions::workers(2), |_| {
            |_: &u64, _: &EventContext<'_>| Ok(())
        })
        .build()
        .unwrap();
    assert!(
        matches!(engine.scale("host", 2), Err(ScaleError::PollMode { group }) if group == "host")
    );
    let too_many = engine.scale("two", 3).unwrap_err();
    assert!(
        matches!(
            &too_many,
            ScaleError::OutOfRange {
                requested: 3,
                max: 2,
                ..
            }
        ),
        "{too_many:?}"
    );
    assert!(
        too_many.to_string().contains("max_workers(3)"),
        "{too_many}"
    );
    assert!(matches!(
        engine.scale("two", 0),
        Err(ScaleError::OutOfRange { requested: 0, .. })
    ));
    let unknown = engine.scale("nope", 1).unwrap_err();
    assert!(
        unknown.to_string().contains("unknown group 'nope'"),
        "{unknown}"
    );
    // Down and back up to the declared count needs no max_workers.
    engine.scale("two", 1).unwrap();
    engine.scale("two", 2).unwrap();
    drop(books);
    engine.shutdown();
}

#[test]
fn scaling_from_inside_a_listener_is_refused() {
    type Cell = Arc<Mutex<Option<Arc<Engine>>>>;
    let engine_cell: Cell = Arc::default();
    let result: Arc<Mutex<Option<Result<(), ScaleError>>>> = Arc::default();
    let (cell, out) = (Arc::clone(&engine_cell), Arc::clone(&result));
    let engine = Engine::builder()
        .topic::<u64>("ticks", TopicOptions::new(2))
        .subscribe(
            "two",
            "ticks",
            GroupOptions::workers(1).max_workers(2),
            move |_| {
                let (cell, out) = (Arc::clone(&cell), Arc::clone(&out));
                move |_: &u64, _: &EventContext<'_>| {
                    if let Some(engine) = cell.lock().unwrap().as_ref() {
                        out.lock()
                            .unwrap()
                            .get_or_insert_with(|| engine.scale("two", 2));
                    }
                    Ok(())
                }
            },
        )
        .build()
        .unwrap();
    let engine = Arc::new(engine);
    *engine_cell.lock().unwrap() = Some(Arc::clone(&engine));
    let ticks = engine.topic::<u64>("ticks").unwrap();
    while result.lock().unwrap().is_none() {
        ticks.publish(1).unwrap();
        std::thread::sleep(Duration::from_millis(1));
    }
    let refused = result.lock().unwrap().take().unwrap();
    assert!(
        matches!(&refused, Err(ScaleError::FromListener { group }) if group == "two"),
        "{refused:?}"
    );
    engine_cell.lock().unwrap().take();
    let engine = Arc::try_unwrap(engine).expect("the only handle left");
    assert_eq!(engine.shutdown().group("two").unwrap().lag, 0);
}
