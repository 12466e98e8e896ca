"""Kazakhstan's 12-digit identifiers: IIN (people) and BIN (organisations), with the check digit."""
from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import AfterValidator, WithJsonSchema

from services.common.native import osms_native

# Seventh IIN digit: century and sex.
_CENTURY_SEX = {"1": (1800, "M"), "2": (1800, "F"), "3": (1900, "M"), "4": (1900, "F"),
                "5": (2000, "M"), "6": (2000, "F")}


def check_digit(first11: str) -> int | None:
    """The 12th digit for these 11, or None when the algorithm gives 10 twice (no valid number).
    Weights 1..11, then 3..11, 1, 2 when the first sum gives 10 (native/src/iin.rs)."""
    return osms_native.check_digit(first11)


def has_valid_check_digit(value: str) -> bool:
    if len(value) != 12 or not value.isascii() or not value.isdigit():
        return False
    return check_digit(value[:11]) == int(value[11])


def iin_birth_date_sex(iin: str) -> tuple[date, Literal["M", "F"]]:
    """Birth date and sex encoded in an IIN; ValueError if they do not form a real date."""
    century_sex = _CENTURY_SEX.get(iin[6]) if len(iin) == 12 else None
    if century_sex is None:
        raise ValueError("IIN century/sex digit must be 1-6")
    century, sex = century_sex
    return date(century + int(iin[0:2]), int(iin[2:4]), int(iin[4:6])), sex  # type: ignore[return-value]


def is_valid_iin(value: str) -> bool:
    if not has_valid_check_digit(value):
        return False
    try:
        iin_birth_date_sex(value)
    except ValueError:
        return False
    return True


def iin_problem(value: str) -> str | None:
    """Why a string is not a valid IIN, or None when it is one: 12 digits, the check digit, and a
    real birth date with a century-sex digit 1-6. Native (native/src/iin.rs): every event a consumer
    decodes checks its IINs."""
    return osms_native.iin_problem(value)


def born_by_problem(iin: str, on: date) -> str | None:
    """An IIN is used for a date (a visit, a payroll's month, an attachment): the person must be born
    by then. Call after iin_problem found the IIN valid."""
    return "the IIN's birth date is after the date it is used for" if iin_birth_date_sex(iin)[0] > on else None


def iin_problem_on(value: str, on: date) -> str | None:
    """Why a string is not an IIN that can be used for a date: iin_problem, or a birth after it."""
    return iin_problem(value) or born_by_problem(value, on)


def bin_problem(value: str) -> str | None:
    if len(value) != 12 or not value.isascii() or not value.isdigit():
        return "BIN must be 12 digits"
    if check_digit(value[:11]) != int(value[11]):
        return "BIN check digit is wrong"
    return None


def _iin(value: str) -> str:
    problem = iin_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _bin(value: str) -> str:
    problem = bin_problem(value)
    if problem:
        raise ValueError(problem)
    return value


# What an integrator's schema says (the check digit it cannot say: a wrong one is a 422).
ID_PATTERN = "^[0-9]{12}$"
IIN_SCHEMA = {"type": "string", "pattern": ID_PATTERN, "examples": ["900315400017"],
              "description": "IIN: 12 digits, the last a check digit"}
BIN_SCHEMA = {"type": "string", "pattern": ID_PATTERN, "examples": ["150440000013"],
              "description": "BIN: 12 digits, the last a check digit"}
IIN = Annotated[str, AfterValidator(_iin), WithJsonSchema(IIN_SCHEMA)]
BIN = Annotated[str, AfterValidator(_bin), WithJsonSchema(BIN_SCHEMA)]
# Checked by the route, item by item (a bad one rejects its item alone): the schema only.
IinItem = Annotated[str, WithJsonSchema(IIN_SCHEMA)]


def make_iin(birth: date, sex: Literal["M", "F"], serial: int) -> str | None:
    """A valid IIN for a birth date, sex and 4-digit serial; None if that serial has no check digit.
    Used by tests and the synthetic population generator."""
    century = birth.year // 100 * 100
    digit = {(1800, "M"): 1, (1800, "F"): 2, (1900, "M"): 3, (1900, "F"): 4,
             (2000, "M"): 5, (2000, "F"): 6}[(century, sex)]
    first11 = f"{birth:%y%m%d}{digit}{serial:04d}"
    cd = check_digit(first11)
    return None if cd is None else first11 + str(cd)


def make_bin(registered: date, kind: int, serial: int) -> str | None:
    """A valid BIN: YYMM of registration, entity kind digit, a digit, 5-digit serial, check digit."""
    first11 = f"{registered:%y%m}{kind}0{serial:05d}"
    cd = check_digit(first11)
    return None if cd is None else first11 + str(cd)
