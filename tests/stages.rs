//! Stage dependencies (`GroupOptions::after`): pipelines and diamonds on one
//! topic's ring. Every listener checks, for every event, that each group it
//! runs after has finished that event already, and that it sees its own
//! partition's events once each, in sequence order.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

mod common;

use veltrix::listener::{from_fn, EventContext, Listener};
use veltrix::partitioner::by_key;
use veltrix::{
    Engine, EngineBuilder, Exhausted, FailurePolicy, GroupOptions, Retries, Rule, TopicOptions,
};

/// How far each group got in each partition, and what went wrong.
struct Progress {
    /// `done[g][p]`: sequences of partition `p` group `g` has finished.
    done: Vec<Vec<AtomicU64>>,
    /// Events a group saw before one of its upstream groups finished them.
    early: AtomicU64,
    /// Events seen out of sequence order, twice or with a gap.
    disorder: AtomicU64,
}

impl Progress {
    fn new(groups: usize, partitions: usize) -> Arc<Self> {
        Arc::new(Progress {
            done: (0..groups)
                .map(|_| (0..partitions).map(|_| AtomicU64::new(0)).collect())
                .collect(),
            early: AtomicU64::new(0),
            disorder: AtomicU64::new(0),
        })
    }

    /// Group `g`, running after `upstream`, is handed `ctx`'s event.
    fn see(&self, g: usize, upstream: &[usize], ctx: &EventContext<'_>) {
        let p = ctx.partition() as usize;
        for &u in upstream {
            if self.done[u][p].load(Ordering::Acquire) <= ctx.sequence() {
                self.early.fetch_add(1, Ordering::Relaxed);
            }
        }
        if self.done[g][p].load(Ordering::Relaxed) != ctx.sequence() {
            self.disorder.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Group `g` finished `ctx`'s event.
    fn finish(&self, g: usize, ctx: &EventContext<'_>) {
        self.done[g][ctx.partition() as usize].store(ctx.sequence() + 1, Ordering::Release);
    }

    fn total(&self, g: usize) -> u64 {
        self.done[g].iter().map(|d| d.load(Ordering::Acquire)).sum()
    }
}

/// A listener of group `g` (stage index), running after `upstream`.
fn stage(progress: &Arc<Progress>, g: usize, upstream: &[usize]) -> impl Listener<u64> + 'static {
    let (progress, upstream) = (Arc::clone(progress), upstream.to_vec());
    from_fn(move |_: &u64, ctx| {
        progress.see(g, &upstream, ctx);
        progress.finish(g, ctx);
        Ok(())
    })
}

/// Runs `f` on a thread of its own and fails the test if it does not
/// return within 60 s (a wedge), passing on its panic otherwise.
fn must_finish<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)));
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(Ok(value)) => value,
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(_) => panic!("wedged: no answer within 60 s"),
    }
}

const PARTITIONS: u32 = 4;

fn keyed_topic(builder: EngineBuilder, capacity: usize) -> EngineBuilder {
    builder.topic_with::<u64, _>(
        "moves",
        TopicOptions::new(PARTITIONS).capacity(capacity),
        by_key(|e: &u64| *e % 64),
    )
}

/// Publishes `per_thread` events from each of `threads` threads.
fn publish(engine: &Engine, threads: u64, per_thread: u64) {
    let topic = engine.topic::<u64>("moves").unwrap();
    thread::scope(|s| {
        for t in 0..threads {
            let topic = topic.clone();
            s.spawn(move || {
                for i in 0..per_thread {
                    topic.publish(t * per_thread + i).unwrap();
                }
            });
        }
    });
}

