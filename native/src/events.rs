//! The financing consumer's reading of an event: the fields the projection uses, as a tuple
//! (services/financing/projection.py, `read_event`), parsed and checked here for speed: pydantic's
//! decoding (services/common/events.py) was a large part of the consumer's own CPU.
//!
//! This is a fast path, not a second schema: it accepts a strict subset of what the pydantic models
//! accept (canonical forms only: JSON strings, integers and nulls where the models take them, ISO
//! dates, hyphenated UUIDs, `YYYY-MM-DDTHH:MM:SS[.ffffff][Z|±HH:MM]` times), checks every field the
//! models declare, and returns None for anything else. Then the caller decodes the event with pydantic,
//! which either accepts it (and the same tuple is built from the model) or finds it malformed.
//! tests/unit/financing/test_financing_read_event.py holds the two to that on valid and broken events,
//! tests/unit/test_native_schema.py the fields and allowed values to the models' (see `schemas`).

use pyo3::prelude::*;
use pyo3::types::{PyList, PyTuple};
use pyo3::IntoPyObjectExt;
use serde::de::IgnoredAny;
use serde::{Deserialize, Deserializer};
use std::borrow::Cow;

use crate::calendar::{iso_day, number};
use crate::iin::iin_problem;
use crate::schema::Schema;
use crate::uuid::is_hyphenated;

// The tuples' first item (projection.py names them).
const VISIT: i32 = 0;
const ATTACHED: i32 = 1;
const DETACHED: i32 = 2;
const STATUS: i32 = 3;
const RESOLVED: i32 = 4;
const CLINIC: i32 = 5;
const INTEGRITY: i32 = 6;

// The values the models allow where they take only some (their Literal types).
const ATTACHMENT_REASONS: &[&str] = &["choice", "address_change", "newborn", "campaign"];
const SEXES: &[&str] = &["M", "F"];
const DETACHMENT_REASONS: &[&str] = &["death", "other"];
const STATUSES: &[&str] = &["insured", "grace", "not_insured"];
const APPEAL_KINDS: &[&str] = &["consultation", "complaint"];
const SETTLEMENTS: &[&str] = &["urban", "rural"];
const INTEGRITIES: &[&str] = &["clear", "held"];

#[derive(Deserialize)]
#[allow(dead_code)]
struct Envelope<'a, D> {
    #[serde(borrow)]
    event_id: Cow<'a, str>,
    #[serde(borrow)]
    event_type: Cow<'a, str>,
    #[serde(default = "one")]
    schema_version: i64,
    #[serde(borrow)]
    occurred_at: Cow<'a, str>,
    #[serde(borrow)]
    producer: Cow<'a, str>,
    data: D,
}

fn one() -> i64 {
    1
}

/// A field the model requires but lets be null (`x: T | None` without a default): serde would take
/// a missing Option as None, pydantic does not.
fn nullable<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Cow<'de, str>>, D::Error> {
    Option::<Cow<'de, str>>::deserialize(d)
}

fn death() -> Cow<'static, str> {
    Cow::Borrowed("death")
}

#[derive(Deserialize)]
struct Visit<'a> {
    #[serde(borrow)]
    clinic_id: Cow<'a, str>,
    #[serde(borrow)]
    visit_id: Cow<'a, str>,
    #[serde(borrow)]
    iin: Cow<'a, str>,
    #[serde(borrow)]
    date: Cow<'a, str>,
    #[allow(dead_code)]
    #[serde(borrow)]
    kind: Cow<'a, str>,
    #[serde(default)]
    #[allow(dead_code)]
    #[serde(borrow)]
    practitioner_id: Option<Cow<'a, str>>,
    #[serde(default = "clear", borrow)]
    integrity: Cow<'a, str>,
    #[serde(default, borrow)]
    #[allow(dead_code)]
    reasons: Vec<Cow<'a, str>>,
}

fn clear() -> Cow<'static, str> {
    Cow::Borrowed("clear")
}

#[derive(Deserialize)]
struct Held<'a> {
    #[serde(borrow)]
    clinic_id: Cow<'a, str>,
    #[serde(borrow)]
    visit_id: Cow<'a, str>,
    #[serde(borrow)]
    iin: Cow<'a, str>,
    #[serde(borrow)]
    date: Cow<'a, str>,
    #[serde(borrow)]
    #[allow(dead_code)]
    reasons: Vec<Cow<'a, str>>,
    integrity_version: i64,
    #[serde(default)]
    #[allow(dead_code)]
    voided: bool,
}

