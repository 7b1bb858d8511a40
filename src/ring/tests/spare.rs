//! Spare slots: a reader that attaches to a running ring and detaches
//! again (see [`spare`](crate::ring::spare)), on both kinds of claim.

use super::{read_all, Drops, Tracked};
use crate::ring::{AttachRefused, Claimers, ReaderSpec, Ring, SoleProducer, StartAt};

/// One gating reader and one spare slot.
fn specs() -> [ReaderSpec; 2] {
    [
        ReaderSpec::default(),
        ReaderSpec {
            spare: true,
            ..ReaderSpec::default()
        },
    ]
}

fn push(ring: &Ring<Tracked>, sole: &mut Option<SoleProducer<Tracked>>, value: Tracked) -> bool {
    match sole {
        Some(sole) => sole.burst().expect("open").push(value).is_ok(),
        None => ring.try_push(value).is_ok(),
    }
}

/// A detached slot holds nobody back: the producer laps it (a full ring
/// refuses only because of the gating reader), it does not count in the
/// depth, and no reader is made for it.
#[test]
fn a_detached_spare_slot_gates_nobody() {
    for claimers in [Claimers::Shared, Claimers::Sole] {
        let total = 40;
        let drops = Drops::new(total as usize);
        let (ring, mut readers, mut sole) =
            Ring::<Tracked>::with_readers(4, &specs(), claimers, None).unwrap();
        assert_eq!(readers.len(), 1, "no reader for the spare slot");
        assert!(ring.is_detached(1));
        let mut read = Vec::new();
        for id in 0..total {
            assert!(push(&ring, &mut sole, Tracked::new(id, &drops)), "{id}");
            read.extend(read_all(&mut readers[0], 0));
        }
        assert_eq!(read, (0..total).collect::<Vec<_>>());
        assert_eq!(ring.depth(), 0);
        assert_eq!(ring.lagged(1), 0, "a detached slot misses nobody's events");
        drop((sole, readers, ring));
        drops.assert_each(0..total, 1, "after the ring dropped");
    }
}

/// Attached at the newest event, a reader sees exactly what is published
/// after it, gates the producer as any reader does, and once dropped is
/// lapped again.
#[test]
fn a_reader_attached_at_the_newest_event_gates_until_dropped() {
    for claimers in [Claimers::Shared, Claimers::Sole] {
        let total = 30;
        let drops = Drops::new(total as usize);
        let (ring, mut readers, mut sole) =
            Ring::<Tracked>::with_readers(4, &specs(), claimers, None).unwrap();
        for id in 0..10 {
            assert!(push(&ring, &mut sole, Tracked::new(id, &drops)));
            read_all(&mut readers[0], 0);
        }
        let mut late = Ring::attach(&ring, 1, StartAt::Newest).unwrap();
        assert_eq!(late.next(), 10);
        assert!(!ring.is_detached(1));
        assert_eq!(
            Ring::attach(&ring, 1, StartAt::Newest).err(),
            Some(AttachRefused::InUse)
        );
        assert_eq!(
            Ring::attach(&ring, 0, StartAt::Newest).err(),
            Some(AttachRefused::NotSpare)
        );
        for id in 10..14 {
            assert!(push(&ring, &mut sole, Tracked::new(id, &drops)));
            read_all(&mut readers[0], 0);
        }
        // The late reader holds the ring now: four unread events fill it.
        assert!(!push(&ring, &mut sole, Tracked::new(14, &drops)));
        drops.0[14].fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        assert_eq!(read_all(&mut late, 0), (10..14).collect::<Vec<_>>());
        // Still holding it after a read: four more fill it again.
        for id in 14..18 {
            assert!(push(&ring, &mut sole, Tracked::new(id, &drops)));
            read_all(&mut readers[0], 0);
        }
        assert!(!push(&ring, &mut sole, Tracked::new(18, &drops)));
        drops.0[18].fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        assert_eq!(read_all(&mut late, 0), (14..18).collect::<Vec<_>>());
        for id in 18..20 {
            assert!(push(&ring, &mut sole, Tracked::new(id, &drops)));
            read_all(&mut readers[0], 0);
            assert_eq!(read_all(&mut late, 0), vec![id]);
        }
        drop(late);
        assert!(ring.is_detached(1));
        for id in 20..total {
            assert!(push(&ring, &mut sole, Tracked::new(id, &drops)), "{id}");
            read_all(&mut readers[0], 0);
        }
        assert_eq!(ring.depth(), 0);
        drop((sole, readers, ring));
        drops.assert_each(0..total, 1, "after the ring dropped");
    }
}

/// Attached at the oldest event, a reader sees every event still in the
/// ring from where producers last lapped the slot, intact and in order,
/// then everything after.
#[test]
fn a_reader_attached_at_the_oldest_event_reads_what_the_ring_still_holds() {
    for claimers in [Claimers::Shared, Claimers::Sole] {
        let total = 20;
        let drops = Drops::new(total as usize);
        let (ring, mut readers, mut sole) =
            Ring::<Tracked>::with_readers(8, &specs(), claimers, None).unwrap();
        // Fewer than a ring: nothing lapped, all still there.
        for id in 0..6 {
            assert!(push(&ring, &mut sole, Tracked::new(id, &drops)));
        }
        read_all(&mut readers[0], 0);
        let mut early = Ring::attach(&ring, 1, StartAt::Oldest).unwrap();
        assert_eq!(read_all(&mut early, 0), (0..6).collect::<Vec<_>>());
        drop(early);
        // Many laps later: the slot was lapped, and what it starts at is
        // still in its slot.
        for id in 6..total {
            assert!(push(&ring, &mut sole, Tracked::new(id, &drops)));
            read_all(&mut readers[0], 0);
        }
        let mut early = Ring::attach(&ring, 1, StartAt::Oldest).unwrap();
        let seen = read_all(&mut early, 0);
        let first = early.next() - seen.len() as u64;
        assert!(first + 8 >= total, "starts at {first}, older than the ring");
        assert_eq!(seen, (first..total).collect::<Vec<_>>());
        drop((early, sole, readers, ring));
        drops.assert_each(0..total, 1, "after the ring dropped");
    }
}

/// A closed ring takes no new reader, and what it hands back leaves a
/// detached slot out (those events were every reader's already).
#[test]
fn a_closed_ring_refuses_an_attach_and_hands_back_only_unread_events() {
    for claimers in [Claimers::Shared, Claimers::Sole] {
        let drops = Drops::new(6);
        let (ring, mut readers, mut sole) =
            Ring::<Tracked>::with_readers(8, &specs(), claimers, None).unwrap();
        for id in 0..4 {
            assert!(push(&ring, &mut sole, Tracked::new(id, &drops)));
        }
        assert_eq!(read_all(&mut readers[0], 0), vec![0, 1, 2, 3]);
        let late = Ring::attach(&ring, 1, StartAt::Newest).unwrap();
        for id in 4..6 {
            assert!(push(&ring, &mut sole, Tracked::new(id, &drops)));
        }
        drop(late);
        ring.close();
        assert_eq!(
            Ring::attach(&ring, 1, StartAt::Oldest).err(),
            Some(AttachRefused::Closed)
        );
        drop(readers);
        let rest: Vec<u64> = ring
            .take_unconsumed()
            .unwrap()
            .iter()
            .map(|t| t.id)
            .collect();
        assert_eq!(rest, vec![4, 5]);
        drop((rest, sole, ring));
        drops.assert_each(0..6, 1, "after the ring dropped");
    }
}
