"""The registry's rule tables as published versions: each decision follows the version in force on
its date, answers name the versions used, and a version is validated whole before it is written."""
from __future__ import annotations

from datetime import date

import pytest

from services.common.ids import make_iin
from services.common.problems import Problem
from services.common.rules import PublishIn, rules_fields, validate_version
from services.registry.domain import Attach, AttachmentRecord, AttachmentRequest, Refusal, VisitIn, judge_attachment, \
    visit_errors
from services.registry.rules import RULE_TABLES, attachment_rules, visit_rules, visit_rules_for
from tests.support.registry_rules import ATTACHMENT, VISITS, kind, rejected, snapshot

TODAY = date(2026, 11, 25)

ADULT = make_iin(date(1985, 4, 12), "F", 1234) or make_iin(date(1985, 4, 12), "F", 1235)
BABY = make_iin(date(2027, 1, 10), "M", 42) or make_iin(date(2027, 1, 10), "M", 43)
SIX_MONTHS = date(2026, 6, 1)


def judge(snap, reason: str, effective: date, history=(), today=TODAY, iin=ADULT, clinic="C"):
    return judge_attachment(AttachmentRequest(iin, clinic, reason, effective), rules=attachment_rules(snap, effective),
                            history=list(history), died_on=None, clinic_known=True, today=today)


# ---------------------------------------------------------------- attachment

def test_a_new_window_applies_to_changes_effective_from_its_date_and_not_before():
    snap = snapshot(attachment=[(date(2020, 1, 1), ATTACHMENT),
                                (SIX_MONTHS, {**ATTACHMENT, "voluntary_window_months": 6})])
    history = [AttachmentRecord("a1", "A", None, "choice", date(2025, 1, 10)),
               AttachmentRecord("a2", "B", "A", "choice", date(2025, 12, 1))]
    before = judge(snap, "choice", date(2026, 5, 31), history)
    assert isinstance(before, Refusal) and before.rule == "voluntary_change_limit"
    assert before.facts["next_allowed_from"] == date(2026, 12, 1)  # twelve months, the old version's window
    assert judge(snap, "choice", SIX_MONTHS, history) == Attach("B", rules_version="attachment@2026-06-01")


def test_the_campaign_dates_are_those_of_the_version_in_force_on_the_effective_date():
    snap = snapshot(attachment=[(date(2020, 1, 1), ATTACHMENT),
                                (date(2027, 1, 2), {**ATTACHMENT, "campaign_opens": "09-15",
                                                    "campaign_closes": "11-15"})])
    history = [AttachmentRecord("a1", "A", None, "choice", date(2025, 1, 10))]
    # a campaign for 1 January 2027 still has the old dates: its version is the one in force on that day
    assert isinstance(judge(snap, "campaign", date(2027, 1, 1), history, today=date(2026, 9, 1)), Attach)
    assert judge(snap, "campaign", date(2027, 1, 1), history, today=date(2026, 11, 2)).rule == "campaign_closed"
    # the campaign for 2028 opens on 15 September and closes on 15 November
    assert judge(snap, "campaign", date(2028, 1, 1), history, today=date(2027, 9, 14)).rule == "campaign_closed"
    assert isinstance(judge(snap, "campaign", date(2028, 1, 1), history, today=date(2027, 9, 15)), Attach)
    assert isinstance(judge(snap, "campaign", date(2028, 1, 1), history, today=date(2027, 11, 15)), Attach)


def test_the_newborn_age_is_the_version_s():
    snap = snapshot(attachment=[(date(2020, 1, 1), {**ATTACHMENT, "newborn_max_age_months": 3})])
    today = date(2027, 6, 1)
    assert isinstance(judge(snap, "newborn", date(2027, 4, 9), iin=BABY, today=today), Attach)
    assert judge(snap, "newborn", date(2027, 4, 10), iin=BABY, today=today).rule == "newborn_too_old"


def test_an_attachment_from_before_the_first_version_is_judged_by_the_first_and_none_is_provisional():
    snap = snapshot(attachment=[(date(2020, 1, 1), ATTACHMENT),
                                (SIX_MONTHS, {**ATTACHMENT, "voluntary_window_months": 6})])
    assert attachment_rules(snap, date(2015, 5, 1)).version.version == "attachment@2020-01-01"
    assert isinstance(judge(snap, "address_change", date(2015, 5, 1)), Attach)
    far = attachment_rules(snap, date(2040, 1, 1))
    assert rules_fields(far) == {"rules_version": "attachment@2026-06-01", "rules_provisional": False}
    assert attachment_rules(snapshot(attachment=[]), TODAY) is None


