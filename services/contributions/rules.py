"""Contribution rule tables (published data, services.common.rules) and the rules of one period.

The values live in the `rule_versions` table, seeded by migration 0004 and published by the Fund's
administrators at POST /v1/rules/{table}; this module only says what a version must hold and
combines the versions in force into the `PeriodRules` the pure domain computes with.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from pydantic import Field

from services.common.money import to_money
from services.common.rules import Dec, InForce, Rate, RuleSnapshot, RuleTable, Values, rules_fields

Month = int  # year * 12 + (month - 1): consecutive months are consecutive integers


def month_index(year: int, month: int) -> Month:
    return year * 12 + month - 1


FIRST_MONTH: Month = month_index(2020, 1)   # the service takes contributions from 2020-01 on

CapMzp = Annotated[int, Field(ge=1, le=1000)]
BaseMzp = Annotated[Dec, Field(gt=0, le=100)]
Tenge = Annotated[Dec, Field(gt=0, le=100_000_000, decimal_places=2)]


class Mzp(Values):
    """МЗП (минимальная заработная плата), tenge a month, for the calendar year of the version."""
    amount: Tenge


class Rates(Values):
    employer_rate: Rate             # отчисления работодателя, on the employee's income
    employer_cap_mzp: CapMzp
    employee_rate: Rate             # взносы работника
    employee_cap_mzp: CapMzp
    civil_rate: Rate                # ГПХ: contract income, no employer deduction
    civil_cap_mzp: CapMzp
    self_rate: Rate                 # self-payer: rate x (base x МЗП), a fixed monthly sum
    self_base_mzp: BaseMzp
    entrepreneur_rate: Rate         # ИП: rate x (base x МЗП), a fixed monthly sum
    entrepreneur_base_mzp: BaseMzp
    platform_rate: Rate | None      # platform workers, on platform income; None: no such payer yet
    platform_cap_mzp: CapMzp | None


class StateRate(Values):
    """The state's (and the akimats') contribution rate, on the average wage two years earlier."""
    rate: Rate


class AverageWage(Values):
    """The republic's average monthly nominal wage for the calendar year of the version."""
    amount: Tenge


