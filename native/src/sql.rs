//! The text of PostgreSQL array literals (`{1,-2,3}`, `{"a",NULL}`), which the stores send as one
//! text parameter each: PostgreSQL parses the text for less than asyncpg's encoding of a list costs,
//! element by element. Also fin_visits' key columns written this way (visit_key_columns).

use pyo3::prelude::*;
use pyo3::types::PyDict;

/// `{1,-2,3}`: the text of a PostgreSQL array of numbers.
pub(crate) fn literal<T: Into<i64>>(items: impl Iterator<Item = T>) -> String {
    let mut text = String::with_capacity(64);
    push_literal(&mut text, items);
    text
}

pub(crate) fn push_literal<T: Into<i64>>(text: &mut String, items: impl Iterator<Item = T>) {
    text.push('{');
    for (i, x) in items.enumerate() {
        if i > 0 {
            text.push(',');
        }
        push_int(text, x.into());
    }
    text.push('}');
}

/// The decimal digits of x. By hand: a cell row is mostly zeros and small numbers, and `write!`'s
/// formatting machinery cost more than the rest of building the batch's cell rows.
fn push_int(text: &mut String, x: i64) {
    if (0..10).contains(&x) {
        text.push((b'0' + x as u8) as char);
        return;
    }
    if x < 0 {
        text.push('-');
    }
    let mut n = x.unsigned_abs();
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    while n > 0 {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    // ASCII digits only
    text.push_str(std::str::from_utf8(&digits[i..]).unwrap_or_default());
}

/// Appends `s` as a quoted element of a PostgreSQL array literal.
fn push_quoted(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

/// The text of an array literal of these strings (None: NULL), every element quoted, for a
/// `$1::text::text[]` parameter.
pub(crate) fn text_array_of<S: AsRef<str>>(items: impl Iterator<Item = PyResult<Option<S>>>) -> PyResult<String> {
    let mut out = String::from("{");
    for (i, item) in items.enumerate() {
        if i > 0 {
            out.push(',');
        }
        match item? {
            Some(s) => push_quoted(&mut out, s.as_ref()),
            None => out.push_str("NULL"),
        }
    }
    out.push('}');
    Ok(out)
}

/// A batch's visits (projection.BatchChanges.visits: (clinic_id, visit_id) -> (IIN, day ordinal)) in
/// key order, the lock order, as the text of array literals of their clinics, visit ids, IINs and day
/// ordinals, for fin_visits' INSERT: asyncpg's encoding of four lists, and the lists themselves, were
/// a large part of the consumer's CPU on a batch of visits.
#[pyfunction]
pub(crate) fn visit_key_columns(visits: &Bound<'_, PyDict>) -> PyResult<(String, String, String, String)> {
    let mut rows: Vec<(String, String, String, i32)> = Vec::with_capacity(visits.len());
    for (key, value) in visits.iter() {
        let (clinic_id, visit_id): (String, String) = key.extract()?;
        let (iin, day): (String, i32) = value.extract()?;
        rows.push((clinic_id, visit_id, iin, day));
    }
    rows.sort_unstable_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    let text = |of: fn(&(String, String, String, i32)) -> &str| {
        text_array_of(rows.iter().map(|r| Ok(Some(of(r)))))
    };
    Ok((text(|r| &r.0)?, text(|r| &r.1)?, text(|r| &r.2)?, literal(rows.iter().map(|r| r.3))))
}