# ---------------------------------------------------------------- visits

NEW_KIND = date(2026, 7, 1)
WITH_ONCOLOGY = {**VISITS, "kinds": [*VISITS["kinds"], kind("oncology_screening", None, 18, None)]}


def judged(snap, visits: list[VisitIn], today=TODAY):
    rules = visit_rules_for(snap, today, (v.date for v in visits))
    return [visit_errors(v, today=today, clinic_known=True, rules=rules) for v in visits], rules.fields


def visit(on: date, kind_code: str) -> VisitIn:
    return VisitIn(f"v-{on}-{kind_code}", "C", ADULT, on, kind_code)


def test_a_kind_added_by_a_version_is_taken_from_its_date_on_and_the_answer_names_both_versions():
    snap = snapshot(visits=[(date(2020, 1, 1), VISITS), (NEW_KIND, WITH_ONCOLOGY)])
    errors, fields = judged(snap, [visit(date(2026, 6, 30), "oncology_screening"),
                                   visit(NEW_KIND, "oncology_screening"), visit(date(2026, 6, 30), "consultation")])
    assert errors == [["unknown_kind"], [], []]
    assert fields == {"rules_version": "visits@2020-01-01+visits@2026-07-01", "rules_provisional": False}
    errors, fields = judged(snap, [visit(NEW_KIND, "oncology_screening")])
    assert (errors, fields["rules_version"]) == ([[]], "visits@2026-07-01")


def test_a_version_effective_tomorrow_does_not_take_the_new_kind_today():
    snap = snapshot(visits=[(date(2020, 1, 1), VISITS), (date(2026, 11, 26), WITH_ONCOLOGY)])
    errors, fields = judged(snap, [visit(TODAY, "oncology_screening")])
    assert errors == [["unknown_kind"]] and fields["rules_version"] == "visits@2020-01-01"


def test_the_earliest_date_taken_is_today_s_version_s():
    later = {**VISITS, "earliest_date": "2021-01-01"}
    snap = snapshot(visits=[(date(2020, 1, 1), VISITS), (date(2026, 1, 1), later)])
    errors, _ = judged(snap, [visit(date(2020, 12, 31), "consultation"), visit(date(2021, 1, 1), "consultation")])
    assert errors == [["date_too_old"], []]
    errors, _ = judged(snap, [visit(date(2020, 12, 31), "consultation")], today=date(2025, 12, 31))
    assert errors == [[]]


def test_a_visit_from_before_the_first_version_is_judged_by_the_first_s_kinds():
    later_kinds = {**VISITS, "kinds": [kind("consultation")]}
    snap = snapshot(visits=[(date(2021, 1, 1), VISITS), (date(2026, 1, 1), later_kinds)])
    errors, fields = judged(snap, [visit(date(2020, 6, 1), "home_visit"), visit(TODAY, "home_visit")])
    assert errors == [[], ["unknown_kind"]]
    assert fields["rules_version"] == "visits@2021-01-01+visits@2026-01-01"


def test_with_no_visits_version_published_no_visit_is_taken():
    errors, fields = judged(snapshot(visits=[]), [visit(TODAY, "consultation")])
    assert errors == [["unknown_kind", "date_too_old"]] and fields["rules_version"] == ""


def test_the_kind_codes_are_built_once_per_version_not_per_request():
    snap = snapshot()
    first = visit_rules_for(snap, TODAY, [TODAY]).kinds_on[TODAY]
    assert visit_rules_for(snap, TODAY, [TODAY]).kinds_on[TODAY] is first
    assert first == {"consultation", "home_visit", "patronage", "screening_cervical", "screening_prostate"}


def test_the_norm_is_the_version_s_and_visits_are_never_provisional():
    snap = snapshot(visits=[(date(2020, 1, 1), VISITS), (NEW_KIND, {**VISITS, "practitioner_daily_norm": 30})])
    assert visit_rules(snap, date(2026, 6, 30)).values.practitioner_daily_norm == 24
    assert visit_rules(snap, NEW_KIND).values.practitioner_daily_norm == 30
    assert visit_rules(snap, date(2040, 1, 1)).provisional is False
    assert visit_rules(snap, date(2019, 12, 31)).values.practitioner_daily_norm == 24


# ---------------------------------------------------------------- validation

