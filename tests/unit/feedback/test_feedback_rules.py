"""Appeal rules: deadlines over Kazakhstan's calendar, the lifecycle, and the statistics."""
from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

import pytest

from services.common.problems import Problem
from services.common.rules import PublishIn, validate_version
from services.feedback import domain
from services.feedback.domain import AppealIn, AppealState, CountRow, TransitionRefused, decide_transition
from services.feedback.rules import RULE_TABLES, appeal_rules, calendar_year
from tests.support import feedback_kyzylorda as kz
from tests.support import feedback_rules as fr
from tests.support import people

# --- calendar and deadlines ------------------------------------------------------------------------
# The tests' own calendars (only the days they need), never the seed migration's.

CAL_2024 = fr.calendar("2024-01-01", days_off=["2024-01-01", "2024-01-02"])
CAL_2025 = fr.calendar("2025-01-01", days_off=["2025-01-01", "2025-01-02", "2025-01-03", "2025-01-07"],
                       working_weekends=["2025-01-05"])  # the day off moved from Sunday 5 to Friday 3 January
CAL_2026 = fr.calendar("2026-01-01", days_off=["2026-01-01", "2026-01-02", "2026-01-07", "2026-03-23",
                                               "2026-03-24", "2026-03-25", "2026-05-01", "2026-08-31"])
SNAP = fr.snapshot(CAL_2024, CAL_2025, CAL_2026)


def _due(registered_on: date, snap=SNAP) -> domain.DueDate:
    rules = appeal_rules(snap, registered_on)
    assert rules is not None
    return domain.due_date(registered_on, rules.calendars, rules.deadline)


def test_deadline_counts_15_working_days_skipping_nauryz_and_weekends():
    # Mon 16 Mar 2026: the weekend of 21-22 Mar and Nauryz (23-25 Mar) are not counted.
    due = _due(date(2026, 3, 16))
    assert (due.due_date, due.provisional) == (date(2026, 4, 9), False)
    assert due.rules_version == "calendar@2026-01-01+deadlines@2021-07-01"
    # Without a calendar the same count ends on Monday 6 April, and says it is provisional.
    bare = _due(date(2026, 3, 16), fr.snapshot())
    assert (bare.due_date, bare.provisional, bare.rules_version) == (date(2026, 4, 6), True, "deadlines@2021-07-01")


def test_deadline_across_new_year_names_both_calendars():
    # Thu 25 Dec 2025 -> 1-2 Jan and 7 Jan 2026 are days off; the weekends too.
    due = _due(date(2025, 12, 25))
    assert due.due_date == date(2026, 1, 20)
    assert due.rules_version == "calendar@2025-01-01+calendar@2026-01-01+deadlines@2021-07-01"


def test_a_working_sunday_counts_and_a_transferred_friday_does_not():
    calendars = appeal_rules(SNAP, date(2025, 1, 1)).calendars
    assert domain.is_working_day(date(2025, 1, 5), calendars) == (True, calendars[1])
    assert domain.is_working_day(date(2025, 1, 3), calendars)[0] is False
    assert _due(date(2024, 12, 31)).due_date == date(2025, 1, 24)
    # Registered on Friday 3 January: the first working day counted is Sunday 5 January, not Monday 6.
    assert domain.add_working_days(date(2025, 1, 3), 1, calendars).day == date(2025, 1, 5)
    no_transfer = fr.calendar("2025-01-01", days_off=["2025-01-01", "2025-01-02", "2025-01-07"])
    assert domain.add_working_days(date(2025, 1, 3), 1, [calendar_year(no_transfer)]).day == date(2025, 1, 6)


def test_registration_day_itself_is_not_counted():
    # Registered on Friday 10 Apr 2026: the first counted day is Monday 13 April.
    calendars = appeal_rules(SNAP, date(2026, 4, 10)).calendars
    assert domain.add_working_days(date(2026, 4, 10), 1, calendars).day == date(2026, 4, 13)
    # 13-30 April give 14 working days; 1 May is off; the 15th is Monday 4 May.
    assert _due(date(2026, 4, 10)).due_date == date(2026, 5, 4)


