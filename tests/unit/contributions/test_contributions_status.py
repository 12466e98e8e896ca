"""Insured status and the insured timeline from covered months, and the allocation of payments."""
from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal as D

import pytest

from services.contributions.domain import (
    PaymentNotAllowed,
    allocate_months,
    insured_periods,
    last_day,
    masks_from_months,
    month_of,
    month_str,
    platform_month,
    run_ends,
    status_on,
    whole_months,
)
from services.contributions.rules import month_index as mi
from tests.support.contributions_rules import rules_for


def status(covered, on, state_only=()):
    c, n = masks_from_months(covered, state_only)
    s = status_on(c, n, on)
    return s.status, s.reason, s.insured_until, month_str(s.last_covered_month) if s.last_covered_month else None


L = mi(2026, 3)  # a single covered month, March 2026


def test_a_covered_month_insures_itself_and_the_next_month():
    assert status([L], date(2026, 3, 1)) == ("insured", "current_coverage", date(2026, 7, 31), "2026-03")
    assert status([L], date(2026, 4, 30))[:2] == ("insured", "current_coverage")
    assert status([L], date(2026, 2, 28)) == ("not_insured", "none", None, None)


def test_grace_lasts_three_months_to_its_last_day_and_not_a_day_more():
    assert status([L], date(2026, 5, 1)) == ("grace", "grace_3m", date(2026, 7, 31), "2026-03")
    assert status([L], date(2026, 7, 31)) == ("grace", "grace_3m", date(2026, 7, 31), "2026-03")
    assert status([L], date(2026, 8, 1)) == ("not_insured", "arrears", None, "2026-03")


def test_60_consecutive_months_keep_the_status_for_6_months():
    sixty = range(L - 59, L + 1)
    assert status(sixty, date(2026, 5, 1)) == ("grace", "continuity_60m", date(2026, 10, 31), "2026-03")
    assert status(sixty, date(2026, 10, 31))[:3] == ("grace", "continuity_60m", date(2026, 10, 31))
    assert status(sixty, date(2026, 11, 1))[:2] == ("not_insured", "arrears")


def test_59_consecutive_months_get_the_3_month_grace_only():
    fifty_nine = range(L - 58, L + 1)
    assert status(fifty_nine, date(2026, 7, 31)) == ("grace", "grace_3m", date(2026, 7, 31), "2026-03")
    assert status(fifty_nine, date(2026, 8, 1))[:2] == ("not_insured", "arrears")


def test_state_paid_months_do_not_count_towards_the_60():
    months = range(L - 59, L + 1)
    assert status(months, date(2026, 8, 1), state_only=[L])[:2] == ("not_insured", "arrears")
    assert status(months, date(2026, 8, 1), state_only=[L - 30])[:2] == ("not_insured", "arrears")
    # paid by both an employer and the state: the month counts
    c, _ = masks_from_months(months)
    assert status_on(c, c, date(2026, 8, 1)).reason == "continuity_60m"


def test_the_60_month_rule_holds_only_for_dates_from_2026():
    june_2025 = mi(2025, 6)
    sixty = range(june_2025 - 59, june_2025 + 1)
    assert status(sixty, date(2025, 10, 31))[:2] == ("grace", "grace_3m")
    assert status(sixty, date(2025, 11, 1))[:2] == ("not_insured", "arrears")
    later = mi(2025, 11)
    assert status(range(later - 59, later + 1), date(2026, 4, 1))[:2] == ("grace", "continuity_60m")


def test_state_category_reason_when_only_the_state_pays():
    assert status([L], date(2026, 3, 10), state_only=[L])[:2] == ("insured", "state_category")
    assert status([L - 1, L], date(2026, 3, 10), state_only=[L])[:2] == ("insured", "current_coverage")


def test_months_paid_ahead_extend_insured_until():
    now = mi(2026, 11)
    assert status(range(now - 2, now + 3), date(2026, 11, 25)) == \
        ("insured", "current_coverage", date(2027, 5, 31), "2027-01")
    # a month paid far ahead, after a gap, does not insure the present
    assert status([now + 2], date(2026, 11, 25)) == ("not_insured", "none", None, None)


def test_timeline_merges_adjacent_stretches_and_keeps_gaps():
    a = mi(2024, 1)
    assert insured_periods(*masks_from_months([a, a + 5])) == [(date(2024, 1, 1), date(2024, 10, 31))]
    assert insured_periods(*masks_from_months([a, a + 6])) == [
        (date(2024, 1, 1), date(2024, 5, 31)), (date(2024, 7, 1), date(2024, 11, 30))]
    assert insured_periods(0, 0) == []


def test_timeline_after_60_months_then_a_gap_keeps_the_long_grace():
    sixty = list(range(L - 59, L + 1))
    # a single later month, after a gap: paying more never shortens the 6-month grace earned
    periods = insured_periods(*masks_from_months(sixty + [L + 3]))
    assert periods == [(date(2021, 4, 1), date(2026, 10, 31))]


def test_arrears_after_a_long_gap():
    old = mi(2024, 1)
    assert status([old], date(2026, 11, 25)) == ("not_insured", "arrears", None, "2024-01")


# --- the timeline agrees with the status on every day, and with the brief's literal rule --------

