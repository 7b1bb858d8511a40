//! Checking the bindings against the configuration: every topic and group
//! bound once, no name bound that the configuration lacks, event types and
//! partitioners agreeing, every de-duplicated topic given an id.

use super::{Binder, TopicKind};
use crate::config::error::BindError;
use crate::config::model::Partitioning;
use crate::config::suggest::did_you_mean;

impl Binder {
    /// Every disagreement between the bindings and the configuration.
    pub(super) fn check(&self) -> Vec<BindError> {
        let mut errors = Vec::new();
        let config = &self.config;
        let topic_names: Vec<&str> = config.topics.iter().map(|t| t.name.as_str()).collect();
        let group_names: Vec<&str> = config.groups.iter().map(|g| g.name.as_str()).collect();
        let not_declared = |what: &'static str, name: &str, known: &[&str]| {
            let fix = match did_you_mean(name, known.iter().copied()) {
                Some(close) => format!("did you mean \"{close}\"?"),
                None => format!("declared {what}s: [{}]", known.join(", ")),
            };
            BindError::NotDeclared {
                what,
                name: name.to_owned(),
                fix,
            }
        };

        for (i, b) in self.topics.iter().enumerate() {
            if self.topics[..i].iter().any(|o| o.name == b.name) {
                errors.push(BindError::BoundTwice {
                    what: "topic",
                    name: b.name.clone(),
                });
            } else if config.find_topic(&b.name).is_none() {
                errors.push(not_declared("topic", &b.name, &topic_names));
            }
        }
        for (i, t) in config.topics.iter().enumerate() {
            let path = format!("topics[{i}]");
            let Some(binding) = self.topics.iter().find(|b| b.name == t.name) else {
                errors.push(BindError::UnboundTopic {
                    topic: t.name.clone(),
                    path,
                });
                continue;
            };
            let keyed_config = t.partitioner == Partitioning::Key;
            let keyed_code = binding.kind == TopicKind::Keyed;
            if keyed_config && !keyed_code {
                errors.push(BindError::Partitioner {
                    path: format!("{path}.partitioner"),
                    problem: format!(
                        "topic \"{}\" is partitioned by \"key\", but no key is bound; bind it with .keyed_topic::<E, _>(\"{}\", by_key(|e| e.key)), or choose a keyless partitioner",
                        t.name, t.name
                    ),
                });
            } else if keyed_code && !keyed_config {
                errors.push(BindError::Partitioner {
                    path: format!("{path}.partitioner"),
                    problem: format!(
                        "topic \"{}\" is bound with a key, but its partitioner is not \"key\" (the key would be ignored and per-key order lost); set partitioner = \"key\"",
                        t.name
                    ),
                });
            }
            let has_id = self
                .extras
                .iter()
                .any(|x| x.topic == t.name && x.what == "dedup id");
            if t.dedup_window.is_some() && !has_id {
                errors.push(BindError::MissingDedupId {
                    topic: t.name.clone(),
                    path: format!("{path}.dedup_window"),
                });
            }
        }
        for x in &self.extras {
            match config.topics.iter().position(|t| t.name == x.topic) {
                None => errors.push(not_declared("topic", &x.topic, &topic_names)),
                Some(i) => {
                    if let Some(b) = self.topics.iter().find(|b| b.name == x.topic) {
                        if b.event != x.event {
                            errors.push(BindError::TypeMismatch {
                                what: x.what.to_owned(),
                                path: format!("topics[{i}]"),
                                topic: x.topic.clone(),
                                expected: b.event.name,
                                found: x.event.name,
                            });
                        }
                    }
                }
            }
        }

        for (i, b) in self.groups.iter().enumerate() {
            if self.groups[..i].iter().any(|o| o.name == b.name) {
                errors.push(BindError::BoundTwice {
                    what: "group",
                    name: b.name.clone(),
                });
            } else if config.find_group(&b.name).is_none() {
                errors.push(not_declared("group", &b.name, &group_names));
            }
        }
        for (i, g) in config.groups.iter().enumerate() {
            let path = format!("groups[{i}]");
            let Some(binding) = self.groups.iter().find(|b| b.name == g.name) else {
                errors.push(BindError::UnboundGroup {
                    group: g.name.clone(),
                    path,
                });
                continue;
            };
            if let Some(topic) = self.topics.iter().find(|b| b.name == g.topic) {
                if topic.event != binding.event {
                    errors.push(BindError::TypeMismatch {
                        what: format!("group \"{}\"", g.name),
                        path,
                        topic: g.topic.clone(),
                        expected: topic.event.name,
                        found: binding.event.name,
                    });
                }
            }
        }
        errors
    }
}
