//! Properties of the built-in partitioners (always in range, keyed ones equal
//! to Kafka's), and of random single-threaded interleavings of publish and
//! poll (per-partition order kept, nothing lost, budgets respected).

mod common;

use std::collections::VecDeque;

use common::Shared;
use proptest::prelude::*;
use veltrix::listener::from_fn;
use veltrix::partitioner::{
    by_key, by_key_bytes, kafka_partition, murmur2, Fixed, RoundRobin, Sticky,
};
use veltrix::{Engine, GroupOptions, Partitioner, PublishError, TopicOptions};

fn partitions() -> impl Strategy<Value = u32> {
    1u32..=1024
}

proptest! {
    #[test]
    fn by_key_is_in_range_and_equals_kafka(key in any::<u64>(), n in partitions()) {
        let p = by_key(|e: &u64| *e).partition(&key, n);
        prop_assert!(p < n);
        prop_assert_eq!(p, kafka_partition(&key.to_be_bytes(), n));
        prop_assert_eq!(p, (murmur2(&key.to_be_bytes()) & 0x7fff_ffff) % n);
    }

    #[test]
    fn by_key_of_other_key_types_hashes_their_serialized_bytes(
        int in any::<i32>(),
        text in ".{0,40}",
        n in partitions(),
    ) {
        let p = by_key(|e: &i32| *e).partition(&int, n);
        prop_assert!(p < n);
        prop_assert_eq!(p, kafka_partition(&int.to_be_bytes(), n));
        let p = by_key(|e: &String| e.clone()).partition(&text, n);
        prop_assert!(p < n);
        prop_assert_eq!(p, kafka_partition(text.as_bytes(), n));
    }

    #[test]
    fn by_key_bytes_is_in_range_and_equals_kafka(
        key in proptest::collection::vec(any::<u8>(), 0..64),
        n in partitions(),
    ) {
        let p = by_key_bytes(|e: &Vec<u8>| e.as_slice()).partition(&key, n);
        prop_assert!(p < n);
        prop_assert_eq!(p, kafka_partition(&key, n));
    }

    #[test]
    fn round_robin_is_in_range_and_cycles(n in partitions(), warm_up in 0usize..100) {
        let rr = RoundRobin::new();
        for _ in 0..warm_up {
            prop_assert!(rr.partition(&(), n) < n);
        }
        // Any n consecutive picks on one thread visit each partition once.
        let mut picks: Vec<u32> = (0..n).map(|_| rr.partition(&(), n)).collect();
        picks.sort_unstable();
        prop_assert_eq!(picks, (0..n).collect::<Vec<_>>());
    }

    #[test]
    fn sticky_is_in_range_and_lingers(
        linger in 0u64..50,
        n in partitions(),
        calls in proptest::collection::vec(any::<bool>(), 1..300),
    ) {
        let sticky = Sticky::new(linger);
        let linger = linger.max(1);
        let mut run = 0u64;
        let mut last = None;
        for batch_start in calls {
            if batch_start {
                Partitioner::<()>::on_batch_start(&sticky);
                run = 0;
                last = None;
            }
            let p = sticky.partition(&(), n);
            prop_assert!(p < n);
            // Within a run of `linger` picks, the partition does not change.
            if run % linger != 0 {
                prop_assert_eq!(Some(p), last);
            }
            run += 1;
            last = Some(p);
        }
    }

    #[test]
    fn fixed_returns_its_partition(n in partitions(), p_seed in any::<u32>(), event in any::<u64>()) {
        let p = p_seed % n;
        prop_assert_eq!(Fixed(p).partition(&event, n), p);
    }
}

/// `RoundRobin` (the default partitioner) is documented as an even spread
/// over a topic's partitions; a thread that publishes to two topics in turn
/// must still spread each of them.
#[test]
fn round_robin_spreads_each_topic_evenly_when_a_thread_alternates_topics() {
    let mut builder = Engine::builder();
    for name in ["a", "b"] {
        builder = builder
            .topic::<u64>(name, TopicOptions::new(2).capacity(64))
            .subscribe(name, name, GroupOptions::poll(), |_| {
                from_fn(|_: &u64, _ctx| Ok(()))
            });
    }
    let engine = builder.build().unwrap();
    let topics = [
        engine.topic::<u64>("a").unwrap(),
        engine.topic::<u64>("b").unwrap(),
    ];
    let mut per_partition = [[0u32; 2]; 2];
    for i in 0..20 {
        for (t, topic) in topics.iter().enumerate() {
            let receipt = topic.try_publish(i).unwrap();
            per_partition[t][receipt.partition() as usize] += 1;
        }
    }
    assert_eq!(
        per_partition,
        [[10, 10], [10, 10]],
        "events per partition of topics a and b"
    );
}

