//! The registry's visits, its hot path (services/registry/app.py `post_visits`, store.py): a request
//! body of up to 1,000 visits read into plain tuples, their columns for the INSERT, and their
//! visit-recorded events packed for the outbox.
//!
//! `visits_body` is a fast path, not a second schema: it accepts a strict subset of what the
//! request's pydantic model (`VisitsIn`) accepts: a JSON object whose only key is `visits`, a list of
//! 1 to 1,000 objects with only the model's keys, each once, strings where the model takes strings
//! (within its lengths, without control characters), `practitioner_id` a string or null or absent,
//! and each date exactly `YYYY-MM-DD`. It returns None for anything else, and the caller validates
//! the body with pydantic, which either accepts it (the same tuples) or answers the 422.
//! tests/unit/registry/test_visits_body.py holds the two to that on valid and on broken bodies,
//! tests/unit/test_native_schema.py the fields and limits to the model's (see `schema`).

use pyo3::prelude::*;
use pyo3::types::{PyDate, PyDateAccess, PyList, PyTuple};
use pyo3::IntoPyObjectExt;
use serde::Deserialize;
use std::borrow::Cow;
use std::ops::RangeInclusive;

use crate::calendar::iso_day;
use crate::schema::Schema;
use crate::sql::text_array_of;
use crate::uuid::hyphenated;

/// How many visits a body holds (the model's min_length and max_length).
const VISITS: RangeInclusive<usize> = 1..=1000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Body<'a> {
    #[serde(borrow)]
    visits: Vec<Item<'a>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Item<'a> {
    #[serde(borrow)]
    visit_id: Cow<'a, str>,
    #[serde(borrow)]
    clinic_id: Cow<'a, str>,
    #[serde(borrow)]
    iin: Cow<'a, str>,
    #[serde(borrow)]
    date: Cow<'a, str>,
    #[serde(borrow)]
    kind: Cow<'a, str>,
    #[serde(default, borrow)]
    practitioner_id: Option<Cow<'a, str>>,
}

/// Within `min..=max` characters (pydantic counts characters, not bytes).
fn chars_within(s: &str, min: usize, max: usize) -> bool {
    if s.len() < min {
        return false;
    }
    if s.len() <= max {
        return true; // as many characters as bytes at most
    }
    let n = s.chars().count();
    n >= min && n <= max
}

/// The model's `_TEXT` pattern: no control characters (U+0000-U+001F, U+007F).
fn plain_text(s: &str) -> bool {
    !s.bytes().any(|b| b < 0x20 || b == 0x7f)
}

/// The model's `_TEXT` pattern, which plain_text checks.
const TEXT_PATTERN: &str = r"^[^\x00-\x1f\x7f]*$";

/// What the model's Field(...) allows of a text: from min to max characters, and, with `plain`, only
/// what the `_TEXT` pattern matches.
struct Text {
    min: usize,
    max: usize,
    plain: bool,
}

impl Text {
    fn holds(&self, s: &str) -> bool {
        chars_within(s, self.min, self.max) && (!self.plain || plain_text(s))
    }
}

const VISIT_ID: Text = Text { min: 1, max: 64, plain: true };
const CLINIC_ID: Text = Text { min: 1, max: 64, plain: true };
const IIN: Text = Text { min: 0, max: 32, plain: false };
const KIND: Text = Text { min: 1, max: 64, plain: true };
const PRACTITIONER_ID: Text = Text { min: 0, max: 64, plain: true };

/// `YYYY-MM-DD` of a real date from 1900 to 2199; None for any other form (pydantic, which takes
/// more forms, then decides).
fn iso_date(s: &str) -> Option<(i32, u8, u8)> {
    let (_, (y, m, d)) = iso_day(s.as_bytes())?;
    (1900..=2199).contains(&y).then_some((y, m as u8, d as u8))
}

/// What visits_body accepts (schema.rs): the body's fields, and its visits' fields and limits.
pub(crate) fn schema() -> PyResult<Schema> {
    let mut item = Schema::of::<Item<'static>>()?;
    for (field, text) in [("visit_id", VISIT_ID), ("clinic_id", CLINIC_ID), ("iin", IIN), ("kind", KIND),
                          ("practitioner_id", PRACTITIONER_ID)] {
        item = item.length(field, text.min, text.max);
        if text.plain {
            item = item.pattern(field, TEXT_PATTERN);
        }
    }
    Ok(Schema::of::<Body<'static>>()?.length("visits", *VISITS.start(), *VISITS.end()).items("visits", item))
}

/// The visits of a request body as (visit_id, clinic_id, iin, date, kind, practitioner_id) tuples,
/// in order; None when the body is outside the fast path (see the module's comment).
#[pyfunction]
pub fn visits_body<'py>(py: Python<'py>, body: &[u8]) -> PyResult<Option<Bound<'py, PyList>>> {
    let parsed: Body = match serde_json::from_slice(body) {
        Ok(b) => b,
        Err(_) => return Ok(None),
    };
    if !VISITS.contains(&parsed.visits.len()) {
        return Ok(None);
    }
    let mut dates = Vec::with_capacity(parsed.visits.len());
    for v in &parsed.visits {
        let ok = VISIT_ID.holds(&v.visit_id)
            && CLINIC_ID.holds(&v.clinic_id)
            && IIN.holds(&v.iin)
            && KIND.holds(&v.kind)
            && v.practitioner_id.as_deref().map_or(true, |p| PRACTITIONER_ID.holds(p));
        match (ok, iso_date(&v.date)) {
            (true, Some(d)) => dates.push(d),
            _ => return Ok(None),
        }
    }
    let out = PyList::empty(py);
    for (v, (y, m, d)) in parsed.visits.iter().zip(dates) {
        let practitioner = match &v.practitioner_id {
            Some(p) => p.as_ref().into_bound_py_any(py)?,
            None => py.None().into_bound(py),
        };
        let item = PyTuple::new(py, [
            v.visit_id.as_ref().into_bound_py_any(py)?,
            v.clinic_id.as_ref().into_bound_py_any(py)?,
            v.iin.as_ref().into_bound_py_any(py)?,
            PyDate::new(py, y, m, d)?.into_any(),
            v.kind.as_ref().into_bound_py_any(py)?,
            practitioner,
        ])?;
        out.append(item)?;
    }
    Ok(Some(out))
}