def test_a_year_without_a_calendar_counts_weekends_only_until_one_is_published():
    due = _due(date(2026, 12, 21))  # 8 days left in 2026 (with its calendar), the rest in 2027
    assert (due.due_date, due.provisional) == (date(2027, 1, 11), True)
    assert due.rules_version == "calendar@2026-01-01+deadlines@2021-07-01"
    assert _due(date(2026, 11, 2)).provisional is False
    # A 2027 calendar with a day off on the way moves the date and the count is no longer provisional.
    later = fr.snapshot(CAL_2026, fr.calendar("2027-01-01", days_off=["2027-01-01", "2027-01-04"]))
    moved = _due(date(2026, 12, 21), later)
    assert (moved.due_date, moved.provisional) == (date(2027, 1, 13), False)
    assert moved.rules_version == "calendar@2026-01-01+calendar@2027-01-01+deadlines@2021-07-01"


def test_a_correction_governs_from_its_own_date_only():
    # The correction makes 31 August a working day, and lists 29 June as off: a day before its date.
    fixed = fr.calendar("2026-07-01", days_off=["2026-01-01", "2026-01-02", "2026-01-07", "2026-03-23",
                                                "2026-03-24", "2026-03-25", "2026-05-01", "2026-06-29"])
    calendars = appeal_rules(fr.snapshot(CAL_2026, fixed), date(2026, 8, 1)).calendars
    assert domain.is_working_day(date(2026, 8, 31), calendars) == (True, calendars[1])
    assert domain.is_working_day(date(2026, 6, 29), calendars) == (True, calendars[0])
    # Registered on Thu 20 Aug 2026: 21, 24-28 Aug, 31 Aug (now worked), 1-4, 7-10 Sep.
    due = _due(date(2026, 8, 20), fr.snapshot(CAL_2026, fixed))
    assert (due.due_date, due.rules_version) == (date(2026, 9, 10), "calendar@2026-07-01+deadlines@2021-07-01")
    assert _due(date(2026, 8, 20)).due_date == date(2026, 9, 11)
    # The count of a registration before the correction's date names both versions.
    assert _due(date(2026, 6, 25), fr.snapshot(CAL_2026, fixed)).rules_version == \
        "calendar@2026-01-01+calendar@2026-07-01+deadlines@2021-07-01"


def test_days_of_a_year_before_its_first_version_count_weekends_only():
    late = fr.calendar("2027-03-01", days_off=["2027-01-04", "2027-03-08"])
    calendars = appeal_rules(fr.snapshot(late), date(2027, 1, 1)).calendars
    assert domain.is_working_day(date(2027, 1, 4), calendars) == (True, None)
    assert domain.is_working_day(date(2027, 3, 8), calendars) == (False, calendars[0])


def test_the_deadline_rule_in_force_at_registration_sets_the_count_and_the_extension_limit():
    snap = fr.snapshot(fr.deadlines("2021-07-01"), fr.deadlines("2030-01-01", working_days=10,
                                                                max_extension_months=1))
    before = _due(date(2029, 12, 31), snap)
    after = _due(date(2030, 1, 2), snap)
    assert (before.due_date, before.extension_limit) == (date(2030, 1, 21), date(2030, 2, 28))
    assert before.rules_version == "deadlines@2021-07-01"
    assert (after.due_date, after.extension_limit) == (date(2030, 1, 16), date(2030, 2, 2))
    assert after.rules_version == "deadlines@2030-01-01"
    assert appeal_rules(fr.snapshot(fr.deadlines("2021-07-01")), date(2021, 6, 30)) is None


def test_extension_reaches_two_months_clamped_to_month_end():
    rule = domain.DeadlineRule("deadlines@test", 15, 2)
    assert domain.extension_limit(date(2026, 1, 10), rule) == date(2026, 3, 10)
    assert domain.extension_limit(date(2025, 12, 31), rule) == date(2026, 2, 28)
    assert domain.extension_limit(date(2027, 12, 31), rule) == date(2028, 2, 29)


