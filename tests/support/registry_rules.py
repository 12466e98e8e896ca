"""Registry rule snapshots built from a test's own values: the unit tests of the pure rules do not
depend on the seed migration."""
from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from services.common.problems import Problem
from services.common.rules import PublishIn, RuleSnapshot, validate_version
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


CONFIRMATIONS = {"base_rate": "0.01", "flagged_clinic_rate": "0.05", "flagged_practitioner_rate": "0.2",
                 "held_rate": "1", "flag_window_days": 90, "code_valid_days": 14,
                 "confirmation_clears": ["practitioner_volume", "repeated_visit"], "wrong_codes_allowed": 10,
                 "wrong_codes_window_minutes": 15}


def snapshot(**tables: list[tuple[date, dict[str, Any]]]) -> RuleSnapshot:
    """A snapshot of the registry's tables holding these versions: table=[(effective_from, values), ...].
    A table not named gets the values above, effective 2020-01-01."""
    defaults = {"attachment": [(date(2020, 1, 1), ATTACHMENT)], "visits": [(date(2020, 1, 1), VISITS)],
                "confirmations": [(date(2020, 1, 1), CONFIRMATIONS)]}
    return snapshot_of(RULE_TABLES, {name: tables.get(name, defaults[name]) for name in RULE_TABLES})


def rejected(table: str, values: dict, effective: str = "2027-01-01") -> list[tuple]:
    """The error locations of a rejected version (under body.values); fails if it is accepted."""
    body = PublishIn.model_validate({"effective_from": effective, "values": values, "note": "test", "legal_basis": {
        "act": "test act", "number": "1", "date": "2026-01-01", "url": "https://example.org/act"}})
    with pytest.raises(Problem) as caught:
        validate_version(RULE_TABLES[table], body)
    assert caught.value.status == 422
    return [tuple(e["loc"][2:]) for e in caught.value.errors]
