"""Feedback rule tables (published data, services.common.rules): the working-day calendar and the answer
deadlines.

The values live in the `rule_versions` table, seeded by migration 0003 and published by the Fund's
administrators at POST /v1/rules/{table}; this module says what a version must hold and turns the
versions into the plain values the pure deadline rules in domain.py count with.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from services.common.inputs import Day
from services.common.rules import InForce, RuleSnapshot, RuleTable, RuleVersion, Values
from services.feedback.domain import CalendarYear, DeadlineRule

Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]


class DatedReason(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    date: Day
    why: Reason = Field(description="why the day is (not) worked: the holiday, or the act that moved it")


class Calendar(Values):
    """One year's production calendar (five-day week): the exceptions to Monday-Friday."""
    days_off: list[DatedReason] = Field(max_length=366, description="weekdays that are not working days")
    working_weekends: list[DatedReason] = Field(max_length=366,
                                                description="Saturdays and Sundays worked by a transfer")
    working_days: int = Field(ge=0, le=366, description="the year's working days as the official calendar "
                                                        "states them; must equal the count these dates give")


class Deadlines(Values):
    """The answer period of an appeal."""
    working_days: int = Field(ge=1, le=60, description="the answer is due on this working day after registration")
    max_extension_months: int = Field(ge=1, le=12, description="one extension reaches at most this many months "
                                                               "from registration")


def weekdays_of(year: int) -> int:
    first, days = date(year, 1, 1), (date(year + 1, 1, 1) - date(year, 1, 1)).days
    return sum((first + timedelta(n)).weekday() < 5 for n in range(days))


def _calendar_check(v: Calendar, effective: date) -> list[dict[str, Any]]:
    """A calendar year complete: each date in the version's year, on the right kind of day, once."""
    year, errors, seen = effective.year, [], set()
    for field, weekend in (("days_off", False), ("working_weekends", True)):
        for i, entry in enumerate(getattr(v, field)):
            d, loc = entry.date, [field, i, "date"]
            if d.year != year:
                errors.append({"loc": loc, "msg": f"{d} is not in {year}, the year of the version"})
            elif (d.weekday() >= 5) != weekend:
                errors.append({"loc": loc, "msg": f"{d} is a {d.strftime('%A')}: "
                               + ("only a Saturday or Sunday can be a working weekend" if weekend
                                  else "days off list weekdays only (weekends are off anyway)")})
            if d in seen:
                errors.append({"loc": loc, "msg": f"{d} is listed twice"})
            seen.add(d)
    counted = weekdays_of(year) - len(v.days_off) + len(v.working_weekends)
    if not errors and counted != v.working_days:
        errors.append({"loc": ["working_days"],
                       "msg": f"these dates give {counted} working days in {year}, not {v.working_days}"})
    return errors


RULE_TABLES: dict[str, RuleTable] = {t.name: t for t in (
    RuleTable("calendar", "the production calendar, one year a version: weekdays off and working weekends "
                          "(a later version of the same year corrects it from its own date)",
              Calendar, span="year", carry=False, check=_calendar_check),
    RuleTable("deadlines", "the answer period of an appeal in working days, and how far one extension reaches",
              Deadlines),
)}


def calendar_year(v: RuleVersion[Calendar]) -> CalendarYear:
    return CalendarYear(version=v.version, effective_from=v.effective_from,
                        days_off=frozenset(e.date for e in v.values.days_off),
                        working_weekends=frozenset(e.date for e in v.values.working_weekends))


def deadline_rule(found: InForce[Deadlines]) -> DeadlineRule:
    return DeadlineRule(version=found.version.version, working_days=found.values.working_days,
                        max_extension_months=found.values.max_extension_months)


@dataclass(frozen=True)
class AppealRules:
    calendars: tuple[CalendarYear, ...]
    deadline: DeadlineRule


def appeal_rules(snap: RuleSnapshot, registered_on: date) -> AppealRules | None:
    """Every published calendar (the count may run into later years) and the deadline rule in force on
    the day of registration; None before the first deadline rule."""
    deadlines = snap.in_force("deadlines", registered_on)
    if deadlines is None:
        return None
    return AppealRules(tuple(calendar_year(v) for v in snap.all("calendar")), deadline_rule(deadlines))