#[derive(Deserialize)]
struct Cleared<'a> {
    #[serde(borrow)]
    clinic_id: Cow<'a, str>,
    #[serde(borrow)]
    visit_id: Cow<'a, str>,
    #[serde(borrow)]
    iin: Cow<'a, str>,
    #[serde(borrow)]
    date: Cow<'a, str>,
    integrity_version: i64,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct Attached<'a> {
    #[serde(borrow)]
    attachment_id: Cow<'a, str>,
    #[serde(borrow)]
    iin: Cow<'a, str>,
    #[serde(borrow)]
    clinic_id: Cow<'a, str>,
    #[serde(default)]
    #[serde(borrow)]
    previous_clinic_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    reason: Cow<'a, str>,
    #[serde(borrow)]
    effective_date: Cow<'a, str>,
    #[serde(borrow)]
    birth_date: Cow<'a, str>,
    #[serde(borrow)]
    sex: Cow<'a, str>,
    person_version: i64,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct Detached<'a> {
    #[serde(borrow)]
    iin: Cow<'a, str>,
    #[serde(borrow)]
    clinic_id: Cow<'a, str>,
    #[serde(default)]
    #[serde(borrow)]
    attachment_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    date: Cow<'a, str>,
    #[serde(default = "death")]
    #[serde(borrow)]
    reason: Cow<'a, str>,
    person_version: i64,
}

#[derive(Deserialize)]
struct Period<'a> {
    #[serde(borrow)]
    from: Cow<'a, str>,
    #[serde(borrow)]
    until: Cow<'a, str>,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct Status<'a> {
    #[serde(borrow)]
    iin: Cow<'a, str>,
    #[serde(borrow)]
    payer_kind: Cow<'a, str>,
    #[serde(default)]
    covered_months: Vec<Cow<'a, str>>,
    #[serde(borrow)]
    status: Cow<'a, str>,
    #[serde(borrow)]
    reason: Cow<'a, str>,
    #[serde(borrow)]
    status_as_of: Cow<'a, str>,
    #[serde(deserialize_with = "nullable")]
    #[serde(borrow)]
    insured_until: Option<Cow<'a, str>>,
    #[serde(deserialize_with = "nullable")]
    #[serde(borrow)]
    last_covered_month: Option<Cow<'a, str>>,
    status_version: i64,
    #[serde(default)]
    insured_periods: Vec<Period<'a>>,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct Resolved<'a> {
    #[serde(borrow)]
    appeal_id: Cow<'a, str>,
    #[serde(borrow)]
    registration_number: Cow<'a, str>,
    #[serde(borrow)]
    kind: Cow<'a, str>,
    #[serde(default)]
    #[serde(borrow)]
    category: Option<Cow<'a, str>>,
    #[serde(borrow)]
    status: Cow<'a, str>,
    #[serde(borrow)]
    region: Cow<'a, str>,
    #[serde(default)]
    #[serde(borrow)]
    clinic_id: Option<Cow<'a, str>>,
    #[serde(default)]
    #[serde(borrow)]
    visit_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    resolved_on: Cow<'a, str>,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct Clinic<'a> {
    #[serde(borrow)]
    clinic_id: Cow<'a, str>,
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(borrow)]
    region: Cow<'a, str>,
    #[serde(borrow)]
    settlement: Cow<'a, str>,
    clinic_version: i64,
}

/// The ordinal of a `YYYY-MM-DD` day (years 1-9999), or None.
fn day(s: &str) -> Option<i32> {
    iso_day(s.as_bytes()).map(|(ordinal, _)| ordinal)
}

/// `YYYY-MM-DDTHH:MM:SS[.f{1,6}][Z|±HH:MM]`, a real day and time.
fn timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 19 || iso_day(&b[..10]).is_none() || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return false;
    }
    match (number(&b[11..13]), number(&b[14..16]), number(&b[17..19])) {
        (Some(h), Some(m), Some(sec)) if h < 24 && m < 60 && sec < 60 => {}
        _ => return false,
    }
    let mut rest = &b[19..];
    if rest.first() == Some(&b'.') {
        let digits = rest[1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if !(1..=6).contains(&digits) {
            return false;
        }
        rest = &rest[1 + digits..];
    }
    match rest {
        [] | [b'Z'] => true,
        [sign, h1, h2, b':', m1, m2] if *sign == b'+' || *sign == b'-' => {
            matches!((number(&[*h1, *h2]), number(&[*m1, *m2])), (Some(h), Some(m)) if h < 24 && m < 60)
        }
        _ => false,
    }
}

fn iin(s: &str) -> bool {
    iin_problem(s).is_none()
}

fn envelope<'a, D: Deserialize<'a>>(payload: &'a [u8], topic: &str) -> Option<D> {
    let e: Envelope<'a, D> = serde_json::from_slice(payload).ok()?;
    (e.event_type == topic && is_hyphenated(&e.event_id) && timestamp(&e.occurred_at)).then_some(e.data)
}

