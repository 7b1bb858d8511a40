//! Binding a configuration to code: typed errors for what does not match,
//! and a config-built engine that behaves like a hand-built one (validator
//! rejections hand the event back, dead letters, de-duplication, filters).
#![cfg(all(feature = "toml", feature = "json"))]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use veltrix::config::{BindError, Config};
use veltrix::partitioner::by_key;
use veltrix::{listener, BuildError, DeadLetter, EventContext, ListenerError, PublishError};

#[derive(Debug, Clone, PartialEq)]
struct Order {
    id: u64,
    customer: u64,
    cents: i64,
}

#[derive(Debug)]
struct Refund;

fn ok_order(_: &Order, _: &EventContext<'_>) -> Result<(), ListenerError> {
    Ok(())
}

const ORDERS: &str = r#"
[[topics]]
name = "orders"
partitions = 2

[[groups]]
name = "billing"
topic = "orders"
"#;

fn orders() -> Config {
    Config::from_toml_str(ORDERS).unwrap()
}

fn bind_errors(result: Result<veltrix::config::ConfiguredEngine, BindError>) -> Vec<BindError> {
    match result {
        Ok(_) => panic!("expected bind errors"),
        Err(e) => e.errors().into_iter().cloned().collect(),
    }
}

#[test]
fn unbound_topic_and_group_are_typed_errors() {
    let errors = bind_errors(orders().bind().build());
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(
        matches!(&errors[0], BindError::UnboundTopic { topic, path } if topic == "orders" && path == "topics[0]")
    );
    assert!(
        matches!(&errors[1], BindError::UnboundGroup { group, path } if group == "billing" && path == "groups[0]")
    );
    assert!(errors[0].to_string().contains(".topic::<E>(\"orders\")"));
    assert!(errors[1].to_string().contains(".group(\"billing\""));
}

#[test]
fn type_mismatch_between_topic_and_listener() {
    let errors = bind_errors(
        orders()
            .bind()
            .topic::<Order>("orders")
            .group("billing", |_| listener::from_fn(|_: &Refund, _| Ok(())))
            .build(),
    );
    assert_eq!(errors.len(), 1, "{errors:?}");
    let BindError::TypeMismatch {
        path,
        topic,
        expected,
        found,
        ..
    } = &errors[0]
    else {
        panic!("{errors:?}")
    };
    assert_eq!((path.as_str(), topic.as_str()), ("groups[0]", "orders"));
    assert!(expected.ends_with("Order") && found.ends_with("Refund"));
}

#[test]
fn validator_of_another_type() {
    let errors = bind_errors(
        orders()
            .bind()
            .topic::<Order>("orders")
            .validator::<Refund, _>("orders", |_: &Refund| Ok(()))
            .group("billing", |_| ok_order)
            .build(),
    );
    assert!(
        matches!(&errors[0], BindError::TypeMismatch { what, .. } if what == "validator"),
        "{errors:?}"
    );
}

#[test]
fn names_not_in_the_config_get_a_did_you_mean() {
    let errors = bind_errors(
        orders()
            .bind()
            .topic::<Order>("orders")
            .topic::<Order>("ordres")
            .group("billing", |_| ok_order)
            .group("biling", |_| ok_order)
            .group("billing", |_| ok_order)
            .build(),
    );
    let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(errors.len(), 3, "{text:#?}");
    assert!(
        text[0].contains("topic \"ordres\" is bound in code but not declared")
            && text[0].contains("did you mean \"orders\"?")
    );
    assert!(text[1].contains("group \"biling\"") && text[1].contains("did you mean \"billing\"?"));
    assert!(
        matches!(&errors[2], BindError::BoundTwice { what: "group", name } if name == "billing")
    );
}

