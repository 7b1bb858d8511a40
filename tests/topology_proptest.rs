//! Property: for random topologies of 2–5 groups whose listeners publish
//! (blocking) into random topics — their own included — with rings of 1–4
//! slots, threaded and poll-mode groups, and listeners that poll other
//! groups, every run ends, shutdown returns, and every event is accounted
//! for: published = consumed (and each group's conservation equation
//! holds), with the refused publishes counted. Groups may
//! dead-letter into topics whose groups forward on (dead-letter edges).
//!
//! `case_b` and the regression file hold topologies it found that wedged
//! before the deadlock check re-registered producers whose room was taken.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, OnceLock};
use std::time::Duration;

use parking_lot::Mutex;
use proptest::prelude::*;
use veltrix::listener::from_fn;
use veltrix::{
    DeadLetter, Engine, Exhausted, FailurePolicy, GroupOptions, Poller, PublishErrorKind, Topic,
    TopicOptions,
};

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
    /// The group fails its events of odd hop counts into a dead-letter
    /// topic `d<i>`, whose own group (same mode) forwards them on to
    /// `targets`: a dead-letter edge in the graph.
    dead_letter: bool,
}

fn topology() -> impl Strategy<Value = Vec<Node>> {
    (2usize..=5).prop_flat_map(|n| {
        proptest::collection::vec(
            (
                (0u32..3).prop_map(|b| 1usize << b),
                any::<bool>(),
                proptest::collection::vec(0..n, 0..3),
                proptest::option::of(0..n),
                any::<bool>(),
            )
                .prop_map(|(capacity, poll, targets, nested, dead_letter)| Node {
                    capacity: capacity.min(4),
                    poll,
                    targets,
                    nested,
                    dead_letter,
                }),
            n,
        )
    })
}

type Slots<T> = Arc<Vec<OnceLock<T>>>;

/// Publishes `hops + 1` (blocking) into every topic of `targets`, unless
/// the event made its last hop; counts the refusals, which may only be
/// `WouldDeadlock` (or `Closed` at shutdown).
fn forward(topics: &Slots<Topic<u32>>, targets: &[usize], hops: u32, refused: &AtomicU64) {
    if hops >= MAX_HOPS {
        return;
    }
    for &t in targets {
        let Some(topic) = topics[t].get() else {
            continue;
        };
        if let Err(e) = topic.publish(hops + 1) {
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

/// Published and consumed (handled, dead-lettered, or skipped when the
/// dead-letter topic refused it) over the whole engine, consumed read first: equal sums mean no event was in flight
/// (all lags 0 is not enough: a group read as idle may get an event from
/// one read after it).
fn settled(engine: &Engine) -> (u64, u64) {
    let consumed: u64 = engine.report().groups.iter().map(|g| g.consumed()).sum();
    let published: u64 = engine.report().topics.iter().map(|t| t.published).sum();
    (published, consumed)
}

/// Runs one topology with `seeds` events; returns (published, consumed:
/// handled, dead-lettered or skipped, refused) over all topics and groups.
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
        if node.dead_letter {
            builder = builder.dead_letter_topic::<u32>(
                &format!("d{i}"),
                TopicOptions::new(1).capacity(node.capacity),
            );
        }
    }
    let mode = |node: &Node| {
        if node.poll {
            GroupOptions::poll()
        } else {
            GroupOptions::workers(1)
        }
    };
    for (i, node) in nodes.iter().enumerate() {
        let mut options = mode(node);
        if node.dead_letter {
            options = options.failure_policy(FailurePolicy::default().on_exhausted(
                Exhausted::DeadLetter {
                    topic: format!("d{i}"),
                },
            ));
            let (topics, refused) = (Arc::clone(&topics), Arc::clone(&refused));
            let targets = node.targets.clone();
            builder =
                builder.subscribe(&format!("dg{i}"), &format!("d{i}"), mode(node), move |_| {
                    let (topics, refused, targets) =
                        (Arc::clone(&topics), Arc::clone(&refused), targets.clone());
                    from_fn(move |dead: &DeadLetter<u32>, _| {
                        forward(&topics, &targets, dead.event, &refused);
                        Ok(())
                    })
                });
        }
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
                if node.dead_letter && hops % 2 == 1 {
                    return Err("odd hop: to the dead-letter topic".into());
                }
                forward(&topics, &node.targets, *hops, &refused);
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
    // The dead-letter groups' pollers: only the host polls them.
    let mut dead_pollers: Vec<Poller> = Vec::new();
    for i in 0..n {
        let _ = topics[i].set(engine.topic(&format!("t{i}")).unwrap());
        if nodes[i].poll {
            let _ = pollers[i].set(Mutex::new(engine.poller(&format!("g{i}")).unwrap()));
            if nodes[i].dead_letter {
                dead_pollers.push(engine.poller(&format!("dg{i}")).unwrap());
            }
        }
    }
    let dead_pollers = std::cell::RefCell::new(dead_pollers);
    let poll_all = || {
        let mut moved = 0;
        for p in pollers.iter().filter_map(OnceLock::get) {
            if let Some(mut poller) = p.try_lock() {
                moved += poller.poll(64);
            }
        }
        for poller in dead_pollers.borrow_mut().iter_mut() {
            moved += poller.poll(64);
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
        let (published, consumed) = settled(&engine);
        if consumed == published {
            break;
        }
        std::thread::yield_now();
    }
    let report = engine.shutdown();
    report.check_conservation().expect("conservation holds");
    let published: u64 = report.topics.iter().map(|t| t.published).sum();
    let consumed: u64 = report.groups.iter().map(|g| g.consumed()).sum();
    (published, consumed, refused.load(Ordering::Relaxed))
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
    #![proptest_config(ProptestConfig { cases: 96, max_shrink_iters: 0, ..ProptestConfig::default() })]

    #[test]
    fn random_topologies_never_wedge_and_lose_nothing(nodes in topology(), seeds in 1u64..12) {
        let shown = format!("{nodes:?}");
        let (published, consumed, _refused) = guarded(nodes, seeds);
        // Every accepted event was consumed by its topic's one group
        // (handled, dead-lettered, or skipped when its dead-letter topic
        // refused it).
        prop_assert_eq!(consumed, published, "{}", shown);
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
                dead_letter: false,
            },
            Node {
                capacity: 2,
                poll: false,
                targets: vec![2],
                nested: Some(1),
                dead_letter: false,
            },
            Node {
                capacity: 2,
                poll: true,
                targets: vec![1, 3],
                nested: None,
                dead_letter: false,
            },
            Node {
                capacity: 1,
                poll: false,
                targets: vec![3, 2],
                nested: None,
                dead_letter: false,
            },
        ];
        let (published, handled, _) = guarded(nodes, 11);
        assert_eq!(handled, published);
    }
}
