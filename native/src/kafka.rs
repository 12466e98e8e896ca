//! Kafka's default partitioner, so that the outbox relay knows each event's partition before it
//! sends: murmur2 of the key (the Java client's `Utils.murmur2`, aiokafka's `murmur2`).

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use std::num::NonZeroU32;

/// Kafka's murmur2 (the Java client's `Utils.murmur2`, as aiokafka's pure-Python `murmur2`).
fn murmur2(data: &[u8]) -> u32 {
    const M: u32 = 0x5bd1_e995;
    let mut h: u32 = 0x9747_b28c ^ data.len() as u32;
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> 24;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M) ^ k;
    }
    let rest = chunks.remainder();
    if rest.len() >= 3 {
        h ^= (rest[2] as u32) << 16;
    }
    if rest.len() >= 2 {
        h ^= (rest[1] as u32) << 8;
    }
    if !rest.is_empty() {
        h ^= rest[0] as u32;
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h
}

/// A topic's partition count, checked: a topic has at least one.
pub(crate) fn partition_count(partitions: u32) -> PyResult<NonZeroU32> {
    NonZeroU32::new(partitions).ok_or_else(|| PyValueError::new_err("a topic has at least one partition"))
}

/// The partition a keyed message goes to with the producer's default partitioner: murmur2 of the
/// key, its sign bit cleared, modulo the topic's partition count (aiokafka's DefaultPartitioner,
/// the Java client's too).
pub(crate) fn partition_of(key: &[u8], partitions: NonZeroU32) -> u32 {
    (murmur2(key) & 0x7fff_ffff) % partitions
}

/// partition_of one key: the relay's outbox rows that hold a single event.
#[pyfunction]
pub fn key_partition(key: &[u8], partitions: u32) -> PyResult<u32> {
    Ok(partition_of(key, partition_count(partitions)?))
}

/// murmur2 itself, for the test that holds it equal to aiokafka's.
#[pyfunction]
pub fn kafka_murmur2(key: &[u8]) -> u32 {
    murmur2(key)
}
