"""Rule tables and payroll amounts: rates and caps by period, exact rounding, row checks."""
from __future__ import annotations

from decimal import Decimal as D

import pytest

from services.contributions.domain import PayrollRow, parse_payroll_rows, payroll_amounts
from services.contributions.rules import month_index
from tests.support.contributions_rules import rules_for
from tests.support.people import iins


def amounts(year: int, month: int, *rows: tuple[str, str]) -> list[tuple[str, str]]:
    rules = rules_for(month_index(year, month))
    got = payroll_amounts([PayrollRow("x", D(income), kind) for income, kind in rows], rules)
    return [(str(a), str(b)) for a, b in got]


@pytest.mark.parametrize("year, mzp, employer, employee", [
    (2020, "42500", "0.02", "0.01"),
    (2021, "42500", "0.02", "0.02"),
    (2022, "60000", "0.03", "0.02"),
    (2023, "70000", "0.03", "0.02"),
    (2024, "85000", "0.03", "0.02"),
    (2025, "85000", "0.03", "0.02"),
    (2026, "85000", "0.03", "0.02"),
])
def test_mzp_and_rates_by_year(year, mzp, employer, employee):
    r = rules_for(month_index(year, 6))
    assert (r.mzp, r.employer_rate, r.employee_rate) == (D(mzp), D(employer), D(employee))


def test_caps_are_10_mzp_before_2026_and_40_and_20_mzp_from_2026():
    dec_2025, jan_2026 = rules_for(month_index(2025, 12)), rules_for(month_index(2026, 1))
    assert (dec_2025.employer_cap, dec_2025.employee_cap, dec_2025.civil_cap) == (850_000, 850_000, 850_000)
    assert (jan_2026.employer_cap, jan_2026.employee_cap, jan_2026.civil_cap) == (3_400_000, 1_700_000, 1_700_000)
    assert rules_for(month_index(2022, 3)).employer_cap == 600_000


def test_fixed_monthly_sums_and_state_amount():
    r = rules_for(month_index(2026, 11))
    assert (r.self_monthly, r.entrepreneur_monthly) == (D("4250.00"), D("5950.00"))
    assert r.platform_max_contribution == D("17000.00")
    assert r.state_per_person == D("8080.00")  # 2% of the 2024 average wage, 404,000
    old = rules_for(month_index(2021, 1))
    assert (old.self_monthly, old.entrepreneur_monthly) == (D("2125.00"), D("2975.00"))


@pytest.mark.parametrize("year, month", [(2019, 12), (1999, 1)])
def test_a_period_before_the_tables_has_no_rules(year, month):
    assert rules_for(month_index(year, month)) is None


def test_a_year_not_yet_published_carries_the_last_one_and_says_so():
    jan_2027, dec_2026 = rules_for(month_index(2027, 1)), rules_for(month_index(2026, 12))
    assert (jan_2027.mzp, jan_2027.employer_cap, jan_2027.self_monthly) == (D(85_000), 3_400_000, D("4250.00"))
    assert (jan_2027.provisional, jan_2027.carried_from) == (True, 2026)
    assert jan_2027.version == "mzp@2026-01-01+rates@2026-01-01"
    assert (dec_2026.provisional, dec_2026.carried_from) == (False, None)


def test_state_contributions_of_a_year_use_the_wage_two_years_earlier_and_its_rate():
    assert rules_for(month_index(2025, 3)).state_per_person == D("7285.90")    # 2% of 364,295 (2023)
    jan_2027 = rules_for(month_index(2027, 1))
    assert jan_2027.state_per_person == D("8888.00")                           # 2.2% of 404,000 carried
    assert jan_2027.state_rules == {"rules_version": "state_rate@2027-01-01+average_wage@2024-01-01",
                                    "rules_provisional": True, "rules_carried_from": 2024}


def test_platform_contributions_exist_from_september_2024():
    assert rules_for(month_index(2024, 9)).platform_max_contribution is None   # in force from 3 September
    assert rules_for(month_index(2024, 10)).platform_max_contribution == D("17000.00")  # 1% of 20 МЗП