/// The projection's tuple of an event on `topic` (the topic's name without a test prefix), or None
/// when this fast path does not take it: then decode it with pydantic (see the module's comment).
#[pyfunction]
pub fn financing_event(py: Python<'_>, topic: &str, payload: &[u8]) -> PyResult<Option<PyObject>> {
    let t = |items: Vec<PyObject>| -> PyResult<Option<PyObject>> { Ok(Some(PyTuple::new(py, items)?.into_any().unbind())) };
    macro_rules! o {
        ($v:expr) => {
            $v.into_py_any(py)?
        };
    }
    match topic {
        "visit-recorded" => {
            let Some(d) = envelope::<Visit<'_>>(payload, topic) else { return Ok(None) };
            let (Some(on), true) = (day(&d.date), iin(&d.iin)) else { return Ok(None) };
            if !INTEGRITIES.contains(&d.integrity.as_ref()) {
                return Ok(None);
            }
            t(vec![o!(VISIT), o!(d.clinic_id), o!(d.visit_id), o!(d.iin), o!(on), o!(d.integrity == "held")])
        }
        "visit-held" => {
            let Some(d) = envelope::<Held<'_>>(payload, topic) else { return Ok(None) };
            let (Some(on), true) = (day(&d.date), iin(&d.iin)) else { return Ok(None) };
            t(vec![o!(INTEGRITY), o!(d.clinic_id), o!(d.visit_id), o!(d.iin), o!(on), o!(d.integrity_version), o!(true)])
        }
        "visit-cleared" => {
            let Some(d) = envelope::<Cleared<'_>>(payload, topic) else { return Ok(None) };
            let (Some(on), true) = (day(&d.date), iin(&d.iin)) else { return Ok(None) };
            t(vec![o!(INTEGRITY), o!(d.clinic_id), o!(d.visit_id), o!(d.iin), o!(on), o!(d.integrity_version), o!(false)])
        }
        "patient-attached" => {
            let Some(d) = envelope::<Attached<'_>>(payload, topic) else { return Ok(None) };
            let (Some(effective), Some(birth)) = (day(&d.effective_date), day(&d.birth_date)) else { return Ok(None) };
            if !iin(&d.iin)
                || !ATTACHMENT_REASONS.contains(&d.reason.as_ref())
                || !SEXES.contains(&d.sex.as_ref())
            {
                return Ok(None);
            }
            t(vec![o!(ATTACHED), o!(d.iin), o!(d.person_version), o!(d.clinic_id), o!(effective), o!(birth), o!(d.sex)])
        }
        "patient-detached" => {
            let Some(d) = envelope::<Detached<'_>>(payload, topic) else { return Ok(None) };
            let Some(on) = day(&d.date) else { return Ok(None) };
            if !iin(&d.iin) || !DETACHMENT_REASONS.contains(&d.reason.as_ref()) {
                return Ok(None);
            }
            t(vec![o!(DETACHED), o!(d.iin), o!(d.person_version), o!(on)])
        }
        "contribution-paid" => {
            let Some(d) = envelope::<Status<'_>>(payload, topic) else { return Ok(None) };
            if !iin(&d.iin)
                || !STATUSES.contains(&d.status.as_ref())
                || day(&d.status_as_of).is_none()
                || d.insured_until.as_deref().is_some_and(|u| day(u).is_none())
            {
                return Ok(None);
            }
            let mut periods = Vec::with_capacity(d.insured_periods.len());
            for p in &d.insured_periods {
                let (Some(from), Some(until)) = (day(&p.from), day(&p.until)) else { return Ok(None) };
                periods.push((from, until + 1));
            }
            let periods = PyList::new(py, periods)?;
            t(vec![o!(STATUS), o!(d.iin), o!(d.status_version), periods.into_any().unbind()])
        }
        "appeal-resolved" => {
            let Some(d) = envelope::<Resolved<'_>>(payload, topic) else { return Ok(None) };
            if day(&d.resolved_on).is_none() || !APPEAL_KINDS.contains(&d.kind.as_ref()) {
                return Ok(None);
            }
            t(vec![o!(RESOLVED), o!(d.status), o!(d.category), o!(d.clinic_id), o!(d.visit_id)])
        }
        "clinic-registered" => {
            let Some(d) = envelope::<Clinic<'_>>(payload, topic) else { return Ok(None) };
            if !SETTLEMENTS.contains(&d.settlement.as_ref()) {
                return Ok(None);
            }
            t(vec![o!(CLINIC), o!(d.clinic_id), o!(d.clinic_version), o!(d.region), o!(d.name), o!(d.settlement)])
        }
        _ => Ok(None),
    }
}

/// What financing_event accepts (schema.rs): the envelope's fields, and for each event type its
/// fields and the values it allows.
pub(crate) fn schemas() -> PyResult<(Schema, Vec<(&'static str, Schema)>)> {
    Ok((Schema::of::<Envelope<'static, IgnoredAny>>()?, vec![
        ("visit-recorded", Schema::of::<Visit<'static>>()?.allowing("integrity", INTEGRITIES)),
        ("visit-held", Schema::of::<Held<'static>>()?),
        ("visit-cleared", Schema::of::<Cleared<'static>>()?),
        ("patient-attached", Schema::of::<Attached<'static>>()?
            .allowing("reason", ATTACHMENT_REASONS)
            .allowing("sex", SEXES)),
        ("patient-detached", Schema::of::<Detached<'static>>()?.allowing("reason", DETACHMENT_REASONS)),
        ("contribution-paid", Schema::of::<Status<'static>>()?
            .allowing("status", STATUSES)
            .items("insured_periods", Schema::of::<Period<'static>>()?)),
        ("appeal-resolved", Schema::of::<Resolved<'static>>()?.allowing("kind", APPEAL_KINDS)),
        ("clinic-registered", Schema::of::<Clinic<'static>>()?.allowing("settlement", SETTLEMENTS)),
    ]))
}
