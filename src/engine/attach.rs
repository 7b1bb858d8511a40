//! A living topology: topics (with their groups) attached to a running
//! engine and removed from it, for per-match or per-room topics.

use super::{Engine, EngineBuilder};
use crate::error::{BuildError, RemoveError};
use crate::report::Report;

impl Engine {
    /// Adds the topics and groups declared on `builder` to this running
    /// engine, started and checked as [`EngineBuilder::build`] would: a
    /// per-match topic and its groups, say. Their handles come from
    /// [`topic`](Self::topic), [`producer`](Self::producer) and
    /// [`poller`](Self::poller) as for the others; the engine's
    /// [`report`](Self::report), metrics handles (also those taken
    /// earlier) and shutdown include them from now on.
    ///
    /// What `builder` declares stands on its own: its groups read its
    /// topics, and their dead-letter topics and `publishes_to` targets are
    /// among its topics too. Its own settings (metrics, latency sampling,
    /// stall threshold, memory budget) apply to what it declares; the
    /// engine's latency buckets stay the engine's.
    ///
    /// # Errors
    ///
    /// [`BuildError::DuplicateTopic`] or [`BuildError::DuplicateGroup`] for
    /// a name the engine already has, and every error `build` reports
    /// ([`BuildError::Multiple`] for more than one). The engine is left as
    /// it was.
    ///
    /// # Examples
    ///
    /// ```
    /// use veltrix::{Engine, EventContext, GroupOptions, TopicOptions};
    ///
    /// let mut engine = Engine::builder().build()?;
    /// engine.attach(
    ///     Engine::builder()
    ///         .topic::<u32>("match-7", TopicOptions::new(2))
    ///         .subscribe("match-7-sim", "match-7", GroupOptions::workers(1), |_| {
    ///             |_: &u32, _: &EventContext<'_>| Ok(())
    ///         }),
    /// )?;
    /// let moves = engine.topic::<u32>("match-7")?;
    /// moves.publish(1)?;
    /// let removed = engine.remove_topic("match-7")?; // drains it first
    /// assert_eq!(removed.groups[0].handled, 1);
    /// assert!(moves.publish(2).is_err()); // closed
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn attach(&mut self, builder: EngineBuilder) -> Result<(), BuildError> {
        let (topics, groups) = builder.declared();
        let mut clashes: Vec<BuildError> = topics
            .into_iter()
            .filter(|name| self.topics.iter().any(|t| &t.name == name))
            .map(|name| BuildError::DuplicateTopic { name })
            .collect();
        clashes.extend(
            groups
                .into_iter()
                .filter(|name| self.groups.iter().any(|g| g.name() == name))
                .map(|name| BuildError::DuplicateGroup { name }),
        );
        if let Some(error) = BuildError::from_list(clashes) {
            return Err(error);
        }
        let mut other = builder.build()?;
        // Its parts become this engine's: it has nothing left to shut down.
        other.shut_down = true;
        if let Some(mut watchdog) = other.watchdog.take() {
            watchdog.stop();
        }
        let offset = self.topics.len();
        self.topics.append(&mut other.topics);
        self.groups.append(&mut other.groups);
        self.plan.append(std::mem::take(&mut other.plan), offset);
        #[cfg(feature = "nats")]
        self.live.bridges.absorb(&other.live.bridges);
        self.topology_changed();
        Ok(())
    }

    /// Removes topic `name` and the groups reading it from this running
    /// engine: closes it (later publishes through its handles get
    /// [`PublishError::Closed`](crate::PublishError::Closed) with their
    /// event), drains every group of it as [`shutdown`](Self::shutdown)
    /// would (each listener's `on_shutdown` runs, every worker is joined),
    /// and returns their final counts. The rest of the engine runs on
    /// untouched. Events behind a halted partition are counted as `lag`
    /// and dropped with the topic's last handle.
    ///
    /// Like `shutdown`, it waits as long as the groups take to drain (a
    /// listener failing forever under `Retries::Forever` keeps it waiting).
    ///
    /// # Errors
    ///
    /// [`RemoveError::Lookup`] for an unknown topic;
    /// [`RemoveError::InUse`] when a group of another topic publishes into
    /// it (its dead-letter topic, a `publishes_to` target);
    /// [`RemoveError::FromListener`] from inside a listener of one of its
    /// groups. The engine is left as it was.
    pub fn remove_topic(&mut self, name: &str) -> Result<Report, RemoveError> {
        let t = self.topic_index(name)?;
        let plan = &self.plan;
        if let Some(g) =
            (0..self.groups.len()).find(|&g| plan.group_topic[g] != t && plan.feeds[g].contains(&t))
        {
            return Err(RemoveError::InUse {
                topic: name.to_owned(),
                group: self.groups[g].name().to_owned(),
            });
        }
        let members: Vec<usize> = (0..self.groups.len())
            .filter(|&g| plan.group_topic[g] == t)
            .collect();
        if let Some(&g) = members.iter().find(|&&g| self.groups[g].driven_here()) {
            return Err(RemoveError::FromListener {
                topic: name.to_owned(),
                group: self.groups[g].name().to_owned(),
            });
        }
        self.topics[t].control.close();
        for &g in &members {
            self.groups[g].request_stop();
        }
        for &g in &members {
            self.groups[g].join(None);
        }
        let report = Report {
            topics: vec![self.topics[t].control.report()],
            groups: members.iter().map(|&g| self.groups[g].report()).collect(),
            #[cfg(feature = "nats")]
            exports: Vec::new(),
            #[cfg(feature = "nats")]
            imports: Vec::new(),
        };
        for &g in &members {
            self.groups[g].release_readers();
        }
        let gone = self.plan.remove_topic(t);
        debug_assert_eq!(gone, members);
        for &g in gone.iter().rev() {
            self.groups.remove(g);
        }
        self.topics.remove(t);
        self.joined.retain(|j| j.topic != name);
        self.topology_changed();
        #[cfg(feature = "tracing")]
        tracing::info!(
            topic = name,
            groups = members.len(),
            "veltrix: topic removed"
        );
        Ok(report)
    }
}
