//! Packed outbox rows (services/common/outbox.py): the events of one topic that one transaction
//! writes together, held in one row instead of one row each: a row of each event cost PostgreSQL
//! many times the CPU, written and read back.
//!
//! The format, event after event: the key's length (u16, big-endian), the key (UTF-8), the event id
//! (16 bytes), the payload's length (u32, big-endian), the payload.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};

use crate::kafka::{partition_count, partition_of};
use crate::uuid::hyphenated;

/// Appends one event to a packed row.
pub fn push_event(out: &mut Vec<u8>, key: &[u8], id: &[u8], payload: &[u8]) -> PyResult<()> {
    let key_len = u16::try_from(key.len()).map_err(|_| PyValueError::new_err("an event key is under 64 KiB"))?;
    let payload_len = u32::try_from(payload.len()).map_err(|_| PyValueError::new_err("an event is under 4 GiB"))?;
    if id.len() != 16 {
        return Err(PyValueError::new_err("an event id is 16 bytes"));
    }
    out.extend_from_slice(&key_len.to_be_bytes());
    out.extend_from_slice(key);
    out.extend_from_slice(id);
    out.extend_from_slice(&payload_len.to_be_bytes());
    out.extend_from_slice(payload);
    Ok(())
}

/// A packed row of (key: str, event id: 16 bytes, payload: bytes) tuples.
#[pyfunction]
pub fn outbox_pack<'py>(py: Python<'py>, events: &Bound<'py, PyList>) -> PyResult<Bound<'py, PyBytes>> {
    let mut out = Vec::new();
    for e in events.iter() {
        let t = e.downcast::<PyTuple>()?;
        let key: String = t.get_item(0)?.extract()?;
        let id: Vec<u8> = t.get_item(1)?.extract()?;
        let payload = t.get_item(2)?;
        push_event(&mut out, key.as_bytes(), &id, payload.downcast::<PyBytes>()?.as_bytes())?;
    }
    Ok(PyBytes::new(py, &out))
}

fn take<'a>(blob: &'a [u8], at: &mut usize, n: usize) -> PyResult<&'a [u8]> {
    let end = at.checked_add(n).filter(|&end| end <= blob.len())
        .ok_or_else(|| PyValueError::new_err("a packed outbox row ends inside an event"))?;
    let part = &blob[*at..end];
    *at = end;
    Ok(part)
}

/// The events of a packed row, in order, as (partition index, key, event id as hyphenated text,
/// payload): the partition index is what the producer's own partitioner would choose for the key
/// among `partitions`.
#[pyfunction]
pub fn outbox_unpack<'py>(py: Python<'py>, blob: &[u8], partitions: u32) -> PyResult<Bound<'py, PyList>> {
    let partitions = partition_count(partitions)?;
    let out = PyList::empty(py);
    let mut at = 0;
    while at < blob.len() {
        let key_len = u16::from_be_bytes(take(blob, &mut at, 2)?.try_into().unwrap()) as usize;
        let key = take(blob, &mut at, key_len)?;
        let id = hyphenated(take(blob, &mut at, 16)?);
        let payload_len = u32::from_be_bytes(take(blob, &mut at, 4)?.try_into().unwrap()) as usize;
        let payload = take(blob, &mut at, payload_len)?;
        let partition = partition_of(key, partitions);
        out.append((partition, PyBytes::new(py, key), PyBytes::new(py, id.as_bytes()), PyBytes::new(py, payload)))?;
    }
    Ok(out)
}
