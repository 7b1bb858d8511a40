//! `quiet_listener_panics`: caught listener panics stay out of the panic
//! hook (and so out of stderr), their message still reaches the dead
//! letter and the counts, and every other panic reaches the hook installed
//! before. One test per binary: the panic hook is process-wide.

use std::sync::{Arc, Mutex};
use std::thread;

use veltrix::{
    DeadLetter, Engine, Exhausted, FailurePolicy, GroupOptions, ListenerError, TopicOptions,
};

#[test]
fn caught_listener_panics_are_quiet_and_others_reach_the_previous_hook() {
    // The host's own hook, installed first: it records what reaches it.
    let heard: Arc<Mutex<Vec<String>>> = Arc::default();
    let record = Arc::clone(&heard);
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        record.lock().unwrap().push(message);
    }));
    veltrix::quiet_listener_panics();
    veltrix::quiet_listener_panics(); // a second call changes nothing

    let letters: Arc<Mutex<Vec<DeadLetter<u32>>>> = Arc::default();
    let keep = Arc::clone(&letters);
    let dead_letter = FailurePolicy::default().on_exhausted(Exhausted::DeadLetter {
        topic: "t.dlq".into(),
    });
    let engine = Engine::builder()
        .topic::<u32>("t", TopicOptions::new(2))
        .dead_letter_topic::<u32>("t.dlq", TopicOptions::new(1))
        .subscribe(
            "threads",
            "t",
            GroupOptions::workers(2).failure_policy(dead_letter.clone()),
            |_| {
                veltrix::listener::from_fn(|n: &u32, _| -> Result<(), ListenerError> {
                    panic!("listener panic on {n}")
                })
            },
        )
        .subscribe(
            "poll",
            "t",
            GroupOptions::poll().failure_policy(dead_letter),
            |_| {
                veltrix::listener::from_fn(|n: &u32, _| -> Result<(), ListenerError> {
                    panic!("listener panic on {n}")
                })
            },
        )
        .subscribe("dlq", "t.dlq", GroupOptions::workers(1), move |_| {
            let keep = Arc::clone(&keep);
            veltrix::listener::from_fn(move |letter: &DeadLetter<u32>, _| {
                keep.lock().unwrap().push(letter.clone());
                Ok(())
            })
        })
        .build()
        .unwrap();
    engine
        .topic::<u32>("t")
        .unwrap()
        .publish_batch(0..10)
        .unwrap();
    let mut poller = engine.poller("poll").unwrap();
    while poller.poll(100) > 0 {}
    drop(poller);
    let report = engine.shutdown();
    assert_eq!(report.group("threads").unwrap().failures, 10);
    assert_eq!(report.group("poll").unwrap().failures, 10);

    // Not caught by veltrix: the previous hook hears it.
    let plain = thread::spawn(|| panic!("a panic of the host's own"));
    assert!(plain.join().is_err());

    let heard = heard.lock().unwrap().clone();
    assert_eq!(
        heard,
        ["a panic of the host's own"],
        "only the host's panic"
    );
    let letters = letters.lock().unwrap();
    assert_eq!(letters.len(), 20, "both groups dead-lettered every event");
    for letter in letters.iter() {
        assert!(
            letter
                .error
                .contains(&format!("listener panic on {}", letter.event)),
            "the message is kept: {}",
            letter.error
        );
    }
}
