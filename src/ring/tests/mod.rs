//! The ring on one thread (and a few): every path of its `unsafe` code —
//! shared and sole claims, first-lap writes and overwrites, batches staged
//! and swapped, close, taking what was left, the ring's own `Drop` — with
//! every value's drops counted. Small enough for Miri (`cargo +nightly miri
//! test --lib ring::tests`), which checks each access for undefined
//! behaviour; the loom models check the orderings.

use std::ops::ControlFlow;
use std::panic;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;

use super::{Claimers, PushError, Reader, Ring, Staging};

mod hold;
mod lease;
mod sole;
mod spare;

/// Drop counts, by value id.
struct Drops(Vec<AtomicUsize>);

impl Drops {
    fn new(ids: usize) -> Arc<Self> {
        Arc::new(Drops((0..ids).map(|_| AtomicUsize::new(0)).collect()))
    }

    fn of(&self, id: u64) -> usize {
        self.0[id as usize].load(Relaxed)
    }

    /// Asserts how many times each id in `ids` was dropped.
    fn assert_each(&self, ids: std::ops::Range<u64>, times: usize, when: &str) {
        for id in ids {
            assert_eq!(self.of(id), times, "drops of value {id} {when}");
        }
    }
}

/// A value with an id and heap data (so a double drop or a read of a dropped
/// value is undefined behaviour Miri reports), counting its drops.
struct Tracked {
    id: u64,
    payload: Box<[u64; 3]>,
    drops: Arc<Drops>,
}

impl Tracked {
    fn new(id: u64, drops: &Arc<Drops>) -> Self {
        Tracked {
            id,
            payload: Box::new([id; 3]),
            drops: Arc::clone(drops),
        }
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.drops.0[self.id as usize].fetch_add(1, Relaxed);
    }
}

/// Reads everything published now, checking each value against its
/// sequence (`id == seq + offset`), and returns the ids read.
fn read_all(reader: &mut Reader<Tracked>, offset: u64) -> Vec<u64> {
    let mut ids = Vec::new();
    while reader.drain(usize::MAX, |seq, value, _| {
        assert_eq!(value.id, seq + offset, "value at sequence {seq}");
        assert_eq!(*value.payload, [value.id; 3]);
        ids.push(value.id);
        ControlFlow::Continue(())
    }) > 0
    {}
    ids
}

#[test]
fn shared_claims_wrap_many_laps_and_drop_each_value_once() {
    const CAPACITY: usize = 4;
    const N: u64 = 30;
    let drops = Drops::new(N as usize);
    let (ring, mut readers, sole) =
        Ring::<Tracked>::new(CAPACITY, 2, Claimers::Shared, None).unwrap();
    assert!(sole.is_none());
    let (mut fast, mut slow) = (readers.remove(0), readers.remove(0));
    let mut read_fast = Vec::new();
    let mut read_slow = Vec::new();
    for id in 0..N {
        let mut value = Tracked::new(id, &drops);
        loop {
            match ring.try_push(value) {
                Ok(seq) => {
                    assert_eq!(seq, id);
                    break;
                }
                Err((back, PushError::Full)) => {
                    // The slow reader gates the ring: the fast one alone
                    // frees nothing.
                    read_fast.extend(read_all(&mut fast, 0));
                    match ring.try_push(back) {
                        Ok(seq) => panic!("pushed {seq} past the slow reader"),
                        Err((back, PushError::Full)) => value = back,
                        Err((_, PushError::Closed)) => unreachable!("open ring"),
                    }
                    read_slow.extend(read_all(&mut slow, 0));
                }
                Err((_, PushError::Closed)) => unreachable!("open ring"),
            }
        }
        // A value is dropped when its slot is overwritten a lap later.
        if id >= CAPACITY as u64 {
            drops.assert_each(0..id + 1 - CAPACITY as u64, 1, "overwritten");
        }
        drops.assert_each(
            id + 1 - (CAPACITY as u64).min(id + 1)..id + 1,
            0,
            "in the ring",
        );
    }
    read_fast.extend(read_all(&mut fast, 0));
    read_slow.extend(read_all(&mut slow, 0));
    assert_eq!(read_fast, (0..N).collect::<Vec<_>>());
    assert_eq!(read_slow, (0..N).collect::<Vec<_>>());
    drop((fast, slow));
    drop(ring);
    drops.assert_each(0..N, 1, "after the ring dropped");
}

