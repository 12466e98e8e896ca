//! Calendar deltas: what a person's history adds to the per-clinic calendars, and the difference
//! of that between two histories, summed over a batch and written as the calendars' rows.
//! services/financing/projection.py holds the rules' prose; this is the arithmetic of every batch.
//!
//! From a history:
//! - day deltas: on each day the person's (clinic, active, insured) changes, -1 from the old
//!   clinic's counts and +1 to the new one's: the counts of any date are the sum of deltas up to it;
//! - month deltas: the same for the full cell (age band, sex, active, insured) sampled on the first
//!   day of each month, the day the monthly amount is counted on.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString};
use rustc_hash::FxHashMap;

use crate::calendar::{month_after, month_index, month_start, year_start, FOREVER};
use crate::person::{daily_states, meet_again, Person, PersonState, State};
use crate::sql::{literal, push_literal};

/// (clinic, cell) a person counts in on a month's first day; None when not attached.
type ClinicCell = Option<(u32, u16)>;

/// Calendar deltas of a batch: timelines and differences of timelines added up, then turned into
/// the rows of the three-grain calendars.
#[pyclass(module = "osms_native")]
pub(crate) struct Deltas {
    window: i32,
    band_by_age: Vec<u8>,   // age in completed years -> band; older than the table: its last band
    band_starts: Vec<i32>,  // the ages at which a band begins, after the first
    clinic_numbers: FxHashMap<String, u32>,
    clinic_ids: Vec<Py<PyString>>,
    days: FxHashMap<(u32, i32), [i32; 3]>, // (clinic, day) -> [attached, active, insured]
    months: FxHashMap<(u32, i32, u16), i32>, // (clinic, month-start day, cell) -> people
}

impl Deltas {
    fn clinic_number(&mut self, py: Python<'_>, id: &str) -> u32 {
        if let Some(&n) = self.clinic_numbers.get(id) {
            return n;
        }
        let n = self.clinic_ids.len() as u32;
        self.clinic_numbers.insert(id.to_owned(), n);
        self.clinic_ids.push(PyString::new(py, id).unbind());
        n
    }

    /// A history with its clinics numbered.
    fn person(&mut self, py: Python<'_>, h: &PersonState) -> Person {
        let versions = h
            .versions
            .iter()
            .map(|(&v, (c, d))| (v, c.as_deref().map(|c| self.clinic_number(py, c)), *d))
            .collect();
        Person { birth: h.birth, sex: h.sex.clone(), versions, insured: h.insured.clone(), visits: h.visits.clone() }
    }