def test_the_seed_like_values_are_accepted():
    for table, values in (("attachment", {**ATTACHMENT, "clinic_backdate_days": 3}),
                          ("visits", {**VISITS, "clinic_report_days": 30, "practitioner_tolerance": "1.5",
                                      "practitioner_far_beyond": "3", "activity_window_days": 365,
                                      "turning_inactive_days": 30})):
        body = PublishIn.model_validate({"effective_from": "2027-01-01", "values": values, "legal_basis": {
            "act": "test act", "number": "1", "date": "2026-01-01", "url": "https://example.org/act"}})
        assert validate_version(RULE_TABLES[table], body).model_dump(mode="json") == values


@pytest.mark.parametrize("change, loc", [
    ({"practitioner_daily_norm": 0}, ("practitioner_daily_norm",)),
    ({"practitioner_daily_norm": 501}, ("practitioner_daily_norm",)),
    ({"practitioner_daily_norm": True}, ("practitioner_daily_norm",)),
    ({"practitioner_daily_norm": "24"}, ("practitioner_daily_norm",)),
    ({"earliest_date": "2019-12-31"}, ("earliest_date",)),
    ({"kinds": []}, ("kinds",)),
    ({"kinds": [kind("consultation"), kind("consultation")]}, ("kinds", 1, "code")),
    ({"kinds": [kind("Consultation")]}, ("kinds", 0, "code")),
    ({"kinds": [kind("c")]}, ("kinds", 0, "code")),
    ({"kinds": [kind("c" * 42)]}, ("kinds", 0, "code")),
    ({"kinds": [kind("x_ray", "W")]}, ("kinds", 0, "sex")),
    ({"kinds": [kind("antenatal", "F", 56, 14)]}, ("kinds", 0, "max_age_years")),
    ({"kinds": [kind("antenatal", "F", -1, 55)]}, ("kinds", 0, "min_age_years")),
    ({"kinds": [kind("antenatal", "F", 14, 121)]}, ("kinds", 0, "max_age_years")),
    ({"kinds": [{"code": "antenatal", "sex": "F"}]}, ("kinds", 0, "min_age_years")),
    ({"daily_norm": 24}, ("daily_norm",)),
])
def test_a_bad_visits_version_is_rejected_naming_the_field(change, loc):
    assert loc in rejected("visits", {**VISITS, **change})


def test_the_boundary_ages_and_norms_are_accepted():
    values = {**VISITS, "practitioner_daily_norm": 500, "kinds": [kind("any_age", None, 0, 120), kind("one_age", "M", 7, 7)]}
    body = PublishIn.model_validate({"effective_from": "2020-01-01", "values": values, "legal_basis": {
        "act": "test act", "number": "1", "date": "2026-01-01", "url": "https://example.org/act"}})
    assert validate_version(RULE_TABLES["visits"], body).practitioner_daily_norm == 500


def test_an_incomplete_visits_version_is_rejected():
    assert ("practitioner_daily_norm",) in rejected("visits", {"earliest_date": "2020-01-01", "kinds": VISITS["kinds"]})


@pytest.mark.parametrize("change, loc", [
    ({"voluntary_window_months": 0}, ("voluntary_window_months",)),
    ({"voluntary_window_months": -12}, ("voluntary_window_months",)),
    ({"voluntary_window_months": 1200}, ("voluntary_window_months",)),
    ({"voluntary_changes_allowed": 0}, ("voluntary_changes_allowed",)),
    ({"newborn_max_age_months": 0}, ("newborn_max_age_months",)),
    ({"limited_reasons": ["moving"]}, ("limited_reasons", 0)),
    ({"limited_reasons": ["choice", "choice"]}, ("limited_reasons",)),
    ({"campaign_opens": "02-29"}, ("campaign_opens",)),
    ({"campaign_opens": "9-1"}, ("campaign_opens",)),
    ({"campaign_closes": "13-01"}, ("campaign_closes",)),
    ({"campaign_opens": "11-02"}, ("campaign_closes",)),    # opens after it closes
])
def test_a_bad_attachment_version_is_rejected_naming_the_field(change, loc):
    assert loc in rejected("attachment", {**ATTACHMENT, **change})


def test_an_attachment_version_before_2020_is_rejected():
    assert ("effective_from",) not in rejected("attachment", {**ATTACHMENT, "voluntary_window_months": 0}, "2020-01-01")
    body = PublishIn.model_validate({"effective_from": "2019-12-31", "values": ATTACHMENT, "legal_basis": {
        "act": "test act", "number": "1", "date": "2026-01-01", "url": "https://example.org/act"}})
    with pytest.raises(Problem) as caught:
        validate_version(RULE_TABLES["attachment"], body)
    assert [e["loc"] for e in caught.value.errors] == [["body", "effective_from"]]
