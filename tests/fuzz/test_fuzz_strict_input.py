"""Hypothesis over the shared input types every service's routes use (services/common: Money, Day,
YearMonth, ClinicId, IIN): a valid value in any of the hostile forms integrators' systems produce
(spaces, other scripts' digits, full-width digits, underscores, exponents, signs, other decimals, a
number instead of a string, a time part, dot segments, control characters) is refused, and a value as
the contract writes it is taken as it is. tests/integration/platform/test_strict_input.py holds the
routes to these types (a 422 problem, nothing written)."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from services.common.ids import IIN, make_iin
from services.common.inputs import ClinicId, Day, YearMonth
from services.common.money import Money

MONEY, DAY, MONTH, CLINIC, PERSON = (TypeAdapter(t) for t in (Money, Day, YearMonth, ClinicId, IIN))

# The same digit in other scripts: Arabic-Indic, Extended Arabic-Indic, Devanagari, Bengali, full-width,
# mathematical bold, superscript.
OTHER_DIGITS = ("٠١٢٣٤٥٦٧٨٩", "۰۱۲۳۴۵۶۷۸۹", "०१२३४५६७८९", "০১২৩৪৫৬৭৮৯", "０１２３４５６７８９",
                "𝟎𝟏𝟐𝟑𝟒𝟓𝟔𝟕𝟖𝟗", "⁰¹²³⁴⁵⁶⁷⁸⁹")
SPACES = (" ", "\u00a0", "\u2009", "\u202f", "\t", "\n", "\r", "\u3000")


def refused(adapter: TypeAdapter, value: object) -> bool:
    try:
        adapter.validate_python(value)
    except ValidationError:
        return True
    return False


valid_money = st.builds(lambda tenge, tiyn: f"{tenge}.{tiyn:02d}",
                        st.integers(0, 10 ** 13 - 1), st.integers(0, 99))
valid_day = st.dates(date(1900, 1, 1), date(2099, 12, 31))


@st.composite
def in_another_script(draw, text: str) -> str:
    """At least one ASCII digit written in another script."""
    positions = [i for i, c in enumerate(text) if c.isdigit()]
    chosen = draw(st.sets(st.sampled_from(positions), min_size=1))
    script = draw(st.sampled_from(OTHER_DIGITS))
    return "".join(script[int(c)] if i in chosen else c for i, c in enumerate(text))


@st.composite
def with_inserted(draw, text: str, inserts) -> str:
    at = draw(st.integers(0, len(text)))
    return text[:at] + draw(inserts) + text[at:]


def hostile_money(valid: str) -> st.SearchStrategy:
    whole, cents = valid.split(".")
    return st.one_of(
        in_another_script(valid),
        with_inserted(valid, st.sampled_from(SPACES + ("_", ",", "'", "+", "-"))),
        st.sampled_from([f"+{valid}", f"-{valid}", f"{whole}", f"{whole}.{cents[0]}", f"{valid}0",
                         f"{whole},{cents}", f"{whole}.{cents}e0", f"{whole}e2", f"{valid}E+0",
                         f"{int(whole) + 10 ** 13}.{cents}", f"{whole}.{cents}\n", f"0x{whole}.{cents}"]),
        st.just(float(valid)), st.just(int(Decimal(valid))), st.just([valid]), st.just({"amount": valid}),
    )


def hostile_day(valid: date) -> st.SearchStrategy:
    text = valid.isoformat()
    return st.one_of(
        in_another_script(text),
        with_inserted(text, st.sampled_from(SPACES)),
        st.sampled_from([f"{text}T00:00:00", f"{text} 00:00", f"{text}Z", f"{text}+05:00",
                         text.replace("-", ""), text.replace("-", "/"), valid.strftime("%d.%m.%Y"),
                         f"{valid.year}-{valid.month}-{valid.day}" if valid.month < 10 or valid.day < 10 else f"{text}T",
                         f"{valid.year:05d}-{valid.month:02d}-{valid.day:02d}"]),
        st.just(int(text.replace("-", ""))),
    )


@settings(max_examples=400, deadline=None)
@given(valid_money.flatmap(lambda v: st.tuples(st.just(v), hostile_money(v))))
def test_money_is_taken_only_as_the_contract_writes_it(case):
    valid, hostile = case
    assert MONEY.validate_python(valid) == Decimal(valid)
    assert refused(MONEY, hostile), repr(hostile)


@settings(max_examples=400, deadline=None)
@given(valid_day.flatmap(lambda d: st.tuples(st.just(d), hostile_day(d))))
def test_dates_are_taken_only_as_yyyy_mm_dd(case):
    valid, hostile = case
    assert DAY.validate_python(valid.isoformat()) == valid
    assert refused(DAY, hostile), repr(hostile)


@settings(max_examples=200, deadline=None)
@given(st.integers(1900, 2099), st.integers(1, 12), st.data())
def test_months_are_taken_only_as_yyyy_mm(year, month, data):
    valid = f"{year}-{month:02d}"
    assert MONTH.validate_python(valid) == valid
    hostile = data.draw(st.one_of(in_another_script(valid), with_inserted(valid, st.sampled_from(SPACES)),
                                  st.sampled_from([f"{year}-{month}" if month < 10 else f"{year}-{month}-01",
                                                   f"{valid}-01", valid.replace("-", "/"), f"{year}{month:02d}",
                                                   f"{year}-{month + 12:02d}"]),
                                  st.just(int(f"{year}{month:02d}"))))
    assert refused(MONTH, hostile), repr(hostile)


clinic_chars = st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-")


@settings(max_examples=300, deadline=None)
@given(st.text(clinic_chars, min_size=1, max_size=64).filter(lambda s: s.strip(".")), st.data())
def test_clinic_codes_never_dot_segments_other_characters_or_too_long(valid, data):
    assert CLINIC.validate_python(valid) == valid
    hostile = data.draw(st.one_of(
        st.integers(1, 64).map(lambda n: "." * n),
        with_inserted(valid, st.sampled_from(SPACES + ("/", "\\", "?", "#", "%", "\x00", "\x7f", "é", "К"))),
        st.just(valid + "A" * (65 - len(valid))),
    ))
    assert refused(CLINIC, hostile), repr(hostile)


@settings(max_examples=300, deadline=None)
@given(st.dates(date(1900, 1, 1), date(2026, 12, 1)), st.sampled_from("MF"), st.integers(0, 9999), st.data())
def test_iins_only_as_twelve_ascii_digits_with_their_check_digit(birth, sex, serial, data):
    valid = make_iin(birth, sex, serial)
    if valid is None:        # no check digit exists for this serial
        return
    assert PERSON.validate_python(valid) == valid
    hostile = data.draw(st.one_of(in_another_script(valid), with_inserted(valid, st.sampled_from(SPACES + ("-",))),
                                  st.just(valid[:-1] + str((int(valid[-1]) + 1) % 10)), st.just(valid[:-1]),
                                  st.just(valid + "0")))
    assert refused(PERSON, hostile), repr(hostile)