def test_caps_in_2025_and_2026():
    assert amounts(2025, 12, ("1000000.00", "employee")) == [("25500.00", "17000.00")]
    assert amounts(2026, 1, ("1000000.00", "employee")) == [("30000.00", "20000.00")]
    assert amounts(2026, 1, ("5000000.00", "employee")) == [("102000.00", "34000.00")]
    assert amounts(2026, 1, ("3400000.00", "employee")) == [("102000.00", "34000.00")]


def test_a_civil_contract_row_has_no_employer_deduction_and_its_own_cap():
    assert amounts(2026, 3, ("2000000.00", "civil_contract")) == [("0.00", "34000.00")]
    assert amounts(2026, 3, ("150000.00", "civil_contract")) == [("0.00", "3000.00")]
    assert amounts(2025, 3, ("2000000.00", "civil_contract")) == [("0.00", "17000.00")]
    assert amounts(2020, 3, ("100000.00", "civil_contract")) == [("0.00", "1000.00")]


def test_amounts_round_half_up_to_the_tiyn():
    # 3% x 100.50 = 3.015 -> 3.02; 2% x 100.50 = 2.01; 2% x 100.25 = 2.005 -> 2.01
    assert amounts(2026, 1, ("100.50", "employee"), ("100.25", "civil_contract"), ("0.00", "employee")) == \
        [("3.02", "2.01"), ("0.00", "2.01"), ("0.00", "0.00")]


def test_pre_2021_employee_rate_is_one_percent():
    assert amounts(2020, 7, ("100000.00", "employee")) == [("2000.00", "1000.00")]


def test_every_bad_row_is_named_by_index():
    a, b, c = iins(3)
    rows, errors = parse_payroll_rows([
        {"iin": a, "income": "100.00", "kind": "employee"},
        {"iin": a, "income": 100, "kind": "employee"},          # the same person twice
        {"iin": "12345", "income": 1.5, "kind": "employee"},    # bad IIN, a float
        {"iin": b, "income": "1.005", "kind": "boss"},          # 3 decimals, unknown kind
        "not a row",
        {"iin": c, "income": True, "kind": "employee"},
        {"iin": b[:11] + str((int(b[11]) + 1) % 10), "income": "-1", "kind": "employee"},
    ])
    assert [(e["loc"][2], e["loc"][3] if len(e["loc"]) > 3 else None) for e in errors] == [
        (1, "iin"), (1, "income"), (2, "iin"), (2, "income"), (3, "income"), (3, "kind"), (4, None), (5, "income"),
        (6, "iin"), (6, "income")]
    assert "row 0" in errors[0]["msg"] and "check digit" in errors[8]["msg"]
    assert rows == [PayrollRow(a, D("100.00"), "employee")]


def test_incomes_are_exact_strings_with_two_decimals_only():
    a, b, c = iins(3)
    rows, errors = parse_payroll_rows([{"iin": a, "income": "350000.00", "kind": "employee"},
                                       {"iin": b, "income": "0.10", "kind": "civil_contract"},
                                       {"iin": c, "income": 350000, "kind": "employee"}])
    assert [str(r.income) for r in rows] == ["350000.00", "0.10"]
    assert [e["loc"] for e in errors] == [["body", "rows", 2, "income"]]


def test_a_person_born_after_the_period_is_a_bad_row():
    from datetime import date

    from services.common.ids import make_iin

    born = make_iin(date(2026, 11, 1), "M", 20) or make_iin(date(2026, 11, 1), "M", 21)
    _, errors = parse_payroll_rows([{"iin": born, "income": "100.00", "kind": "employee"}], date(2026, 10, 31))
    assert [e["loc"] for e in errors] == [["body", "rows", 0, "iin"]]
    assert parse_payroll_rows([{"iin": born, "income": "100.00", "kind": "employee"}], date(2026, 11, 30))[1] == []
