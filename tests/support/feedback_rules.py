"""Feedback rule versions built from a test's own values, never from the seed migration."""
from __future__ import annotations

from datetime import date, datetime, timezone

from services.common.rules import RuleSnapshot, RuleVersion
from services.feedback.rules import RULE_TABLES, Calendar, Deadlines, weekdays_of

_BASIS = {"act": "test", "number": "0", "date": "2020-01-01", "url": "https://example.test/act"}
_AT = datetime(2020, 1, 1, tzinfo=timezone.utc)


def _day(d: str | date) -> date:
    return d if isinstance(d, date) else date.fromisoformat(d)


def calendar_values(year: int, days_off=(), working_weekends=(), working_days: int | None = None) -> dict:
    """A calendar version's values as JSON; working_days as the dates give them unless told."""
    if working_days is None:
        working_days = weekdays_of(year) - len(days_off) + len(working_weekends)
    return {"days_off": [{"date": str(d), "why": "test day off"} for d in days_off],
            "working_weekends": [{"date": str(d), "why": "test working weekend"} for d in working_weekends],
            "working_days": working_days}


def calendar(effective: str | date, days_off=(), working_weekends=()) -> RuleVersion:
    effective = _day(effective)
    values = Calendar.model_validate(calendar_values(effective.year, days_off, working_weekends))
    return RuleVersion("calendar", effective, values, _BASIS, "", "test", _AT)


def deadlines(effective: str | date, working_days: int = 15, max_extension_months: int = 2) -> RuleVersion:
    values = Deadlines(working_days=working_days, max_extension_months=max_extension_months)
    return RuleVersion("deadlines", _day(effective), values, _BASIS, "", "test", _AT)


def snapshot(*versions: RuleVersion) -> RuleSnapshot:
    """A snapshot of these versions; the deadlines of 2021-07-01 (15 working days, 2 months) unless others
    are given."""
    if not any(v.table == "deadlines" for v in versions):
        versions = (deadlines("2021-07-01"), *versions)
    by_table = {name: tuple(sorted((v for v in versions if v.table == name), key=lambda v: v.effective_from))
                for name in RULE_TABLES}
    return RuleSnapshot(RULE_TABLES, by_table)
