"""Financing's rule tables (published data, services.common.rules): the per-capita norm (КПН), and when
a month's statement closes.

The values live in the `rule_versions` table, seeded by migrations 0005, 0006 and 0008_console and published by the
Fund's administrators at POST /v1/rules/{table}; this module says what a version must hold and which
version a month is paid under. A version is in force until the next one (no year span).
"""
from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Callable

from pydantic import Field

from services.common.rules import Dec, InForce, RuleSnapshot, RuleTable, Values
from services.financing.domain import ACTIVITY_WINDOW_DAYS, AGE_BAND_BOUNDS, band_label

TABLE = "capitation"
STATEMENTS = "statements"
WORKLISTS = "worklists"

BaseRate = Annotated[Dec, Field(gt=0, le=1_000_000, decimal_places=2)]
Coefficient = Annotated[Dec, Field(gt=0, le=10)]
Reduction = Annotated[Dec, Field(gt=0, le=1)]


class BaseRates(Values):
    """Tenge per attached person per month, by the clinic's settlement."""
    urban: BaseRate
    rural: BaseRate


class AgeSexCoefficient(Values):
    male: Coefficient
    female: Coefficient


class Capitation(Values):
    base_rate: BaseRates
    # The projection's shape, repeated: equal to domain.AGE_BAND_BOUNDS and ACTIVITY_WINDOW_DAYS.
    age_band_bounds: tuple[int, ...]
    age_sex_coefficients: tuple[AgeSexCoefficient, ...] = Field(description="per age band, in band order")
    activity_coefficient: Reduction = Field(description="an inactive person's norm is multiplied by this")
    insurance_coefficient: Reduction = Field(description="an uninsured person's norm is multiplied by this")
    activity_window_days: int = Field(description="active: a non-voided visit within this many days up to the date")


_REBUILD = ("the stored per-clinic counts are built on {what} {held}; other {what} need a new projection shape "
            "and a rebuild (python -m services.financing.rebuild), not only a new version")


def _check(v: Capitation, _effective: date) -> list[dict[str, Any]]:
    errors = []
    if v.age_band_bounds != AGE_BAND_BOUNDS:
        errors.append({"loc": ["age_band_bounds"],
                       "msg": _REBUILD.format(what="age bands", held=list(AGE_BAND_BOUNDS))})
    if v.activity_window_days != ACTIVITY_WINDOW_DAYS:
        errors.append({"loc": ["activity_window_days"],
                       "msg": _REBUILD.format(what="activity windows", held=f"of {ACTIVITY_WINDOW_DAYS} days")})
    if len(v.age_sex_coefficients) != len(AGE_BAND_BOUNDS):
        bands = ", ".join(band_label(b) for b in range(len(AGE_BAND_BOUNDS)))
        errors.append({"loc": ["age_sex_coefficients"],
                       "msg": f"one {{male, female}} pair per age band, {len(AGE_BAND_BOUNDS)} in all ({bands})"})
    return errors


class StatementRules(Values):
    close_day: int = Field(ge=1, le=28, description="month M's statement closes on this day of month M+1")


class WorklistRules(Values):
    horizon_days: int = Field(ge=1, le=366, description="the clinics' worklists of people turning inactive and of "
                                                        "people whose insured time ends look this many days ahead")


RULE_TABLES: dict[str, RuleTable] = {
    TABLE: RuleTable(
        TABLE, "the per-capita norm (КПН) of PHC clinics: base rate by settlement, age-sex coefficients, the "
               "inactive and uninsured reductions; in force until replaced", Capitation, check=_check),
    STATEMENTS: RuleTable(
        STATEMENTS, "when a month's per-capita statement closes (its money is final; later changes become "
                    "adjustments of the first open month); in force until replaced", StatementRules),
    WORKLISTS: RuleTable(
        WORKLISTS, "how far ahead the clinics' worklists look (turning inactive, grace ending); in force until "
                   "replaced", WorklistRules),
}


def capitation_on(snap: RuleSnapshot, day: date) -> InForce[Capitation] | None:
    """The version in force on `day` (a month is paid under the one in force on its first day). Days
    before the first version are figured under the first (the table starts with the КПН reform of
    October 2025; the project has no earlier one). None only while nothing is published."""
    found = snap.in_force(TABLE, day)
    if found is None:
        versions = snap.all(TABLE)
        return InForce(versions[0]) if versions else None
    return found


def close_day_of(snap: RuleSnapshot) -> Callable[[date], int]:
    """The close day a month is closed under: the version in force on the first day of the month after
    it, the month the closing happens in (before the first version: the first)."""
    def close_day(closing_month: date) -> int:
        found = snap.in_force(STATEMENTS, closing_month)
        if found is None:
            versions = snap.all(STATEMENTS)
            if not versions:
                raise LookupError("no statements version is published")
            return versions[0].values.close_day
        return found.version.values.close_day
    return close_day
