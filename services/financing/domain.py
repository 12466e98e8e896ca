"""Clinic financing rules (per-capita norm, КПН), pure: age-sex cells and the monthly amount of a
clinic from its people counted by cell, under the capitation version it is handed (services.financing.
rules; the routes take the version in force from the rule snapshot). No I/O, no clock: dates are arguments.

A cell is one group of attached people on a date: age band x sex x active/inactive x
insured/uninsured, encoded as a small integer (band * 8 + female * 4 + active * 2 + insured) so the
projection can keep per-clinic counts per cell.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

from services.common.money import to_money

if TYPE_CHECKING:
    from services.financing.rules import Capitation


# The projection's shape: the stored per-clinic cells count people by these age bands (lower bounds,
# completed years; the last band is open-ended), and activity by this window (active on D iff a
# non-voided visit v with D - window < v <= D). Every capitation version repeats them; one that
# differs needs a new projection shape and a rebuild (python -m services.financing.rebuild).
AGE_BAND_BOUNDS: tuple[int, ...] = (0, 1, 5, 10, 15, 20, 30, 40, 50, 60, 70)
ACTIVITY_WINDOW_DAYS = 365
CELLS = len(AGE_BAND_BOUNDS) * 8


def base_rate(rules: Capitation, settlement: str | None) -> Decimal:
    """The clinic's base rate: that of its settlement; a clinic whose settlement financing does not
    know (no clinic-registered event, no settlement in its PUT) is paid at the urban rate."""
    return rules.base_rate.rural if settlement == "rural" else rules.base_rate.urban


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


def statement_lines(rules: Capitation, settlement: str | None, people_by_cell: dict[int, int]
                    ) -> list[StatementLine]:
    """One line per non-empty cell, in band, sex, activity, insurance order."""
    rate = base_rate(rules, settlement)
    lines = []
    for cell in sorted(people_by_cell):
        n = people_by_cell[cell]
        if n == 0:
            continue
        c = decode_cell(cell)
        coefficients = rules.age_sex_coefficients[c.band]
        age_sex = coefficients.female if c.sex == "F" else coefficients.male
        act = Decimal(1) if c.active else rules.activity_coefficient
        ins = Decimal(1) if c.insured else rules.insurance_coefficient
        lines.append(StatementLine(band_label(c.band), c.sex, c.active, c.insured, n, age_sex, act, ins,
                                   to_money(n * rate * age_sex * act * ins)))
    return lines


def monthly_amount(rules: Capitation, settlement: str | None, people_by_cell: dict[int, int]) -> Decimal:
    """The clinic's amount for the month: the sum of its statement lines (each rounded to the tiyn)."""
    return sum((line.amount for line in statement_lines(rules, settlement, people_by_cell)), Decimal("0.00"))