#[test]
fn a_three_stage_pipeline_sees_each_event_after_the_stage_before() {
    must_finish(|| {
        let progress = Progress::new(3, PARTITIONS as usize);
        let p = Arc::clone(&progress);
        let builder = keyed_topic(Engine::builder(), 8)
            .subscribe("physics", "moves", GroupOptions::workers(2), {
                let p = Arc::clone(&p);
                move |_| stage(&p, 0, &[])
            })
            .subscribe(
                "replication",
                "moves",
                GroupOptions::workers(2).after(["physics"]),
                {
                    let p = Arc::clone(&p);
                    move |_| stage(&p, 1, &[0])
                },
            )
            .subscribe(
                "audit",
                "moves",
                GroupOptions::workers(1).after(["replication"]),
                move |_| stage(&p, 2, &[1]),
            );
        let engine = builder.build().unwrap();
        publish(&engine, 2, 10_000);
        let report = engine.shutdown();
        for (g, name) in ["physics", "replication", "audit"].iter().enumerate() {
            assert_eq!(report.group(name).unwrap().handled, 20_000, "{name}");
            assert_eq!(progress.total(g), 20_000, "{name}");
        }
        assert_eq!(
            progress.early.load(Ordering::Relaxed),
            0,
            "a stage ran early"
        );
        assert_eq!(progress.disorder.load(Ordering::Relaxed), 0);
        assert!(report.is_drained());
    });
}

/// A diamond, A → (B, C) → D, with B driven by a host's poll loop and the
/// others on threads, one of them busy-spinning.
#[test]
fn a_diamond_with_a_poll_mode_branch_joins_after_both_branches() {
    must_finish(|| {
        let progress = Progress::new(4, PARTITIONS as usize);
        let p = Arc::clone(&progress);
        let engine = keyed_topic(Engine::builder(), 4)
            .subscribe("a", "moves", GroupOptions::workers(2), {
                let p = Arc::clone(&p);
                move |_| stage(&p, 0, &[])
            })
            .subscribe("b", "moves", GroupOptions::poll().after(["a"]), {
                let p = Arc::clone(&p);
                move |_| stage(&p, 1, &[0])
            })
            .subscribe(
                "c",
                "moves",
                GroupOptions::workers(1)
                    .wait_strategy(veltrix::WaitStrategy::BusySpin)
                    .after(["a"]),
                {
                    let p = Arc::clone(&p);
                    move |_| stage(&p, 2, &[0])
                },
            )
            .subscribe(
                "d",
                "moves",
                GroupOptions::workers(2).after(["b", "c"]),
                move |_| stage(&p, 3, &[1, 2]),
            )
            .build()
            .unwrap();
        let mut poller = engine.poller("b").unwrap();
        let published = Arc::new(AtomicU64::new(0));
        let host = {
            let published = Arc::clone(&published);
            thread::spawn(move || {
                let mut polled = 0u64;
                while published.load(Ordering::Acquire) == 0 || poller.pending() > 0 {
                    polled += poller.poll(64) as u64;
                    thread::yield_now();
                }
                polled
            })
        };
        publish(&engine, 2, 5_000);
        published.store(1, Ordering::Release);
        let polled = host.join().unwrap();
        let report = engine.shutdown();
        assert_eq!(polled, 10_000, "the host's polls got every event of b");
        for (g, name) in ["a", "b", "c", "d"].iter().enumerate() {
            assert_eq!(report.group(name).unwrap().handled, 10_000, "{name}");
            assert_eq!(progress.total(g), 10_000, "{name}");
        }
        assert_eq!(
            progress.early.load(Ordering::Relaxed),
            0,
            "a stage ran early"
        );
        assert_eq!(progress.disorder.load(Ordering::Relaxed), 0);
    });
}

