//! The hold (see `ring::hold`): a reader that saw a stream waits for the
//! producer's partial line only while it keeps moving, never hands out
//! more than is published or than it asked for, and a lone event is
//! handed out at once.

use std::ops::ControlFlow;

use crate::ring::{Claimers, Reader, Ring};

fn read(reader: &mut Reader<u64>, max: usize) -> Vec<u64> {
    let mut seen = Vec::new();
    reader.drain(max, |seq, value, _| {
        assert_eq!(*value, seq * 10, "the value published at {seq}");
        seen.push(seq);
        ControlFlow::Continue(())
    });
    seen
}

fn publish(ring: &Ring<u64>, seqs: std::ops::Range<u64>) {
    for seq in seqs {
        assert_eq!(ring.try_push(seq * 10).ok(), Some(seq));
    }
}

#[test]
fn a_held_reader_hands_out_what_is_published_when_the_producer_stops() {
    for claimers in [Claimers::Shared, Claimers::Sole] {
        let (ring, mut readers, sole) = Ring::<u64>::new(64, 1, claimers, None).unwrap();
        let mut sole = sole;
        let mut put = |seqs: std::ops::Range<u64>| match sole.as_mut() {
            Some(producer) => {
                let mut burst = producer.burst().expect("open");
                for seq in seqs {
                    assert_eq!(burst.push(seq * 10).ok(), Some(seq));
                }
            }
            None => publish(&ring, seqs),
        };
        let reader = &mut readers[0];
        // A lone event: no hold, handed out.
        put(0..1);
        assert_eq!(read(reader, 64), vec![0], "{claimers:?}");
        assert!(!reader.streaming, "{claimers:?}: one event is not a stream");
        // Three at once look like a stream: if the next slot shares the
        // line (the producer would be filling it), the reader holds for it;
        // the producer has stopped, so the first poll ends the hold and the
        // stream. Either way all three are handed out.
        put(1..4);
        assert_eq!(read(reader, 64), vec![1, 2, 3], "{claimers:?}");
        assert_eq!(
            reader.streaming,
            !ring.mid_line(4),
            "{claimers:?}: a hold that polled and saw no progress ends the stream"
        );
        // Never more than asked for, and the rest on the next call.
        put(4..9);
        assert_eq!(read(reader, 2), vec![4, 5], "{claimers:?}");
        assert_eq!(read(reader, 64), vec![6, 7, 8], "{claimers:?}");
        assert!(read(reader, 64).is_empty(), "{claimers:?}: nothing left");
    }
}

#[test]
fn a_reader_behind_a_streaming_producer_misses_nothing_and_keeps_order() {
    // Cross-thread: the reader holds partial lines while the producer
    // streams; every event arrives once, in order, with its value.
    const EVENTS: u64 = if cfg!(miri) { 200 } else { 200_000 };
    for claimers in [Claimers::Shared, Claimers::Sole] {
        let (ring, mut readers, sole) = Ring::<u64>::new(64, 1, claimers, None).unwrap();
        let producer = std::thread::spawn({
            let ring = std::sync::Arc::clone(&ring);
            move || {
                let mut sole = sole;
                let mut seq = 0;
                while seq < EVENTS {
                    let pushed = match sole.as_mut() {
                        Some(p) => p.burst().expect("open").push(seq * 10).is_ok(),
                        None => ring.try_push(seq * 10).is_ok(),
                    };
                    if pushed {
                        seq += 1;
                    } else {
                        std::thread::yield_now();
                    }
                }
            }
        });
        let mut expected = 0;
        while expected < EVENTS {
            let seen = read(&mut readers[0], 16);
            for seq in seen {
                assert_eq!(seq, expected, "{claimers:?}: in order, once each");
                expected += 1;
            }
            if expected < EVENTS {
                std::thread::yield_now();
            }
        }
        producer.join().unwrap();
    }
}