    /// Adds sign x the person's calendar deltas from change k on (day deltas) and from month c0 on
    /// (cell deltas of each month's first day), where every change before k falls before month
    /// c0's first day. With k = 0 and c0 the month after the first change, that is the whole
    /// timeline. Deltas after day `until` are left out: the caller knows they cancel (see diff); a
    /// delta on day `until` itself, or on the first of a month that starts on or after it, still
    /// counts, since the day before may differ.
    fn add_from(&mut self, person: &Person, changes: &[(i32, State)], k: usize, c0: i32, sign: i32,
                until: i32) -> PyResult<()> {
        let mut prev: State = if k > 0 { changes[k - 1].1 } else { None };
        for &(p, cur) in &changes[k..] {
            if p > until {
                break;
            }
            if let Some(s) = prev {
                let d = self.days.entry((s.clinic, p)).or_insert([0; 3]);
                d[0] -= sign;
                d[1] -= sign * s.active as i32;
                d[2] -= sign * s.insured as i32;
            }
            if let Some(s) = cur {
                let d = self.days.entry((s.clinic, p)).or_insert([0; 3]);
                d[0] += sign;
                d[1] += sign * s.active as i32;
                d[2] += sign * s.insured as i32;
            }
            prev = cur;
        }
        // Month m's cell changes only on the first month after a change of state or when an age
        // band begins; month c0 is compared with the month before it, whose cell the common past
        // decides.
        let last = if until < FOREVER { month_after(until) } else { FOREVER };
        let mut candidates: Vec<i32> = vec![c0];
        for &(p, _) in &changes[k..] {
            let idx = month_after(p);
            if idx > last {
                break;
            }
            candidates.push(idx);
        }
        let birth = person.birth.ok_or_else(|| PyValueError::new_err("a person with a history has no birth date"))?;
        let effective_birth = month_after(birth); // age on the 1st of month m = (m - this) / 12
        for &bound in &self.band_starts {
            let idx = effective_birth + 12 * bound;
            if c0 < idx && idx <= last {
                candidates.push(idx);
            }
        }
        candidates.sort_unstable();
        candidates.dedup();
        let female: u16 = if person.sex.as_deref() == Some("F") { 4 } else { 0 };
        let last_band = self.band_by_age.len() as i32 - 1;
        let mut cur: State = None;
        let mut j = 0;
        let cell_on = |idx: i32, cur: &mut State, j: &mut usize| -> ClinicCell {
            let day = month_start(idx);
            while *j < changes.len() && changes[*j].0 <= day {
                *cur = changes[*j].1;
                *j += 1;
            }
            let s = (*cur)?;
            let age = (idx - effective_birth).div_euclid(12);
            let band = if age < 0 {
                0
            } else if age > last_band {
                self.band_by_age[last_band as usize]
            } else {
                self.band_by_age[age as usize]
            } as u16;
            Some((s.clinic, band * 8 + female + 2 * s.active as u16 + s.insured as u16))
        };
        let mut prev_cell = cell_on(c0 - 1, &mut cur, &mut j);
        let mut changed: Vec<(i32, ClinicCell, ClinicCell)> = Vec::new();
        for &idx in &candidates {
            let cell = cell_on(idx, &mut cur, &mut j);
            if cell != prev_cell {
                changed.push((month_start(idx), prev_cell, cell));
                prev_cell = cell;
            }
        }
        for (day, before, after) in changed {
            if let Some((clinic, cell)) = before {
                *self.months.entry((clinic, day, cell)).or_insert(0) -= sign;
            }
            if let Some((clinic, cell)) = after {
                *self.months.entry((clinic, day, cell)).or_insert(0) += sign;
            }
        }
        Ok(())
    }

    /// add_diff of two histories, their clinics numbered.
    fn add_history_diff(&mut self, py: Python<'_>, old: &PersonState, new: &PersonState) -> PyResult<()> {
        let (old, new) = (self.person(py, old), self.person(py, new));
        self.add_diff(&old, &new)
    }

    fn add_diff(&mut self, old: &Person, new: &Person) -> PyResult<()> {
        let a = daily_states(old, self.window);
        let b = daily_states(new, self.window);
        let (k, until) = if old.birth != new.birth || old.sex != new.sex {
            (0, FOREVER) // the cells of every month change
        } else {
            let n = a.len().min(b.len());
            let mut k = 0;
            while k < n && a[k] == b[k] {
                k += 1;
            }
            if k == a.len() && k == b.len() {
                return Ok(());
            }
            (k, meet_again(&a, &b, k))
        };
        let parted = [&a, &b].iter().filter(|x| k < x.len()).map(|x| x[k].0).min();
        let Some(parted) = parted else { return Ok(()) };
        let c0 = month_after(parted);
        if !b.is_empty() {
            self.add_from(new, &b, k, c0, 1, until)?;
        }
        if !a.is_empty() {
            self.add_from(old, &a, k, c0, -1, until)?;
        }
        Ok(())
    }
}

