//! Worker threads of a threaded group.

use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use parking_lot::Mutex;

use super::dispatch::{drain_partition, guarded};
use super::{GroupControl, GroupCore, GroupReport};
use crate::listener::{Listener, WorkerInfo};
use crate::ring::{enter_reader, Idle, Reader, WaitStrategy};
use crate::topic::Entry;

/// What one worker thread owns.
pub(crate) struct WorkerSetup<E, L> {
    pub(crate) index: usize,
    pub(crate) partitions: Vec<u32>,
    pub(crate) readers: Vec<Reader<Entry<E>>>,
    pub(crate) listener: L,
    pub(crate) info: WorkerInfo,
    pub(crate) wait: WaitStrategy,
    pub(crate) max_batch: usize,
}

/// Starts the worker's thread.
pub(crate) fn spawn<E, L>(
    core: Arc<GroupCore<E>>,
    setup: WorkerSetup<E, L>,
) -> io::Result<JoinHandle<()>>
where
    E: Send + Sync + 'static,
    L: Listener<E> + 'static,
{
    thread::Builder::new()
        .name(format!("veltrix-{}-{}", core.shared.name, setup.index))
        .spawn(move || run(&core, setup))
}

/// The worker loop: round-robin over its partitions, a batch from each, idle
/// when all are empty, exit once stopped and every partition is drained.
fn run<E, L: Listener<E>>(core: &GroupCore<E>, setup: WorkerSetup<E, L>) {
    let WorkerSetup {
        index,
        partitions,
        mut readers,
        mut listener,
        info,
        wait,
        max_batch,
    } = setup;
    let shared = &core.shared;
    let counters = &shared.counters[index];
    let _reader = enter_reader(shared.id);
    Idle::register(&readers);
    guarded(|| listener.on_start(&info));
    let mut idle = Idle::new(wait);
    let mut start = 0usize;
    let n = readers.len();
    loop {
        let mut handled = 0usize;
        for i in 0..n {
            let at = (start + i) % n;
            handled += drain_partition(
                &mut readers[at],
                partitions[at],
                &mut listener,
                shared,
                counters,
                max_batch,
            );
        }
        if n > 0 {
            start = (start + 1) % n;
        }
        if handled > 0 {
            idle.reset();
            continue;
        }
        if shared.stop.load(Ordering::SeqCst) && readers.iter().all(Reader::is_finished) {
            break;
        }
        idle.wait(&readers, &shared.stop);
    }
    guarded(|| listener.on_shutdown());
}

/// A group running on worker threads.
pub(crate) struct ThreadedGroup<E> {
    pub(crate) core: Arc<GroupCore<E>>,
    pub(crate) handles: Mutex<Vec<JoinHandle<()>>>,
}

impl<E: Send + Sync + 'static> GroupControl for ThreadedGroup<E> {
    fn request_stop(&self) {
        self.core.shared.stop.store(true, Ordering::SeqCst);
        for handle in self.handles.lock().iter() {
            handle.thread().unpark();
        }
    }

    fn join(&self) {
        let handles = std::mem::take(&mut *self.handles.lock());
        for handle in handles {
            // Listener panics are caught inside the loop; a join error could
            // only come from a bug in the loop itself.
            let _ = handle.join();
        }
    }

    fn report(&self) -> GroupReport {
        self.core.report("threads")
    }

    fn as_poll(&self) -> Option<Arc<dyn super::poller::PollDriver>> {
        None
    }
}
