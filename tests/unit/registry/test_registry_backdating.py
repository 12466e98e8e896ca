"""Backdating bounds by role and discreet refusals, pure: how far back a clinic's attachment and visit
may reach (the rule tables' clinic_backdate_days and clinic_report_days), what an admin's correction
needs, and that a refusal's words carry none of another party's dates or clinic."""
from __future__ import annotations

import re
from datetime import date, timedelta

import pytest

from services.common.ids import make_iin
from services.registry.domain import (
    Attach, AttachmentRecord, AttachmentRequest, Backdating, Refusal, VisitIn, backdate_refusal, judge_attachment,
    visit_errors,
)
from services.registry.rules import attachment_rules, visit_rules_for
from tests.support.registry_rules import ATTACHMENT, VISITS, rejected, snapshot

TODAY = date(2026, 12, 7)
ADULT = make_iin(date(1985, 4, 12), "F", 1234) or make_iin(date(1985, 4, 12), "F", 1235)
BOUNDED = snapshot(attachment=[(date(2020, 1, 1), ATTACHMENT), (date(2026, 12, 1), {**ATTACHMENT, "clinic_backdate_days": 3})],
                   visits=[(date(2020, 1, 1), VISITS), (date(2026, 12, 1), {**VISITS, "clinic_report_days": 30})])
CLINIC = Backdating(3)


def days_ago(n: int) -> date:
    return TODAY - timedelta(days=n)


def judge(effective: date, backdating: Backdating = CLINIC, history=(), died_on=None, clinic="B", reason="choice"):
    return judge_attachment(AttachmentRequest(ADULT, clinic, reason, effective), rules=attachment_rules(BOUNDED, effective),
                            history=list(history), died_on=died_on, clinic_known=True, today=TODAY,
                            backdating=backdating)


# ---------------------------------------------------------------- attachments

def test_a_clinic_reaches_exactly_the_bound_back_and_not_a_day_more():
    assert backdate_refusal(days_ago(3), TODAY, CLINIC) is None
    assert backdate_refusal(TODAY, TODAY, CLINIC) is None
    assert backdate_refusal(days_ago(4), TODAY, CLINIC).rule == "clinic_backdate_limit"
    assert backdate_refusal(days_ago(4), TODAY, CLINIC).status == 409


def test_an_admin_goes_further_back_only_with_a_reason():
    refusal = backdate_refusal(days_ago(4), TODAY, Backdating(3, correction=True))
    assert (refusal.rule, refusal.status, refusal.loc) == ("backdate_reason_required", 422, ("body", "backdate_reason"))
    assert backdate_refusal(date(2020, 1, 1), TODAY, Backdating(3, True, "court order 12/2026")) is None
    assert backdate_refusal(days_ago(3), TODAY, Backdating(3, correction=True)) is None  # within: no reason needed


def test_without_a_bound_in_the_rules_anything_goes_back_as_before():
    assert backdate_refusal(date(2020, 1, 1), TODAY, Backdating(None)) is None


def test_a_clinic_s_old_attachment_of_another_clinic_s_patient_is_refused_before_anything_about_the_person():
    history = [AttachmentRecord("a1", "A", None, "choice", date(2025, 6, 1))]
    decision = judge(date(2025, 7, 1), history=history, died_on=date(2026, 11, 30))
    assert isinstance(decision, Refusal) and decision.rule == "clinic_backdate_limit" and decision.facts == {}
    accepted = judge(date(2025, 7, 1), Backdating(3, True, "registration error of 2025"), history=history)
    assert accepted == Attach("A", rules_version="attachment@2020-01-01")
    assert isinstance(judge(days_ago(3), history=history), Attach)


def test_a_replay_of_an_accepted_request_still_answers_after_the_bound_has_passed():
    history = [AttachmentRecord("a1", "B", None, "choice", date(2026, 12, 1))]
    assert judge(date(2026, 12, 1), history=history).attachment.attachment_id == "a1"


@pytest.mark.parametrize("effective, history, died_on, clinic, rule", [
    (TODAY, [], date(2026, 12, 5), "B", "person_deceased"),
    (TODAY, [AttachmentRecord("a1", "B", None, "choice", date(2026, 12, 6))], None, "B", "already_attached"),
    (days_ago(2), [AttachmentRecord("a1", "OTHER-A", None, "choice", date(2026, 12, 6))], None, "B",
     "effective_date_before_current"),
    (TODAY, [AttachmentRecord("a1", "OTHER-A", None, "choice", date(2025, 1, 10)),
             AttachmentRecord("a2", "OTHER-C", "OTHER-A", "choice", date(2026, 2, 13))], None, "B",
     "voluntary_change_limit"),
])
def test_refusals_about_the_person_s_record_name_the_rule_in_words_without_dates_or_clinics(
        effective, history, died_on, clinic, rule):
    decision = judge(effective, history=history, died_on=died_on, clinic=clinic)
    assert isinstance(decision, Refusal) and decision.rule == rule
    assert decision.facts  # the admin's answer carries them
    assert not re.search(r"20\d\d|OTHER", decision.detail), decision.detail


# ---------------------------------------------------------------- visits

def errors(on: date, correction=False, snap=BOUNDED, today=TODAY):
    rules = visit_rules_for(snap, today, [on])
    return visit_errors(VisitIn("v1", "B", ADULT, on, "consultation"), today=today, clinic_known=True, rules=rules,
                        correction=correction)


def test_a_clinic_reports_visits_up_to_the_window_and_an_admin_s_correction_further():
    assert errors(days_ago(30)) == []
    assert errors(days_ago(31)) == ["report_window_passed"]
    assert errors(days_ago(31), correction=True) == []
    assert errors(date(2020, 1, 1), correction=True) == []


def test_before_the_earliest_date_nobody_reports_and_the_window_is_not_named_twice():
    assert errors(date(2019, 12, 31)) == ["date_too_old"]
    assert errors(date(2019, 12, 31), correction=True) == ["date_too_old"]


def test_the_window_is_the_version_in_force_today_s():
    # On 30 November the bounded version is not in force yet: a visit of a year ago is taken as before.
    assert errors(date(2025, 11, 30), today=date(2026, 11, 30)) == []
    assert errors(date(2025, 12, 7)) == ["report_window_passed"]
    assert visit_rules_for(BOUNDED, TODAY, [TODAY]).clinic_earliest == days_ago(30)
    assert visit_rules_for(snapshot(), TODAY, [TODAY]).clinic_earliest is None


@pytest.mark.parametrize("table, change, loc", [
    ("attachment", {"clinic_backdate_days": -1}, ("clinic_backdate_days",)),
    ("attachment", {"clinic_backdate_days": "3"}, ("clinic_backdate_days",)),
    ("attachment", {"clinic_backdate_days": True}, ("clinic_backdate_days",)),
    ("attachment", {"clinic_backdate_days": 367}, ("clinic_backdate_days",)),
    ("visits", {"clinic_report_days": -1}, ("clinic_report_days",)),
    ("visits", {"clinic_report_days": 3.5}, ("clinic_report_days",)),
])
def test_a_bad_bound_is_rejected_naming_the_field(table, change, loc):
    base = ATTACHMENT if table == "attachment" else VISITS
    assert loc in rejected(table, {**base, **change})