#[test]
fn batches_swap_old_values_out_and_drop_them_once() {
    const CAPACITY: usize = 8;
    const BATCH: u64 = 3;
    const BATCHES: u64 = 9;
    let drops = Drops::new((BATCH * BATCHES) as usize);
    let (ring, mut readers, _) = Ring::<Tracked>::new(CAPACITY, 1, Claimers::Shared, None).unwrap();
    let reader = &mut readers[0];
    let mut staged = Staging::<Tracked, 256>::new();
    let mut read = Vec::new();
    for b in 0..BATCHES {
        for id in b * BATCH..(b + 1) * BATCH {
            staged.push(Tracked::new(id, &drops));
        }
        // Batches straddle the end of the ring (8 is not a multiple of 3):
        // part first lap, part overwrite, in one claim.
        match ring.try_push_batch(&mut staged, 0) {
            Ok(start) => assert_eq!(start, b * BATCH),
            Err(why) => panic!("batch {b}: {why:?}"),
        }
        assert!(staged.is_empty(), "a pushed batch leaves the staging empty");
        let end = (b + 1) * BATCH;
        let overwritten = end.saturating_sub(CAPACITY as u64);
        drops.assert_each(0..overwritten, 1, "overwritten");
        drops.assert_each(overwritten..end, 0, "in the ring");
        read.extend(read_all(reader, 0));
    }
    assert_eq!(read, (0..BATCH * BATCHES).collect::<Vec<_>>());
    drop(readers);
    drop(ring);
    drops.assert_each(0..BATCH * BATCHES, 1, "after the ring dropped");
}

#[test]
fn a_refused_batch_leaves_its_values_staged() {
    let drops = Drops::new(4);
    let (ring, readers, _) = Ring::<Tracked>::new(2, 1, Claimers::Shared, None).unwrap();
    let mut staged = Staging::<Tracked, 256>::new();
    staged.push(Tracked::new(0, &drops));
    staged.push(Tracked::new(1, &drops));
    ring.try_push_batch(&mut staged, 0).unwrap();
    staged.push(Tracked::new(2, &drops));
    staged.push(Tracked::new(3, &drops));
    // Unread: no room.
    assert_eq!(ring.try_push_batch(&mut staged, 0), Err(PushError::Full));
    assert_eq!(staged.len(), 2);
    drops.assert_each(0..4, 0, "nothing dropped yet");
    // Taking one out and dropping the buffer drops each of the rest once.
    let first = staged.next().expect("two staged");
    assert_eq!(first.id, 2);
    drop(staged);
    drops.assert_each(3..4, 1, "staged, dropped with the buffer");
    drop(first);
    drops.assert_each(2..3, 1, "taken out, dropped");
    ring.close();
    drop(readers);
    drop(ring);
    drops.assert_each(0..2, 1, "dropped with the ring");
}

#[test]
fn close_then_take_unconsumed_hands_back_the_rest_in_order() {
    let drops = Drops::new(6);
    let (ring, mut readers, _) = Ring::<Tracked>::new(8, 2, Claimers::Shared, None).unwrap();
    for id in 0..6 {
        ring.try_push(Tracked::new(id, &drops)).ok().unwrap();
    }
    let taken_by_first = readers[0].drain(4, |_, _, _| ControlFlow::Continue(()));
    assert_eq!(taken_by_first, 4);
    let taken_by_second = readers[1].drain(2, |_, _, _| ControlFlow::Continue(()));
    assert_eq!(taken_by_second, 2);
    assert_eq!(ring.close(), 6);
    let refused = Drops::new(1);
    match ring.try_push(Tracked::new(0, &refused)) {
        Err((back, PushError::Closed)) => drop(back),
        other => panic!(
            "a closed ring accepted a push: {:?}",
            other.map_err(|e| e.1)
        ),
    }
    refused.assert_each(0..1, 1, "handed back by the closed ring");
    // A reader still held could go on draining: nothing is taken.
    let last = readers.pop().unwrap();
    drop(readers);
    assert!(ring.take_unconsumed().is_none());
    drop(last);
    let rest = ring
        .take_unconsumed()
        .expect("closed, and every reader gone");
    // From the slowest cursor on: what at least one group did not read.
    assert_eq!(
        rest.iter().map(|v| v.id).collect::<Vec<_>>(),
        vec![2, 3, 4, 5]
    );
    // The ring gates no producer any more.
    assert_eq!(ring.min_cursor(), 6);
    drops.assert_each(0..6, 0, "before anything is dropped");
    drop(rest);
    drops.assert_each(2..6, 1, "handed back and dropped");
    drop(ring);
    drops.assert_each(0..6, 1, "after the ring dropped");
}