#[test]
fn key_partitioner_must_be_bound_and_declared() {
    let keyed = ORDERS.replace("partitions = 2", "partitions = 2\npartitioner = \"key\"");
    let errors = bind_errors(
        Config::from_toml_str(&keyed)
            .unwrap()
            .bind()
            .topic::<Order>("orders")
            .group("billing", |_| ok_order)
            .build(),
    );
    let BindError::Partitioner { path, problem } = &errors[0] else {
        panic!("{errors:?}")
    };
    assert_eq!(path, "topics[0].partitioner");
    assert!(
        problem.contains("no key is bound") && problem.contains(".keyed_topic::<E, _>(\"orders\"")
    );

    let errors = bind_errors(
        orders()
            .bind()
            .keyed_topic::<Order, _>("orders", by_key(|o: &Order| o.customer))
            .group("billing", |_| ok_order)
            .build(),
    );
    let BindError::Partitioner { problem, .. } = &errors[0] else {
        panic!("{errors:?}")
    };
    assert!(problem.contains("set partitioner = \"key\""), "{problem}");
}

#[test]
fn dedup_window_needs_an_id() {
    let dedup = ORDERS.replace("partitions = 2", "partitions = 2\ndedup_window = 64");
    let errors = bind_errors(
        Config::from_toml_str(&dedup)
            .unwrap()
            .bind()
            .topic::<Order>("orders")
            .group("billing", |_| ok_order)
            .build(),
    );
    assert!(
        matches!(&errors[0], BindError::MissingDedupId { path, .. } if path == "topics[0].dedup_window"),
        "{errors:?}"
    );
}

#[test]
fn invalid_code_built_config_is_refused_with_every_finding() {
    use veltrix::config::{GroupConfig, TopicConfig};
    use veltrix::{GroupOptions, TopicOptions};
    let config = Config::new()
        .topic(TopicConfig::new("orders", TopicOptions::new(0).capacity(3)))
        .group(GroupConfig::new(
            "billing",
            "orders",
            GroupOptions::workers(1),
        ));
    let errors = bind_errors(
        config
            .bind()
            .topic::<Order>("orders")
            .group("billing", |_| ok_order)
            .build(),
    );
    let BindError::Invalid(found) = &errors[0] else {
        panic!("{errors:?}")
    };
    let paths: Vec<&str> = found.errors.iter().map(|d| d.path.as_str()).collect();
    assert_eq!(paths, ["topics[0].partitions", "topics[0].capacity"]);
}

#[test]
fn dead_letter_topic_of_the_wrong_type_is_refused_by_the_engine() {
    let text = r#"
        [[topics]]
        name = "orders"
        [[topics]]
        name = "orders.dlq"
        [[groups]]
        name = "billing"
        topic = "orders"
        failure = { on_exhausted = { dead_letter = "orders.dlq" } }
        [[groups]]
        name = "dlq"
        topic = "orders.dlq"
    "#;
    let errors = bind_errors(
        Config::from_toml_str(text)
            .unwrap()
            .bind()
            .topic::<Order>("orders")
            .topic::<Order>("orders.dlq") // should be dead_letter_topic::<Order>
            .group("billing", |_| ok_order)
            .group("dlq", |_| ok_order)
            .build(),
    );
    assert!(
        matches!(&errors[0], BindError::Build(BuildError::InvalidDeadLetterTopic { topic, .. }) if topic == "orders.dlq"),
        "{errors:?}"
    );
}

