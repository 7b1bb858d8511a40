//! Per-key order: with the key-hash partitioner, the events of one key reach a
//! group in publish order, none lost or duplicated, even with several
//! producers sharing keys and a group of several workers.

mod common;

use std::collections::HashMap;

use common::Shared;
use veltrix::partitioner::{by_key, kafka_partition};
use veltrix::{
    Engine, EventContext, GroupOptions, Listener, ListenerError, Receipt, TopicOptions, WorkerInfo,
};

const PRODUCERS: u64 = 4;
const PER_PRODUCER: u64 = 100_000;
/// Keys are shared by all producers; a prime so each producer cycles through
/// them with a different phase.
const KEYS: u64 = 61;
const PARTITIONS: u32 = 8;
const CAPACITY: usize = 1024;
const WORKERS: usize = 2;

#[derive(Debug, Clone, Copy)]
struct Event {
    producer: u64,
    seq: u64,
    key: u64,
}

fn key_of(producer: u64, seq: u64) -> u64 {
    (seq + producer * 17) % KEYS
}

/// What a worker saw, in arrival order.
#[derive(Debug, Clone, Copy)]
struct Seen {
    event: Event,
    partition: u32,
    sequence: u64,
}

struct Recorder {
    worker: usize,
    seen: Vec<Seen>,
    out: Shared<(usize, Vec<Seen>)>,
}

impl Listener<Event> for Recorder {
    fn on_event(&mut self, event: &Event, ctx: &EventContext<'_>) -> Result<(), ListenerError> {
        self.seen.push(Seen {
            event: *event,
            partition: ctx.partition(),
            sequence: ctx.sequence(),
        });
        Ok(())
    }

    fn on_shutdown(&mut self) {
        self.out.push((self.worker, std::mem::take(&mut self.seen)));
    }
}

#[test]
fn per_key_order_holds_with_four_producers_and_two_workers() {
    let out: Shared<(usize, Vec<Seen>)> = Shared::new();
    let factory_out = out.clone();
    let engine = Engine::builder()
        .topic_with::<Event, _>(
            "events",
            TopicOptions::new(PARTITIONS).capacity(CAPACITY),
            by_key(|e: &Event| e.key),
        )
        .subscribe(
            "order",
            "events",
            GroupOptions::workers(WORKERS),
            move |w: &WorkerInfo| Recorder {
                worker: w.worker(),
                seen: Vec::with_capacity((PRODUCERS * PER_PRODUCER) as usize / w.workers()),
                out: factory_out.clone(),
            },
        )
        .build()
        .expect("valid topology");
    let topic = engine.topic::<Event>("events").unwrap();

    std::thread::scope(|s| {
        for producer in 0..PRODUCERS {
            let topic = topic.clone();
            s.spawn(move || {
                // Sequences a producer gets from one partition must grow.
                let mut last_sequence = vec![None::<u64>; PARTITIONS as usize];
                for seq in 0..PER_PRODUCER {
                    let key = key_of(producer, seq);
                    let receipt = topic
                        .publish(Event { producer, seq, key })
                        .unwrap_or_else(|e| panic!("publish {producer}/{seq}: {e}"));
                    let Receipt::Accepted {
                        partition,
                        sequence,
                    } = receipt
                    else {
                        panic!("publish {producer}/{seq}: not accepted: {receipt:?}");
                    };
                    assert_eq!(
                        partition,
                        kafka_partition(&key.to_be_bytes(), PARTITIONS),
                        "key {key} routed off its hash partition"
                    );
                    let last = &mut last_sequence[partition as usize];
                    assert!(
                        last.is_none_or(|l| sequence > l),
                        "receipt sequences of partition {partition} went backwards"
                    );
                    *last = Some(sequence);
                }
            });
        }
    });

    let report = engine.shutdown();
    let total = PRODUCERS * PER_PRODUCER;
    assert_eq!(report.topic("events").unwrap().published, total);
    let group = report.group("order").unwrap();
    assert_eq!((group.handled, group.failures, group.lag), (total, 0, 0));
    assert!(report.is_drained(), "{report}");

    let mut workers = out.take();
    workers.sort_by_key(|(w, _)| *w);
    assert_eq!(
        workers.iter().map(|(w, _)| *w).collect::<Vec<_>>(),
        (0..WORKERS).collect::<Vec<_>>(),
        "on_shutdown must run once per worker"
    );

    // One partition, one worker; each partition's sequences arrive 0, 1, 2, …
    let mut owner: HashMap<u32, usize> = HashMap::new();
    let mut next_sequence = vec![0u64; PARTITIONS as usize];
    // Per (key, producer): the next seq expected, starting at the producer's
    // first seq with that key and stepping by KEYS.
    let mut next_seq: HashMap<(u64, u64), u64> = HashMap::new();
    for producer in 0..PRODUCERS {
        for first in 0..KEYS {
            next_seq.insert((key_of(producer, first), producer), first);
        }
    }
    assert_eq!(next_seq.len() as u64, KEYS * PRODUCERS);

    for (worker, seen) in &workers {
        for s in seen {
            let previous_owner = *owner.entry(s.partition).or_insert(*worker);
            assert_eq!(
                previous_owner, *worker,
                "partition {} handled by workers {previous_owner} and {worker}",
                s.partition
            );
            let expected_sequence = &mut next_sequence[s.partition as usize];
            assert_eq!(
                s.sequence, *expected_sequence,
                "partition {} out of order on worker {worker}",
                s.partition
            );
            *expected_sequence += 1;

            let Event { producer, seq, key } = s.event;
            assert_eq!(key, key_of(producer, seq), "event corrupted: {:?}", s.event);
            assert_eq!(
                s.partition,
                kafka_partition(&key.to_be_bytes(), PARTITIONS),
                "key {key} handled off its partition"
            );
            let expected = next_seq.get_mut(&(key, producer)).unwrap();
            assert_eq!(
                seq, *expected,
                "key {key}, producer {producer}: got seq {seq}, expected {} (lost, duplicated or reordered)",
                *expected
            );
            *expected += KEYS;
        }
    }

    // Nothing lost at the tail: every (key, producer) stream reached its end.
    for (&(key, producer), &next) in &next_seq {
        assert!(
            next >= PER_PRODUCER,
            "key {key}, producer {producer}: stream stopped at seq {next} of {PER_PRODUCER}"
        );
    }
    assert_eq!(next_sequence.iter().sum::<u64>(), total);
}