# --- publishing a version: checked whole --------------------------------------------------------

def _errors(table: str, effective: str, values: dict) -> list[tuple]:
    body = PublishIn(effective_from=effective, values=values, legal_basis=fr._BASIS)
    try:
        validate_version(RULE_TABLES[table], body)
    except Problem as p:
        assert p.status == 422
        return [(tuple(e["loc"]), e["msg"]) for e in p.errors]
    return []


def test_a_complete_calendar_year_is_accepted():
    assert _errors("calendar", "2028-01-01", fr.calendar_values(2028, ["2028-01-03"], ["2028-01-08"])) == []


@pytest.mark.parametrize("values, loc, says", [
    (fr.calendar_values(2028, ["2027-12-31"]), ("days_off", 0, "date"), "not in 2028"),
    (fr.calendar_values(2028, ["2028-01-01"]), ("days_off", 0, "date"), "Saturday"),         # a weekend off
    (fr.calendar_values(2028, [], ["2028-01-03"]), ("working_weekends", 0, "date"), "Monday"),
    (fr.calendar_values(2028, ["2028-01-03", "2028-01-03"]), ("days_off", 1, "date"), "twice"),
    (fr.calendar_values(2028, ["2028-01-03"], working_days=260), ("working_days",), "give 259 working days"),
    ({**fr.calendar_values(2028), "days_off": [{"date": "2028-01-03", "why": "  "}]}, ("days_off", 0, "why"), ""),
    ({"days_off": [], "working_weekends": []}, ("working_days",), "required"),
    ({**fr.calendar_values(2028), "holidays": []}, ("holidays",), "not permitted"),
    (fr.calendar_values(2028, working_days=-1), ("working_days",), "greater than or equal"),
])
def test_an_incomplete_or_wrong_calendar_year_is_refused_naming_the_field(values, loc, says):
    errors = _errors("calendar", "2028-01-01", values)
    assert [e[0] for e in errors] == [("body", "values", *loc)]
    assert says in errors[0][1]


@pytest.mark.parametrize("values, field", [
    ({"working_days": 0, "max_extension_months": 2}, "working_days"),
    ({"working_days": 1000, "max_extension_months": 2}, "working_days"),
    ({"working_days": 15, "max_extension_months": -1}, "max_extension_months"),
    ({"working_days": 15}, "max_extension_months"),
])
def test_absurd_deadlines_are_refused(values, field):
    assert [e[0] for e in _errors("deadlines", "2030-01-01", values)] == [("body", "values", field)]
    assert _errors("deadlines", "2030-01-01", {"working_days": 10, "max_extension_months": 1}) == []


def test_registration_numbers_are_readable_and_ordered_within_a_year():
    assert domain.registration_number(2026, 123) == "KZ-2026-000123"
    assert domain.registration_number(2026, 1_234_567) == "KZ-2026-1234567"


# --- what an appeal must carry ---------------------------------------------------------------------

def _appeal(**kw) -> AppealIn:
    base = dict(channel="call_center", kind="complaint", category="quality_of_care", region="Kyzylorda",
                iin="900101300017", clinic_id=None, visit_id=None, text="t")
    return AppealIn(**{**base, **kw})


REGISTERED = date(2026, 4, 1)


def _fields(errors):
    return sorted(e["loc"][-1] for e in errors)


def _appeal_errors(a: AppealIn, on: date = REGISTERED) -> list[dict]:
    return domain.appeal_errors(a, on)


def test_appeal_cross_field_rules():
    assert _appeal_errors(_appeal()) == []
    assert _fields(_appeal_errors(_appeal(category=None))) == ["category"]
    assert _fields(_appeal_errors(_appeal(iin=None))) == ["iin"]
    assert _fields(_appeal_errors(_appeal(kind="consultation"))) == ["category"]
    assert _appeal_errors(_appeal(kind="consultation", category=None, iin=None)) == []
    assert _fields(_appeal_errors(_appeal(category="service_not_provided"))) == ["clinic_id", "visit_id"]
    assert _fields(_appeal_errors(_appeal(visit_id="V1"))) == ["clinic_id"]
    assert _appeal_errors(_appeal(category="service_not_provided", clinic_id="C1", visit_id="V1")) == []


