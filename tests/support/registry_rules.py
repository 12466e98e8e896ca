"""Registry rule snapshots built from a test's own values: the unit tests of the pure rules do not
depend on the seed migration."""
from __future__ import annotations

from datetime import date
from typing import Any

from services.common.rules import RuleSnapshot
from services.registry.rules import RULE_TABLES
from tests.support.rules import snapshot_of

ATTACHMENT = {"voluntary_window_months": 12, "voluntary_changes_allowed": 1, "limited_reasons": ["choice"],
              "campaign_opens": "09-01", "campaign_closes": "11-01", "campaign_effective": "01-01",
              "newborn_max_age_months": 12}


def kind(code: str, sex: str | None = None, min_age: int | None = None, max_age: int | None = None) -> dict:
    return {"code": code, "sex": sex, "min_age_years": min_age, "max_age_years": max_age}


VISITS = {"earliest_date": "2020-01-01", "practitioner_daily_norm": 24, "kinds": [
    kind("consultation"), kind("home_visit"), kind("patronage", None, 0, 5),
    kind("screening_cervical", "F", 30, 70), kind("screening_prostate", "M", 45, 70)]}


def snapshot(**tables: list[tuple[date, dict[str, Any]]]) -> RuleSnapshot:
    """A snapshot of the registry's tables holding these versions: table=[(effective_from, values), ...].
    A table not named gets the values above, effective 2020-01-01."""
    defaults = {"attachment": [(date(2020, 1, 1), ATTACHMENT)], "visits": [(date(2020, 1, 1), VISITS)]}
    return snapshot_of(RULE_TABLES, {name: tables.get(name, defaults[name]) for name in RULE_TABLES})
