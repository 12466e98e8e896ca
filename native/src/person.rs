//! A person's history (projection.PersonState, the row of fin_persons): what a batch folds into it,
//! its stored JSON form, and the daily states it gives, the changes of (clinic, active, insured)
//! the calendars count.

use pyo3::exceptions::PyValueError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::calendar::FOREVER;
use crate::iin::iin_birth_sex;

/// A person's whole history, what their calendar contributions are derived from (the row of
/// fin_persons): every attachment version, the newest insured timeline, every non-voided visit day.
#[pyclass(module = "osms_native", eq)]
#[derive(Clone, PartialEq, Default, Debug)]
pub(crate) struct PersonState {
    #[pyo3(get, set)]
    pub(crate) birth: Option<i32>, // ordinal
    #[pyo3(get, set)]
    pub(crate) sex: Option<String>,
    /// person_version -> (clinic_id, or None for a detachment; effective day)
    #[pyo3(get, set)]
    pub(crate) versions: BTreeMap<i64, (Option<String>, i32)>,
    #[pyo3(get, set)]
    pub(crate) status_version: i64,
    /// [from, until + 1)
    #[pyo3(get, set)]
    pub(crate) insured: Vec<(i32, i32)>,
    /// non-voided visit days, sorted, repeats kept
    #[pyo3(get, set)]
    pub(crate) visits: Vec<i32>,
}

/// fin_persons.history: JSON {"b": birth, "s": sex, "a": [[version, clinic, day]], "sv": status
/// version, "i": [[from, until + 1]], "v": [visit days]}.
#[derive(Serialize, Deserialize)]
struct Stored {
    b: Option<i32>,
    s: Option<String>,
    a: Vec<(i64, Option<String>, i32)>,
    sv: i64,
    i: Vec<(i32, i32)>,
    v: Vec<i32>,
}

#[pymethods]
impl PersonState {
    #[new]
    #[pyo3(signature = (birth = None, sex = None, versions = None, status_version = 0, insured = None, visits = None))]
    fn new(birth: Option<i32>, sex: Option<String>, versions: Option<BTreeMap<i64, (Option<String>, i32)>>,
           status_version: i64, insured: Option<Vec<(i32, i32)>>, visits: Option<Vec<i32>>) -> Self {
        PersonState {
            birth,
            sex,
            versions: versions.unwrap_or_default(),
            status_version,
            insured: insured.unwrap_or_default(),
            visits: visits.unwrap_or_default(),
        }
    }

    /// A history from fin_persons.history; an empty one from None or empty bytes.
    #[staticmethod]
    #[pyo3(signature = (data))]
    pub(crate) fn loads(data: Option<&[u8]>) -> PyResult<PersonState> {
        let Some(data) = data.filter(|d| !d.is_empty()) else { return Ok(PersonState::default()) };
        let j: Stored = serde_json::from_slice(data)
            .map_err(|e| PyValueError::new_err(format!("a stored history is not valid: {e}")))?;
        Ok(PersonState {
            birth: j.b,
            sex: j.s,
            versions: j.a.into_iter().map(|(v, c, d)| (v, (c, d))).collect(),
            status_version: j.sv,
            insured: j.i,
            visits: j.v,
        })
    }

    pub(crate) fn dumps<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let stored = Stored {
            b: self.birth,
            s: self.sex.clone(),
            a: self.versions.iter().map(|(&v, (c, d))| (v, c.clone(), *d)).collect(),
            sv: self.status_version,
            i: self.insured.clone(),
            v: self.visits.clone(),
        };
        let text = serde_json::to_vec(&stored).map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok(PyBytes::new(py, &text))
    }

    fn copy(&self) -> PersonState {
        self.clone()
    }

    /// The history after a batch: `changes` is what the batch says about the person
    /// (projection.PersonChanges, or None), then the visit days it adds and removes. A version
    /// already held is the same event again; a lower status_version is stale and dropped. A person
    /// only visits have met gets the birth date and sex their IIN encodes.
    #[pyo3(signature = (iin, changes, added_visits, removed_visits))]
    pub(crate) fn fold(&self, iin: &str, changes: Option<&Bound<'_, PyAny>>, added_visits: Vec<i32>,
            removed_visits: Vec<i32>) -> PyResult<PersonState> {
        let mut new = self.clone();
        if let Some(c) = changes {
            let py = c.py();
            let birth: Option<i32> = c.getattr(intern!(py, "birth"))?.extract()?;
            if birth.is_some() {
                new.birth = birth;
                new.sex = c.getattr(intern!(py, "sex"))?.extract()?;
            }
            let versions: BTreeMap<i64, (Option<String>, i32)> = c.getattr(intern!(py, "versions"))?.extract()?;
            for (v, entry) in versions {
                new.versions.entry(v).or_insert(entry);
            }
            let status_version: i64 = c.getattr(intern!(py, "status_version"))?.extract()?;
            if status_version > new.status_version {
                new.status_version = status_version;
                new.insured = c.getattr(intern!(py, "insured"))?.extract()?;
            }
        }
        if new.birth.is_none() {
            let (birth, sex) = iin_birth_sex(iin)?;
            new.birth = Some(birth);
            new.sex = Some(sex.to_owned());
        }
        if !added_visits.is_empty() || !removed_visits.is_empty() {
            new.visits.extend(added_visits);
            new.visits.sort_unstable();
            for day in removed_visits {
                if let Ok(i) = new.visits.binary_search(&day) {
                    new.visits.remove(i);
                }
            }
        }
        Ok(new)
    }

    fn __repr__(&self) -> String {
        format!("{self:?}")
    }
}

