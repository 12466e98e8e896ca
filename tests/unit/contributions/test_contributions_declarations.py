"""Pure rules of an employer's month: caps across payrolls, corrections, when a declared month lapses,
which declaration a bank record pays, and the penalty for paying late."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from services.contributions import domain
from services.contributions.domain import PayrollRow, PersonMonth
from services.contributions.rules import PaymentTerms, month_index
from tests.support.contributions_rules import rules_for

R2026 = rules_for(month_index(2026, 10))   # caps: employer 3,400,000, employee 1,700,000
TERMS = PaymentTerms(due_day=25, grace_days=10, penalty_multiplier="1.25", days_in_year=365)
D = Decimal


def test_a_further_payroll_is_charged_on_the_months_total_up_to_the_caps():
    row = PayrollRow("p", D("1000000.00"), "employee")
    (first, a, b), = domain.added_rows([row], {}, R2026)
    assert (a, b) == (D("30000.00"), D("20000.00"))
    (second, a, b), = domain.added_rows([row], {("p", "employee"): first}, R2026)
    assert second.income == D("2000000.00") and (a, b) == (D("30000.00"), D("14000.00"))
    (at_cap, a, b), = domain.added_rows([PayrollRow("p", D("1400000.00"), "employee")], {("p", "employee"): second},
                                        R2026)
    assert (a, b) == (D("42000.00"), D("0.00")) and at_cap.employer_deduction == D("102000.00")
    (_, a, b), = domain.added_rows([PayrollRow("p", D("0.01"), "employee")], {("p", "employee"): at_cap}, R2026)
    assert (a, b) == (D("0.00"), D("0.00"))
    # a civil-contract income has its own cap and no employer deduction
    (_, a, b), = domain.added_rows([PayrollRow("p", D("1000000.00"), "civil_contract")],
                                   {("p", "employee"): at_cap}, R2026)
    assert (a, b) == (D("0.00"), D("20000.00"))


def test_a_correction_recounts_each_persons_month_and_a_missing_person_leaves():
    held = {("a", "employee"): PersonMonth(D("2500000.00"), D("75000.00"), D("34000.00")),
            ("b", "employee"): PersonMonth(D("100000.00"), D("3000.00"), D("2000.00"))}
    old = {("a", "employee"): D("1000000.00"), ("b", "employee"): D("100000.00")}
    diffs = domain.corrected_months(old, [PayrollRow("a", D("400000.00"), "employee"),
                                          PayrollRow("c", D("10.00"), "employee")], held, R2026)
    by = {d.iin: d for d in diffs}
    assert by["a"].after.income == D("1900000.00")
    assert (by["a"].employer_deduction, by["a"].employee_contribution) == (D("-18000.00"), D("0.00"))
    assert (by["b"].after, by["b"].employer_deduction) == (domain.EMPTY_MONTH, D("-3000.00"))
    assert (by["c"].before, by["c"].employee_contribution) == (domain.EMPTY_MONTH, D("0.20"))
    assert domain.corrected_months(old, [], held, R2026)[0].after.income == D("1500000.00")  # other payrolls stay


def test_a_declared_month_counts_until_the_due_date_plus_the_grace():
    oct_2026 = month_index(2026, 10)
    assert domain.due_on(oct_2026, TERMS) == date(2026, 11, 25)
    until = domain.counts_until(oct_2026, date(2026, 11, 3), TERMS)
    assert until == date(2026, 12, 5)
    assert domain.counts_until(month_index(2026, 12), date(2027, 1, 2), TERMS) == date(2027, 2, 4)  # over a year end
    # declared after its due date: the grace runs from the day declared
    assert domain.counts_until(oct_2026, date(2027, 3, 1), TERMS) == date(2027, 3, 11)
    assert not domain.lapses(D("10.00"), D("0.00"), until, date(2026, 12, 5))
    assert domain.lapses(D("10.00"), D("9.99"), until, date(2026, 12, 6))
    assert not domain.lapses(D("10.00"), D("10.00"), until, date(2027, 12, 6))


def test_a_bank_record_pays_the_month_its_purpose_names_else_the_oldest_unpaid():
    sep, oct_, nov = month_index(2026, 9), month_index(2026, 10), month_index(2026, 11)
    balances = {sep: D("0.00"), oct_: D("5.00"), nov: D("7.00")}
    assert domain.match_period("ОСМС за 2026-11, отчисления", balances) == nov
    assert domain.match_period("ОСМС 2026-09", balances) == sep            # named: even if already paid
    assert domain.match_period("ОСМС 2021-01", balances) is None           # named, never declared
    assert domain.match_period("взносы", balances) == oct_
    assert domain.match_period("за 2026-10 и 2026-11", balances) == oct_   # two months named: as none
    assert domain.match_period("счёт 12026-111", balances) == oct_          # digits around: not a month
    assert domain.match_period("взносы", {sep: D("0.00")}) is None
    assert domain.period_in_purpose("2026-13") is None


def test_the_penalty_counts_each_day_late_on_what_is_still_unpaid_at_the_base_rate_of_the_day():
    due = date(2026, 11, 25)
    rates = [(date(2025, 10, 10), D("0.18"))]
    assert domain.penalty(D("100000.00"), [(due, D("100000.00"))], due, date(2027, 1, 1), TERMS, rates) == \
        (D("0.00"), 0)
    assert domain.penalty(D("100000.00"), [], due, due, TERMS, rates) == (D("0.00"), 0)
    # a day late: 100,000 x 18% x 1.25 / 365
    assert domain.penalty(D("100000.00"), [(date(2026, 11, 26), D("100000.00"))], due, date(2027, 1, 1), TERMS,
                          rates) == (D("61.64"), 1)
    # 60,000 paid on the 30th (5 days late on 100,000), the rest on 5 December (5 more on 40,000)
    paid = [(date(2026, 11, 30), D("60000.00")), (date(2026, 12, 5), D("40000.00"))]
    fine, days = domain.penalty(D("100000.00"), paid, due, date(2027, 1, 1), TERMS, rates)
    assert (fine, days) == (D("431.51"), 10)  # (100,000 x 5 + 40,000 x 5) x 0.225 / 365
    # the base rate changes on 1 December: 5 days at 18%, 5 at 10%
    fine, days = domain.penalty(D("36500.00"), [], due, date(2026, 12, 5), TERMS,
                                rates + [(date(2026, 12, 1), D("0.10"))])
    assert (fine, days) == (D("175.00"), 10)  # 36,500 x 1.25 x (5 x 0.18 + 5 x 0.10) / 365


def test_a_refund_gives_back_whole_months_latest_first_or_a_whole_single_month():
    months = [month_index(2026, 1), month_index(2026, 2), month_index(2026, 3)]
    monthly = D("4250.00")
    assert domain.refunded_months(months, "self", monthly, D("4250.00"), D("12750.00")) == months[2:]
    assert domain.refunded_months(months, "entrepreneur", monthly, D("12750.00"), D("12750.00")) == months
    with pytest.raises(domain.PaymentNotAllowed):
        domain.refunded_months(months, "self", monthly, D("4250.01"), D("12750.00"))
    one = [month_index(2026, 12)]
    assert domain.refunded_months(one, "platform", D("900.00"), D("899.99"), D("900.00")) == []
    assert domain.refunded_months(one, "single_payment", D("450.00"), D("2000.00"), D("2000.00")) == one


def test_a_single_payment_covers_its_month_when_its_share_is_something():
    assert domain.single_payment_month(D("20000.00"), date(2026, 12, 7), D("0.225")) == \
        (month_index(2026, 12), D("4500.00"))
    assert domain.single_payment_month(D("0.03"), date(2026, 12, 7), D("0.225"))[1] == D("0.01")
    with pytest.raises(domain.PaymentNotAllowed):
        domain.single_payment_month(D("0.02"), date(2026, 12, 7), D("0.225"))