class StateCategories(Values):
    republican: list[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{1,63}$")]] = Field(min_length=1)
    local: list[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{1,63}$")]] = Field(min_length=1)


class PaymentTerms(Values):
    """When an employer's declared contributions are due, how long the declared months count without
    the money, and the late-payment penalty (пеня) as a multiple of the National Bank's base rate."""
    due_day: int = Field(ge=1, le=28)          # payments for month M are due by this day of M+1
    grace_days: int = Field(ge=0, le=365)      # declared months count this many days past the due date
    penalty_multiplier: Annotated[Dec, Field(gt=0, le=10)]  # пеня: this many times the base rate ...
    days_in_year: int = Field(ge=360, le=366)  # ... a year, per day late


class BaseRate(Values):
    """The National Bank's base rate (базовая ставка), a year."""
    rate: Rate


class SinglePayment(Values):
    """The single payment (единый платёж, ЕП): the share of each payment that goes to ОСМС."""
    osms_share: Annotated[Dec, Field(gt=0, le=1)]


def _rates_check(v: Rates, _effective: date) -> list[dict[str, Any]]:
    if (v.platform_rate is None) != (v.platform_cap_mzp is None):
        return [{"loc": ["platform_cap_mzp"], "msg": "platform_rate and platform_cap_mzp are set together"}]
    return []


def _categories_check(v: StateCategories, _effective: date) -> list[dict[str, Any]]:
    errors = []
    for budget in ("republican", "local"):
        names = getattr(v, budget)
        if len(set(names)) != len(names):
            errors.append({"loc": [budget], "msg": "a category is listed twice"})
    return errors


RULE_TABLES: dict[str, RuleTable] = {t.name: t for t in (
    RuleTable("mzp", "МЗП, the minimum monthly wage, per calendar year", Mzp, span="year"),
    RuleTable("rates", "contribution rates and caps by payer kind; self-payers' and entrepreneurs' fixed sums "
                       "as a rate of a multiple of МЗП", Rates, check=_rates_check),
    RuleTable("state_rate", "the state's and akimats' contribution rate", StateRate),
    RuleTable("average_wage", "the average monthly nominal wage per calendar year (state contributions for "
                              "year Y are counted from year Y - 2)", AverageWage, span="year"),
    RuleTable("state_categories", "the categories of people the republican and local budgets pay for",
              StateCategories, check=_categories_check),
    RuleTable("payment_terms", "employers' due day, the grace declared months keep without the money, and the "
                               "late-payment penalty (пеня) as a multiple of the base rate", PaymentTerms),
    RuleTable("base_rate", "the National Bank's base rate, a year (the penalty is counted from it)", BaseRate),
    RuleTable("single_payment", "the single payment (ЕП): its share to ОСМС", SinglePayment),
)}


@dataclass(frozen=True)
class PeriodRules:
    """Everything one month's contributions are computed from, in tenge."""

    month: Month
    version: str                  # the versions used, "mzp@2026-01-01+rates@2026-01-01"
    provisional: bool             # some value was carried past the last published year
    carried_from: int | None
    mzp: Decimal
    employer_rate: Decimal
    employer_cap: Decimal         # the largest income the rate applies to
    employee_rate: Decimal
    employee_cap: Decimal
    civil_rate: Decimal
    civil_cap: Decimal
    self_monthly: Decimal         # the fixed sum a self-payer pays for one month
    entrepreneur_monthly: Decimal
    platform_rate: Decimal | None
    platform_cap: Decimal | None  # income cap; the largest contribution is rate x cap
    state_per_person: Decimal | None  # None when no state rate or average wage is known
    state_rules: dict[str, Any] | None  # the versions state_per_person was computed from

    def fixed_monthly(self, payer_kind: str) -> Decimal:
        return {"self": self.self_monthly, "entrepreneur": self.entrepreneur_monthly}[payer_kind]

    @property
    def platform_max_contribution(self) -> Decimal | None:
        if self.platform_rate is None or self.platform_cap is None:
            return None
        return to_money(self.platform_rate * self.platform_cap)

    def answer_fields(self) -> dict[str, Any]:
        return {"rules_version": self.version, "rules_provisional": self.provisional,
                "rules_carried_from": self.carried_from}


def combine(month: Month, mzp: InForce[Mzp], rates: InForce[Rates], state: InForce[StateRate] | None,
            wage: InForce[AverageWage] | None) -> PeriodRules:
    """The rules of one month from the versions in force (pure)."""
    m, r = mzp.values.amount, rates.values
    state_per_person = state_rules = None
    if state is not None and wage is not None:
        state_per_person = to_money(state.values.rate * wage.values.amount)
        state_rules = rules_fields(state, wage)
    info = rules_fields(mzp, rates)
    return PeriodRules(
        month=month, version=info["rules_version"], provisional=info["rules_provisional"],
        carried_from=info.get("rules_carried_from"), mzp=m,
        employer_rate=r.employer_rate, employer_cap=m * r.employer_cap_mzp,
        employee_rate=r.employee_rate, employee_cap=m * r.employee_cap_mzp,
        civil_rate=r.civil_rate, civil_cap=m * r.civil_cap_mzp,
        self_monthly=to_money(r.self_rate * r.self_base_mzp * m),
        entrepreneur_monthly=to_money(r.entrepreneur_rate * r.entrepreneur_base_mzp * m),
        platform_rate=r.platform_rate,
        platform_cap=m * r.platform_cap_mzp if r.platform_cap_mzp is not None else None,
        state_per_person=state_per_person, state_rules=state_rules,
    )


def rules_on(snap: RuleSnapshot, on: date) -> PeriodRules | None:
    """The rules in force on a day (a payroll's period: its first day; a payment: the day paid), or
    None before the tables start. State contributions for year Y are counted on the wage of Y - 2."""
    mzp, rates = snap.in_force("mzp", on), snap.in_force("rates", on)
    if mzp is None or rates is None:
        return None
    state = snap.in_force("state_rate", on)
    wage = snap.in_force("average_wage", date(on.year - 2, 1, 1))
    return combine(on.year * 12 + on.month - 1, mzp, rates, state, wage)


def state_categories(snap: RuleSnapshot, on: date) -> StateCategories | None:
    found = snap.in_force("state_categories", on)
    return found.values if found else None


@dataclass(frozen=True)
class StatusRuleVersion:
    """How covered months turn into insured status, for dates from `effective_from` on."""

    effective_from: Month
    insured_months_after: int      # month M insures M and this many months after (paid by the 25th of M+1)
    grace_months: int              # then conditionally insured this many months (grace)
    continuity_months: int | None  # a run this long of non-state covered months ending at M ...
    continuity_grace_months: int   # ... extends the grace after M to this many months


STATUS_RULES: tuple[StatusRuleVersion, ...] = (
    StatusRuleVersion(month_index(2020, 1), 1, 3, None, 0),
    # New in 2026 (Law "On ОСМС" art. 5(2), as amended 2025): 60 continuous months of contributions
    # or employer deductions, state-paid months excepted, keep the status for 6 months.
    StatusRuleVersion(month_index(2026, 1), 1, 3, 60, 6),
)

# Self-payers and entrepreneurs: a payment first covers the oldest unpaid month among this many
# months before the month of payment (arrears), then the current month, then months ahead.
ARREARS_WINDOW_MONTHS = 12
# This project's limit on paying ahead: months after the month of payment a payment may cover.
AHEAD_LIMIT_MONTHS = 12


def payment_terms(snap: RuleSnapshot, on: date) -> InForce[PaymentTerms] | None:
    return snap.in_force("payment_terms", on)


def base_rate(snap: RuleSnapshot, on: date) -> InForce[BaseRate] | None:
    return snap.in_force("base_rate", on)