def test_an_applicant_not_born_by_the_day_of_registration_is_refused():
    born = people.iin(date(2026, 4, 2))
    assert _fields(_appeal_errors(_appeal(iin=born))) == ["iin"]
    assert _appeal_errors(_appeal(iin=born), on=date(2026, 4, 2)) == []
    assert _fields(_appeal_errors(_appeal(kind="consultation", category=None, iin=born))) == ["iin"]


# --- lifecycle -------------------------------------------------------------------------------------

REG = date(2026, 4, 1)
DUE = _due(REG).due_date
LIMIT = _due(REG).extension_limit


def _state(status="registered", kind="complaint", extended=None) -> AppealState:
    return AppealState(kind, status, REG, DUE, extended, LIMIT)


def _refused(state, to, note=None, today=REG, due=None) -> str:
    with pytest.raises(TransitionRefused) as exc:
        decide_transition(state, to, note, today, due)
    return exc.value.rule


def test_complaint_goes_registered_in_review_upheld():
    assert decide_transition(_state(), "in_review", None, REG) == domain.TransitionDecision("in_review", False, None)
    assert decide_transition(_state("in_review"), "upheld", None, REG).final is True
    assert decide_transition(_state("in_review"), "rejected", None, REG).final is True


def test_on_the_spot_and_withdrawal_are_possible_at_registration():
    assert decide_transition(_state(), "resolved_on_spot", None, REG).final is True
    assert decide_transition(_state(kind="consultation"), "withdrawn", None, REG).final is True


def test_a_decision_needs_a_review_first():
    assert _refused(_state(), "upheld") == "transition_not_allowed"
    assert _refused(_state(), "extended", note="notice") == "transition_not_allowed"
    assert _refused(_state("in_review"), "registered") == "transition_not_allowed"


def test_final_statuses_have_no_exits():
    for final in domain.FINAL_STATUSES:
        kind = "consultation" if final == "answered" else "complaint"
        assert _refused(_state(final, kind=kind), "in_review") == "appeal_closed"


def test_outcomes_depend_on_the_kind():
    assert _refused(_state("in_review"), "answered") == "status_not_for_kind"
    assert _refused(_state("in_review", kind="consultation"), "upheld") == "status_not_for_kind"
    assert decide_transition(_state("in_review", kind="consultation"), "answered", None, REG).final


def test_extension_once_with_notice_to_at_most_two_months():
    limit = date(2026, 6, 1)
    assert LIMIT == limit
    d = decide_transition(_state("in_review"), "extended", "letter sent to the applicant", REG)
    assert d == domain.TransitionDecision("extended", False, limit)
    chosen = decide_transition(_state("in_review"), "extended", "notice", REG, date(2026, 5, 15))
    assert chosen.extended_due_date == date(2026, 5, 15)
    assert _refused(_state("in_review"), "extended") == "extension_needs_notice"
    assert _refused(_state("in_review"), "extended", note="  ") == "extension_needs_notice"
    assert _refused(_state("in_review"), "extended", "n", due=limit + timedelta(1)) == "extension_beyond_limit"
    assert _refused(_state("in_review"), "extended", "n", due=DUE) == "extension_not_later"
    assert _refused(_state("in_review"), "extended", "n", today=DUE + timedelta(1)) == "deadline_passed"
    assert _refused(_state("extended", extended=limit), "extended", "again") == "transition_not_allowed"
    assert _refused(_state("in_review"), "upheld", due=limit) == "due_date_only_on_extension"


def test_after_an_extension_only_a_decision_or_withdrawal():
    ext = _state("extended", extended=date(2026, 6, 1))
    assert decide_transition(ext, "upheld", None, REG).final
    assert decide_transition(ext, "withdrawn", None, REG).final
    assert _refused(ext, "resolved_on_spot") == "transition_not_allowed"
    assert _refused(ext, "in_review") == "transition_not_allowed"


