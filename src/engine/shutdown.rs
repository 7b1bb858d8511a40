//! Shutting an engine down: in dependency order, draining, with an optional
//! deadline after which what is left is handed back.

use std::any::Any;
use std::fmt;
use std::time::{Duration, Instant};

use super::Engine;
use crate::error::LookupError;
use crate::report::Report;

/// How long a shutdown waiting for workers sleeps when no poll-mode group
/// had anything to do.
const ASSIST_PAUSE: Duration = Duration::from_micros(200);

/// How long a shutdown whose deadline passed waits for the aborted workers
/// to leave their listeners (they stop between events) before it returns
/// without them, reporting them in [`GroupReport::stuck`](crate::GroupReport::stuck).
/// A `shutdown_timeout` returns at most this long after its deadline.
pub const STUCK_GRACE: Duration = Duration::from_millis(20);

/// How long dropping an [`Engine`] drains before it stops what is left, as
/// [`Engine::shutdown_timeout`] would (a drop while the thread is
/// panicking does not drain at all).
pub const DROP_TIMEOUT: Duration = Duration::from_secs(5);

/// Which topic each group reads and which it publishes into, so shutdown
/// can close a topic only after the groups feeding it have drained.
#[derive(Debug, Default)]
pub(crate) struct ShutdownPlan {
    /// Index of the topic each group reads.
    pub(crate) group_topic: Vec<usize>,
    /// Indices of the topics each group publishes into: its dead-letter
    /// topic, and the targets declared with `publishes_to`.
    pub(crate) feeds: Vec<Vec<usize>>,
    /// Indices of the groups each group runs after (`GroupOptions::after`).
    pub(crate) after: Vec<Vec<usize>>,
}

impl ShutdownPlan {
    /// Adds the plan of an engine built on its own (`other`), whose topics
    /// and groups follow this plan's `topics` topics and its groups.
    pub(crate) fn append(&mut self, other: ShutdownPlan, topics: usize) {
        let groups = self.group_topic.len();
        self.group_topic
            .extend(other.group_topic.into_iter().map(|t| t + topics));
        self.feeds.extend(
            other
                .feeds
                .into_iter()
                .map(|f| f.into_iter().map(|t| t + topics).collect()),
        );
        self.after.extend(
            other
                .after
                .into_iter()
                .map(|a| a.into_iter().map(|g| g + groups).collect()),
        );
    }

    /// Takes group `group` out of the plan (no group runs after it),
    /// renumbering the later ones.
    pub(crate) fn remove_group(&mut self, group: usize) {
        self.group_topic.remove(group);
        self.feeds.remove(group);
        self.after.remove(group);
        for after in &mut self.after {
            after.retain(|&g| g != group);
            for g in after.iter_mut() {
                if *g > group {
                    *g -= 1;
                }
            }
        }
    }

    /// Takes topic `topic` and the groups reading it out of the plan
    /// (nothing else may feed it), renumbering the rest. Returns those
    /// groups' indices, in increasing order.
    pub(crate) fn remove_topic(&mut self, topic: usize) -> Vec<usize> {
        let gone: Vec<usize> = (0..self.group_topic.len())
            .filter(|&g| self.group_topic[g] == topic)
            .collect();
        let group_index = |g: usize| g - gone.iter().filter(|&&x| x < g).count();
        let topic_index = |t: usize| if t > topic { t - 1 } else { t };
        let keep = |g: &usize| !gone.contains(g);
        let take = |v: &mut Vec<Vec<usize>>| -> Vec<Vec<usize>> {
            std::mem::take(v)
                .into_iter()
                .enumerate()
                .filter(|(g, _)| keep(g))
                .map(|(_, x)| x)
                .collect()
        };
        self.group_topic = std::mem::take(&mut self.group_topic)
            .into_iter()
            .enumerate()
            .filter(|(g, _)| keep(g))
            .map(|(_, t)| topic_index(t))
            .collect();
        self.feeds = take(&mut self.feeds)
            .into_iter()
            .map(|f| {
                f.into_iter()
                    .filter(|&t| t != topic)
                    .map(topic_index)
                    .collect()
            })
            .collect();
        self.after = take(&mut self.after)
            .into_iter()
            .map(|a| a.into_iter().filter(|g| keep(g)).map(group_index).collect())
            .collect();
        gone
    }

