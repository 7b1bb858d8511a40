//! The single-producer side of the ring: bursts, runs, laps, hand-back
//! and drops, every value's drops counted (under Miri too).

use std::ops::ControlFlow;
use std::panic;

use super::{read_all, Drops, Tracked};
use crate::ring::{Claimers, PushError, Reader, Ring};

#[test]
fn a_sole_ring_hands_back_the_rest_after_laps_and_drops_what_it_kept() {
    // A single-producer ring has no stamps: which slots are initialised
    // follows from its counts (and from what `take_unconsumed` took).
    let drops = Drops::new(10);
    let (ring, mut readers, sole) = Ring::<Tracked>::new(4, 2, Claimers::Sole, None).unwrap();
    let mut producer = sole.unwrap();
    let mut publish = |ids: std::ops::Range<u64>| {
        let mut burst = producer.burst().expect("open");
        for id in ids {
            assert_eq!(burst.push(Tracked::new(id, &drops)).ok(), Some(id));
        }
    };
    let read = |reader: &mut Reader<Tracked>, n: usize| {
        reader.drain(n, |seq, value, _| {
            assert_eq!(value.id, seq);
            ControlFlow::Continue(())
        })
    };
    publish(0..4);
    assert_eq!(read(&mut readers[0], 4), 4);
    assert_eq!(read(&mut readers[1], 4), 4);
    publish(4..8);
    assert_eq!(read(&mut readers[0], 4), 4);
    assert_eq!(read(&mut readers[1], 2), 2);
    publish(8..10);
    assert_eq!(read(&mut readers[0], 4), 2);
    assert_eq!(read(&mut readers[1], 2), 2);
    drops.assert_each(0..6, 1, "overwritten by the second lap");
    assert_eq!(ring.close(), 10);
    assert!(ring.take_unconsumed().is_none(), "readers still held");
    drop(readers);
    let rest = ring
        .take_unconsumed()
        .expect("closed, and every reader gone");
    assert_eq!(rest.iter().map(|v| v.id).collect::<Vec<_>>(), vec![8, 9]);
    drop(rest);
    drops.assert_each(8..10, 1, "handed back and dropped");
    drops.assert_each(6..8, 0, "still in the ring");
    drop(producer);
    drop(ring);
    drops.assert_each(0..10, 1, "after the ring dropped");
}

#[test]
fn a_sole_ring_dropped_before_its_first_lap_ends_drops_what_it_holds() {
    let drops = Drops::new(3);
    let (ring, readers, sole) = Ring::<Tracked>::new(8, 1, Claimers::Sole, None).unwrap();
    let mut producer = sole.unwrap();
    {
        let mut burst = producer.burst().expect("open");
        for id in 0..3 {
            burst.push(Tracked::new(id, &drops)).ok().unwrap();
        }
    }
    drop((producer, readers, ring));
    drops.assert_each(0..3, 1, "dropped with the ring, unread");
}

#[test]
fn a_sole_producer_wraps_and_its_readers_see_whole_bursts() {
    const CAPACITY: usize = 4;
    const N: u64 = 22;
    let drops = Drops::new(N as usize);
    let (ring, mut readers, sole) =
        Ring::<Tracked>::new(CAPACITY, 1, Claimers::Sole, None).unwrap();
    let mut producer = sole.expect("a sole ring has its producer");
    // No shared claim ever succeeds on it.
    let refused = Drops::new(1);
    match ring.try_push(Tracked::new(0, &refused)) {
        Err((back, PushError::Closed)) => drop(back),
        other => panic!("shared claim on a sole ring: {:?}", other.map_err(|e| e.1)),
    }
    let reader = &mut readers[0];
    let mut read = Vec::new();
    let mut id = 0;
    let mut held: Option<Tracked> = None;
    while id < N {
        let mut burst = producer.burst().expect("open");
        let before = read.len();
        let mut in_burst = 0;
        while id < N && in_burst < 3 {
            let value = held.take().unwrap_or_else(|| Tracked::new(id, &drops));
            match burst.push(value) {
                Ok(seq) => assert_eq!(seq, id),
                Err(back) => {
                    // Full: kept for the next burst.
                    held = Some(back);
                    break;
                }
            }
            in_burst += 1;
            id += 1;
        }
        // Nothing of a burst is visible before it ends.
        assert!(!reader.has_next() || in_burst == 0);
        drop(burst);
        read.extend(read_all(reader, 0));
        assert_eq!(read.len() - before, in_burst, "a burst shows up whole");
    }
    assert_eq!(read, (0..N).collect::<Vec<_>>());
    drops.assert_each(0..N - CAPACITY as u64, 1, "overwritten");
    assert_eq!(ring.close(), N);
    assert!(producer.burst().is_none(), "a closed ring starts no burst");
    drop(producer);
    drop(readers);
    drop(ring);
    drops.assert_each(0..N, 1, "after the ring dropped");
}