# --- the disputed visit ----------------------------------------------------------------------------

COMPLAINANT, SOMEONE_ELSE = "900315450012", "850722350021"


def test_only_upholding_a_service_not_provided_complaint_needs_a_recorded_visit():
    assert domain.needs_recorded_visit("service_not_provided", "upheld")
    assert not domain.needs_recorded_visit("service_not_provided", "rejected")
    assert not domain.needs_recorded_visit("service_not_provided", "in_review")
    assert not domain.needs_recorded_visit("quality_of_care", "upheld")
    assert not domain.needs_recorded_visit(None, "answered")


def test_the_complainants_own_recorded_visit_may_be_voided():
    domain.check_disputed_visit(COMPLAINANT, COMPLAINANT)


def test_a_visit_not_known_yet_is_refused_as_such_and_invites_a_retry():
    with pytest.raises(TransitionRefused) as exc:
        domain.check_disputed_visit(COMPLAINANT, None)
    assert exc.value.rule == "disputed_visit_not_known" and "(yet)" in exc.value.detail


def test_another_persons_visit_is_refused_without_saying_whose():
    with pytest.raises(TransitionRefused) as exc:
        domain.check_disputed_visit(COMPLAINANT, SOMEONE_ELSE)
    assert exc.value.rule == "disputed_visit_not_the_complainants"
    assert SOMEONE_ELSE not in exc.value.detail and COMPLAINANT not in exc.value.detail


def test_overdue_is_open_past_the_effective_due_date():
    assert domain.is_overdue("in_review", DUE, None, DUE + timedelta(1))
    assert not domain.is_overdue("in_review", DUE, None, DUE)
    assert not domain.is_overdue("extended", DUE, date(2026, 6, 1), DUE + timedelta(1))
    assert not domain.is_overdue("upheld", DUE, None, DUE + timedelta(30))


# --- statistics ------------------------------------------------------------------------------------

def _rows(appeals) -> list[CountRow]:
    counts = Counter((a.kind, a.category, a.final_status or "registered") for a in appeals)
    return [CountRow(k, c, s, False, n) for (k, c, s), n in counts.items()]


def test_kyzylorda_2025_mix_reproduces_the_published_shares():
    stats = domain.summarize(_rows(kz.mix()))
    assert stats["appeals"] == 2669
    assert stats["by_kind"] == {"consultation": 1933, "complaint": 736}
    assert stats["by_status"]["resolved_on_spot"] + stats["by_status"]["withdrawn"] == 415
    assert {c: stats["by_category"][c] for c in kz.TOP_CATEGORIES} == kz.TOP_CATEGORIES
    shares = {"resolved_on_spot_or_withdrawn": stats["resolved_on_spot_or_withdrawn_share"],
              **{c: stats["by_category_share"][c] for c in kz.TOP_CATEGORIES}}
    assert shares == {"resolved_on_spot_or_withdrawn": 0.5639, "quality_of_care": 0.3995,
                      "refusal_of_care": 0.3234, "refusal_of_medicines": 0.1277}
    for name, published in kz.PUBLISHED.items():
        assert kz.agrees_with_published(shares[name], published), (name, shares[name], published)


def test_a_share_off_by_one_complaint_would_not_agree_with_the_publication():
    assert not kz.agrees_with_published(domain.share(417, 736), kz.PUBLISHED["resolved_on_spot_or_withdrawn"])


def test_stats_of_nothing_has_no_shares_and_counts_overdue():
    empty = domain.summarize([])
    assert empty["appeals"] == 0 and empty["resolved_on_spot_or_withdrawn_share"] is None
    stats = domain.summarize([CountRow("consultation", None, "in_review", True, 3),
                              CountRow("complaint", "other", "registered", False, 2)])
    assert stats["overdue"] == 3
    assert stats["resolved_on_spot_or_withdrawn_share"] == 0.0
    assert stats["by_status"]["in_review"] == 3 and stats["by_category"]["other"] == 2
