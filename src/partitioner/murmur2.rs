//! Kafka's murmur2: the hash of the Java client's default partitioner.
//!
//! Bit-compatible with `org.apache.kafka.common.utils.Utils.murmur2` (seed
//! `0x9747b28c`, little-endian 4-byte blocks, the Java tail switch), so that
//! `toPositive(murmur2(key)) % partitions` puts a key on the same partition
//! number as a Kafka topic with the same partition count.

const SEED: u32 = 0x9747_b28c;
const M: u32 = 0x5bd1_e995;
const R: u32 = 24;

/// Kafka's `Utils.murmur2(byte[])`, as an unsigned 32-bit value (Java's `int`
/// reinterpreted).
///
/// # Examples
///
/// ```
/// // Vector from Kafka's own UtilsTest.
/// assert_eq!(veltrix::partitioner::murmur2(b"21") as i32, -973932308);
/// ```
#[must_use]
pub fn murmur2(data: &[u8]) -> u32 {
    let length = data.len() as u32;
    let mut h = SEED ^ length;
    let mut blocks = data.chunks_exact(4);
    for block in &mut blocks {
        let mut k = u32::from_le_bytes([block[0], block[1], block[2], block[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = blocks.remainder();
    // Java sign-extends nothing here: it masks each byte with 0xff.
    if tail.len() >= 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if !tail.is_empty() {
        h ^= u32::from(tail[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h
}

/// The partition Kafka's default partitioner picks for a keyed record:
/// `toPositive(murmur2(key)) % partitions`.
///
/// # Examples
///
/// ```
/// let p = veltrix::partitioner::kafka_partition(b"player-42", 8);
/// assert!(p < 8);
/// ```
///
/// # Panics
///
/// Panics if `partitions` is 0.
#[must_use]
pub fn kafka_partition(key: &[u8], partitions: u32) -> u32 {
    (murmur2(key) & 0x7fff_ffff) % partitions
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vectors of Kafka's `UtilsTest.testMurmur2`.
    #[test]
    fn matches_kafka_utils_test_vectors() {
        let cases: [(&[u8], i32); 6] = [
            (b"21", -973_932_308),
            (b"foobar", -790_332_482),
            (b"a-little-bit-long-string", -985_981_536),
            (b"a-little-bit-longer-string", -1_486_304_829),
            (
                b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58_897_971,
            ),
            (b"abc", 479_470_107),
        ];
        for (key, expected) in cases {
            assert_eq!(
                murmur2(key) as i32,
                expected,
                "key {:?}",
                String::from_utf8_lossy(key)
            );
        }
    }

    /// Vectors used by other Kafka clients (kafkajs, Akka) for string keys.
    #[test]
    fn matches_other_clients_vectors() {
        let cases: [(&str, i32); 5] = [
            ("1", -1_993_445_489),
            ("12", 126_087_238),
            ("123", -267_702_483),
            ("1234", -1_614_185_708),
            ("12345", -1_188_365_604),
        ];
        for (key, expected) in cases {
            assert_eq!(murmur2(key.as_bytes()) as i32, expected, "key {key:?}");
        }
    }

    #[test]
    fn kafka_partition_is_to_positive_mod() {
        // murmur2("21") = -973932308; toPositive = 0x7fffffff & that.
        let positive = (-973_932_308i32 as u32) & 0x7fff_ffff;
        assert_eq!(kafka_partition(b"21", 7), positive % 7);
    }
}
