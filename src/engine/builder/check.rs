//! What `build` checks before it allocates anything: every setting against
//! the shared rules, names, references and event types, the attachments
//! (validators, de-duplication, dead-letter policies) and the memory budget.
//! Every mistake is collected, so one `BuildError` lists them all.

use std::any::TypeId;
use std::collections::HashSet;

use super::EngineBuilder;
use crate::error::{BuildError, InvalidSetting};
use crate::group::{DedupWindow, Exhausted, GroupBlueprint};
use crate::metrics::Histograms;
use crate::rules;
use crate::topic::Producers;

/// Per-worker bookkeeping besides the histograms (counters, thread-local
/// state), for the memory budget: a generous round figure.
const WORKER_STATE_BYTES: u128 = 4096;

/// One partition cursor of one group (cache-line aligned, with its reader
/// and retry state), for the memory budget.
const CURSOR_BYTES: u128 = 256;

impl EngineBuilder {
    pub(super) fn check(&self) -> Vec<BuildError> {
        let mut errors = Vec::new();
        let mut found = Vec::new();
        rules::latency_buckets(&self.latency_buckets, &mut found);
        rules::stall_threshold(self.stall_threshold, &mut found);
        invalid_settings("engine", None, found, &mut errors);
        let mut names = HashSet::new();
        for topic in &self.topics {
            let options = topic.options();
            let values = rules::TopicValues {
                name: topic.name(),
                partitions: options.partitions,
                capacity: options.capacity,
                partitioner: topic.builtin_partitioner(),
                dedup_window: self
                    .dedups
                    .iter()
                    .find(|d| d.topic == topic.name())
                    .map(|d| d.window),
                full_policy: options.full_policy,
                spare_groups: options.spare_groups,
            };
            let mut found = Vec::new();
            rules::topic(&values, &mut found);
            invalid_settings("topic", Some(topic.name()), found, &mut errors);
            if !topic.name().is_empty() && !names.insert(topic.name()) {
                errors.push(BuildError::DuplicateTopic {
                    name: topic.name().to_owned(),
                });
            }
            if !self.groups.iter().any(|g| g.topic() == topic.name()) {
                errors.push(BuildError::TopicWithoutGroups {
                    topic: topic.name().to_owned(),
                });
            }
        }
        let known: Vec<String> = self.topics.iter().map(|t| t.name().to_owned()).collect();
        let mut group_names = HashSet::new();
        for group in &self.groups {
            let mut found = Vec::new();
            rules::group(group.name(), group.options(), &mut found);
            invalid_settings("group", Some(group.name()), found, &mut errors);
            if !group.name().is_empty() && !group_names.insert(group.name()) {
                errors.push(BuildError::DuplicateGroup {
                    name: group.name().to_owned(),
                });
            }
            self.validate_policy(group.as_ref(), &mut errors);
            match self.topics.iter().find(|t| t.name() == group.topic()) {
                None => errors.push(BuildError::UnknownTopic {
                    group: group.name().to_owned(),
                    topic: group.topic().to_owned(),
                    known: known.clone(),
                }),
                Some(topic) => {
                    let (found_id, found) = group.event_type();
                    let (expected_id, expected) = topic.event_type();
                    if found_id != expected_id {
                        errors.push(BuildError::TypeMismatch {
                            group: group.name().to_owned(),
                            topic: topic.name().to_owned(),
                            expected,
                            found,
                        });
                    }
                }
            }
        }
        let stages: Vec<rules::StageValues<'_>> = self
            .groups
            .iter()
            .map(|g| rules::StageValues {
                name: g.name(),
                topic: g.topic(),
                after: &g.options().after,
                lossy: !g.options().lag.is_backpressure(),
            })
            .collect();
        let mut found = Vec::new();
        rules::stages(&stages, &mut found);
        for (i, finding) in found {
            invalid_settings("group", Some(stages[i].name), vec![finding], &mut errors);
        }
        for (group, topic) in &self.edges {
            let missing = if !self.groups.iter().any(|g| g.name() == group) {
                Some((
                    "group",
                    self.groups.iter().map(|g| g.name().to_owned()).collect(),
                ))
            } else if !self.topics.iter().any(|t| t.name() == topic) {
                Some(("topic", known.clone()))
            } else {
                None
            };
            if let Some((missing, known)) = missing {
                errors.push(BuildError::UnknownEdge {
                    group: group.clone(),
                    topic: topic.clone(),
                    missing,
                    known,
                });
            }
        }
        for dedup in &self.dedups {
            let problem = self.attachment_problem(&dedup.topic, dedup.event, "extracts ids from");
            if let Some(problem) = problem {
                errors.push(BuildError::InvalidDedup {
                    topic: dedup.topic.clone(),
                    problem,
                });
            }
        }
        for pending in &self.validators {
            let problem = self.attachment_problem(&pending.topic, pending.event, "checks");
            if let Some(problem) = problem {
                errors.push(BuildError::InvalidValidator {
                    topic: pending.topic.clone(),
                    problem,
                });
            }
        }
        errors
    }