    /// The groups a shutdown called from inside a listener cannot wait
    /// for: those the calling thread drives (`driven[g]`), and every group
    /// that runs after one of them, directly or through other stages (it
    /// cannot finish before the calling listener returns).
    fn held(&self, driven: Vec<bool>) -> Vec<bool> {
        let mut held = driven;
        // Stages have no cycle (checked at build): a pass per group is
        // enough for the longest chain.
        for _ in 0..held.len() {
            let mut changed = false;
            for g in 0..held.len() {
                if !held[g] && self.after[g].iter().any(|&u| held[u]) {
                    held[g] = true;
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        held
    }
}

/// Where [`Engine::shutdown_timeout_with`] sends the events a deadline left
/// unhandled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Leftovers {
    /// Back to the caller, in [`Shutdown::unhandled`]. The default.
    #[default]
    HandBack,
    /// Each group whose failure policy names a dead-letter topic publishes
    /// the events it did not get to there (`DeadLetter` with the error "the
    /// shutdown deadline passed…"), counted as `dead_lettered`, as long as
    /// that topic has room (it does not wait); that topic's
    /// groups drain them if the deadline leaves them time, and whatever is
    /// still left — of those groups, or of groups without a dead-letter
    /// topic — is handed back as with [`Leftovers::HandBack`].
    DeadLetter,
}

/// The outcome of [`Engine::shutdown_timeout`]: the final counts, and the
/// events the deadline left unhandled.
#[derive(Debug)]
#[non_exhaustive]
pub struct Shutdown {
    /// The final counts. Each group's `lag` is how many events of its topic
    /// it did not get to.
    pub report: Report,
    /// The events at least one group did not get to, by topic, in partition
    /// and sequence order.
    pub unhandled: Unhandled,
}

/// Events handed back by a shutdown that hit its deadline (or left behind a
/// halted partition), by topic.
#[derive(Default)]
pub struct Unhandled {
    topics: Vec<(String, usize, Box<dyn Any + Send>)>,
}

impl fmt::Debug for Unhandled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.topics.iter().map(|(name, n, _)| (name, n)))
            .finish()
    }
}

impl Unhandled {
    /// Total events handed back, all topics.
    #[must_use]
    pub fn len(&self) -> usize {
        self.topics.iter().map(|(_, n, _)| n).sum()
    }

    /// Whether nothing was left.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `(topic, events handed back)` for every topic.
    pub fn counts(&self) -> impl Iterator<Item = (&str, usize)> {
        self.topics.iter().map(|(name, n, _)| (name.as_str(), *n))
    }

    /// Takes the events of topic `topic`, which carries `E`. A second call
    /// for the same topic returns an empty vector.
    ///
    /// # Errors
    ///
    /// [`LookupError::UnknownTopic`] or [`LookupError::WrongType`].
    pub fn take<E: 'static>(&mut self, topic: &str) -> Result<Vec<E>, LookupError> {
        let known: Vec<String> = self.topics.iter().map(|(n, _, _)| n.clone()).collect();
        let (_, count, events) = self
            .topics
            .iter_mut()
            .find(|(name, _, _)| name == topic)
            .ok_or_else(|| LookupError::UnknownTopic {
                name: topic.to_owned(),
                known,
            })?;
        let events = events
            .downcast_mut::<Vec<E>>()
            .ok_or_else(|| LookupError::WrongType {
                topic: topic.to_owned(),
                actual: "another type",
                requested: std::any::type_name::<E>(),
            })?;
        *count = 0;
        Ok(std::mem::take(events))
    }
}