#[test]
fn staging_bounds_by_bytes_and_resets_after_iteration() {
    assert_eq!(Staging::<u64, 64>::CAPACITY, 8);
    assert_eq!(Staging::<[u8; 100], 64>::CAPACITY, 0);
    assert_eq!(Staging::<(), 64>::CAPACITY, usize::MAX);
    let drops = Drops::new(8);
    let mut staged = Staging::<Tracked, 1024>::new();
    for id in 0..4 {
        staged.push(Tracked::new(id, &drops));
    }
    let ids: Vec<u64> = staged.by_ref().map(|v| v.id).collect();
    assert_eq!(ids, vec![0, 1, 2, 3]);
    drops.assert_each(0..4, 1, "iterated and dropped");
    // Emptied by iteration, it stages from the start again.
    for id in 4..8 {
        staged.push(Tracked::new(id, &drops));
    }
    assert_eq!(staged.len(), 4);
    staged.clear();
    assert!(staged.is_empty());
    drops.assert_each(4..8, 1, "cleared");
}

/// An event whose `Drop` panics.
struct Bomb(#[allow(dead_code)] Box<u64>);

impl Drop for Bomb {
    fn drop(&mut self) {
        panic!("boom");
    }
}

#[test]
fn panicking_drops_are_caught_and_counted_on_every_ring_path() {
    let hook = panic::take_hook();
    panic::set_hook(Box::new(|_| {}));
    let (ring, mut readers, _) = Ring::<Bomb>::new(2, 1, Claimers::Shared, None).unwrap();
    // Discarded by a full policy.
    ring.discard(Bomb(Box::new(0)));
    assert_eq!(ring.drop_panics(), 1);
    // Overwritten one at a time and as a batch.
    for i in 0..4 {
        ring.try_push(Bomb(Box::new(i))).ok().unwrap();
        readers[0].drain(usize::MAX, |_, _, _| ControlFlow::Continue(()));
    }
    assert_eq!(ring.drop_panics(), 3);
    let mut staged = Staging::<Bomb, 64>::new();
    staged.push(Bomb(Box::new(4)));
    staged.push(Bomb(Box::new(5)));
    ring.try_push_batch(&mut staged, 0).unwrap();
    assert_eq!(ring.drop_panics(), 5);
    // Two left in the ring: its `Drop` survives both.
    drop(readers);
    drop(ring);
    panic::set_hook(hook);
}

#[test]
fn threads_race_claims_and_every_value_is_read_once_in_order_per_producer() {
    const PRODUCERS: u64 = 2;
    const PER_PRODUCER: u64 = if cfg!(miri) { 40 } else { 2_000 };
    let total = PRODUCERS * PER_PRODUCER;
    let drops = Drops::new(total as usize);
    let (ring, mut readers, _) = Ring::<Tracked>::new(4, 1, Claimers::Shared, None).unwrap();
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let ring = Arc::clone(&ring);
            let drops = Arc::clone(&drops);
            std::thread::spawn(move || {
                for i in 0..PER_PRODUCER {
                    let mut value = Tracked::new(p * PER_PRODUCER + i, &drops);
                    loop {
                        match ring.try_push(value) {
                            Ok(_) => break,
                            Err((back, PushError::Full)) => {
                                value = back;
                                std::thread::yield_now();
                            }
                            Err((_, PushError::Closed)) => unreachable!("open ring"),
                        }
                    }
                }
            })
        })
        .collect();
    let mut read = Vec::new();
    while (read.len() as u64) < total {
        let n = readers[0].drain(usize::MAX, |_, value, _| {
            read.push(value.id);
            ControlFlow::Continue(())
        });
        if n == 0 {
            std::thread::yield_now();
        }
    }
    for producer in producers {
        producer.join().unwrap();
    }
    for p in 0..PRODUCERS {
        let mine: Vec<u64> = read
            .iter()
            .copied()
            .filter(|id| id / PER_PRODUCER == p)
            .collect();
        let expected: Vec<u64> = (p * PER_PRODUCER..(p + 1) * PER_PRODUCER).collect();
        assert_eq!(mine, expected, "producer {p}: every value once, in order");
    }
    drop(readers);
    drop(ring);
    drops.assert_each(0..total, 1, "after the ring dropped");
}