def literal_status(covered: set[int], nonstate: set[int], on: date) -> str:
    """../shared/domain.md word for word, with L = the latest covered month (single runs only)."""
    m = month_of(on)
    if not covered:
        return "not_insured"
    latest = max(covered)
    run, k = 0, latest
    while k in nonstate:
        run, k = run + 1, k - 1
    if latest >= m - 1:
        return "insured"
    if m - 4 <= latest <= m - 2:
        return "grace"
    if m >= mi(2026, 1) and m - 7 <= latest <= m - 2 and run >= 60:
        return "grace"
    return "not_insured"


def test_status_equals_the_literal_rule_for_one_run_of_months_and_the_timeline_for_any():
    rng = random.Random(7)
    for _ in range(300):
        start = mi(2020, 1) + rng.randrange(80)
        run = list(range(start, start + rng.choice([1, 2, 5, 58, 59, 60, 61, 70])))
        state = {m for m in run if rng.random() < 0.03}
        c, n = masks_from_months(run, state)
        periods = insured_periods(c, n)
        for _ in range(20):
            on = date(2020, 1, 1) + timedelta(days=rng.randrange(365 * 9))
            got = status_on(c, n, on)
            if month_of(on) >= run[0]:
                assert got.status == literal_status(set(run), set(run) - state, on), (run[0], len(run), state, on)
            within = [p for p in periods if p[0] <= on <= p[1]]
            assert (got.status != "not_insured") == bool(within)
            if within:
                assert got.insured_until == within[0][1]
    # and with gaps: every day inside a published period is insured or grace, every day outside is not
    for _ in range(200):
        months = sorted({mi(2020, 1) + rng.randrange(90) for _ in range(rng.randrange(1, 40))})
        c, n = masks_from_months(months)
        periods = insured_periods(c, n)
        for _ in range(20):
            on = date(2020, 1, 1) + timedelta(days=rng.randrange(365 * 9))
            within = [p for p in periods if p[0] <= on <= p[1]]
            st = status_on(c, n, on)
            assert (st.status != "not_insured") == bool(within)
            assert st.insured_until == (within[0][1] if within else None)


def test_run_ends_marks_the_last_month_of_each_long_enough_run():
    rng = random.Random(3)
    for _ in range(200):
        x = rng.getrandbits(200)
        k = rng.randrange(1, 70)
        naive = 0
        for i in range(k - 1, 200):
            if all((x >> j) & 1 for j in range(i - k + 1, i + 1)):
                naive |= 1 << i
        assert run_ends(x, k) == naive


# --- payments ----------------------------------------------------------------------------------

NOV = mi(2026, 11)


def mask(months):
    return masks_from_months(months)[0]


def test_payment_after_a_long_gap_covers_the_oldest_unpaid_month_of_the_last_12():
    assert allocate_months(mask([mi(2024, 5)]), NOV, 1) == [NOV - 12]
    assert allocate_months(0, NOV, 3) == [NOV - 12, NOV - 11, NOV - 10]


def test_payment_skips_covered_months_then_pays_the_current_month_then_ahead():
    last_year = list(range(NOV - 12, NOV))
    assert allocate_months(mask(last_year), NOV, 3) == [NOV, NOV + 1, NOV + 2]
    holes = [m for m in last_year if m != NOV - 5]
    assert allocate_months(mask(holes + [NOV]), NOV, 2) == [NOV - 5, NOV + 1]


def test_payment_cannot_go_further_ahead_than_the_limit():
    assert len(allocate_months(0, NOV, 25)) == 25
    with pytest.raises(PaymentNotAllowed):
        allocate_months(0, NOV, 26)


def test_arrears_never_reach_before_the_rule_tables():
    assert allocate_months(0, mi(2020, 3), 3) == [mi(2020, 1), mi(2020, 2), mi(2020, 3)]


@pytest.mark.parametrize("amount, months", [("4250.00", 1), ("8500.00", 2), ("51000.00", 12)])
def test_self_payer_amount_is_whole_months(amount, months):
    assert whole_months(D(amount), D("4250.00")) == months


@pytest.mark.parametrize("amount", ["4250.01", "0.00", "-4250.00", "2125.00"])
def test_self_payer_amount_must_be_a_positive_multiple(amount):
    with pytest.raises(PaymentNotAllowed):
        whole_months(D(amount), D("4250.00"))


def test_platform_contribution_covers_its_month_up_to_the_cap():
    rules = rules_for(NOV)
    assert platform_month(D("17000.00"), date(2026, 11, 3), rules) == NOV
    with pytest.raises(PaymentNotAllowed):
        platform_month(D("17000.01"), date(2026, 11, 3), rules)
    assert last_day(NOV) == date(2026, 11, 30)


def test_a_newcomer_paying_12_months_is_insured_in_the_month_of_payment():
    # The Fund: "необходимы непрерывные платежи за 12 месяцев"; arrears first, so the 12 months
    # are the 12 before the month of payment, and the last of them insures the current month.
    nov = mi(2026, 11)
    months = allocate_months(0, nov, 12)
    assert (month_str(months[0]), month_str(months[-1])) == ("2025-11", "2026-10")
    assert status(months, date(2026, 11, 15))[:2] == ("insured", "current_coverage")
    assert status(allocate_months(0, nov, 8), date(2026, 11, 15))[0] == "not_insured"  # up to 2026-06
