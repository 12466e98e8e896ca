"""Contribution rule tables by period (data, not code): МЗП, rates, caps, fixed sums, state amounts.

A new order of the Ministry or a new year's МЗП is a new row here. `rules_for(month)` combines the
tables in force for one calendar month; a month outside them has no rules (the route answers 422).
Sources: ../shared/domain.md ("Contributions", rules version 2026, and the pre-2025 values).
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

from services.common.money import to_money

Month = int  # year * 12 + (month - 1): consecutive months are consecutive integers


def month_index(year: int, month: int) -> Month:
    return year * 12 + month - 1


# МЗП (минимальная заработная плата), tenge a month, per calendar year. The last year here is the
# last year the service accepts payrolls for: a later period is a period without rules.
MZP_BY_YEAR: dict[int, Decimal] = {
    2020: Decimal(42_500), 2021: Decimal(42_500), 2022: Decimal(60_000), 2023: Decimal(70_000),
    2024: Decimal(85_000), 2025: Decimal(85_000), 2026: Decimal(85_000),
}

# Average monthly nominal wage in the republic, tenge, per year (Bureau of National Statistics,
# rounded annual figures). State contributions for year Y are counted from the figure of Y - 2.
AVERAGE_WAGE_BY_YEAR: dict[int, Decimal] = {
    2018: Decimal(162_673), 2019: Decimal(186_815), 2020: Decimal(213_003), 2021: Decimal(250_311),
    2022: Decimal(309_567), 2023: Decimal(363_817), 2024: Decimal(404_000),
}


@dataclass(frozen=True)
class RateVersion:
    """Rates and caps (in МЗП) in force from `effective_from` until the next version."""

    effective_from: Month
    employer_rate: Decimal          # отчисления работодателя, on the employee's income
    employer_cap_mzp: int
    employee_rate: Decimal          # взносы работника
    employee_cap_mzp: int
    civil_rate: Decimal             # ГПХ: contract income, no employer deduction
    civil_cap_mzp: int
    self_rate: Decimal              # self-payer: rate x (base x МЗП), a fixed monthly sum
    self_base_mzp: Decimal
    entrepreneur_rate: Decimal      # ИП: rate x (base x МЗП), a fixed monthly sum
    entrepreneur_base_mzp: Decimal
    platform_rate: Decimal          # platform self-employed: on platform income
    platform_cap_mzp: int
    state_rate: Decimal             # state and local budgets: on the average wage two years earlier


_P = Decimal
# Before 2025 both caps were 10 x МЗП; ГПХ workers paid the employee rate under the employee cap.
# The state rate is 2% throughout (this project's decision: earlier rates are not in the brief).
RATE_VERSIONS: tuple[RateVersion, ...] = (
    RateVersion(month_index(2020, 1), _P("0.02"), 10, _P("0.01"), 10, _P("0.01"), 10,
                _P("0.05"), _P(1), _P("0.05"), _P("1.4"), _P("0.01"), 20, _P("0.02")),
    RateVersion(month_index(2021, 1), _P("0.02"), 10, _P("0.02"), 10, _P("0.02"), 10,
                _P("0.05"), _P(1), _P("0.05"), _P("1.4"), _P("0.01"), 20, _P("0.02")),
    RateVersion(month_index(2022, 1), _P("0.03"), 10, _P("0.02"), 10, _P("0.02"), 10,
                _P("0.05"), _P(1), _P("0.05"), _P("1.4"), _P("0.01"), 20, _P("0.02")),
    # Rules version 2026: employer cap 40 x МЗП, employee and ГПХ caps 20 x МЗП.
    RateVersion(month_index(2026, 1), _P("0.03"), 40, _P("0.02"), 20, _P("0.02"), 20,
                _P("0.05"), _P(1), _P("0.05"), _P("1.4"), _P("0.01"), 20, _P("0.02")),
)

FIRST_MONTH: Month = min(v.effective_from for v in RATE_VERSIONS)
LAST_MONTH: Month = month_index(max(MZP_BY_YEAR), 12)

# State categories (ст. 26 Закона об ОСМС), paid from the republican budget; the local budgets
# (akimats) pay for the registered unemployed and people in a crisis / emergency social situation.
STATE_CATEGORIES: dict[str, tuple[str, ...]] = {
    "republican": (
        "children", "large_family_mothers", "war_veterans", "disabled", "full_time_students",
        "maternity_leave", "pregnant_non_working", "parent_child_under_3", "pensioners", "prisoners",
        "detainees", "kandas", "carers_of_disabled", "targeted_social_assistance", "trafficking_victims",
        "military_and_law_enforcement",
    ),
    "local": ("unemployed", "social_level_d", "social_level_e"),
}


@dataclass(frozen=True)
class PeriodRules:
    """Everything one month's contributions are computed from, in tenge."""

    month: Month
    version: str                  # "YYYY-MM" the rate version took effect
    mzp: Decimal
    employer_rate: Decimal
    employer_cap: Decimal         # the largest income the rate applies to
    employee_rate: Decimal
    employee_cap: Decimal
    civil_rate: Decimal
    civil_cap: Decimal
    self_monthly: Decimal         # the fixed sum a self-payer pays for one month
    entrepreneur_monthly: Decimal
    platform_rate: Decimal
    platform_cap: Decimal         # income cap; the largest contribution is rate x cap
    state_per_person: Decimal | None  # None when the average wage of two years earlier is unknown

    def fixed_monthly(self, payer_kind: str) -> Decimal:
        return {"self": self.self_monthly, "entrepreneur": self.entrepreneur_monthly}[payer_kind]

    @property
    def platform_max_contribution(self) -> Decimal:
        return to_money(self.platform_rate * self.platform_cap)


@lru_cache(maxsize=512)
def rules_for(month: Month) -> PeriodRules | None:
    """The rules in force for a calendar month, or None for a month without rules."""
    if month < FIRST_MONTH or month > LAST_MONTH:
        return None
    year = month // 12
    mzp = MZP_BY_YEAR.get(year)
    if mzp is None:
        return None
    v = max((v for v in RATE_VERSIONS if v.effective_from <= month), key=lambda v: v.effective_from)
    wage = AVERAGE_WAGE_BY_YEAR.get(year - 2)
    return PeriodRules(
        month=month,
        version=f"{v.effective_from // 12:04d}-{v.effective_from % 12 + 1:02d}",
        mzp=mzp,
        employer_rate=v.employer_rate, employer_cap=mzp * v.employer_cap_mzp,
        employee_rate=v.employee_rate, employee_cap=mzp * v.employee_cap_mzp,
        civil_rate=v.civil_rate, civil_cap=mzp * v.civil_cap_mzp,
        self_monthly=to_money(v.self_rate * v.self_base_mzp * mzp),
        entrepreneur_monthly=to_money(v.entrepreneur_rate * v.entrepreneur_base_mzp * mzp),
        platform_rate=v.platform_rate, platform_cap=mzp * v.platform_cap_mzp,
        state_per_person=to_money(v.state_rate * wage) if wage is not None else None,
    )


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
    # New in 2026: 5 continuous years of contributions keep the status for 6 months.
    StatusRuleVersion(month_index(2026, 1), 1, 3, 60, 6),
)

# Self-payers and entrepreneurs: a payment first covers the oldest unpaid month among this many
# months before the month of payment (arrears), then the current month, then months ahead.
ARREARS_WINDOW_MONTHS = 12
# This project's limit on paying ahead: months after the month of payment a payment may cover.
AHEAD_LIMIT_MONTHS = 12
