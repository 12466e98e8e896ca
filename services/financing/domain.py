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
from typing import TYPE_CHECKING, Callable

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


def _coefficients(rules: Capitation, cell: Cell) -> tuple[Decimal, Decimal, Decimal]:
    """(age-sex, activity, insurance) coefficients of a cell."""
    coefficients = rules.age_sex_coefficients[cell.band]
    age_sex = coefficients.female if cell.sex == "F" else coefficients.male
    act = Decimal(1) if cell.active else rules.activity_coefficient
    ins = Decimal(1) if cell.insured else rules.insurance_coefficient
    return age_sex, act, ins


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
        age_sex, act, ins = _coefficients(rules, c)
        lines.append(StatementLine(band_label(c.band), c.sex, c.active, c.insured, n, age_sex, act, ins,
                                   to_money(n * rate * age_sex * act * ins)))
    return lines


def monthly_amount(rules: Capitation, settlement: str | None, people_by_cell: dict[int, int]) -> Decimal:
    """The clinic's amount for the month: the sum of its statement lines (each rounded to the tiyn)."""
    return sum((line.amount for line in statement_lines(rules, settlement, people_by_cell)), Decimal("0.00"))


# --- closed months --------------------------------------------------------------------------------
# Month M's statement is counted on M's first day and closes on a day of month M+1 that the rule table
# sets (or earlier, when an operator closes it once M has ended); closing M closes every month before
# it, so the closed months are always those up to one month. A change to a closed month's counting day
# becomes an adjustment of the first open month.

def month_after(month: date, months: int = 1) -> date:
    """The first day of the month `months` after `month`'s (negative: before)."""
    index = month.year * 12 + month.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def close_date(month: date, close_day: int) -> date:
    """The day month `month`'s statement closes on: `close_day` of the month after."""
    return month_after(month).replace(day=close_day)


def has_ended(month: date, today: date) -> bool:
    return (today.year, today.month) > (month.year, month.month)     # December 9999 has no month after


def latest_due_month(today: date, close_day_of: Callable[[date], int]) -> date:
    """The latest month whose close day has come by `today` (close_day_of: the close day in force in the
    month the closing happens)."""
    previous = month_after(month_start(today), -1)
    if today >= close_date(previous, close_day_of(month_start(today))):
        return previous
    return month_after(previous, -1)


def automatic_close(today: date, started_on: date, closed_through: date | None,
                    close_day_of: Callable[[date], int]) -> date | None:
    """The month to close through on `today` without an operator, or None. Only months whose close day
    comes after `started_on` (the day financing began keeping statements) close by themselves: a new
    installation's first events are the past being loaded, not late corrections of paid months; an
    operator closes those months explicitly."""
    due = latest_due_month(today, close_day_of)
    if closed_through is not None and closed_through >= due:
        return None
    if close_date(due, close_day_of(month_after(due))) <= started_on:
        return None
    return due


def person_amount(rules: Capitation, settlement: str | None, cell: int | None) -> Decimal:
    """What one person in `cell` adds to a month's amount, to the tiyn (None: not counted: zero)."""
    if cell is None:
        return Decimal("0.00")
    age_sex, act, ins = _coefficients(rules, decode_cell(cell))
    return to_money(base_rate(rules, settlement) * age_sex * act * ins)


def adjustment_amount(rules: Capitation, settlement: str | None, before: int | None, after: int | None) -> Decimal:
    """The correction of a closed month for one person who counted in cell `before` and now counts in
    `after` (None: not counted by this clinic), under the corrected month's capitation version."""
    return person_amount(rules, settlement, after) - person_amount(rules, settlement, before)
