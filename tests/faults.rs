//! Seeded fault injection: listeners fail (errors and panics) at random, and
//! every event is still accounted for, for each failure policy.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::thread;
use std::time::Duration;

use veltrix::partitioner::by_key;
use veltrix::{
    Backoff, DeadLetter, Engine, EventContext, Exhausted, FailurePolicy, GroupOptions, Listener,
    ListenerError, Retries, TopicOptions,
};

const PRODUCERS: u64 = 4;
const PER_PRODUCER: u64 = 50_000;

#[derive(Debug, Clone, Copy)]
struct Job {
    id: u64,
}

/// Panics are expected here by the thousand; keep the output readable.
fn quiet_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let injected = info
                .payload()
                .downcast_ref::<String>()
                .is_some_and(|s| s.starts_with("injected"))
                || info
                    .payload()
                    .downcast_ref::<&str>()
                    .is_some_and(|s| s.starts_with("injected"));
            if !injected {
                default(info);
            }
        }));
    });
}

/// Whether attempt `attempt` (1-based) of event `id` fails, and how: a pure
/// function of the seed, so the test knows which events exhaust their tries.
fn fault(seed: u64, id: u64, attempt: u32, rate_percent: u64) -> Option<bool> {
    let mut x = seed ^ id.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ u64::from(attempt) << 48;
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    (x % 100 < rate_percent).then_some(x & 1 == 0) // Some(true): panic
}

struct Flaky {
    seed: u64,
    rate: u64,
    /// Attempts counted by hand, to check `EventContext::attempt`.
    attempts: HashMap<u64, u32>,
    /// Calls where `ctx.attempt()` differed from the count (an assertion
    /// here would be caught as a listener failure, so it is counted).
    wrong_attempts: Arc<AtomicU64>,
    handled: Arc<Mutex<Vec<u64>>>,
}

impl Listener<Job> for Flaky {
    fn on_event(&mut self, job: &Job, ctx: &EventContext<'_>) -> Result<(), ListenerError> {
        let attempt = self.attempts.entry(job.id).or_insert(0);
        *attempt += 1;
        if ctx.attempt() != *attempt {
            self.wrong_attempts.fetch_add(1, Ordering::Relaxed);
        }
        match fault(self.seed, job.id, ctx.attempt(), self.rate) {
            Some(true) => panic!("injected panic on {}", job.id),
            Some(false) => Err(format!("injected error on {}", job.id).into()),
            None => {
                self.handled.lock().unwrap().push(job.id);
                Ok(())
            }
        }
    }
}

struct Outcome {
    report: veltrix::Report,
    handled: Vec<u64>,
    dead: Vec<DeadLetter<Job>>,
}

fn run(policy: FailurePolicy, seed: u64, rate: u64) -> Outcome {
    quiet_panics();
    let handled = Arc::new(Mutex::new(Vec::new()));
    let dead = Arc::new(Mutex::new(Vec::new()));
    let wrong_attempts = Arc::new(AtomicU64::new(0));
    let (h, d, w) = (handled.clone(), dead.clone(), wrong_attempts.clone());
    let engine = Engine::builder()
        .topic_with::<Job, _>(
            "jobs",
            TopicOptions::new(4).capacity(16),
            by_key(|j: &Job| j.id),
        )
        .dead_letter_topic::<Job>("jobs.dlq", TopicOptions::new(1).capacity(64))
        .subscribe(
            "workers",
            "jobs",
            GroupOptions::workers(2).failure_policy(policy),
            move |_| Flaky {
                seed,
                rate,
                attempts: HashMap::new(),
                wrong_attempts: w.clone(),
                handled: h.clone(),
            },
        )
        .subscribe("dlq", "jobs.dlq", GroupOptions::workers(1), move |_| {
            let d = d.clone();
            veltrix::listener::from_fn(move |letter: &DeadLetter<Job>, _| {
                d.lock().unwrap().push(letter.clone());
                Ok(())
            })
        })
        .build()
        .unwrap();
    let jobs = engine.topic::<Job>("jobs").unwrap();
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let jobs = jobs.clone();
            thread::spawn(move || {
                for i in 0..PER_PRODUCER {
                    jobs.publish(Job {
                        id: p * PER_PRODUCER + i,
                    })
                    .unwrap();
                }
            })
        })
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    let report = engine.shutdown();
    assert_eq!(
        wrong_attempts.load(Ordering::Relaxed),
        0,
        "EventContext::attempt differed from the attempts counted"
    );
    let handled = std::mem::take(&mut *handled.lock().unwrap());
    let dead = std::mem::take(&mut *dead.lock().unwrap());
    Outcome {
        report,
        handled,
        dead,
    }
}

fn fast_backoff() -> Backoff {
    Backoff {
        initial: Duration::from_micros(1),
        max: Duration::from_micros(50),
        multiplier: 2,
    }
}

/// Ids whose every one of `tries` attempts fails.
fn exhausted_ids(seed: u64, rate: u64, tries: u32) -> Vec<u64> {
    (0..PRODUCERS * PER_PRODUCER)
        .filter(|&id| (1..=tries).all(|a| fault(seed, id, a, rate).is_some()))
        .collect()
}

