//! Property: for random topologies of 2–5 groups whose listeners publish
//! (blocking) into random topics — their own included — with rings of 1–4
//! slots, threaded and poll-mode groups, and listeners that poll other
//! groups, every run ends, shutdown returns, and every event is accounted
//! for: published = handled, with the refused publishes counted.
//!
//! `case_b` and the regression file hold topologies it found that wedged
//! before the deadlock check re-registered producers whose room was taken.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, OnceLock};
use std::time::Duration;

use parking_lot::Mutex;
use proptest::prelude::*;
use veltrix::listener::from_fn;
use veltrix::{Engine, GroupOptions, Poller, PublishErrorKind, Topic, TopicOptions};

/// Hops an event makes at most: bounds the work of a run.
const MAX_HOPS: u32 = 3;

#[derive(Debug, Clone)]
struct Node {
    capacity: usize,
    poll: bool,
    /// Topics each event is forwarded to (indices).
    targets: Vec<usize>,
    /// A poll-mode group this group's listener polls after each event.
    nested: Option<usize>,
}

fn topology() -> impl Strategy<Value = Vec<Node>> {
    (2usize..=5).prop_flat_map(|n| {
        proptest::collection::vec(
            (
                (0u32..3).prop_map(|b| 1usize << b),
                any::<bool>(),
                proptest::collection::vec(0..n, 0..3),
                proptest::option::of(0..n),
            )
                .prop_map(|(capacity, poll, targets, nested)| Node {
                    capacity: capacity.min(4),
                    poll,
                    targets,
                    nested,
                }),
            n,
        )
    })
}

type Slots<T> = Arc<Vec<OnceLock<T>>>;

/// Runs one topology with `seeds` events; returns (published, handled,
/// refused) over all topics and groups.
fn run(nodes: Vec<Node>, seeds: u64) -> (u64, u64, u64) {
    let n = nodes.len();
    let topics: Slots<Topic<u32>> = Arc::new((0..n).map(|_| OnceLock::new()).collect());
    let pollers: Slots<Mutex<Poller>> = Arc::new((0..n).map(|_| OnceLock::new()).collect());
    let refused = Arc::new(AtomicU64::new(0));
    let mut builder = Engine::builder();
    for (i, node) in nodes.iter().enumerate() {
        builder = builder.topic::<u32>(
            &format!("t{i}"),
            TopicOptions::new(1).capacity(node.capacity),
        );
    }
    for (i, node) in nodes.iter().enumerate() {
        let options = if node.poll {
            GroupOptions::poll()
        } else {
            GroupOptions::workers(1)
        };
        let (topics, pollers, refused) = (
            Arc::clone(&topics),
            Arc::clone(&pollers),
            Arc::clone(&refused),
        );
        let node = node.clone();
        builder = builder.subscribe(&format!("g{i}"), &format!("t{i}"), options, move |_| {
            let (topics, pollers, refused) = (
                Arc::clone(&topics),
                Arc::clone(&pollers),
                Arc::clone(&refused),
            );
            let node = node.clone();
            from_fn(move |hops: &u32, _| {
                if *hops < MAX_HOPS {
                    for &t in &node.targets {
                        let Some(topic) = topics[t].get() else {
                            continue;
                        };
                        match topic.publish(hops + 1) {
                            Ok(_) => {}
                            Err(e) => {
                                assert!(
                                    matches!(
                                        e.kind(),
                                        PublishErrorKind::WouldDeadlock | PublishErrorKind::Closed
                                    ),
                                    "unexpected refusal {e}"
                                );
                                refused.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                }
                if let Some(p) = node.nested {
                    if let Some(poller) = pollers[p].get() {
                        // Another thread may be polling it: then skip.
                        if let Some(mut poller) = poller.try_lock() {
                            poller.poll(4);
                        }
                    }
                }
                Ok(())
            })
        });
    }
    let engine = builder.build().expect("a valid topology");
    for i in 0..n {
        let _ = topics[i].set(engine.topic(&format!("t{i}")).unwrap());
        if nodes[i].poll {
            let _ = pollers[i].set(Mutex::new(engine.poller(&format!("g{i}")).unwrap()));
        }
    }
    let poll_all = || {
        let mut moved = 0;
        for p in pollers.iter().filter_map(OnceLock::get) {
            if let Some(mut poller) = p.try_lock() {
                moved += poller.poll(64);
            }
        }
        moved
    };
    // The host's loop starts before events flow: one poll of each group
    // makes this thread their expected poller, so a blocking publish that
    // would wait for a poll only this thread can make is refused. (A poll
    // group never polled yet has no expected poller: a wait on it is not
    // refused, as any thread may poll it first.)
    poll_all();
    // Seeds: the host never blocks (it drives the poll groups itself).
    for s in 0..seeds {
        let topic = topics[(s as usize) % n].get().unwrap();
        while topic.try_publish(0).is_err() {
            poll_all();
            std::thread::yield_now();
        }
    }
    // Until quiet: every published event handled.
    loop {
        poll_all();
        // Handled first, then published: equal sums mean no event was in
        // flight (all lags 0 is not enough: a group read as idle may get
        // an event from one read after it).
        let handled: u64 = engine.report().groups.iter().map(|g| g.handled).sum();
        let published: u64 = engine.report().topics.iter().map(|t| t.published).sum();
        if handled == published {
            break;
        }
        std::thread::yield_now();
    }
    let report = engine.shutdown();
    let published: u64 = report.topics.iter().map(|t| t.published).sum();
    let handled: u64 = report.groups.iter().map(|g| g.handled).sum();
    (published, handled, refused.load(Ordering::Relaxed))
}

/// `run` on a thread of its own; panics if it panics or gives no answer
/// within 60 s (a guard against a wedge, not a timing claim).
fn guarded(nodes: Vec<Node>, seeds: u64) -> (u64, u64, u64) {
    let shown = format!("{nodes:?}");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(std::panic::catch_unwind(|| run(nodes, seeds)));
    });
    let outcome = rx
        .recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|_| panic!("wedged: no answer within 60 s for {shown}"));
    match outcome {
        Ok(counts) => counts,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, max_shrink_iters: 0, ..ProptestConfig::default() })]

    #[test]
    fn random_topologies_never_wedge_and_lose_nothing(nodes in topology(), seeds in 1u64..12) {
        let shown = format!("{nodes:?}");
        let (published, handled, _refused) = guarded(nodes, seeds);
        // Every accepted event was handled by its topic's one group.
        prop_assert_eq!(handled, published, "{}", shown);
        prop_assert!(published >= seeds);
    }
}

/// A topology the property found that wedged: a threaded group publishing
/// into a poll group's full topic while the host, inside that poll group's
/// listener, publishes back into the worker's full topic. The worker's room
/// came and was taken by another producer while the host's check passed,
/// so neither saw the cycle; now the worker registers again.
#[test]
fn case_b() {
    for _ in 0..50 {
        let nodes = vec![
            Node {
                capacity: 4,
                poll: false,
                targets: vec![],
                nested: Some(0),
            },
            Node {
                capacity: 2,
                poll: false,
                targets: vec![2],
                nested: Some(1),
            },
            Node {
                capacity: 2,
                poll: true,
                targets: vec![1, 3],
                nested: None,
            },
            Node {
                capacity: 1,
                poll: false,
                targets: vec![3, 2],
                nested: None,
            },
        ];
        let (published, handled, _) = guarded(nodes, 11);
        assert_eq!(handled, published);
    }
}