/// A lossy reader (bound 4) beside a gating one, on both kinds of claim:
/// producers lap it instead of waiting, it skips to its bound when it comes
/// back, reads what it does see intact (Miri checks the borrows against
/// the overwrites), and every value is dropped once.
#[test]
fn a_lossy_reader_is_lapped_and_skips_to_its_bound() {
    use super::ReaderSpec;
    for claimers in [Claimers::Shared, Claimers::Sole] {
        let total = 40;
        let drops = Drops::new(total as usize);
        let specs = [
            ReaderSpec::default(),
            ReaderSpec {
                after: Vec::new(),
                lossy: Some(4),
                spare: false,
            },
        ];
        let (ring, mut readers, mut sole) =
            Ring::<Tracked>::with_readers(8, &specs, claimers, None).unwrap();
        let mut push = |id: u64| match sole.as_mut() {
            Some(sole) => assert!(sole
                .burst()
                .expect("open")
                .push(Tracked::new(id, &drops))
                .is_ok()),
            None => assert!(ring.try_push(Tracked::new(id, &drops)).is_ok()),
        };
        // The gating reader keeps up; the lossy one is lapped past most.
        let mut gated = Vec::new();
        for id in 0..30 {
            push(id);
            gated.extend(read_all(&mut readers[0], 0));
        }
        // Lapped past what the producer needed (22), and up to half a ring
        // more, never past what was claimed.
        let lagged = ring.lagged(1);
        assert!((22..=26).contains(&lagged), "lagged {lagged}");
        // Coming back, it skips to the newest 4.
        assert_eq!(read_all(&mut readers[1], 0), (26..30).collect::<Vec<_>>());
        assert_eq!(ring.lagged(1), 26);
        for id in 30..total {
            push(id);
            gated.extend(read_all(&mut readers[0], 0));
        }
        assert_eq!(gated, (0..total).collect::<Vec<_>>());
        assert_eq!(read_all(&mut readers[1], 0), (36..40).collect::<Vec<_>>());
        assert_eq!(ring.lagged(1), 36 - 4);
        assert_eq!(ring.lagged(0), 0);
        drop(sole);
        drop(readers);
        drop(ring);
        drops.assert_each(0..total, 1, "after the ring dropped");
    }
}

/// A lossy reader's batch that unwinds clears its mark: producers lap the
/// reader afterwards instead of waiting for a batch that will never end,
/// and the events of the batch are handed out again (or lapped).
#[test]
fn a_lossy_batch_that_unwinds_leaves_no_mark() {
    use super::ReaderSpec;
    let drops = Drops::new(20);
    let specs = [ReaderSpec {
        after: Vec::new(),
        lossy: Some(4),
        spare: false,
    }];
    let (ring, mut readers, _) =
        Ring::<Tracked>::with_readers(4, &specs, Claimers::Shared, None).unwrap();
    for id in 0..4 {
        assert!(ring.try_push(Tracked::new(id, &drops)).is_ok());
    }
    let unwound = panic::catch_unwind(panic::AssertUnwindSafe(|| {
        readers[0].drain(usize::MAX, |_, _, _| panic!("listener bug"))
    }));
    assert!(unwound.is_err());
    // Not marked: the ring is full, and the producer laps the reader.
    for id in 4..20 {
        assert!(
            ring.try_push(Tracked::new(id, &drops)).is_ok(),
            "event {id}"
        );
    }
    let read = read_all(&mut readers[0], 0);
    let lagged = ring.lagged(0);
    assert!(lagged >= 16, "lagged {lagged}");
    assert_eq!(read, (lagged..20).collect::<Vec<_>>());
    drop(readers);
    drop(ring);
    drops.assert_each(0..20, 1, "after the ring dropped");
}