/// The upstream group fails every fifth event once and retries it: the
/// later stage sees that event only after the retry succeeded.
#[test]
fn a_later_stage_waits_for_the_retries_of_the_one_before() {
    must_finish(|| {
        let progress = Progress::new(2, 1);
        let p = Arc::clone(&progress);
        let policy = FailurePolicy::default()
            .retries(Retries::Limited(2))
            .backoff(veltrix::Backoff::doubling(
                Duration::from_micros(100),
                Duration::from_micros(100),
            ));
        let engine = Engine::builder()
            .topic::<u64>("t", TopicOptions::new(1).capacity(4))
            .subscribe(
                "first",
                "t",
                GroupOptions::workers(1).failure_policy(policy),
                {
                    let p = Arc::clone(&p);
                    move |_| {
                        let p = Arc::clone(&p);
                        from_fn(move |e: &u64, ctx| {
                            if e % 5 == 0 && ctx.attempt() == 1 {
                                return Err("first attempt fails".into());
                            }
                            p.see(0, &[], ctx);
                            p.finish(0, ctx);
                            Ok(())
                        })
                    }
                },
            )
            .subscribe(
                "second",
                "t",
                GroupOptions::workers(1).after(["first"]),
                move |_| stage(&p, 1, &[0]),
            )
            .build()
            .unwrap();
        let topic = engine.topic::<u64>("t").unwrap();
        for e in 0..200 {
            topic.publish(e).unwrap();
        }
        let report = engine.shutdown();
        assert_eq!(report.group("first").unwrap().retried, 40);
        assert_eq!(report.group("second").unwrap().handled, 200);
        assert_eq!(progress.early.load(Ordering::Relaxed), 0);
        assert_eq!(progress.disorder.load(Ordering::Relaxed), 0);
    });
}

/// A halted partition upstream holds the later stage there: shutdown
/// returns, and the events it never saw are its lag.
#[test]
fn a_halted_partition_upstream_ends_the_later_stage_there() {
    for poll in [false, true] {
        let report = must_finish(move || {
            let halt = FailurePolicy::default().on_exhausted(Exhausted::Halt);
            let later = if poll {
                GroupOptions::poll()
            } else {
                GroupOptions::workers(1)
            };
            let engine = Engine::builder()
                .topic::<u64>("t", TopicOptions::new(1).capacity(16))
                .subscribe(
                    "first",
                    "t",
                    GroupOptions::workers(1).failure_policy(halt),
                    |_| {
                        from_fn(|e: &u64, _| {
                            if *e == 5 {
                                Err("poisoned".into())
                            } else {
                                Ok(())
                            }
                        })
                    },
                )
                .subscribe("second", "t", later.after(["first"]), |_| {
                    from_fn(|e: &u64, _| {
                        assert!(*e < 5, "event {e} passed the halted stage");
                        Ok(())
                    })
                })
                .build()
                .unwrap();
            let topic = engine.topic::<u64>("t").unwrap();
            for e in 0..10 {
                topic.publish(e).unwrap();
            }
            engine.shutdown()
        });
        let first = report.group("first").unwrap();
        assert_eq!(first.halted, [0], "poll {poll}");
        let second = report.group("second").unwrap();
        assert_eq!(second.handled, 5, "poll {poll}");
        assert_eq!(second.lag, 5, "poll {poll}");
    }
}

/// A listener of the first stage shuts the engine down: the shutdown
/// returns (it does not wait for the later stage, which cannot pass the
/// calling listener), and both stages drain by themselves afterwards.
#[test]
fn shutting_down_from_the_first_stage_does_not_wait_for_the_later_one() {
    for poll in [false, true] {
        must_finish(move || {
            type Slot = Arc<parking_lot::Mutex<Option<Engine>>>;
            let slot: Slot = Arc::new(parking_lot::Mutex::new(None));
            let (tx, rx) = mpsc::channel::<veltrix::Report>();
            let tx = Arc::new(parking_lot::Mutex::new(Some(tx)));
            let second_seen = Arc::new(AtomicU64::new(0));
            let first = if poll {
                GroupOptions::poll()
            } else {
                GroupOptions::workers(1)
            };
            let s = Arc::clone(&slot);
            let seen = Arc::clone(&second_seen);
            let engine = Engine::builder()
                .topic::<u64>("t", TopicOptions::new(1).capacity(64))
                .subscribe("first", "t", first, move |_| {
                    let (s, tx) = (Arc::clone(&s), Arc::clone(&tx));
                    from_fn(move |e: &u64, _| {
                        if *e == 9 {
                            if let Some(engine) = s.lock().take() {
                                let report = engine.shutdown();
                                if let Some(tx) = tx.lock().take() {
                                    let _ = tx.send(report);
                                }
                            }
                        }
                        Ok(())
                    })
                })
                .subscribe(
                    "second",
                    "t",
                    GroupOptions::workers(1).after(["first"]),
                    move |_| {
                        let seen = Arc::clone(&seen);
                        from_fn(move |_: &u64, _| {
                            seen.fetch_add(1, Ordering::SeqCst);
                            Ok(())
                        })
                    },
                )
                .build()
                .unwrap();
            let topic = engine.topic::<u64>("t").unwrap();
            for e in 0..20 {
                topic.publish(e).unwrap();
            }
            let poller = poll.then(|| engine.poller("first").unwrap());
            *slot.lock() = Some(engine);
            if let Some(mut poller) = poller {
                poller.poll(usize::MAX);
            }
            let report = rx.recv().unwrap();
            assert!(report.group("first").is_some(), "poll {poll}");
            // The later stage finishes on its own once the first returns.
            while second_seen.load(Ordering::SeqCst) < 20 {
                thread::sleep(Duration::from_millis(1));
            }
        });
    }
}

