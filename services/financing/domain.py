"""Clinic financing rules (per-capita norm, КПН), pure: the versioned rule table, age-sex cells and
the monthly amount of a clinic from its people counted by cell. No I/O, no clock: dates are arguments.

A cell is one group of attached people on a date: age band x sex x active/inactive x
insured/uninsured, encoded as a small integer (band * 8 + female * 4 + active * 2 + insured) so the
projection can keep per-clinic counts per cell.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from services.common.money import to_money


@dataclass(frozen=True, slots=True)
class FinancingRules:
    version: str
    effective_from: date
    # Per attached person per month. Placeholder: the real КПН base rate is not published.
    base_rate: Decimal
    # Lower bounds (completed years) of the age bands; the last band is open-ended.
    age_band_bounds: tuple[int, ...]
    # Per band, (male, female) coefficient. Placeholders shaped like published PHC capitation tables.
    age_sex_coefficients: tuple[tuple[Decimal, Decimal], ...]
    activity_coefficient: Decimal     # an inactive person's norm is multiplied by this
    insurance_coefficient: Decimal    # an uninsured person's norm is multiplied by this
    # Active on D iff a non-voided visit v with D - window < v <= D (the visit day itself counts).
    activity_window_days: int


def _coefs(*pairs: tuple[str, str]) -> tuple[tuple[Decimal, Decimal], ...]:
    return tuple((Decimal(m), Decimal(f)) for m, f in pairs)


RULES: tuple[FinancingRules, ...] = (
    FinancingRules(
        version="kpn-2025-10",
        effective_from=date(2025, 10, 1),
        base_rate=Decimal("1176.03"),
        age_band_bounds=(0, 1, 5, 10, 15, 20, 30, 40, 50, 60, 70),
        age_sex_coefficients=_coefs(
            ("3.20", "3.10"),   # 0
            ("1.80", "1.75"),   # 1-4
            ("1.10", "1.10"),   # 5-9
            ("0.95", "0.95"),   # 10-14
            ("0.80", "0.95"),   # 15-19
            ("0.60", "1.05"),   # 20-29
            ("0.65", "1.05"),   # 30-39
            ("0.80", "0.95"),   # 40-49
            ("1.05", "1.10"),   # 50-59
            ("1.40", "1.35"),   # 60-69
            ("1.85", "1.70"),   # 70+
        ),
        activity_coefficient=Decimal("0.8"),
        insurance_coefficient=Decimal("0.9"),
        activity_window_days=365,
    ),
)

# The projection keeps counts by age band and activity: every rule version must share the bands and
# the window, or the stored counts would not fit it. A new order that changes them needs a new
# projection shape and a rebuild (python -m services.financing.rebuild), not only a new row here.
AGE_BAND_BOUNDS = RULES[0].age_band_bounds
ACTIVITY_WINDOW_DAYS = RULES[0].activity_window_days
for _r in RULES:
    assert _r.age_band_bounds == AGE_BAND_BOUNDS and _r.activity_window_days == ACTIVITY_WINDOW_DAYS, _r.version
    assert len(_r.age_sex_coefficients) == len(AGE_BAND_BOUNDS), _r.version
CELLS = len(AGE_BAND_BOUNDS) * 8


def rules_on(day: date) -> FinancingRules:
    """The rule version in force on `day` (the earliest one for days before the table starts)."""
    chosen = RULES[0]
    for r in RULES:
        if r.effective_from <= day:
            chosen = r
    return chosen


def month_start(day: date) -> date:
    return day.replace(day=1)


def age_on(birth: date, day: date) -> int:
    """Completed years on `day`."""
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def band_of(age: int) -> int:
    band = 0
    for i, bound in enumerate(AGE_BAND_BOUNDS):
        if age >= bound:
            band = i
    return band


def band_label(band: int) -> str:
    low = AGE_BAND_BOUNDS[band]
    if band + 1 == len(AGE_BAND_BOUNDS):
        return f"{low}+"
    high = AGE_BAND_BOUNDS[band + 1] - 1
    return str(low) if high == low else f"{low}-{high}"


def cell_of(band: int, sex: str, active: bool, insured: bool) -> int:
    return band * 8 + (4 if sex == "F" else 0) + (2 if active else 0) + (1 if insured else 0)


@dataclass(frozen=True, slots=True)
class Cell:
    band: int
    sex: str
    active: bool
    insured: bool


def decode_cell(cell: int) -> Cell:
    return Cell(cell // 8, "F" if cell & 4 else "M", bool(cell & 2), bool(cell & 1))


def share(part: int, whole: int) -> float:
    """A share in [0, 1], 4 places; 0 for a clinic with nobody attached."""
    return round(part / whole, 4) if whole else 0.0


@dataclass(frozen=True, slots=True)
class StatementLine:
    age_group: str
    sex: str
    active: bool
    insured: bool
    people: int
    age_sex_coefficient: Decimal
    activity_coefficient: Decimal
    insurance_coefficient: Decimal
    amount: Decimal   # people x base rate x the three coefficients, to the tiyn


def statement_lines(rules: FinancingRules, people_by_cell: dict[int, int]) -> list[StatementLine]:
    """One line per non-empty cell, in band, sex, activity, insurance order."""
    lines = []
    for cell in sorted(people_by_cell):
        n = people_by_cell[cell]
        if n == 0:
            continue
        c = decode_cell(cell)
        age_sex = rules.age_sex_coefficients[c.band][1 if c.sex == "F" else 0]
        act = Decimal(1) if c.active else rules.activity_coefficient
        ins = Decimal(1) if c.insured else rules.insurance_coefficient
        lines.append(StatementLine(band_label(c.band), c.sex, c.active, c.insured, n, age_sex, act, ins,
                                   to_money(n * rules.base_rate * age_sex * act * ins)))
    return lines


def monthly_amount(rules: FinancingRules, people_by_cell: dict[int, int]) -> Decimal:
    """The clinic's amount for the month: the sum of its statement lines (each rounded to the tiyn)."""
    return sum((line.amount for line in statement_lines(rules, people_by_cell)), Decimal("0.00"))