#[test]
fn dead_letter_topic_holds_exactly_the_events_that_failed_every_attempt() {
    let (seed, rate) = (7, 20);
    let policy = FailurePolicy::default()
        .retries(Retries::Limited(2))
        .backoff(fast_backoff())
        .on_exhausted(Exhausted::DeadLetter {
            topic: "jobs.dlq".into(),
        });
    let out = run(policy, seed, rate);
    out.report.check_conservation().unwrap();
    let workers = out.report.group("workers").unwrap();
    let total = PRODUCERS * PER_PRODUCER;
    assert_eq!(out.report.topic("jobs").unwrap().published, total);
    let expected = exhausted_ids(seed, rate, 3);
    assert!(
        !expected.is_empty(),
        "the seed must exercise the dead-letter path"
    );
    let mut dead_ids: Vec<u64> = out.dead.iter().map(|l| l.event.id).collect();
    dead_ids.sort_unstable();
    assert_eq!(dead_ids, expected);
    assert!(out
        .dead
        .iter()
        .all(|l| l.attempts == 3 && l.group == "workers" && l.topic == "jobs"));
    assert!(out.dead.iter().all(|l| l.error.contains("injected")));
    assert_eq!(workers.dead_lettered, expected.len() as u64);
    assert_eq!(workers.handled + workers.dead_lettered, total);
    assert_eq!(workers.skipped, 0);
    let mut handled = out.handled;
    handled.sort_unstable();
    handled.dedup();
    assert_eq!(
        handled.len() as u64,
        workers.handled,
        "each event handled once"
    );
    assert_eq!(
        out.report.group("dlq").unwrap().handled,
        expected.len() as u64
    );
}

#[test]
fn skip_counts_every_exhausted_event() {
    let (seed, rate) = (11, 30);
    let policy = FailurePolicy::default()
        .retries(Retries::Limited(1))
        .backoff(fast_backoff());
    let out = run(policy, seed, rate);
    out.report.check_conservation().unwrap();
    let workers = out.report.group("workers").unwrap();
    let expected = exhausted_ids(seed, rate, 2).len() as u64;
    assert_eq!(workers.skipped, expected);
    assert_eq!(workers.handled + workers.skipped, PRODUCERS * PER_PRODUCER);
    assert!(out.dead.is_empty());
}

#[test]
fn no_retry_skip_is_the_default_and_worker_survives_panics() {
    let (seed, rate) = (3, 10);
    let out = run(FailurePolicy::default(), seed, rate);
    out.report.check_conservation().unwrap();
    let workers = out.report.group("workers").unwrap();
    assert_eq!(workers.skipped, exhausted_ids(seed, rate, 1).len() as u64);
    assert_eq!(workers.failures, workers.skipped);
    assert_eq!(workers.retried, 0);
}

#[test]
fn halt_stops_the_partition_and_reports_it() {
    quiet_panics();
    let seen = Arc::new(AtomicU64::new(0));
    let s = seen.clone();
    let engine = Engine::builder()
        .topic::<u64>("t", TopicOptions::new(1).capacity(64))
        .subscribe(
            "g",
            "t",
            GroupOptions::poll()
                .failure_policy(FailurePolicy::default().on_exhausted(Exhausted::Halt)),
            move |_| {
                let s = s.clone();
                veltrix::listener::from_fn(move |v: &u64, _| {
                    if *v == 5 {
                        return Err("poison".into());
                    }
                    s.fetch_add(1, Ordering::Relaxed);
                    Ok(())
                })
            },
        )
        .build()
        .unwrap();
    let t = engine.topic::<u64>("t").unwrap();
    let mut poller = engine.poller("g").unwrap();
    for v in 0..10 {
        t.publish(v).unwrap();
    }
    assert_eq!(poller.poll(100), 5);
    assert_eq!(poller.poll(100), 0, "a halted partition hands nothing out");
    let report = engine.report();
    let g = report.group("g").unwrap();
    assert_eq!(g.halted, vec![0]);
    assert!(!g.is_healthy());
    assert_eq!(g.lag, 5);
    let out = engine.shutdown_timeout(Duration::from_secs(5));
    out.report.check_conservation().unwrap();
    let mut unhandled = out.unhandled;
    assert_eq!(unhandled.take::<u64>("t").unwrap(), vec![5, 6, 7, 8, 9]);
    assert_eq!(seen.load(Ordering::Relaxed), 5);
}

/// A panic in user code the engine calls around the listener (here the
/// de-dup id function) must not wedge the partition or lose the event.
#[test]
fn panicking_dedup_id_function_delivers_the_event_and_keeps_going() {
    quiet_panics();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let engine = Engine::builder()
        .topic::<u64>("t", TopicOptions::new(1).capacity(64))
        .deduplicate::<u64, _>("t", 16, |v| {
            if *v == 3 {
                panic!("injected panic in the id function");
            }
            *v
        })
        .subscribe("g", "t", GroupOptions::workers(1), move |_| {
            let s = s.clone();
            veltrix::listener::from_fn(move |v: &u64, _| {
                s.lock().unwrap().push(*v);
                Ok(())
            })
        })
        .build()
        .unwrap();
    let t = engine.topic::<u64>("t").unwrap();
    t.publish_batch([1, 2, 3, 2, 4]).unwrap();
    let report = engine.shutdown();
    report.check_conservation().unwrap();
    assert_eq!(*seen.lock().unwrap(), vec![1, 2, 3, 4]);
    assert_eq!(report.group("g").unwrap().deduplicated, 1);
}
