"""Contribution rules, pure: payroll amounts, payment allocation, insured status and timeline.

No I/O, no clock: dates are arguments (the routes read services.common.clock). Values come from
the rule tables in rules.py.

Covered months are kept as bit masks (bit i = the i-th month from 2020-01): a person's whole
history is two integers, `covered` (any contribution) and `nonstate` (a contribution other than the
state's), so a payroll of 10,000 people is judged with a few big-integer operations per person.

Insured status (../shared/domain.md "Insured status"), stated per covered month M, so that the
status on any date and the timeline published to other services are one and the same thing:
  - M insures the days of M and M+1 (payments for M arrive by the 25th of M+1): **insured**,
    reason `current_coverage` (`state_category` when only the state paid those months);
  - then 3 months of **grace** (M+2 .. M+4), reason `grace_3m`;
  - from 2026, when M ends a run of at least 60 consecutive covered months none of which is
    state-only (a state-only month breaks the run), the grace after M is 6 months
    (M+2 .. M+7), reason `continuity_60m`;
  - any other day: **not insured**, reason `arrears` when the person has a covered month before,
    else `none`.
For a person whose covered months end in one run this is exactly the brief's rule with
L = the latest covered month. It differs only where a later short run would cut an earlier
60-month grace short: here paying more never loses coverage already earned. A month paid
ahead (after the date asked about) insures from its own first day, not before: a self-payer's
payment goes to arrears and the current month first, so months ahead follow covered months.
`insured_until` is the last day of the insured-or-grace stretch containing the date, counting
months already paid ahead: the day the status ends if nothing more is paid.
"""
from __future__ import annotations

import calendar
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from services.common.ids import born_by_problem, iin_problem
from services.common.money import CENT, parse_money
from services.contributions.rules import (
    AHEAD_LIMIT_MONTHS,
    ARREARS_WINDOW_MONTHS,
    FIRST_MONTH,
    STATUS_RULES,
    Month,
    PeriodRules,
    StatusRuleVersion,
)

# --- months ------------------------------------------------------------------------------------

BASE: Month = FIRST_MONTH  # bit 0 of a coverage mask
MASK_BITS = 256            # months a stored mask holds: 2020-01 .. 2041-04
_MONTH_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def parse_month(text: str) -> Month | None:
    m = _MONTH_RE.match(text) if isinstance(text, str) else None
    return int(m.group(1)) * 12 + int(m.group(2)) - 1 if m else None


def month_str(month: Month) -> str:
    return f"{month // 12:04d}-{month % 12 + 1:02d}"


def month_of(d: date) -> Month:
    return d.year * 12 + d.month - 1


