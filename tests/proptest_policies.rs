//! Property: for any failure policy, fault rate and layout, every event is
//! accounted for, and exactly the events that failed every attempt are
//! dead-lettered, skipped or left behind a halted partition.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

use proptest::prelude::*;
use veltrix::partitioner::by_key;
use veltrix::{
    Backoff, DeadLetter, Engine, Exhausted, FailurePolicy, GroupOptions, Retries, TopicOptions,
};

fn quiet_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<&str>() != Some(&"injected") {
                default(info);
            }
        }));
    });
}

/// Whether attempt `attempt` of event `id` fails: a pure function, so the
/// test knows which events exhaust their attempts.
fn fails(seed: u64, id: u64, attempt: u32, rate: u64) -> bool {
    let mut x = seed ^ id.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (u64::from(attempt) << 40);
    x ^= x >> 31;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 29;
    x % 100 < rate
}

#[derive(Debug, Clone, Copy)]
enum Then {
    Skip,
    DeadLetter,
    Halt,
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn every_event_is_accounted_for(
        seed in any::<u64>(),
        rate in 0u64..70,
        retries in 0u32..3,
        then in prop_oneof![Just(Then::Skip), Just(Then::DeadLetter), Just(Then::Halt)],
        partitions in 1u32..4,
        threaded in any::<bool>(),
        events in 1u64..200,
    ) {
        quiet_panics();
        let exhausted = match then {
            Then::Skip => Exhausted::Skip,
            Then::DeadLetter => Exhausted::DeadLetter { topic: "dlq".into() },
            Then::Halt => Exhausted::Halt,
        };
        let policy = FailurePolicy::default()
            .retries(Retries::Limited(retries))
            .backoff(Backoff { initial: Duration::from_micros(1), max: Duration::from_micros(20), multiplier: 2 })
            .on_exhausted(exhausted);
        let mode = if threaded { GroupOptions::workers(2) } else { GroupOptions::poll() };
        let dead = Arc::new(Mutex::new(Vec::new()));
        let d = dead.clone();
        let engine = Engine::builder()
            .topic_with::<u64, _>("t", TopicOptions::new(partitions).capacity(256), by_key(|v: &u64| *v))
            .dead_letter_topic::<u64>("dlq", TopicOptions::new(1).capacity(256))
            .subscribe("g", "t", mode.failure_policy(policy), move |_| {
                let mut attempts: HashMap<u64, u32> = HashMap::new();
                veltrix::listener::from_fn(move |v: &u64, _| {
                    let attempt = attempts.entry(*v).or_insert(0);
                    *attempt += 1;
                    if fails(seed, *v, *attempt, rate) {
                        if *attempt % 2 == 0 {
                            std::panic::panic_any("injected");
                        }
                        return Err("injected".into());
                    }
                    Ok(())
                })
            })
            .subscribe("dlq", "dlq", GroupOptions::workers(1), move |_| {
                let d = d.clone();
                veltrix::listener::from_fn(move |l: &DeadLetter<u64>, _| {
                    d.lock().unwrap().push(l.event);
                    Ok(())
                })
            })
            .build()
            .unwrap();
        let topic = engine.topic::<u64>("t").unwrap();
        topic.publish_batch(0..events).unwrap();
        let out = engine.shutdown_timeout(Duration::from_secs(30));
        prop_assert!(out.report.check_conservation().is_ok(), "{:?}", out.report.check_conservation());
        let g = out.report.group("g").unwrap().clone();
        let doomed: Vec<u64> = (0..events)
            .filter(|&id| (1..=retries + 1).all(|a| fails(seed, id, a, rate)))
            .collect();
        match then {
            Then::Skip => {
                prop_assert_eq!(g.skipped, doomed.len() as u64);
                prop_assert_eq!(g.handled + g.skipped, events);
            }
            Then::DeadLetter => {
                let mut got = dead.lock().unwrap().clone();
                got.sort_unstable();
                prop_assert_eq!(&got, &doomed);
                prop_assert_eq!(g.dead_lettered, doomed.len() as u64);
            }
            Then::Halt => {
                // A partition halts at its first doomed event; later events
                // of that partition stay behind it, as lag.
                prop_assert_eq!(doomed.is_empty(), g.halted.is_empty());
                prop_assert_eq!(g.handled + g.lag, events);
                let mut unhandled = out.unhandled;
                prop_assert_eq!(unhandled.take::<u64>("t").unwrap().len() as u64, g.lag);
            }
        }
    }
}
