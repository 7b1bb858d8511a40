//! Keyed partitioning with Kafka's default hash.

use std::fmt;
use std::marker::PhantomData;

use super::{kafka_partition, Partitioner};

/// A key that can pick a partition: its bytes are hashed the way Kafka's
/// Java client hashes the serialized key.
///
/// Strings hash their UTF-8 bytes (Kafka's `StringSerializer`); integers
/// their big-endian bytes (`ShortSerializer`, `IntegerSerializer`,
/// `LongSerializer`; unsigned types use the same bit pattern); byte slices
/// themselves.
pub trait PartitionKey {
    /// Calls `f` with the key's serialized bytes.
    fn with_key_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R;
}

macro_rules! int_key {
    ($($t:ty),*) => {$(
        impl PartitionKey for $t {
            fn with_key_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
                f(&self.to_be_bytes())
            }
        }
    )*};
}
int_key!(u16, i16, u32, i32, u64, i64, u128, i128);

impl PartitionKey for str {
    fn with_key_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        f(self.as_bytes())
    }
}

impl PartitionKey for String {
    fn with_key_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        f(self.as_bytes())
    }
}

impl PartitionKey for [u8] {
    fn with_key_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        f(self)
    }
}

impl PartitionKey for Vec<u8> {
    fn with_key_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        f(self)
    }
}

impl<T: PartitionKey + ?Sized> PartitionKey for &T {
    fn with_key_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        (**self).with_key_bytes(f)
    }
}

/// Partitions by an owned key extracted from each event. Made by [`by_key`].
pub struct ByKey<F, K> {
    key: F,
    _key: PhantomData<fn() -> K>,
}

/// Partitions by a key borrowed from each event as bytes. Made by
/// [`by_key_bytes`].
pub struct ByKeyBytes<F> {
    key: F,
}

/// Partitions by `key(event)` hashed with Kafka's murmur2: events with one key
/// share a partition and keep their order; the mapping is stable across
/// processes and releases, and equals the Java client's default partitioner
/// for the same serialized key and partition count.
///
/// # Examples
///
/// ```
/// use veltrix::partitioner::{by_key, kafka_partition};
/// use veltrix::Partitioner;
///
/// struct Move { player: u64 }
///
/// let p = by_key(|m: &Move| m.player);
/// let expected = kafka_partition(&42u64.to_be_bytes(), 8);
/// assert_eq!(p.partition(&Move { player: 42 }, 8), expected);
/// ```
#[must_use]
pub fn by_key<E, K, F>(key: F) -> ByKey<F, K>
where
    F: Fn(&E) -> K,
    K: PartitionKey,
{
    ByKey {
        key,
        _key: PhantomData,
    }
}

/// Like [`by_key`] for keys borrowed from the event (a name, a byte id).
///
/// # Examples
///
/// ```
/// use veltrix::partitioner::{by_key_bytes, kafka_partition};
/// use veltrix::Partitioner;
///
/// struct Chat { room: String }
///
/// let p = by_key_bytes(|c: &Chat| c.room.as_bytes());
/// let chat = Chat { room: "lobby".into() };
/// assert_eq!(p.partition(&chat, 4), kafka_partition(b"lobby", 4));
/// ```
#[must_use]
pub fn by_key_bytes<E, F>(key: F) -> ByKeyBytes<F>
where
    F: for<'a> Fn(&'a E) -> &'a [u8],
{
    ByKeyBytes { key }
}

impl<E, K, F> Partitioner<E> for ByKey<F, K>
where
    F: Fn(&E) -> K + Send + Sync + 'static,
    K: PartitionKey + 'static,
{
    #[inline]
    fn partition(&self, event: &E, partitions: u32) -> u32 {
        (self.key)(event).with_key_bytes(|bytes| kafka_partition(bytes, partitions.max(1)))
    }
}

impl<E, F> Partitioner<E> for ByKeyBytes<F>
where
    F: for<'a> Fn(&'a E) -> &'a [u8] + Send + Sync + 'static,
{
    #[inline]
    fn partition(&self, event: &E, partitions: u32) -> u32 {
        kafka_partition((self.key)(event), partitions.max(1))
    }
}

impl<F, K> fmt::Debug for ByKey<F, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ByKey(murmur2)")
    }
}

impl<F> fmt::Debug for ByKeyBytes<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ByKeyBytes(murmur2)")
    }
}
