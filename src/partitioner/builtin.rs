//! Keyless built-in partitioners.

use std::sync::atomic::{AtomicU64, Ordering};

use super::Partitioner;

/// Spreads events evenly: cycles through the partitions, one counter per
/// partitioner (so per topic), deterministic for a single producer.
///
/// # Examples
///
/// ```
/// use veltrix::partitioner::RoundRobin;
/// use veltrix::Partitioner;
///
/// let rr = RoundRobin::new();
/// let picks: Vec<u32> = (0..4).map(|_| rr.partition(&(), 4)).collect();
/// let mut sorted = picks.clone();
/// sorted.sort();
/// assert_eq!(sorted, vec![0, 1, 2, 3]);
/// ```
#[derive(Debug, Default)]
pub struct RoundRobin {
    next: AtomicU64,
}

impl RoundRobin {
    /// A round-robin partitioner.
    #[must_use]
    pub fn new() -> Self {
        RoundRobin::default()
    }
}

impl<E> Partitioner<E> for RoundRobin {
    #[inline]
    fn partition(&self, _event: &E, partitions: u32) -> u32 {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        (n % u64::from(partitions.max(1))) as u32
    }
}

/// Keeps sending to one partition and moves on to the next at every batch
/// start and every `linger` single events, like Kafka's sticky partitioner:
/// fewer, fuller batches per partition.
///
/// # Examples
///
/// ```
/// use veltrix::partitioner::Sticky;
/// use veltrix::Partitioner;
///
/// let sticky = Sticky::new(3);
/// let picks: Vec<u32> = (0..6).map(|_| sticky.partition(&(), 4)).collect();
/// assert_eq!(picks, vec![0, 0, 0, 1, 1, 1]);
/// ```
#[derive(Debug)]
pub struct Sticky {
    linger: u64,
    /// Events partitioned so far, rounded up to a multiple of `linger` at
    /// each batch start; the partition is `count / linger`.
    count: AtomicU64,
}

impl Sticky {
    /// Moves on every `linger` events (at least 1) and at each batch start.
    #[must_use]
    pub fn new(linger: u64) -> Self {
        Sticky {
            linger: linger.max(1),
            count: AtomicU64::new(0),
        }
    }
}

impl Default for Sticky {
    /// Moves on every 1024 events.
    fn default() -> Self {
        Sticky::new(1024)
    }
}

impl<E> Partitioner<E> for Sticky {
    #[inline]
    fn partition(&self, _event: &E, partitions: u32) -> u32 {
        let n = self.count.fetch_add(1, Ordering::Relaxed);
        ((n / self.linger) % u64::from(partitions.max(1))) as u32
    }

    fn on_batch_start(&self) {
        let linger = self.linger;
        let _ = self
            .count
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                Some(n.div_ceil(linger) * linger)
            });
    }
}

/// Sends every event to one partition.
///
/// # Examples
///
/// ```
/// use veltrix::partitioner::Fixed;
/// use veltrix::Partitioner;
///
/// assert_eq!(Fixed(2).partition(&"anything", 4), 2);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fixed(pub u32);

impl<E> Partitioner<E> for Fixed {
    #[inline]
    fn partition(&self, _event: &E, _partitions: u32) -> u32 {
        self.0
    }
}