impl Engine {
    /// Shuts down, draining: stops accepting events (later publishes get
    /// [`PublishError::Closed`](crate::PublishError::Closed) with their
    /// event), hands every accepted event to every group, runs each
    /// listener's `on_shutdown`, joins every worker thread, and returns the
    /// final counts. Poll-mode groups are drained on the calling thread.
    ///
    /// Topics close in dependency order: a dead-letter topic, or a topic
    /// declared with [`publishes_to`](crate::EngineBuilder::publishes_to),
    /// stays open until the groups that write to it have drained. Events that listeners
    /// publish to other topics while the engine drains are refused with
    /// `Closed`, like any other publish after shutdown began.
    ///
    /// Events behind a halted partition cannot drain; they are counted in the
    /// group's `lag` and left in their rings, which drop them when the
    /// topic's last handle goes (a `Drop` that panics there is caught, so
    /// neither this call nor the engine's `Drop` unwinds because of it). A listener that fails forever under
    /// `Retries::Forever` keeps this call waiting: use
    /// [`shutdown_timeout`](Self::shutdown_timeout) to bound it.
    ///
    /// It may be called (or the engine dropped) from inside one of the
    /// engine's own listeners. A thread cannot wait for itself, so the group
    /// whose listener called it is not waited for: it is reported as of its
    /// last finished batch (the rest of its topic is its `lag`), keeps its
    /// topic's remaining events, and drains them and exits by itself once
    /// the listener returns; so do the groups that run after it
    /// ([`GroupOptions::after`](crate::GroupOptions::after)), which cannot
    /// pass it before then. Every other group is drained and joined as
    /// usual.
    pub fn shutdown(mut self) -> Report {
        self.shutdown_inner(None, Leftovers::HandBack, false).report
    }

    /// Like [`shutdown`](Self::shutdown), but drains for at most `timeout`.
    /// Groups still busy at the deadline are stopped (between events), and
    /// every event some group did not get to is moved out of the rings and
    /// handed back in [`Shutdown::unhandled`]. Nothing vanishes: each
    /// group's report counts what it missed as `lag`.
    ///
    /// It returns at most [`STUCK_GRACE`] after the deadline, even if a
    /// listener does not return: a worker still inside its listener then is
    /// left behind and named in its group's
    /// [`stuck`](crate::GroupReport::stuck) list (worker, partition,
    /// sequence; also the `veltrix_stuck_workers` gauge and a tracing
    /// error). It exits by itself once its listener returns; the events of
    /// the partitions it reads stay in their rings (counted as lag, not
    /// handed back), since that worker may still be reading them. The
    /// topic's other partitions are handed back as usual.
    pub fn shutdown_timeout(self, timeout: Duration) -> Shutdown {
        self.shutdown_timeout_with(timeout, Leftovers::HandBack)
    }

    /// Like [`shutdown_timeout`](Self::shutdown_timeout), choosing where the
    /// events the deadline left go: back to the caller, or to each group's
    /// dead-letter topic ([`Leftovers`]).
    pub fn shutdown_timeout_with(mut self, timeout: Duration, leftovers: Leftovers) -> Shutdown {
        // A timeout too far ahead to represent is the same as none.
        self.shutdown_inner(crate::clock::deadline_after(timeout), leftovers, true)
    }