fn field<'py>(visit: &Bound<'py, PyAny>, i: usize) -> PyResult<Bound<'py, PyAny>> {
    visit.downcast::<PyTuple>()?.get_item(i)
}

fn iso(date: &Bound<'_, PyAny>) -> PyResult<String> {
    let d = date.downcast::<PyDate>()?;
    Ok(format!("{:04}-{:02}-{:02}", d.get_year(), d.get_month(), d.get_day()))
}

/// The six columns of visits (registry.domain.VisitIn tuples) as array literals, for the INSERT's
/// unnest: visit_id, clinic_id, iin, date, kind, practitioner_id.
#[pyfunction]
pub fn visit_columns(visits: &Bound<'_, PyList>) -> PyResult<(String, String, String, String, String, String)> {
    let text = |i: usize| {
        text_array_of(visits.iter().map(|v| Ok(Some(field(&v, i)?.extract::<String>()?))))
    };
    let dates = text_array_of(visits.iter().map(|v| Ok(Some(iso(&field(&v, 3)?)?))))?;
    let practitioners = text_array_of(visits.iter().map(|v| field(&v, 5)?.extract::<Option<String>>()))?;
    Ok((text(0)?, text(1)?, text(2)?, dates, text(4)?, practitioners))
}

#[derive(serde::Serialize)]
struct VisitData<'a> {
    clinic_id: &'a str,
    visit_id: &'a str,
    iin: &'a str,
    date: &'a str,
    kind: &'a str,
    practitioner_id: Option<&'a str>,
    integrity: &'static str,
    reasons: &'a [String],
}

#[derive(serde::Serialize)]
struct VisitEnvelope<'a> {
    event_id: &'a str,
    event_type: &'static str,
    schema_version: i32,
    occurred_at: &'a str,
    producer: &'a str,
    data: VisitData<'a>,
}

/// The visit-recorded events of these visits (registry.domain.VisitIn tuples) as one packed outbox
/// row (outbox.rs), keyed by IIN, each envelope as services.common.events.new_event makes it; `ids`
/// holds the event ids, 16 bytes each. `held`: {index of a visit: its reasons} of the visits the
/// intake's checks held (the others are clear).
#[pyfunction]
#[pyo3(signature = (visits, producer, occurred_at, ids, held=None))]
pub fn visit_packed<'py>(py: Python<'py>, visits: &Bound<'py, PyList>, producer: &str, occurred_at: &str,
                         ids: &[u8], held: Option<&Bound<'py, pyo3::types::PyDict>>)
                         -> PyResult<Bound<'py, pyo3::types::PyBytes>> {
    if ids.len() != 16 * visits.len() {
        return Err(pyo3::exceptions::PyValueError::new_err("16 bytes of event id a visit"));
    }
    let none: Vec<String> = Vec::new();
    let mut out = Vec::with_capacity(400 * visits.len());
    let mut buf = Vec::with_capacity(400);
    for (i, (v, id)) in visits.iter().zip(ids.chunks_exact(16)).enumerate() {
        let reasons: Option<Vec<String>> = match held {
            Some(h) => h.get_item(i)?.map(|r| r.extract()).transpose()?,
            None => None,
        };
        let t = v.downcast::<PyTuple>()?;
        let (visit_id, clinic_id, iin, kind): (String, String, String, String) = (
            t.get_item(0)?.extract()?, t.get_item(1)?.extract()?, t.get_item(2)?.extract()?, t.get_item(4)?.extract()?);
        let practitioner: Option<String> = t.get_item(5)?.extract()?;
        let date = iso(&t.get_item(3)?)?;
        let event_id = hyphenated(id);
        let envelope = VisitEnvelope {
            event_id: &event_id,
            event_type: "visit-recorded",
            schema_version: 1,
            occurred_at,
            producer,
            data: VisitData { clinic_id: &clinic_id, visit_id: &visit_id, iin: &iin, date: &date, kind: &kind,
                              practitioner_id: practitioner.as_deref(),
                              integrity: if reasons.is_some() { "held" } else { "clear" },
                              reasons: reasons.as_deref().unwrap_or(&none) },
        };
        buf.clear();
        serde_json::to_writer(&mut buf, &envelope).map_err(|e| pyo3::exceptions::PyValueError::new_err(e.to_string()))?;
        crate::outbox::push_event(&mut out, iin.as_bytes(), id, &buf)?;
    }
    Ok(pyo3::types::PyBytes::new(py, &out))
}
