"""financing's monthly series: a clinic's or a region's figures month by month, each counted on the
month's first day (the day its amount is counted on), with the month's money: the frozen statements'
of a closed month (adjustments included), else figured now with the adjustments landing in it.
"""
from __future__ import annotations

from datetime import date

import asyncpg
from pydantic import BaseModel, Field

from services.common.problems import invalid
from services.common.rules import InForce, RulesUsed, RuleSnapshot, rules_fields
from services.financing import checkpoints, domain, statements
from services.financing.rules import Capitation
from services.financing.statements import SignedMoney

# A page's trend is 24 months; three years is the most one request figures (each month is a calendar read).
MAX_MONTHS = 36
FIRST_YEAR = 1900     # as a statement's month (nobody's history is older)


class MonthFigures(RulesUsed):
    month: str
    counted_on: date = Field(description="the month's first day: the figures and the amount are counted on it")
    attached: int
    active: int
    insured: int
    active_share: float
    insured_share: float
    monthly_amount: SignedMoney = Field(description="the month's statements' money, adjustments included: as "
                                                    "frozen once the month is closed")
    adjustments_amount: SignedMoney = Field(description="the part of monthly_amount that corrects closed months")
    closed: bool


class ClinicSeries(BaseModel):
    clinic_id: str
    months: list[MonthFigures]


class RegionSeries(BaseModel):
    region: str
    clinics: int
    months: list[MonthFigures]


def months_between(first: str, last: str) -> list[date]:
    """The first days of the months `first`..`last` (YYYY-MM, both included); 422 when `last` is before
    `first` or the range is longer than MAX_MONTHS."""
    for loc, text in (("from", first), ("to", last)):
        if int(text[:4]) < FIRST_YEAR:
            raise invalid(f"months before {FIRST_YEAR} are not figured",
                          errors=[{"loc": ["query", loc], "msg": f"before {FIRST_YEAR}-01"}])
    start = date(int(first[:4]), int(first[5:]), 1)
    end = date(int(last[:4]), int(last[5:]), 1)
    count = (end.year - start.year) * 12 + end.month - start.month + 1
    if count < 1:
        raise invalid("`to` is before `from`", errors=[{"loc": ["query", "to"], "msg": "before from"}])
    if count > MAX_MONTHS:
        raise invalid(f"at most {MAX_MONTHS} months a request",
                      errors=[{"loc": ["query", "to"], "msg": f"more than {MAX_MONTHS} months after from"}])
    return [domain.month_after(start, i) for i in range(count)]


async def series(conn: asyncpg.Connection, snap: RuleSnapshot, found: list, months: list[date],
                 rules: list[InForce[Capitation]]) -> list[MonthFigures]:
    """The clinics' (`found`: rows with clinic_no, clinic_id and settlement) summed figures of each month,
    under each month's capitation version (`rules`, in the same order)."""
    out = []
    for month, used in zip(months, rules):
        figures = await checkpoints.counts_on(conn, found, month)
        money = await statements.money_of(conn, snap, found, month, used)
        out.append(_point(month, used, sum(f.attached for f in figures), sum(f.active for f in figures),
                          sum(f.insured for f in figures), money))
    return out


async def region_series(conn: asyncpg.Connection, snap: RuleSnapshot, region: str, months: list[date],
                        rules: list[InForce[Capitation]]) -> list[MonthFigures]:
    """series() of the region's clinics, each month read for the region at once (statements.region_figures)."""
    out = []
    for month, used in zip(months, rules):
        sums, money = await statements.region_figures(conn, snap, region, month, used)
        out.append(_point(month, used, sums.attached, sums.active, sums.insured, money))
    return out


def _point(month: date, used: InForce[Capitation], attached: int, active: int, insured: int,
           money: statements.StatementMoney) -> MonthFigures:
    return MonthFigures(
        month=month.strftime("%Y-%m"), counted_on=month, attached=attached, active=active, insured=insured,
        active_share=domain.share(active, attached), insured_share=domain.share(insured, attached),
        monthly_amount=money.amount, adjustments_amount=money.adjustments, closed=money.closed,
        **rules_fields(used))
