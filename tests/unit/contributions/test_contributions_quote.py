"""The quote for a self-payer: the fewest whole months to pay now to be insured on a date."""
from __future__ import annotations

from datetime import date

from services.contributions import domain
from services.contributions.rules import month_index

DEC_2026 = month_index(2026, 12)


def mask(*months: int) -> int:
    return sum(domain.bit(m) for m in months)


def test_after_a_long_gap_the_arrears_come_first_so_the_quote_pays_up_to_four_months_back():
    months = domain.quote_months(0, 0, DEC_2026, date(2026, 12, 15))
    # oldest unpaid first, from December 2025; August 2026 (= December - 4) is the first that gives grace
    assert months == list(range(month_index(2025, 12), month_index(2026, 8) + 1))
    assert domain.status_on(mask(*months), mask(*months), date(2026, 12, 15)).status == "grace"


def test_already_insured_or_in_grace_pays_nothing_and_one_month_short_pays_the_arrears_first():
    through_aug = mask(*range(month_index(2026, 1), month_index(2026, 8) + 1))
    assert domain.quote_months(through_aug, through_aug, DEC_2026, date(2026, 12, 31)) == []
    through_jul = mask(*range(month_index(2026, 1), month_index(2026, 7) + 1))
    assert domain.quote_months(through_jul, through_jul, DEC_2026, date(2026, 12, 1)) == \
        [month_index(2025, 12), month_index(2026, 8)]


def test_a_date_beyond_what_months_paid_ahead_can_reach_has_no_quote():
    # twelve months ahead at most: December 2027 gives grace until April 2028
    assert domain.quote_months(0, 0, DEC_2026, date(2028, 4, 30)) is not None
    assert domain.quote_months(0, 0, DEC_2026, date(2028, 5, 1)) is None
