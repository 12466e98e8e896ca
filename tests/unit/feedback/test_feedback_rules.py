"""Appeal rules: deadlines over Kazakhstan's calendar, the lifecycle, and the statistics."""
from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

import pytest

from services.feedback import domain
from services.feedback.domain import AppealIn, AppealState, CountRow, TransitionRefused, decide_transition
from services.feedback.holidays import CALENDARS
from tests.support import feedback_kyzylorda as kz

# --- calendar and deadlines ------------------------------------------------------------------------


def test_deadline_counts_15_working_days_skipping_nauryz_and_weekends():
    # Mon 16 Mar 2026: the weekend of 21-22 Mar and Nauryz (23 Mar, with 24-25 Mar carried over
    # from the weekend) are not counted.
    due = domain.due_date(date(2026, 3, 16))
    assert due == domain.DueDate(date(2026, 4, 9), provisional=False)
    # Without the holidays the same count would end on Monday 6 April.
    assert domain.add_working_days(date(2026, 3, 16), 15, calendars={})[0] == date(2026, 4, 6)


def test_deadline_across_new_year_and_christmas():
    # Thu 25 Dec 2025 -> 1-2 Jan and 7 Jan 2026 are days off; the weekends too.
    assert domain.due_date(date(2025, 12, 25)).due_date == date(2026, 1, 20)


def test_a_working_sunday_counts_and_a_transferred_friday_does_not():
    # 2025: the day off moved from Sunday 5 Jan to Friday 3 Jan.
    assert domain.is_working_day(date(2025, 1, 5)) == (True, True)
    assert domain.is_working_day(date(2025, 1, 3)) == (False, True)
    assert domain.due_date(date(2024, 12, 31)).due_date == date(2025, 1, 24)


def test_registration_day_itself_is_not_counted():
    # Registered on Friday 10 Apr 2026: the first counted day is Monday 13 April.
    assert domain.add_working_days(date(2026, 4, 10), 1) == (date(2026, 4, 13), True)
    # 13-30 April give 14 working days; 1 May (Unity Day) is off; the 15th is Monday 4 May.
    assert domain.due_date(date(2026, 4, 10)).due_date == date(2026, 5, 4)


def test_a_year_without_calendar_data_counts_weekends_only_and_says_so():
    due = domain.due_date(date(2027, 12, 20))
    assert due.provisional is True
    assert due.due_date == date(2028, 1, 10)
    assert domain.due_date(date(2027, 11, 1)).provisional is False


def test_2026_calendar_has_the_published_246_working_days():
    days = [date(2026, 1, 1) + timedelta(n) for n in range(365)]
    assert sum(domain.is_working_day(d)[0] for d in days) == 246


@pytest.mark.parametrize("year", sorted(CALENDARS))
def test_every_fixed_statutory_holiday_on_a_weekday_is_a_day_off(year):
    fixed = [(1, 1), (1, 2), (1, 7), (3, 8), (3, 21), (3, 22), (3, 23), (5, 1), (5, 7), (5, 9), (7, 6),
             (8, 30), (10, 25), (12, 16)]
    kurban = {2024: date(2024, 6, 16), 2025: date(2025, 6, 6), 2026: date(2026, 5, 27), 2027: date(2027, 5, 16)}
    for d in [date(year, m, day) for m, day in fixed] + [kurban[year]]:
        if d.weekday() < 5:
            assert d in CALENDARS[year].days_off, d


def test_extension_reaches_two_months_clamped_to_month_end():
    assert domain.extension_limit(date(2026, 1, 10)) == date(2026, 3, 10)
    assert domain.extension_limit(date(2025, 12, 31)) == date(2026, 2, 28)


def test_registration_numbers_are_readable_and_ordered_within_a_year():
    assert domain.registration_number(2026, 123) == "KZ-2026-000123"
    assert domain.registration_number(2026, 1_234_567) == "KZ-2026-1234567"


# --- what an appeal must carry ---------------------------------------------------------------------

def _appeal(**kw) -> AppealIn:
    base = dict(channel="call_center", kind="complaint", category="quality_of_care", region="Kyzylorda",
                iin="900101300017", clinic_id=None, visit_id=None, text="t")
    return AppealIn(**{**base, **kw})


def _fields(errors):
    return sorted(e["loc"][-1] for e in errors)


def test_appeal_cross_field_rules():
    assert domain.appeal_errors(_appeal()) == []
    assert _fields(domain.appeal_errors(_appeal(category=None))) == ["category"]
    assert _fields(domain.appeal_errors(_appeal(iin=None))) == ["iin"]
    assert _fields(domain.appeal_errors(_appeal(kind="consultation"))) == ["category"]
    assert domain.appeal_errors(_appeal(kind="consultation", category=None, iin=None)) == []
    assert _fields(domain.appeal_errors(_appeal(category="service_not_provided"))) == ["clinic_id", "visit_id"]
    assert _fields(domain.appeal_errors(_appeal(visit_id="V1"))) == ["clinic_id"]
    assert domain.appeal_errors(_appeal(category="service_not_provided", clinic_id="C1", visit_id="V1")) == []


# --- lifecycle -------------------------------------------------------------------------------------

REG = date(2026, 4, 1)
DUE = domain.due_date(REG).due_date


def _state(status="registered", kind="complaint", extended=None) -> AppealState:
    return AppealState(kind, status, REG, DUE, extended)


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
