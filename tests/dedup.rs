//! De-duplication: replayed ids inside the window are not delivered.

use std::sync::{Arc, Mutex};

use veltrix::partitioner::by_key;
use veltrix::{Engine, GroupOptions, TopicOptions};

#[derive(Debug, Clone, Copy)]
struct Msg {
    id: u64,
}

#[test]
fn replayed_ids_inside_the_window_are_dropped_and_counted_for_every_group() {
    let seen_a = Arc::new(Mutex::new(Vec::new()));
    let seen_b = Arc::new(Mutex::new(Vec::new()));
    let (a, b) = (seen_a.clone(), seen_b.clone());
    let engine = Engine::builder()
        .topic_with::<Msg, _>(
            "m",
            TopicOptions::new(2).capacity(4096),
            by_key(|m: &Msg| m.id),
        )
        .deduplicate::<Msg, _>("m", 100, |m| m.id)
        .subscribe("a", "m", GroupOptions::workers(1), move |_| {
            let a = a.clone();
            veltrix::listener::from_fn(move |m: &Msg, _| {
                a.lock().unwrap().push(m.id);
                Ok(())
            })
        })
        .subscribe("b", "m", GroupOptions::poll(), move |_| {
            let b = b.clone();
            veltrix::listener::from_fn(move |m: &Msg, _| {
                b.lock().unwrap().push(m.id);
                Ok(())
            })
        })
        .build()
        .unwrap();
    let topic = engine.topic::<Msg>("m").unwrap();
    // 1000 distinct ids, each sent, then replayed right away (inside the
    // window): every replay is a duplicate.
    for id in 0..1000 {
        topic.publish(Msg { id }).unwrap();
        topic.publish(Msg { id }).unwrap();
    }
    let report = engine.shutdown();
    report.check_conservation().unwrap();
    for (name, seen) in [("a", &seen_a), ("b", &seen_b)] {
        let g = report.group(name).unwrap();
        assert_eq!((g.handled, g.deduplicated), (1000, 1000), "group {name}");
        let mut ids = seen.lock().unwrap().clone();
        ids.sort_unstable();
        assert_eq!(ids, (0..1000).collect::<Vec<_>>());
    }
}

#[test]
fn ids_older_than_the_window_are_delivered_again() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let engine = Engine::builder()
        .topic::<Msg>("m", TopicOptions::new(1).capacity(64))
        .deduplicate::<Msg, _>("m", 3, |m| m.id)
        .subscribe("g", "m", GroupOptions::poll(), move |_| {
            let s = s.clone();
            veltrix::listener::from_fn(move |m: &Msg, _| {
                s.lock().unwrap().push(m.id);
                Ok(())
            })
        })
        .build()
        .unwrap();
    let topic = engine.topic::<Msg>("m").unwrap();
    let mut poller = engine.poller("g").unwrap();
    for id in [1, 2, 1, 3, 4, 1, 4] {
        topic.publish(Msg { id }).unwrap();
    }
    poller.poll(100);
    // Window 3: the second 1 is inside [1, 2]; the third 1 comes after
    // [2, 3, 4] and is new again; the second 4 is inside [3, 4, 1].
    assert_eq!(*seen.lock().unwrap(), vec![1, 2, 3, 4, 1]);
    assert_eq!(engine.shutdown().group("g").unwrap().deduplicated, 2);
}
