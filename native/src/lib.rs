//! The financing projection's timeline core: a person's history -> what it adds to the per-clinic
//! calendars, and the difference of that between two histories; and the IIN check digit. Pure, no
//! I/O, no clock. Python imports it through services/common/native.py.
//!
//! services/financing/projection.py holds the rules' prose, the event folding and the history
//! (PersonState); this module does the arithmetic of every batch, which in Python was about half of
//! the consumer's CPU. Days are proleptic ordinals as Python's date.toordinal() gives them.
//!
//! From a history:
//! - day deltas: on each day the person's (clinic, active, insured) changes, -1 from the old
//!   clinic's counts and +1 to the new one's: the counts of any date are the sum of deltas up to it;
//! - month deltas: the same for the full cell (age band, sex, active, insured) sampled on the first
//!   day of each month, the day the monthly amount is counted on.

use pyo3::prelude::*;

mod calendar;
mod deltas;
mod events;
mod iin;
mod kafka;
mod outbox;
mod person;
mod schema;
mod sql;
mod uuid;
mod visits;

#[pymodule]
fn osms_native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<deltas::Deltas>()?;
    m.add_class::<person::PersonState>()?;
    m.add_function(wrap_pyfunction!(deltas::daily_states_of, m)?)?;
    m.add_function(wrap_pyfunction!(sql::visit_key_columns, m)?)?;
    m.add_function(wrap_pyfunction!(calendar::month_index_of, m)?)?;
    m.add_function(wrap_pyfunction!(iin::check_digit, m)?)?;
    m.add_function(wrap_pyfunction!(iin::iin_problem, m)?)?;
    m.add_function(wrap_pyfunction!(events::financing_event, m)?)?;
    m.add_function(wrap_pyfunction!(visits::visits_body, m)?)?;
    m.add_function(wrap_pyfunction!(kafka::key_partition, m)?)?;
    m.add_function(wrap_pyfunction!(kafka::kafka_murmur2, m)?)?;
    m.add_function(wrap_pyfunction!(visits::visit_columns, m)?)?;
    m.add_function(wrap_pyfunction!(visits::visit_packed, m)?)?;
    m.add_function(wrap_pyfunction!(outbox::outbox_pack, m)?)?;
    m.add_function(wrap_pyfunction!(outbox::outbox_unpack, m)?)?;
    m.add_function(wrap_pyfunction!(schema::decoder_schemas, m)?)?;
    m.add("SOURCE_HASH", env!("OSMS_NATIVE_SOURCE_HASH"))?;
    Ok(())
}