#[pymethods]
impl Deltas {
    /// `window`: the activity window in days; `band_by_age`: the band of each age in completed
    /// years up to the last band's start; `band_starts`: the ages at which the bands after the
    /// first begin.
    #[new]
    fn new(window: i32, band_by_age: Vec<u8>, band_starts: Vec<i32>) -> PyResult<Self> {
        if band_by_age.is_empty() {
            return Err(PyValueError::new_err("band_by_age is empty"));
        }
        Ok(Deltas {
            window,
            band_by_age,
            band_starts,
            clinic_numbers: FxHashMap::default(),
            clinic_ids: Vec::new(),
            days: FxHashMap::default(),
            months: FxHashMap::default(),
        })
    }

    /// Adds timeline(new) - timeline(old), computing both only between the day their daily states
    /// part and the day they meet again for good: what the common past and the common future
    /// contribute is the same in both and cancels. A visit or a status most often changes only a
    /// few months of a long history.
    fn diff(&mut self, py: Python<'_>, old: PyRef<'_, PersonState>, new: PyRef<'_, PersonState>) -> PyResult<()> {
        self.add_history_diff(py, &old, &new)
    }

    /// Every person's step of a batch in one call: for each history read back, `rows` of (iin, row
    /// address, xmin, stored history) as fin_persons gives them (asyncpg records, or tuples), the
    /// history folded with what the batch says (`persons`: IIN -> projection.PersonChanges; `added`
    /// and `removed`: IIN -> visit days), the difference of the two timelines added (as diff), and the
    /// new history kept for writing back. Returns the rows that change, in IIN order (the lock order),
    /// as (how many, the text of an array literal of their row addresses and one of their xmins, their
    /// new histories); a duplicate or a stale status changes nothing and is left out. One call for the
    /// batch: the Python of a call per person cost the consumer more than the arithmetic.
    #[pyo3(signature = (rows, persons, added, removed))]
    fn step_rows<'py>(&mut self, py: Python<'py>, rows: &Bound<'py, PyList>, persons: &Bound<'py, PyDict>,
                      added: &Bound<'py, PyDict>, removed: &Bound<'py, PyDict>)
                      -> PyResult<(usize, String, String, Bound<'py, PyList>)> {
        let mut held: Vec<(String, Bound<'py, PyAny>, Bound<'py, PyAny>)> = Vec::with_capacity(rows.len());
        for row in rows.iter() {
            let key = row.get_item(0)?;
            held.push((key.extract()?, key, row));
        }
        held.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let days = |of: &Bound<'py, PyDict>, key: &Bound<'py, PyAny>| -> PyResult<Vec<i32>> {
            match of.get_item(key)? {
                Some(days) => days.extract(),
                None => Ok(Vec::new()),
            }
        };
        let (mut tids, mut xmins) = (String::from("{"), String::from("{"));
        let news = PyList::empty(py);
        for (iin, key, row) in &held {
            let stored = row.get_item(3)?;
            let stored = if stored.is_none() { None } else { Some(stored.downcast::<PyBytes>()?.as_bytes()) };
            let old = PersonState::loads(stored)?;
            let new = old.fold(iin, persons.get_item(key)?.as_ref(), days(added, key)?, days(removed, key)?)?;
            if new == old {
                continue;
            }
            self.add_history_diff(py, &old, &new)?;
            if !news.is_empty() {
                tids.push(',');
                xmins.push(',');
            }
            tids.push('"');     // "(page,item)": quoted for its comma
            tids.push_str(row.get_item(1)?.downcast::<PyString>()?.to_str()?);
            tids.push('"');
            xmins.push_str(row.get_item(2)?.downcast::<PyString>()?.to_str()?);
            news.append(new.dumps(py)?)?;
        }
        tids.push('}');
        xmins.push('}');
        Ok((news.len(), tids, xmins, news))
    }

    /// Adds sign x everything the person adds to the calendars, from their first day on.
    #[pyo3(signature = (state, sign = 1))]
    fn timeline(&mut self, py: Python<'_>, state: PyRef<'_, PersonState>, sign: i32) -> PyResult<()> {
        let person = self.person(py, &state);
        let changes = daily_states(&person, self.window);
        if let Some(&(first, _)) = changes.first() {
            self.add_from(&person, &changes, 0, month_after(first), sign, FOREVER)?;
        }
        Ok(())
    }

    /// {(clinic, day): [attached, active, insured]}, non-zero deltas only.
    fn days<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let out = PyDict::new(py);
        for (&(c, day), v) in &self.days {
            if *v != [0; 3] {
                out.set_item((self.clinic_ids[c as usize].bind(py), day), v.to_vec())?;
            }
        }
        Ok(out)
    }

    /// {(clinic, month-start day, cell): people}, non-zero deltas only.
    fn months<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let out = PyDict::new(py);
        for (&(c, day, cell), &n) in &self.months {
            if n != 0 {
                out.set_item((self.clinic_ids[c as usize].bind(py), day, cell), n)?;
            }
        }
        Ok(out)
    }

    /// Every clinic id the deltas have met.
    fn clinic_ids<'py>(&self, py: Python<'py>) -> Vec<Bound<'py, PyString>> {
        self.clinic_ids.iter().map(|c| c.bind(py).clone()).collect()
    }

    /// The rows to add to fin_counts, as columns sorted by key (the lock order): clinic numbers
    /// (`numbers` maps every clinic id to its clinic_no), grains, bucket ordinals, attached, active,
    /// insured. Grain 0 buckets by year, 1 by month, 2 by day; zero rows dropped.
    fn count_columns(&self, numbers: &Bound<'_, PyDict>) -> PyResult<CountColumns> {
        let mut out: CountColumns = Default::default();
        for ((no, g, b), v) in self.count_sums(&self.numbers(numbers)?) {
            out.0.push(no);
            out.1.push(g);
            out.2.push(b);
            out.3.push(v[0]);
            out.4.push(v[1]);
            out.5.push(v[2]);
        }
        Ok(out)
    }

    /// count_columns as (rows, the text of an array literal per column): what the store sends, so
    /// that PostgreSQL parses the arrays rather than the driver encoding them element by element.
    fn count_arrays(&self, numbers: &Bound<'_, PyDict>) -> PyResult<(usize, [String; 6])> {
        let rows = self.count_sums(&self.numbers(numbers)?);
        Ok((rows.len(), [
            literal(rows.iter().map(|r| r.0 .0)),
            literal(rows.iter().map(|r| r.0 .1)),
            literal(rows.iter().map(|r| r.0 .2)),
            literal(rows.iter().map(|r| r.1[0])),
            literal(rows.iter().map(|r| r.1[1])),
            literal(rows.iter().map(|r| r.1[2])),
        ]))
    }

    /// The rows to add to fin_cells, sorted by key, as (rows, the text of an array literal per
    /// column): clinic numbers, grains, bucket ordinals, and a text[] whose items are each row's cells
    /// as an int[] literal. Grain 0 buckets by year, 1 by month; zero rows dropped.
    fn cell_arrays(&self, numbers: &Bound<'_, PyDict>) -> PyResult<(usize, [String; 4])> {
        let rows = self.cell_sums(&self.numbers(numbers)?);
        let mut people = String::with_capacity(rows.len() * 200 + 2);
        people.push('{');
        for (i, (_, v)) in rows.iter().enumerate() {
            if i > 0 {
                people.push(',');
            }
            people.push('"');     // an int[] literal inside a text[] one: quoted, nothing to escape
            push_literal(&mut people, v.iter().copied());
            people.push('"');
        }
        people.push('}');
        Ok((rows.len(), [
            literal(rows.iter().map(|r| r.0 .0)),
            literal(rows.iter().map(|r| r.0 .1)),
            literal(rows.iter().map(|r| r.0 .2)),
            people,
        ]))
    }

    /// (clinic_id, grain, bucket ordinal, people by cell) of every non-zero fin_cells row, a clinic's
    /// rows together (in key order), as a bulk load should write them.
    fn cell_vectors<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let own: Vec<i32> = (0..self.clinic_ids.len() as i32).collect();
        let out = PyList::empty(py);
        for ((c, g, b), v) in self.cell_sums(&own) {
            out.append((self.clinic_ids[c as usize].bind(py), g, b, v))?;
        }
        Ok(out)
    }
}