def first_day(month: Month) -> date:
    return date(month // 12, month % 12 + 1, 1)


def last_day(month: Month) -> date:
    y, m = month // 12, month % 12 + 1
    return date(y, m, calendar.monthrange(y, m)[1])


def bit(month: Month) -> int:
    return 1 << (month - BASE)


def months_of(mask: int) -> list[Month]:
    out = []
    while mask:
        low = mask & -mask
        out.append(BASE + low.bit_length() - 1)
        mask ^= low
    return out


def masks_from_months(covered: Iterable[Month], state_only: Iterable[Month] = ()) -> tuple[int, int]:
    """(covered, nonstate) masks from covered months and the subset of them only the state paid."""
    c = 0
    for m in covered:
        c |= bit(m)
    s = 0
    for m in state_only:
        s |= bit(m)
    return c | s, c & ~s


# --- insured status ----------------------------------------------------------------------------

def run_ends(mask: int, length: int) -> int:
    """Bits M such that bits M-length+1 .. M are all set (runs of `length` ending at M)."""
    acc, acc_len = -1, 0
    block, block_len = mask, 1
    while length:
        if length & 1:
            acc = block if acc_len == 0 else acc & (block << acc_len)
            acc_len += block_len
        length >>= 1
        if length:
            block &= block << block_len
            block_len *= 2
    return acc if acc_len else 0


def _spread(mask: int, first: int, last: int) -> int:
    """mask shifted by each of first..last months, OR-ed: the months `first..last` after each bit."""
    out = 0
    for k in range(first, last + 1):
        out |= mask << k
    return out


@dataclass(frozen=True, slots=True)
class Timeline:
    """Per month (bit i = BASE + i): insured, grace by 60-month continuity, grace by 3 months."""

    covered: int
    nonstate: int
    insured: int
    grace_continuity: int
    grace: int

    @property
    def any(self) -> int:
        return self.insured | self.grace_continuity | self.grace


def _version_range(versions: tuple[StatusRuleVersion, ...], i: int, width: int) -> int:
    lo = versions[i].effective_from - BASE
    hi = versions[i + 1].effective_from - BASE if i + 1 < len(versions) else width
    lo, hi = max(lo, 0), max(hi, 0)
    return ((1 << hi) - 1) ^ ((1 << lo) - 1)


def timeline(covered: int, nonstate: int, rules: tuple[StatusRuleVersion, ...] = STATUS_RULES) -> Timeline:
    nonstate &= covered
    width = max(covered.bit_length(), 1) + 16  # past the longest grace after the last covered month
    insured = grace_c = grace = 0
    for i, v in enumerate(rules):
        in_force = _version_range(rules, i, width)
        after = v.insured_months_after
        insured |= _spread(covered, 0, after) & in_force
        grace |= _spread(covered, after + 1, after + v.grace_months) & in_force
        if v.continuity_months:
            ends = run_ends(nonstate, v.continuity_months)
            grace_c |= _spread(ends, after + 1, after + v.continuity_grace_months) & in_force
    grace_c &= ~insured
    grace &= ~(insured | grace_c)
    return Timeline(covered, nonstate, insured, grace_c, grace)


def _run_end(mask: int, start: int) -> int:
    """The last bit of the run of set bits that contains bit `start`."""
    x = mask >> start
    return start + ((~x & (x + 1)).bit_length() - 2)


def insured_periods(covered: int, nonstate: int, tl: Timeline | None = None) -> list[tuple[date, date]]:
    """The person's whole insured timeline (insured or grace days), merged: [(from, until), ...]."""
    t = (tl or timeline(covered, nonstate)).any
    out = []
    while t:
        start = (t & -t).bit_length() - 1
        end = _run_end(t, start)
        out.append((first_day(BASE + start), last_day(BASE + end)))
        t &= ~(((1 << (end + 1)) - 1))
    return out


@dataclass(frozen=True, slots=True)
class PersonStatus:
    status: str                 # insured | grace | not_insured
    reason: str                 # current_coverage | state_category | grace_3m | continuity_60m | arrears | none
    insured_until: date | None
    last_covered_month: Month | None


def status_on(covered: int, nonstate: int, on: date, tl: Timeline | None = None) -> PersonStatus:
    """The person's status on a date (see the module docstring for the rule)."""
    tl = tl or timeline(covered, nonstate)
    m = month_of(on) - BASE
    if m < 0:
        return PersonStatus("not_insured", "none", None, None)
    if (tl.any >> m) & 1:
        end = _run_end(tl.any, m)
        within = covered & ((1 << (end + 1)) - 1)
        last = BASE + within.bit_length() - 1
        until = last_day(BASE + end)
        if (tl.insured >> m) & 1:
            after = _rules_on(BASE + m).insured_months_after
            lo = max(m - after, 0)
            recent = ((1 << (m - lo + 1)) - 1) << lo  # the months whose contribution insures this one
            reason = "current_coverage" if nonstate & recent else "state_category"
            return PersonStatus("insured", reason, until, last)
        reason = "continuity_60m" if (tl.grace_continuity >> m) & 1 else "grace_3m"
        return PersonStatus("grace", reason, until, last)
    before = covered & ((1 << (m + 1)) - 1)
    if before:
        return PersonStatus("not_insured", "arrears", None, BASE + before.bit_length() - 1)
    return PersonStatus("not_insured", "none", None, None)


def _rules_on(month: Month) -> StatusRuleVersion:
    return max((v for v in STATUS_RULES if v.effective_from <= month), key=lambda v: v.effective_from,
               default=STATUS_RULES[0])


# --- payrolls ----------------------------------------------------------------------------------

ROW_KINDS = ("employee", "civil_contract")


@dataclass(frozen=True, slots=True)
class PayrollRow:
    iin: str
    income: Decimal
    kind: str


def _money(value: object) -> tuple[Decimal | None, str | None]:
    try:
        return parse_money(value), None
    except ValueError as exc:
        return None, str(exc)


def parse_payroll_rows(rows: list, born_by: date | None = None) -> tuple[list[PayrollRow], list[dict]]:
    """Checks every row; returns the rows, or the errors of every bad row, each named by index. With
    `born_by` (the period's last day), a person born after it is a bad row."""
    out: list[PayrollRow] = []
    errors: list[dict] = []
    seen: dict[str, int] = {}
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            errors.append({"loc": ["body", "rows", i], "msg": "a row must be an object with iin, income, kind"})
            continue
        iin, kind = row.get("iin"), row.get("kind")
        bad = False
        if not isinstance(iin, str):
            errors.append({"loc": ["body", "rows", i, "iin"], "msg": "IIN must be a 12-digit string"})
            bad = True
        else:
            problem = iin_problem(iin) or (born_by_problem(iin, born_by) if born_by else None)
            if problem:
                errors.append({"loc": ["body", "rows", i, "iin"], "msg": problem})
                bad = True
            elif iin in seen:
                errors.append({"loc": ["body", "rows", i, "iin"],
                               "msg": f"the same IIN is already in row {seen[iin]}: one row a person"})
                bad = True
            else:
                seen[iin] = i
        income, problem = _money(row.get("income"))
        if problem:
            errors.append({"loc": ["body", "rows", i, "income"], "msg": problem})
            bad = True
        if kind not in ROW_KINDS:
            errors.append({"loc": ["body", "rows", i, "kind"], "msg": "kind must be employee or civil_contract"})
            bad = True
        if not bad:
            out.append(PayrollRow(iin, income, kind))  # type: ignore[arg-type]
    return out, errors


def payroll_amounts(rows: list[PayrollRow], rules: PeriodRules) -> list[tuple[Decimal, Decimal]]:
    """(employer deduction, employee contribution) per row: rate x min(income, cap), half up to 0.01.
    A civil-contract (ГПХ) row has no employer deduction and pays the civil rate under its cap."""
    zero = Decimal("0.00")
    er, ecap = rules.employer_rate, rules.employer_cap
    wr, wcap = rules.employee_rate, rules.employee_cap
    cr, ccap = rules.civil_rate, rules.civil_cap
    out = []
    append = out.append
    for r in rows:
        income = r.income
        if r.kind == "employee":
            append(((min(income, ecap) * er).quantize(CENT, ROUND_HALF_UP),
                    (min(income, wcap) * wr).quantize(CENT, ROUND_HALF_UP)))
        else:
            append((zero, (min(income, ccap) * cr).quantize(CENT, ROUND_HALF_UP)))
    return out


# --- payments ----------------------------------------------------------------------------------

class PaymentNotAllowed(ValueError):
    """The payment breaks a rule; the message says which."""


def whole_months(amount: Decimal, monthly: Decimal) -> int:
    """How many months a self-payer's or entrepreneur's amount pays: a positive multiple only."""
    if amount <= 0:
        raise PaymentNotAllowed("amount must be positive")
    months, rest = divmod(amount, monthly)
    if rest != 0:
        raise PaymentNotAllowed(f"amount must be a whole multiple of the monthly sum {monthly:.2f}")
    return int(months)


def allocate_months(covered: int, pay_month: Month, months: int, *,
                    arrears_window: int = ARREARS_WINDOW_MONTHS,
                    ahead_limit: int = AHEAD_LIMIT_MONTHS) -> list[Month]:
    """The months a payment of `months` whole months covers: the oldest unpaid months among the
    `arrears_window` months before the month of payment first, then the current month, then months
    ahead (at most `ahead_limit` after the month of payment). Months already covered are skipped."""
    out = []
    for m in range(max(pay_month - arrears_window, BASE), pay_month + ahead_limit + 1):
        if len(out) == months:
            break
        if not (covered >> (m - BASE)) & 1:
            out.append(m)
    if len(out) < months:
        raise PaymentNotAllowed(
            f"the amount pays {months} months, but only {len(out)} can be covered now "
            f"(arrears of the last {arrears_window} months, this month and up to {ahead_limit} ahead)")
    return out


def platform_month(amount: Decimal, paid_on: date, rules: PeriodRules) -> Month:
    """A platform worker's contribution (1% of platform income, withheld by the platform) covers
    the month it is paid in; one payment can be at most the rate times the income cap."""
    if amount <= 0:
        raise PaymentNotAllowed("amount must be positive")
    if rules.platform_max_contribution is None:
        raise PaymentNotAllowed(f"platform workers pay no contributions on {paid_on} under the rules in force")
    if amount > rules.platform_max_contribution:
        raise PaymentNotAllowed(
            f"a platform contribution is at most {rules.platform_max_contribution:.2f} "
            f"({rules.platform_rate:%} of {rules.platform_cap:.2f})")
    return month_of(paid_on)