/// One step of a single-threaded host loop.
#[derive(Debug, Clone)]
enum Op {
    /// Publish an event with this key (partition: key % partitions).
    Publish(u8),
    /// Poll with this budget.
    Poll(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => any::<u8>().prop_map(Op::Publish),
        1 => prop_oneof![0usize..8, Just(usize::MAX)].prop_map(Op::Poll),
    ]
}

/// The expected state: per partition, the ids published and not yet handled,
/// and the next sequence to hand out.
struct Model {
    queues: Vec<VecDeque<u64>>,
    published: Vec<u64>,
    handled: Vec<u64>,
}

impl Model {
    fn pending(&self) -> usize {
        self.queues.iter().map(VecDeque::len).sum()
    }

    /// Checks what one poll handled against the model and advances it.
    fn consume(&mut self, handled: Vec<(u32, u64, u64)>) -> Result<(), TestCaseError> {
        for (partition, sequence, id) in handled {
            let p = partition as usize;
            prop_assert_eq!(sequence, self.handled[p], "partition {} out of sequence", p);
            self.handled[p] += 1;
            prop_assert_eq!(
                self.queues[p].pop_front(),
                Some(id),
                "partition {} handed out the wrong event",
                p
            );
        }
        Ok(())
    }
}

fn run_interleaving(partitions: u32, capacity: usize, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let log: Shared<(u32, u64, u64)> = Shared::new();
    let listener_log = log.clone();
    let engine = Engine::builder()
        .topic_with::<(u8, u64), _>(
            "t",
            TopicOptions::new(partitions).capacity(capacity),
            |e: &(u8, u64), n: u32| u32::from(e.0) % n,
        )
        .subscribe("p", "t", GroupOptions::poll().max_batch(3), move |_| {
            let log = listener_log.clone();
            from_fn(move |e: &(u8, u64), ctx| {
                log.push((ctx.partition(), ctx.sequence(), e.1));
                Ok(())
            })
        })
        .build()
        .unwrap();
    let topic = engine.topic::<(u8, u64)>("t").unwrap();
    let mut poller = engine.poller("p").unwrap();
    let n = partitions as usize;
    let mut model = Model {
        queues: vec![VecDeque::new(); n],
        published: vec![0; n],
        handled: vec![0; n],
    };
    let mut poll = |budget: usize, model: &mut Model| -> Result<usize, TestCaseError> {
        let expected = budget.min(model.pending());
        let got = poller.poll(budget);
        prop_assert_eq!(
            got,
            expected,
            "poll({}) with {} pending",
            budget,
            model.pending()
        );
        prop_assert_eq!(poller.pending(), (model.pending() - got) as u64);
        model.consume(log.take())?;
        Ok(got)
    };

    let mut next_id = 0u64;
    for op in ops {
        match op {
            Op::Poll(budget) => {
                poll(budget, &mut model)?;
            }
            Op::Publish(key) => {
                let id = next_id;
                next_id += 1;
                let p = (u32::from(key) % partitions) as usize;
                let mut event = (key, id);
                let receipt = loop {
                    match topic.try_publish(event) {
                        Ok(receipt) => break receipt,
                        Err(PublishError::Full(back)) => {
                            prop_assert_eq!(back, event);
                            prop_assert_eq!(
                                model.queues[p].len(),
                                capacity,
                                "Full although partition {} has room",
                                p
                            );
                            event = back;
                            poll(1, &mut model)?;
                        }
                        Err(e) => return Err(TestCaseError::fail(format!("try_publish: {e}"))),
                    }
                };
                prop_assert!(
                    model.queues[p].len() < capacity,
                    "accepted into a full partition"
                );
                prop_assert_eq!(receipt.partition() as usize, p);
                prop_assert_eq!(receipt.sequence(), Some(model.published[p]));
                model.published[p] += 1;
                model.queues[p].push_back(id);
            }
        }
    }

    // Shutdown drains the rest, in order.
    let report = engine.shutdown();
    model.consume(log.take())?;
    prop_assert_eq!(model.pending(), 0, "events lost at shutdown");
    prop_assert_eq!(report.topic("t").unwrap().published, next_id);
    prop_assert_eq!(report.group("p").unwrap().handled, next_id);
    prop_assert!(report.is_drained());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn random_publish_poll_interleavings_keep_order_and_lose_nothing(
        partitions in 1u32..8,
        capacity in (2u32..=6).prop_map(|shift| 1usize << shift),
        ops in proptest::collection::vec(op(), 0..400),
    ) {
        run_interleaving(partitions, capacity, ops)?;
    }
}