    /// The shutdown itself. With `hand_back`, the events some group did not
    /// get to are moved out of the rings into [`Shutdown::unhandled`];
    /// without it they stay in the rings, which drop them (catching and
    /// counting a panicking `Drop`) when the topic's last handle goes.
    pub(super) fn shutdown_inner(
        &mut self,
        deadline: Option<Instant>,
        leftovers: Leftovers,
        hand_back: bool,
    ) -> Shutdown {
        if self.shut_down {
            return Shutdown {
                report: self.report(),
                unhandled: Unhandled::default(),
            };
        }
        self.shut_down = true;
        let plan = &self.plan;
        // Left to finish on their own, after the calling listener returns.
        let held = plan.held(self.groups.iter().map(|g| g.driven_here()).collect());
        let mut open = vec![true; self.topics.len()];
        let mut running = vec![true; self.groups.len()];
        while running.iter().any(|r| *r) {
            // Close every open topic no running group dead-letters into.
            let mut closed_any = false;
            for (t, is_open) in open.iter_mut().enumerate() {
                let feeds = (0..running.len())
                    .any(|g| running[g] && plan.feeds[g].contains(&t) && plan.group_topic[g] != t);
                if *is_open && !feeds {
                    self.topics[t].control.close();
                    *is_open = false;
                    closed_any = true;
                }
            }
            if !closed_any {
                // A cycle of dead-letter topics: close them all.
                for (t, is_open) in open.iter_mut().enumerate() {
                    if *is_open {
                        self.topics[t].control.close();
                        *is_open = false;
                    }
                }
            }
            let stopping: Vec<usize> = (0..running.len())
                .filter(|&g| running[g] && !open[plan.group_topic[g]])
                .collect();
            for &g in &stopping {
                self.groups[g].request_stop();
            }
            // While their workers finish, keep every poll-mode group moving:
            // one may be all a stopping group waits for (its dead-letter
            // topic, read by a poll group no host polls any more).
            while !stopping
                .iter()
                .all(|&g| held[g] || self.groups[g].workers_done())
                && deadline.is_none_or(|d| Instant::now() < d)
            {
                let moved: usize = self.groups.iter().map(|g| g.assist()).sum();
                if moved == 0 {
                    std::thread::sleep(ASSIST_PAUSE);
                }
            }
            for &g in &stopping {
                // A group the calling thread drives skips that thread
                // itself; a later stage of one is not waited for at all.
                if !held[g] || self.groups[g].driven_here() {
                    self.groups[g].join(deadline);
                }
                running[g] = false;
            }
            if leftovers == Leftovers::DeadLetter {
                // Their dead-letter topics are still open: the plan closes a
                // dead-letter topic only once every group feeding it stopped.
                for &g in &stopping {
                    self.groups[g].dead_letter_rest();
                }
            }
        }
        for (t, is_open) in open.iter().enumerate() {
            if *is_open {
                self.topics[t].control.close();
            }
        }
        let report = self.report();
        if let Some(mut watchdog) = self.watchdog.take() {
            watchdog.stop();
        }
        #[cfg(feature = "tracing")]
        tracing::info!(
            groups = self.groups.len(),
            lag = report.groups.iter().map(|g| g.lag).sum::<u64>(),
            "veltrix: engine shut down"
        );
        let mut unhandled = Unhandled::default();
        if !hand_back {
            return Shutdown { report, unhandled };
        }
        // Every group has been joined: the readers of its exited workers
        // (of its finished poller) go, and each ring no one reads any more
        // hands back what is left. Called from a listener of this engine,
        // the groups the calling thread is running cannot have been joined
        // (a thread cannot wait for itself); they and the workers a
        // deadline left inside a listener keep their readers, so their
        // partitions keep their events, which those groups go on draining
        // once the listener returns.
        for group in &self.groups {
            group.release_readers();
        }
        for topic in &self.topics {
            let (count, events) = topic.control.take_unconsumed();
            unhandled.topics.push((topic.name.clone(), count, events));
        }
        Shutdown { report, unhandled }
    }
}

#[cfg(test)]
mod tests {
    use super::ShutdownPlan;

    #[test]
    fn removing_a_topic_renumbers_the_rest_of_the_plan() {
        // Topics 0, 1, 2. Groups: 0 reads 0 (dead-letters into 2); 1 and 2
        // read 1 (2 after 1, 1 feeds itself); 3 reads 2, after nothing.
        let mut plan = ShutdownPlan {
            group_topic: vec![0, 1, 1, 2],
            feeds: vec![vec![2], vec![1], vec![], vec![]],
            after: vec![vec![], vec![], vec![1], vec![]],
        };
        let mut appended = ShutdownPlan {
            group_topic: vec![0],
            feeds: vec![vec![0]],
            after: vec![vec![]],
        };
        appended.append(
            ShutdownPlan {
                group_topic: vec![0, 0],
                feeds: vec![vec![], vec![]],
                after: vec![vec![], vec![0]],
            },
            1,
        );
        assert_eq!(appended.group_topic, vec![0, 1, 1]);
        assert_eq!(appended.after, vec![vec![], vec![], vec![1]]);
        assert_eq!(plan.remove_topic(1), vec![1, 2]);
        assert_eq!(plan.group_topic, vec![0, 1]);
        assert_eq!(plan.feeds, vec![vec![1], vec![]]);
        assert_eq!(plan.after, vec![Vec::<usize>::new(), vec![]]);
    }
}