type CountColumns = (Vec<i32>, Vec<i16>, Vec<i32>, Vec<i32>, Vec<i32>, Vec<i32>);

impl Deltas {
    /// The fin_counts rows, summed by (clinic number from `nos`, grain, bucket ordinal): grain 0 by
    /// year, 1 by month, 2 by day; zero rows dropped, sorted by key.
    fn count_sums(&self, nos: &[i32]) -> Vec<((i32, i16, i32), [i32; 3])> {
        let mut acc: FxHashMap<(i32, i16, i32), [i32; 3]> = FxHashMap::default();
        for (&(c, day), v) in &self.days {
            if *v == [0; 3] {
                continue;
            }
            let no = nos[c as usize];
            let (idx, _) = month_index(day);
            for key in [(no, 0, year_start(idx)), (no, 1, month_start(idx)), (no, 2, day)] {
                let x = acc.entry(key).or_insert([0; 3]);
                x[0] += v[0];
                x[1] += v[1];
                x[2] += v[2];
            }
        }
        let mut rows: Vec<((i32, i16, i32), [i32; 3])> = acc.into_iter().filter(|(_, v)| *v != [0; 3]).collect();
        rows.sort_unstable_by_key(|r| r.0);
        rows
    }

    /// The fin_cells rows, summed by (clinic number from `nos`, grain, bucket ordinal): grain 0 by
    /// year, 1 by month; zero rows dropped, sorted by key.
    fn cell_sums(&self, nos: &[i32]) -> Vec<((i32, i16, i32), Vec<i32>)> {
        let cells = (self.band_starts.len() + 1) * 8;
        let mut acc: FxHashMap<(i32, i16, i32), Vec<i32>> = FxHashMap::default();
        for (&(c, day, cell), &n) in &self.months {
            if n == 0 {
                continue;
            }
            let no = nos[c as usize];
            let (idx, _) = month_index(day);
            for key in [(no, 0, year_start(idx)), (no, 1, day)] {
                acc.entry(key).or_insert_with(|| vec![0; cells])[cell as usize] += n;
            }
        }
        let mut rows: Vec<((i32, i16, i32), Vec<i32>)> =
            acc.into_iter().filter(|(_, v)| v.iter().any(|&n| n != 0)).collect();
        rows.sort_unstable_by_key(|r| r.0);
        rows
    }

    /// clinic number (this accumulator's) -> clinic_no of the store
    fn numbers(&self, numbers: &Bound<'_, PyDict>) -> PyResult<Vec<i32>> {
        let py = numbers.py();
        self.clinic_ids
            .iter()
            .map(|c| match numbers.get_item(c.bind(py))? {
                Some(no) => no.extract::<i32>(),
                None => Err(PyValueError::new_err("a clinic without its number")),
            })
            .collect()
    }
}

/// [(from day, (clinic, active, insured) or None)]: a projection.PersonState's state changes in day
/// order, as the calendars count them.
#[pyfunction]
pub(crate) fn daily_states_of<'py>(py: Python<'py>, state: PyRef<'py, PersonState>, window: i32) -> PyResult<Bound<'py, PyList>> {
    let mut deltas = Deltas::new(window, vec![0], Vec::new())?;
    let person = deltas.person(py, &state);
    let out = PyList::empty(py);
    for (day, s) in daily_states(&person, window) {
        match s {
            Some(s) => out.append((day, (deltas.clinic_ids[s.clinic as usize].bind(py), s.active, s.insured)))?,
            None => out.append((day, py.None()))?,
        }
    }
    Ok(out)
}