#[test]
fn validator_rejection_hands_the_event_back() {
    let engine = orders()
        .bind()
        .topic::<Order>("orders")
        .validator::<Order, _>("orders", |o: &Order| {
            if o.cents > 0 {
                Ok(())
            } else {
                Err(format!(
                    "order {} has a non-positive amount {}",
                    o.id, o.cents
                ))
            }
        })
        .group("billing", |_| ok_order)
        .build()
        .unwrap();
    let topic = engine.topic::<Order>("orders").unwrap();
    topic
        .publish(Order {
            id: 1,
            customer: 1,
            cents: 100,
        })
        .unwrap();
    let bad = Order {
        id: 2,
        customer: 1,
        cents: -5,
    };
    match topic.publish(bad.clone()) {
        Err(PublishError::Invalid { event, reason }) => {
            assert_eq!(event, bad, "the very event comes back");
            assert_eq!(reason, "order 2 has a non-positive amount -5");
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
    let report = engine.shutdown();
    assert_eq!(report.topic("orders").unwrap().invalid, 1);
    assert_eq!(report.topic("orders").unwrap().published, 1);
    assert_eq!(report.group("billing").unwrap().handled, 1);
}

#[test]
fn config_built_engine_dead_letters_dedups_and_filters() {
    let text = r#"
        [[topics]]
        name = "orders"
        partitions = 2
        partitioner = "key"
        dedup_window = 16

        [[topics]]
        name = "orders.dlq"

        [[groups]]
        name = "billing"
        topic = "orders"
        mode = { workers = 2 }
        failure = { retries = 1, backoff = { initial = "100us", max = "1ms" }, on_exhausted = { dead_letter = "orders.dlq" } }

        [[groups]]
        name = "big-orders"
        topic = "orders"
        mode = "poll"

        [[groups]]
        name = "dlq"
        topic = "orders.dlq"
    "#;
    let big = Arc::new(AtomicU64::new(0));
    let dead = Arc::new(AtomicU64::new(0));
    let engine = Config::from_toml_str(text)
        .unwrap()
        .bind()
        .keyed_topic::<Order, _>("orders", by_key(|o: &Order| o.customer))
        .dedup_id::<Order, _>("orders", |o: &Order| o.id)
        .dead_letter_topic::<Order>("orders.dlq")
        .group("billing", |_| {
            listener::from_fn(|o: &Order, _| {
                if o.cents == 13 {
                    return Err("unlucky amount".into());
                }
                Ok(())
            })
        })
        .group_where("big-orders", |o: &Order| o.cents >= 1000, {
            let big = Arc::clone(&big);
            move |_| {
                let big = Arc::clone(&big);
                listener::from_fn(move |o: &Order, _| {
                    assert!(o.cents >= 1000);
                    big.fetch_add(1, Ordering::Relaxed);
                    Ok(())
                })
            }
        })
        .group("dlq", {
            let dead = Arc::clone(&dead);
            move |_| {
                let dead = Arc::clone(&dead);
                listener::from_fn(move |d: &DeadLetter<Order>, _| {
                    assert_eq!(d.event.cents, 13);
                    assert_eq!(d.attempts, 2);
                    dead.fetch_add(1, Ordering::Relaxed);
                    Ok(())
                })
            }
        })
        .build()
        .unwrap();
    let topic = engine.topic::<Order>("orders").unwrap();
    let mut poller = engine.poller("big-orders").unwrap();
    for id in 0..40u64 {
        let cents = match id % 10 {
            0 => 13,
            1 => 5000,
            _ => 10,
        };
        let order = Order {
            id,
            customer: id % 3,
            cents,
        };
        topic.publish(order.clone()).unwrap();
        if id % 8 == 0 {
            topic.publish(order).unwrap(); // a resend: de-duplicated
        }
    }
    while poller.pending() > 0 {
        poller.poll(64);
    }
    drop(poller);
    let report = engine.shutdown();
    report.check_conservation().unwrap();
    let billing = report.group("billing").unwrap();
    assert_eq!(billing.deduplicated, 5);
    assert_eq!(billing.dead_lettered, 4);
    assert_eq!(billing.handled, 36);
    assert_eq!(dead.load(Ordering::Relaxed), 4);
    assert_eq!(big.load(Ordering::Relaxed), 4);
    assert_eq!(
        report.group("big-orders").unwrap().handled,
        40,
        "filtered-out events count as handled"
    );
}

#[test]
fn effective_config_is_the_bound_config() {
    let engine = orders()
        .bind()
        .topic::<Order>("orders")
        .group("billing", |_| ok_order)
        .build()
        .unwrap();
    assert_eq!(engine.effective_config(), &orders());
    let printed = engine.effective_config().to_toml_string().unwrap();
    assert!(
        printed.contains("capacity = 1024"),
        "defaults are spelled out:\n{printed}"
    );
    assert!(
        printed.contains("backoff = { initial = \"1ms\", max = \"1s\", multiplier = 2 }"),
        "{printed}"
    );
    let _ = engine.shutdown();
}