#[test]
fn a_sole_run_takes_events_only_while_there_is_room_and_drops_each_once() {
    const N: u64 = 23;
    let drops = Drops::new(N as usize);
    let (ring, mut readers, sole) = Ring::<Tracked>::new(4, 1, Claimers::Sole, Some(1)).unwrap();
    let mut producer = sole.unwrap();
    let mut events = (0..N).map(|id| Tracked::new(id, &drops));
    let mut read = Vec::new();
    let mut written = 0u64;
    loop {
        let (n, done) = {
            let mut burst = producer.burst().expect("open");
            // A limit past the room: the run stops at the room, and takes
            // no event it has no slot for.
            burst.write_run(&mut events, 3, 7)
        };
        written += n as u64;
        assert_eq!(
            events.size_hint().0 as u64,
            N - written,
            "a run takes exactly the events it writes"
        );
        if done {
            break;
        }
        assert!(n <= 3, "at most the limit");
        // Publish times: the sampled (even) sequences carry the run's.
        read.extend(
            std::iter::from_fn(|| {
                let mut got = None;
                readers[0].drain_settled(
                    1,
                    &mut (),
                    |(), seq, value, _, time| {
                        assert_eq!(value.id, seq);
                        assert_eq!(time, if seq % 2 == 0 { 7 } else { 0 }, "time of {seq}");
                        got = Some(value.id);
                        ControlFlow::Continue(())
                    },
                    |(), _| {},
                );
                got
            })
            .take(2),
        );
    }
    assert_eq!(written, N);
    read.extend(read_all(&mut readers[0], 0));
    assert_eq!(
        read,
        (0..N).collect::<Vec<_>>(),
        "every event once, in order"
    );
    // Each value overwritten by a later lap was dropped by the run.
    drops.assert_each(0..N - 4, 1, "overwritten");
    drop((producer, readers, ring));
    drops.assert_each(0..N, 1, "after the ring dropped");
}

#[test]
fn a_sole_run_whose_input_panics_publishes_what_it_wrote() {
    let drops = Drops::new(6);
    let (ring, mut readers, sole) = Ring::<Tracked>::new(8, 1, Claimers::Sole, None).unwrap();
    let mut producer = sole.unwrap();
    let unwound = panic::catch_unwind(panic::AssertUnwindSafe(|| {
        let mut burst = producer.burst().expect("open");
        let mut events = (0..6).map(|id| {
            assert!(id < 3, "input fails at 3");
            Tracked::new(id, &drops)
        });
        burst.write_run(&mut events, 6, 0)
    }));
    assert!(unwound.is_err());
    assert_eq!(read_all(&mut readers[0], 0), vec![0, 1, 2]);
    // The producer goes on from where the run stopped.
    let (n, done) = producer.burst().expect("open").write_run(
        &mut (3..6).map(|id| Tracked::new(id, &drops)),
        6,
        0,
    );
    assert_eq!((n, done), (3, true));
    assert_eq!(read_all(&mut readers[0], 0), vec![3, 4, 5]);
    drop((producer, readers, ring));
    drops.assert_each(0..6, 1, "after the ring dropped");
}
