//! Which partition an event goes to.
//!
//! A [`Partitioner`] maps an event to a partition index. Built-ins:
//!
//! | partitioner | use |
//! | --- | --- |
//! | [`ByKey`] / [`ByKeyBytes`] | keyed events: one key, one partition, order kept per key. Kafka's murmur2, so a key lands on the same partition number as in a Kafka topic of the same size, in every process and release. |
//! | [`RoundRobin`] | keyless events spread evenly |
//! | [`Sticky`] | keyless events in runs: stays on one partition for a while, moves on per batch (Kafka's sticky partitioner) |
//! | [`Fixed`] | everything to one partition |
//!
//! A closure `Fn(&E, u32) -> u32` is a partitioner too.

mod builtin;
mod key;
mod murmur2;

pub use builtin::{Fixed, RoundRobin, Sticky};
pub use key::{by_key, by_key_bytes, ByKey, ByKeyBytes, PartitionKey};
pub use murmur2::{kafka_partition, murmur2};

/// Decides the partition of each published event.
///
/// # Correctness
///
/// `partition(event, partitions)` must return an index in `0..partitions`,
/// for every event and every `partitions >= 1`, and should return the same
/// index for events that must stay in order relative to each other (the same
/// key). This is a logic contract, not a safety one: an index out of range
/// makes that one publish fail with
/// [`PublishError::InvalidPartition`](crate::PublishError::InvalidPartition)
/// (the event is handed back and the failure counted); the engine never
/// panics or misroutes because of it.
///
/// # Examples
///
/// ```
/// use veltrix::Partitioner;
///
/// /// Even ids to partition 0, odd ids to partition 1.
/// struct Parity;
///
/// impl Partitioner<u64> for Parity {
///     fn partition(&self, event: &u64, partitions: u32) -> u32 {
///         (*event % 2) as u32 % partitions
///     }
/// }
///
/// assert_eq!(Parity.partition(&7, 2), 1);
/// ```
pub trait Partitioner<E>: Send + Sync + 'static {
    /// The partition of `event` in a topic of `partitions` partitions.
    fn partition(&self, event: &E, partitions: u32) -> u32;

    /// Called once at the start of every `publish_batch`, before the batch's
    /// events are partitioned. Sticky partitioners move on here.
    fn on_batch_start(&self) {}
}

impl<E, F> Partitioner<E> for F
where
    F: Fn(&E, u32) -> u32 + Send + Sync + 'static,
{
    fn partition(&self, event: &E, partitions: u32) -> u32 {
        self(event, partitions)
    }
}
