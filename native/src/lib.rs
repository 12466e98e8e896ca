//! osms's native core, `osms_native` in Python (imported through services/common/native.py, which
//! refuses a build older than these sources): the services' hot paths, where Python's own CPU was
//! what limited them. Pure: no I/O, no clock. The Python code keeps the rules' prose and the models;
//! this crate computes and checks as they say.
//!
//! - calendar: days as ordinals (Python's date.toordinal()), months, years, real dates;
//! - person: a person's history (PersonState), folded batch by batch, and its daily states;
//! - deltas: what histories add to the financing calendars (Deltas), and the calendars' rows;
//! - sql: the text of the PostgreSQL array literals the stores send;
//! - iin: the IIN check;
//! - events: the financing consumer's reading of events;
//! - visits: the registry's visits: the request body, the INSERT's columns, the events;
//! - outbox: packed outbox rows;
//! - kafka: Kafka's default partitioner, for the outbox relay;
//! - uuid: UUIDs as text;
//! - schema: what the decoders accept, for the test that holds them to the Python models.

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
