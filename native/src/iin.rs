//! The IIN check (services/common/ids.py): the check digit IINs and BINs share, and the birth date
//! and sex an IIN encodes. Every event a consumer decodes checks its IINs: a hot path, so it is here.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::calendar::real_day;

const NO_BIRTH: &str = "IIN does not encode a valid birth date, century and sex";

/// The 12th digit for these 11 digit values, or None when the algorithm gives 10 twice.
fn check_digit_of(d: &[u8]) -> Option<u8> {
    let first: u32 = d.iter().enumerate().map(|(i, &x)| (i as u32 + 1) * x as u32).sum::<u32>() % 11;
    if first != 10 {
        return Some(first as u8);
    }
    let second: u32 = d.iter().enumerate().map(|(i, &x)| ((i as u32 + 2) % 11 + 1) * x as u32).sum::<u32>() % 11;
    if second != 10 {
        Some(second as u8)
    } else {
        None
    }
}

fn digits(value: &str, n: usize) -> Option<Vec<u8>> {
    let b = value.as_bytes();
    if b.len() != n || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(b.iter().map(|c| c - b'0').collect())
}

/// The check digit for 11 digits, or None when no 12th digit makes a valid number.
#[pyfunction]
pub(crate) fn check_digit(first11: &str) -> PyResult<Option<u8>> {
    let d = digits(first11, 11).ok_or_else(|| PyValueError::new_err("11 digits expected"))?;
    Ok(check_digit_of(&d))
}

/// Why a string is not a valid IIN, or None when it is one.
#[pyfunction]
pub(crate) fn iin_problem(value: &str) -> Option<&'static str> {
    let Some(d) = digits(value, 12) else { return Some("IIN must be 12 digits") };
    if check_digit_of(&d[..11]) != Some(d[11]) {
        return Some("IIN check digit is wrong");
    }
    birth_sex_of(&d).is_none().then_some(NO_BIRTH)
}

/// Birth day (ordinal) and sex encoded in an IIN (the IIN is valid: events are checked on decoding).
pub(crate) fn iin_birth_sex(iin: &str) -> PyResult<(i32, &'static str)> {
    digits(iin, 12).and_then(|d| birth_sex_of(&d)).ok_or_else(|| PyValueError::new_err(NO_BIRTH))
}

/// The birth day (ordinal) and sex of an IIN's 12 digits: the 7th gives the century and the sex,
/// the first six the year in it, the month and the day; None when they are no real day.
fn birth_sex_of(d: &[u8]) -> Option<(i32, &'static str)> {
    let (century, sex) = match d[6] {
        1 => (1800, "M"),
        2 => (1800, "F"),
        3 => (1900, "M"),
        4 => (1900, "F"),
        5 => (2000, "M"),
        6 => (2000, "F"),
        _ => return None,
    };
    let (y, m, day) = (century + (d[0] * 10 + d[1]) as i32, (d[2] * 10 + d[3]) as i32, (d[4] * 10 + d[5]) as i32);
    Some((real_day(y, m, day)?, sex))
}