    /// Adds up what the topology would allocate (see
    /// [`memory_budget`](Self::memory_budget)) and refuses it, naming its
    /// largest item, when that is over the budget. Runs after `check`, so
    /// every size is in range, and before anything is allocated.
    pub(super) fn within_budget(&self) -> Result<(), BuildError> {
        let mut items: Vec<(String, u128)> = Vec::new();
        for topic in &self.topics {
            let readers = self
                .groups
                .iter()
                .filter(|g| g.topic() == topic.name())
                .count();
            let o = topic.options();
            let readers = readers + o.spare_groups;
            items.push((
                format!(
                    "topic {:?} ({} partitions of {} slots)",
                    topic.name(),
                    o.partitions,
                    o.capacity
                ),
                topic.footprint(readers),
            ));
        }
        let per_worker = WORKER_STATE_BYTES
            + if self.metrics {
                Histograms::footprint()
            } else {
                0
            };
        for group in &self.groups {
            let Some(topic) = self.topics.iter().find(|t| t.name() == group.topic()) else {
                continue;
            };
            let partitions = u128::from(topic.options().partitions);
            // Every worker slot, scaled into or not (`max_workers`).
            let workers = group.options().worker_slots() as u128;
            let window = self
                .dedups
                .iter()
                .find(|d| d.topic == group.topic())
                .map_or(0, |d| DedupWindow::footprint(d.window));
            items.push((
                format!("group {:?} ({workers} workers)", group.name()),
                workers * per_worker + partitions * (CURSOR_BYTES + window),
            ));
        }
        let total: u128 = items.iter().map(|(_, bytes)| bytes).sum();
        let budget = u128::from(self.memory_budget);
        if total <= budget {
            return Ok(());
        }
        let (item, bytes) = items
            .into_iter()
            .max_by_key(|(_, bytes)| *bytes)
            .expect("a topology over budget has an item");
        Err(BuildError::OverBudget {
            item,
            bytes,
            total,
            budget,
        })
    }

    /// What is wrong with attaching something for events of type `event` to
    /// topic `topic` (a de-dup id function, a validator), if anything.
    fn attachment_problem(
        &self,
        topic: &str,
        event: (TypeId, &'static str),
        verb: &str,
    ) -> Option<String> {
        match self.topics.iter().find(|t| t.name() == topic) {
            None => {
                let known: Vec<&str> = self.topics.iter().map(|t| t.name()).collect();
                Some(format!(
                    "names an unknown topic; declared topics: [{}]",
                    known.join(", ")
                ))
            }
            Some(t) if t.event_type().0 != event.0 => Some(format!(
                "{verb} {}, but the topic carries {}",
                event.1,
                t.event_type().1
            )),
            Some(_) => None,
        }
    }

    fn validate_policy(&self, group: &dyn GroupBlueprint, errors: &mut Vec<BuildError>) {
        let policy = &group.options().failure;
        let Exhausted::DeadLetter { topic } = &policy.exhausted else {
            return;
        };
        let problem = dead_letter_problem(
            self.topics.iter().find(|t| t.name() == topic).map(|t| {
                (
                    t.event_type(),
                    t.is_dead_letter(),
                    t.options().producers == Producers::Single,
                )
            }),
            group.dead_letter_type(),
        );
        if let Some(problem) = problem {
            errors.push(BuildError::InvalidDeadLetterTopic {
                group: group.name().to_owned(),
                topic: topic.clone(),
                problem,
                event: group.event_type().1,
            });
        }
    }
}

/// What is wrong with a group's dead-letter topic, given what the topic is
/// (`None`: it does not exist): its event type, whether it was declared as
/// a dead-letter topic, whether it is single-producer; `expected` is the
/// group's `DeadLetter<E>`.
pub(in crate::engine) fn dead_letter_problem(
    topic: Option<((TypeId, &'static str), bool, bool)>,
    expected: (TypeId, &'static str),
) -> Option<String> {
    let ((found_id, found), dead_letter, single) = match topic {
        None => return Some("does not exist".to_owned()),
        Some(topic) => topic,
    };
    if found_id != expected.0 {
        Some(format!("carries {found}, not {}", expected.1))
    } else if !dead_letter {
        Some("was declared as a plain topic, so it cannot copy failed events".to_owned())
    } else if single {
        Some("is single-producer, but every failing group must be able to publish into it; declare it with Producers::Multi (the default)".to_owned())
    } else {
        None
    }
}

/// The errors among `found`, the findings of the shared rules about the
/// settings of `what` (`"topic"`, `"group"`, `"engine"`) `name`. Warnings
/// do not stop a build from code; `Config::validate` reports them for files.
pub(in crate::engine) fn invalid_settings(
    what: &str,
    name: Option<&str>,
    found: Vec<rules::Finding>,
    errors: &mut Vec<BuildError>,
) {
    let owner = match name {
        Some(name) => format!("{what} {name:?}"),
        None => what.to_owned(),
    };
    errors.extend(found.into_iter().filter(rules::Finding::is_error).map(|f| {
        BuildError::InvalidSetting(Box::new(InvalidSetting {
            owner: owner.clone(),
            field: f.field,
            value: f.value,
            rule: f.rule,
            message: f.message,
            fix: f.fix,
        }))
    }));
}