fn refused(builder: EngineBuilder) -> Vec<veltrix::InvalidSetting> {
    common::setting_errors(builder.build())
}

fn quiet(_: &veltrix::WorkerInfo) -> impl Listener<u64> {
    from_fn(|_: &u64, _| Ok(()))
}

#[test]
fn bad_stages_are_typed_build_errors() {
    let base = || {
        Engine::builder()
            .topic::<u64>("t", TopicOptions::new(1))
            .topic::<u64>("other", TopicOptions::new(1))
            .subscribe("elsewhere", "other", GroupOptions::poll(), quiet)
    };
    // A cycle of two.
    let errors = refused(
        base()
            .subscribe("a", "t", GroupOptions::poll().after(["b"]), quiet)
            .subscribe("b", "t", GroupOptions::poll().after(["a"]), quiet),
    );
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors
        .iter()
        .all(|e| e.rule == Rule::StageCycle && e.field == "after"));
    assert!(
        errors[0].message.contains("a runs after b runs after a"),
        "{}",
        errors[0].message
    );
    // Itself.
    let errors = refused(base().subscribe("a", "t", GroupOptions::poll().after(["a"]), quiet));
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].rule, Rule::StageCycle);
    assert_eq!(errors[0].owner, "group \"a\"");
    // Unknown, with the groups that could be meant.
    let errors = refused(
        base()
            .subscribe("a", "t", GroupOptions::poll(), quiet)
            .subscribe("b", "t", GroupOptions::poll().after(["physics"]), quiet),
    );
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].rule, Rule::UnknownStage);
    assert_eq!(errors[0].value.as_deref(), Some("\"physics\""));
    assert!(
        errors[0].fix.contains("groups of topic \"t\": \"a\""),
        "{}",
        errors[0].fix
    );
    // Another topic's group.
    let errors =
        refused(base().subscribe("a", "t", GroupOptions::poll().after(["elsewhere"]), quiet));
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].rule, Rule::StageOnOtherTopic);
    assert!(
        errors[0].message.contains("reads topic \"other\""),
        "{}",
        errors[0].message
    );
    // A longer cycle is reported on each of its groups, and a group that
    // merely runs after it is not.
    let errors = refused(
        base()
            .subscribe("a", "t", GroupOptions::poll().after(["c"]), quiet)
            .subscribe("b", "t", GroupOptions::poll().after(["a"]), quiet)
            .subscribe("c", "t", GroupOptions::poll().after(["b"]), quiet)
            .subscribe("d", "t", GroupOptions::poll().after(["c"]), quiet),
    );
    let owners: Vec<&str> = errors.iter().map(|e| e.owner.as_str()).collect();
    assert_eq!(owners, ["group \"a\"", "group \"b\"", "group \"c\""]);
}
