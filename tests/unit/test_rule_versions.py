"""Rule versions in force, carried past the last published year, and the far-ahead limit (pure)."""
from __future__ import annotations

from datetime import date

import pytest
from pydantic import ValidationError

from services.common.rules import Dec, RuleTable, Values, refuse_far_ahead, rules_fields, too_far_ahead
from services.common.problems import Problem
from tests.support.rules import snapshot_of


class Amount(Values):
    amount: Dec


TABLES = {"yearly": RuleTable("yearly", "per year", Amount, span="year"),
          "open": RuleTable("open", "until replaced", Amount)}
SNAP = snapshot_of(TABLES, {"yearly": [("2025-01-01", {"amount": "1"}), ("2026-01-01", {"amount": "2"}),
                                       ("2026-07-01", {"amount": "3"})],
                            "open": [("2020-01-01", {"amount": "9"})]})


@pytest.mark.parametrize("on, version, provisional, carried", [
    (date(2025, 12, 31), "yearly@2025-01-01", False, None),
    (date(2026, 1, 1), "yearly@2026-01-01", False, None),
    (date(2026, 6, 30), "yearly@2026-01-01", False, None),
    (date(2026, 7, 1), "yearly@2026-07-01", False, None),      # a correction from its own date
    (date(2026, 12, 31), "yearly@2026-07-01", False, None),
    (date(2027, 1, 1), "yearly@2026-07-01", True, 2026),       # past the last published year: carried
    (date(2030, 5, 1), "yearly@2026-07-01", True, 2026),
])
def test_the_version_in_force_and_whether_it_is_carried(on, version, provisional, carried):
    found = SNAP.in_force("yearly", on)
    assert (found.version.version, found.provisional, found.carried_from) == (version, provisional, carried)


def test_before_the_first_version_nothing_is_in_force():
    assert SNAP.in_force("yearly", date(2024, 12, 31)) is None


def test_a_table_in_force_until_replaced_is_never_provisional():
    assert SNAP.in_force("open", date(2040, 1, 1)).provisional is False
    assert SNAP.published_until("open") is None and SNAP.published_until("yearly") == date(2026, 12, 31)


def test_an_answer_names_every_version_and_the_earliest_carried_year():
    used = rules_fields(SNAP.in_force("open", date(2027, 3, 1)), SNAP.in_force("yearly", date(2027, 3, 1)))
    assert used == {"rules_version": "open@2020-01-01+yearly@2026-07-01", "rules_provisional": True,
                    "rules_carried_from": 2026}
    assert rules_fields(SNAP.in_force("open", date(2026, 3, 1))) == {"rules_version": "open@2020-01-01",
                                                                      "rules_provisional": False}


@pytest.mark.parametrize("on, refused", [(date(2028, 12, 31), False), (date(2029, 1, 1), True)])
def test_only_dates_more_than_24_months_ahead_are_refused(on, refused):
    today = date(2026, 12, 7)
    assert too_far_ahead(on, today) is refused
    if refused:
        with pytest.raises(Problem) as exc:
            refuse_far_ahead(on, today, ["query", "date"])
        assert exc.value.status == 422


@pytest.mark.parametrize("value", ["1e3", "1 000", "١٢", "1_000", 1.5, "", " 1", True])
def test_rule_decimals_are_plain_ascii_strings(value):
    with pytest.raises(ValidationError):
        Amount.model_validate({"amount": value})


def test_a_table_that_is_not_carried_has_nothing_in_force_past_its_years():
    tables = {"calendar": RuleTable("calendar", "per year, not carried", Amount, span="year", carry=False)}
    snap = snapshot_of(tables, {"calendar": [("2026-01-01", {"amount": "1"})]})
    assert snap.in_force("calendar", date(2026, 12, 31)).version.version == "calendar@2026-01-01"
    assert snap.in_force("calendar", date(2027, 1, 1)) is None
