//! Calendar arithmetic on days as proleptic ordinals, the integers Python's date.toordinal() gives:
//! the months and years the calendars bucket by, and the real days of ISO dates and of IINs.

use pyo3::prelude::*;

/// An ordinal day after any real one.
pub(crate) const FOREVER: i32 = 1_000_000_000;
/// date(1970, 1, 1).toordinal()
const UNIX_EPOCH_ORDINAL: i32 = 719_163;

// H. Hinnant's civil-date algorithms, on days since 1970-01-01.

fn civil_from_ordinal(day: i32) -> (i32, i32, i32) {
    let z = (day - UNIX_EPOCH_ORDINAL) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    (y as i32, m as i32, d as i32)
}

fn ordinal_from_civil(y: i32, m: i32, d: i32) -> i32 {
    let y = (if m <= 2 { y - 1 } else { y }) as i64;
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe - 719_468) as i32 + UNIX_EPOCH_ORDINAL
}

/// The ordinal of a real day, or None: the arithmetic alone would take 31 April for 1 May.
pub(crate) fn real_day(y: i32, m: i32, d: i32) -> Option<i32> {
    if !(1..=12).contains(&m) || d < 1 {
        return None;
    }
    let ordinal = ordinal_from_civil(y, m, d);
    (civil_from_ordinal(ordinal) == (y, m, d)).then_some(ordinal)
}

/// The value of ASCII decimal digits (of a date or a time), or None.
pub(crate) fn number(b: &[u8]) -> Option<i32> {
    b.iter().try_fold(0i32, |n, &c| c.is_ascii_digit().then(|| n * 10 + (c - b'0') as i32))
}

/// A `YYYY-MM-DD` day of years 1-9999 (Python's date's) as (ordinal, (year, month, day)), or None.
pub(crate) fn iso_day(b: &[u8]) -> Option<(i32, (i32, i32, i32))> {
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (y, m, d) = (number(&b[0..4])?, number(&b[5..7])?, number(&b[8..10])?);
    if y < 1 {
        return None;
    }
    Some((real_day(y, m, d)?, (y, m, d)))
}

/// (year * 12 + month - 1, whether the day is the 1st) of an ordinal day.
pub(crate) fn month_index(day: i32) -> (i32, bool) {
    let (y, m, d) = civil_from_ordinal(day);
    (y * 12 + m - 1, d == 1)
}

pub(crate) fn month_start(index: i32) -> i32 {
    ordinal_from_civil(index.div_euclid(12), index.rem_euclid(12) + 1, 1)
}

/// The index of the first month whose first day is on or after `day`.
pub(crate) fn month_after(day: i32) -> i32 {
    let (idx, first) = month_index(day);
    if first {
        idx
    } else {
        idx + 1
    }
}

/// The first day of the year of month `idx` (year * 12 + month - 1).
pub(crate) fn year_start(idx: i32) -> i32 {
    month_start(idx - idx.rem_euclid(12))
}

/// Exposed for the unit tests of the calendar arithmetic: (year * 12 + month - 1, is the 1st).
#[pyfunction]
pub(crate) fn month_index_of(day: i32) -> (i32, bool) {
    month_index(day)
}
