//! Waiting for routers to catch up before a shutdown.

use std::thread;
use std::time::{Duration, Instant};

use crate::Engine;

/// Waits until every group in `groups` has consumed everything published to
/// its topic, and the counts have stayed still for a moment — so the events
/// those groups publish onward are in their targets before
/// [`Engine::shutdown`] closes the topics. Returns `false` if `timeout`
/// passed first.
///
/// Prefer declaring the edges with
/// [`EngineBuilder::publishes_to`](crate::EngineBuilder::publishes_to):
/// shutdown then follows them and needs no wait. This is the polling
/// alternative, for edges not declared.
///
/// Stop your producers first: with events still arriving, the groups may
/// never be caught up. A group with a halted partition cannot catch up and
/// is not waited for; names that are not groups of `engine` are ignored. A
/// poll-mode group catches up only while the host polls it.
///
/// # Examples
///
/// See the [module docs](crate::router).
#[must_use = "false means the groups did not catch up within the timeout"]
pub fn drain(engine: &Engine, groups: &[&str], timeout: Duration) -> bool {
    let deadline = crate::clock::deadline_after(timeout);
    // (published of every topic, consumed of every group) at the last
    // caught-up sample.
    let mut last: Option<(Vec<u64>, Vec<u64>)> = None;
    loop {
        let report = engine.report();
        let caught_up = groups.iter().all(|name| {
            report
                .group(name)
                .is_none_or(|g| g.lag == 0 || !g.halted.is_empty())
        });
        if caught_up {
            let published: Vec<u64> = report.topics.iter().map(|t| t.published).collect();
            let consumed: Vec<u64> = report.groups.iter().map(|g| g.consumed()).collect();
            let sample = (published, consumed);
            if last.as_ref() == Some(&sample) {
                return true;
            }
            last = Some(sample);
        } else {
            last = None;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return false;
        }
        thread::sleep(Duration::from_millis(1));
    }
}