/// (clinic, active, insured) while attached; None when not attached.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Attached {
    pub(crate) clinic: u32,
    pub(crate) active: bool,
    pub(crate) insured: bool,
}

pub(crate) type State = Option<Attached>;

/// A PersonState with its clinic ids numbered by a Deltas, for the arithmetic.
pub(crate) struct Person {
    pub(crate) birth: Option<i32>,
    pub(crate) sex: Option<String>,
    pub(crate) versions: Vec<(i64, Option<u32>, i32)>, // (person_version, clinic or None for a detachment, day)
    pub(crate) insured: Vec<(i32, i32)>,               // [from, until + 1)
    pub(crate) visits: Vec<i32>,                       // sorted, repeats kept
}

/// [(from day, clinic or None)]: on day D the person is where the highest person_version among
/// those effective on or before D puts them (a later-dated campaign attachment waits for its date;
/// a death recorded after it still wins once its own date comes).
fn attachment_pieces(versions: &[(i64, Option<u32>, i32)]) -> Vec<(i32, Option<u32>)> {
    let mut items: Vec<(i32, i64, Option<u32>)> = versions.iter().map(|&(v, c, d)| (d, v, c)).collect();
    items.sort_unstable_by_key(|&(d, v, _)| (d, v));
    let mut pieces: Vec<(i32, Option<u32>)> = Vec::new();
    let (mut best_v, mut best_c) = (-1i64, None);
    let (mut i, n) = (0, items.len());
    while i < n {
        let day = items[i].0;
        while i < n && items[i].0 == day {
            if items[i].1 > best_v {
                best_v = items[i].1;
                best_c = items[i].2;
            }
            i += 1;
        }
        if let Some(&(_, last)) = pieces.last() {
            if last == best_c {
                continue;
            }
        } else if best_c.is_none() {
            continue;
        }
        pieces.push((day, best_c));
    }
    pieces
}

fn merge(intervals: &[(i32, i32)]) -> Vec<(i32, i32)> {
    let mut sorted = intervals.to_vec();
    sorted.sort_unstable();
    let mut out: Vec<(i32, i32)> = Vec::new();
    for (s, e) in sorted {
        if e <= s {
            continue;
        }
        match out.last_mut() {
            Some(last) if s <= last.1 => {
                if e > last.1 {
                    last.1 = e;
                }
            }
            _ => out.push((s, e)),
        }
    }
    out
}

/// Active on D iff a visit v with D - window < v <= D: each visit covers [v, v + window).
fn activity(visits: &[i32], window: i32) -> Vec<(i32, i32)> {
    let mut out: Vec<(i32, i32)> = Vec::new();
    for &v in visits {
        match out.last_mut() {
            Some(last) if v <= last.1 => last.1 = v + window,
            _ => out.push((v, v + window)),
        }
    }
    out
}

/// [(from day, state)]: the person's state changes, in day order (before the first: None).
pub(crate) fn daily_states(person: &Person, window: i32) -> Vec<(i32, State)> {
    let pieces = attachment_pieces(&person.versions);
    if pieces.is_empty() {
        return Vec::new();
    }
    let active = activity(&person.visits, window);
    let insured = merge(&person.insured);
    let mut points: Vec<i32> = Vec::with_capacity(pieces.len() + 2 * (active.len() + insured.len()));
    points.extend(pieces.iter().map(|p| p.0));
    for &(s, e) in active.iter().chain(insured.iter()) {
        points.push(s);
        points.push(e);
    }
    points.sort_unstable();
    points.dedup();
    let mut out: Vec<(i32, State)> = Vec::new();
    let mut prev: State = None;
    let (mut ip, mut ia, mut ii) = (0, 0, 0);
    let mut clinic: Option<u32> = None;
    for p in points {
        if p < pieces[0].0 {
            continue;
        }
        while ip < pieces.len() && pieces[ip].0 <= p {
            clinic = pieces[ip].1;
            ip += 1;
        }
        while ia < active.len() && active[ia].1 <= p {
            ia += 1;
        }
        while ii < insured.len() && insured[ii].1 <= p {
            ii += 1;
        }
        let cur: State = clinic.map(|c| Attached {
            clinic: c,
            active: ia < active.len() && active[ia].0 <= p,
            insured: ii < insured.len() && insured[ii].0 <= p,
        });
        if cur != prev {
            out.push((p, cur));
            prev = cur;
        }
    }
    out
}

/// A day from which the two change lists (equal before index k) give the same state on every day:
/// the start of their common tail of changes, or the later last change when they end in the same
/// state on different days; FOREVER when they end in different states.
pub(crate) fn meet_again(a: &[(i32, State)], b: &[(i32, State)], k: usize) -> i32 {
    let room = a.len().min(b.len()) - k;
    let mut j = 0;
    while j < room && a[a.len() - 1 - j] == b[b.len() - 1 - j] {
        j += 1;
    }
    if j > 0 {
        return a[a.len() - j].0;
    }
    if let (Some(x), Some(y)) = (a.last(), b.last()) {
        if x.1 == y.1 {
            return x.0.max(y.0);
        }
    }
    FOREVER
}
