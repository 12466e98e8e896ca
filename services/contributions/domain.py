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
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from services.common.ids import born_by_problem, iin_problem
from services.common.money import CENT, parse_money, to_money
from services.contributions.rules import (
    AHEAD_LIMIT_MONTHS,
    ARREARS_WINDOW_MONTHS,
    FIRST_MONTH,
    STATUS_RULES,
    Month,
    PaymentTerms,
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
ZERO = Decimal("0.00")


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


def month_amounts(kind: str, income: Decimal, rules: PeriodRules) -> tuple[Decimal, Decimal]:
    """(employer deduction, employee contribution) on a month's income of one kind: rate x min(income, cap),
    half up to 0.01. A civil-contract (ГПХ) income has no employer deduction and pays the civil rate under
    its cap."""
    if kind == "employee":
        return ((min(income, rules.employer_cap) * rules.employer_rate).quantize(CENT, ROUND_HALF_UP),
                (min(income, rules.employee_cap) * rules.employee_rate).quantize(CENT, ROUND_HALF_UP))
    return ZERO, (min(income, rules.civil_cap) * rules.civil_rate).quantize(CENT, ROUND_HALF_UP)


def payroll_amounts(rows: list[PayrollRow], rules: PeriodRules) -> list[tuple[Decimal, Decimal]]:
    """(employer deduction, employee contribution) per row of a person's only payroll of the month."""
    return [month_amounts(r.kind, r.income, rules) for r in rows]


# --- a person's month with one employer: caps across payrolls -----------------------------------

@dataclass(frozen=True, slots=True)
class PersonMonth:
    """A person's income of one kind from one employer in one month, over all the employer's payrolls
    of the month as currently corrected, and the contributions on it (the caps apply to this total)."""
    income: Decimal
    employer_deduction: Decimal
    employee_contribution: Decimal

    @property
    def covers(self) -> bool:
        """A month is covered only by a contribution: an income whose amounts round to nothing covers nothing."""
        return self.employer_deduction + self.employee_contribution > 0


EMPTY_MONTH = PersonMonth(Decimal("0.00"), Decimal("0.00"), Decimal("0.00"))
PersonKey = tuple[str, str]  # (iin, kind)


def person_month(kind: str, income: Decimal, rules: PeriodRules) -> PersonMonth:
    return PersonMonth(income, *month_amounts(kind, income, rules))


def added_rows(rows: list[PayrollRow], held: dict[PersonKey, PersonMonth],
               rules: PeriodRules) -> list[tuple[PersonMonth, Decimal, Decimal]]:
    """Per row of a further payroll of the month: the person's month after it, and what the row adds
    (the contributions on the new total less those the month already holds)."""
    out = []
    for r in rows:
        before = held.get((r.iin, r.kind), EMPTY_MONTH)
        after = person_month(r.kind, before.income + r.income, rules)
        out.append((after, after.employer_deduction - before.employer_deduction,
                    after.employee_contribution - before.employee_contribution))
    return out


@dataclass(frozen=True, slots=True)
class PersonDifference:
    iin: str
    kind: str
    before: PersonMonth   # the person's month with the employer before the correction
    after: PersonMonth

    @property
    def employer_deduction(self) -> Decimal:
        return self.after.employer_deduction - self.before.employer_deduction

    @property
    def employee_contribution(self) -> Decimal:
        return self.after.employee_contribution - self.before.employee_contribution


def corrected_months(old: dict[PersonKey, Decimal], new: list[PayrollRow], held: dict[PersonKey, PersonMonth],
                     rules: PeriodRules) -> list[PersonDifference]:
    """A payroll's rows replaced: `old` its current incomes, `new` the corrected rows, `held` the people's
    months with the employer (all the month's payrolls). Per person of either: the month before and after.
    A person in neither version is untouched; a person missing from `new` leaves the payroll (a reversal)."""
    new_income = {(r.iin, r.kind): r.income for r in new}
    out = []
    for key in sorted(old.keys() | new_income.keys()):
        before = held.get(key, EMPTY_MONTH)
        income = before.income - old.get(key, ZERO) + new_income.get(key, ZERO)
        out.append(PersonDifference(key[0], key[1], before, person_month(key[1], income, rules)))
    return out


def masks_of(months: Iterable[tuple[Month, bool]]) -> tuple[int, int]:
    """(covered, nonstate) masks from every contribution's (month, paid by other than the state)."""
    covered = nonstate = 0
    for m, other_than_state in months:
        covered |= bit(m)
        if other_than_state:
            nonstate |= bit(m)
    return covered, nonstate


# --- declarations: declared against paid ----------------------------------------------------------

def due_on(period: Month, terms: PaymentTerms) -> date:
    """An employer's contributions for a month are due by the terms' day of the next month."""
    return first_day(period + 1).replace(day=terms.due_day)


def counts_until(period: Month, first_received_on: date, terms: PaymentTerms) -> date:
    """The last day a declared month counts as covered without the money: the due date plus the grace;
    a month declared after its due date gets the grace from the day it was declared."""
    return max(due_on(period, terms), first_received_on) + timedelta(days=terms.grace_days)


def lapses(declared: Decimal, paid: Decimal, until: date, today: date) -> bool:
    """A declaration not paid in full stops counting the day after it counts until."""
    return paid < declared and today > until


_PERIOD_IN_TEXT = re.compile(r"(?<![0-9])([0-9]{4})-(0[1-9]|1[0-2])(?![0-9])")


def period_in_purpose(purpose: str) -> Month | None:
    """The month a payment's purpose names ("ОСМС за 2026-10"), or None when it names none or several."""
    found = {int(y) * 12 + int(m) - 1 for y, m in _PERIOD_IN_TEXT.findall(purpose)}
    return found.pop() if len(found) == 1 else None


def match_period(purpose: str, balances: dict[Month, Decimal]) -> Month | None:
    """The declaration a bank record pays: the month its purpose names, when the payer declared it;
    without a month in the purpose, the payer's oldest month not yet paid in full; otherwise none
    (the record is kept unmatched). `balances`: the payer's declared months, declared less paid."""
    named = period_in_purpose(purpose)
    if named is not None:
        return named if named in balances else None
    return min((m for m, owed in balances.items() if owed > 0), default=None)


def penalty(declared: Decimal, payments: list[tuple[date, Decimal]], due: date, on: date,
            terms: PaymentTerms, base_rates: list[tuple[date, Decimal]]) -> tuple[Decimal, int]:
    """Пеня on a declaration on a date, and the days late so far: for each day from the day after the
    due date to the day paid, inclusive, the amount still unpaid that day times the base rate in force
    that day times the terms' multiplier, over the days of a year. `base_rates`: (effective_from, rate)
    in date order. A payment is counted at the end of its day; a refund is a negative payment (what it
    leaves unpaid is late again from the next day)."""
    outstanding = declared - sum((a for d, a in payments if d <= due), ZERO)
    pending = sorted((d, a) for d, a in payments if d > due)
    total = Decimal(0)
    day = due + timedelta(days=1)
    late = 0
    while day <= on:
        if outstanding <= 0:  # nothing late until a refund (if any) leaves something unpaid
            if not pending:
                break
            paid_on = pending[0][0]
            while pending and pending[0][0] == paid_on:
                outstanding -= pending.pop(0)[1]
            day = max(day, paid_on + timedelta(days=1))
            continue
        rate = ZERO
        next_change = None
        for effective, r in base_rates:
            if effective <= day:
                rate = r
            else:
                next_change = effective
                break
        end = on
        if pending:
            end = min(end, pending[0][0])
        if next_change is not None:
            end = min(end, next_change - timedelta(days=1))
        days = (end - day).days + 1
        total += outstanding * rate * terms.penalty_multiplier * days / terms.days_in_year
        late += days
        while pending and pending[0][0] <= end:
            outstanding -= pending.pop(0)[1]
        day = end + timedelta(days=1)
    return to_money(total), late


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


def quote_months(covered: int, nonstate: int, pay_month: Month, on: date) -> list[Month] | None:
    """The fewest whole months a self-payer paying in `pay_month` must pay (allocated as a payment is:
    arrears first, then the current month, then ahead) to be insured, or in grace, on `on`; [] when
    already so; None when no payment made now can do it (the date is too far ahead)."""
    if status_on(covered, nonstate, on).status != "not_insured":
        return []
    k = 0
    while True:
        k += 1
        try:
            months = allocate_months(covered, pay_month, k)
        except PaymentNotAllowed:
            return None
        add = 0
        for m in months:
            add |= bit(m)
        if status_on(covered | add, nonstate | add, on).status != "not_insured":
            return months


def refunded_months(months: list[Month], payer_kind: str, monthly: Decimal, amount: Decimal,
                    refundable: Decimal) -> list[Month]:
    """The months a refund of `amount` uncovers from a payment still covering `months` (in order), of
    which `refundable` is not yet refunded: a self-payer's or entrepreneur's refund is whole months, the
    latest first; a platform contribution's or single payment's month is uncovered when all of it is."""
    if payer_kind in ("self", "entrepreneur"):
        count, rest = divmod(amount, monthly)
        if rest != 0:
            raise PaymentNotAllowed(f"a refund of whole months only: a multiple of {monthly:.2f}")
        return months[len(months) - int(count):] if count else []
    return list(months) if amount == refundable else []


def single_payment_month(amount: Decimal, paid_on: date, osms_share: Decimal) -> tuple[Month, Decimal]:
    """The single payment (ЕП) for a worker covers the month it is paid in when its share to ОСМС is
    something: (that month, the share in tenge)."""
    osms = to_money(amount * osms_share)
    if osms <= 0:
        raise PaymentNotAllowed("the single payment's share to ОСМС rounds to nothing")
    return month_of(paid_on), osms


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
