"""Appeal rules, pure: deadlines over the holiday calendar, the lifecycle, statistics.

No I/O, no clock: the route passes today's date. The SQL lives in store.py.
"""
from __future__ import annotations

import calendar as _cal
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

from services.feedback.holidays import CALENDARS, YearCalendar

CHANNELS = ("call_center", "mobile_app", "website", "telegram", "clinic_desk")
KINDS = ("consultation", "complaint")
CATEGORIES = ("quality_of_care", "refusal_of_care", "refusal_of_medicines", "charged_for_free_service",
              "service_not_provided", "other")
STATUSES = ("registered", "in_review", "extended", "resolved_on_spot", "withdrawn", "upheld", "rejected",
            "answered")
FINAL_STATUSES = frozenset({"resolved_on_spot", "withdrawn", "upheld", "rejected", "answered"})
OPEN_STATUSES = tuple(s for s in STATUSES if s not in FINAL_STATUSES)


# --- deadlines -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class DeadlineRule:
    """The statutory answer period (Administrative Procedural Code, in force 1 July 2021)."""

    effective_from: date
    working_days: int          # the answer is due on the Nth working day after registration
    max_extension_months: int  # extended once, to at most this many months from registration


DEADLINE_RULES: tuple[DeadlineRule, ...] = (
    DeadlineRule(effective_from=date(2021, 7, 1), working_days=15, max_extension_months=2),
)


def deadline_rule(on: date) -> DeadlineRule:
    rules = [r for r in DEADLINE_RULES if r.effective_from <= on]
    if not rules:
        raise ValueError(f"no deadline rule in force on {on}")
    return max(rules, key=lambda r: r.effective_from)


def is_working_day(d: date, calendars: Mapping[int, YearCalendar] = CALENDARS) -> tuple[bool, bool]:
    """(working?, known?): `known` is False when the year has no calendar data, in which case
    only weekends are days off. That errs towards an earlier deadline, never a later one."""
    cal = calendars.get(d.year)
    if cal is None:
        return d.weekday() < 5, False
    if d in cal.working_weekends:
        return True, True
    return d.weekday() < 5 and d not in cal.days_off, True


def add_working_days(start: date, n: int,
                     calendars: Mapping[int, YearCalendar] = CALENDARS) -> tuple[date, bool]:
    """The nth working day after `start` (start itself not counted), and whether every day
    counted had calendar data (False: provisional, weekends-only for the missing years)."""
    if n < 1:
        raise ValueError("n must be at least 1")
    d, counted, known = start, 0, True
    while counted < n:
        d += timedelta(days=1)
        working, has_data = is_working_day(d, calendars)
        known = known and has_data
        counted += working
    return d, known


@dataclass(frozen=True)
class DueDate:
    due_date: date
    provisional: bool  # a year on the way had no calendar data: weekends-only count


def due_date(registered_on: date, calendars: Mapping[int, YearCalendar] = CALENDARS) -> DueDate:
    rule = deadline_rule(registered_on)
    d, known = add_working_days(registered_on, rule.working_days, calendars)
    return DueDate(d, provisional=not known)


def add_months(d: date, months: int) -> date:
    """Same day `months` later, clamped to the month's end (31 Dec + 2 months -> 28/29 Feb)."""
    total = d.month - 1 + months
    year, month = d.year + total // 12, total % 12 + 1
    return date(year, month, min(d.day, _cal.monthrange(year, month)[1]))


def extension_limit(registered_on: date) -> date:
    return add_months(registered_on, deadline_rule(registered_on).max_extension_months)


def effective_due(due: date, extended_due: date | None) -> date:
    return extended_due or due


def is_overdue(status: str, due: date, extended_due: date | None, today: date) -> bool:
    """Still open on a day after its (possibly extended) due date."""
    return status not in FINAL_STATUSES and effective_due(due, extended_due) < today


def registration_number(year: int, serial: int) -> str:
    """Human-readable, unique per year: KZ-2026-000123 (the serial grows past six digits if needed)."""
    return f"KZ-{year}-{serial:06d}"


# --- what an appeal must carry -------------------------------------------------------------------

@dataclass(frozen=True)
class AppealIn:
    channel: str
    kind: str
    category: str | None
    region: str
    iin: str | None
    clinic_id: str | None
    visit_id: str | None
    text: str


def appeal_errors(a: AppealIn) -> list[dict]:
    """Cross-field rules (field formats are checked by the schema); each error names its field."""
    errors: list[dict] = []

    def err(field: str, msg: str) -> None:
        errors.append({"loc": ["body", field], "msg": msg})

    if a.kind == "complaint":
        if a.category is None:
            err("category", "a complaint needs a category")
        # Anonymous appeals are not examined (APPK); a consultation may still be answered anonymously.
        if a.iin is None:
            err("iin", "a complaint needs the applicant's IIN")
    elif a.category is not None:
        err("category", "categories apply to complaints only")
    if a.category == "service_not_provided":
        if a.clinic_id is None:
            err("clinic_id", "a service_not_provided complaint names the clinic")
        if a.visit_id is None:
            err("visit_id", "a service_not_provided complaint names the disputed visit")
    if a.visit_id is not None and a.clinic_id is None:
        err("clinic_id", "a visit is identified within its clinic: clinic_id is required with visit_id")
    return errors


# --- lifecycle -----------------------------------------------------------------------------------

# Which statuses may follow which. resolved_on_spot is the patient support desk's "here and now":
# possible at registration or during the first review, not once the answer period was extended.
# `extended` is reachable only from in_review and has no way back, so it happens at most once.
TRANSITIONS: Mapping[str, frozenset[str]] = {
    "registered": frozenset({"in_review", "resolved_on_spot", "withdrawn"}),
    "in_review": frozenset({"extended", "resolved_on_spot", "withdrawn", "upheld", "rejected", "answered"}),
    "extended": frozenset({"withdrawn", "upheld", "rejected", "answered"}),
    **{s: frozenset() for s in FINAL_STATUSES},
}

# A complaint is upheld or rejected; a consultation is answered; either may be withdrawn or
# resolved on the spot.
STATUSES_FOR_KIND: Mapping[str, frozenset[str]] = {
    "complaint": frozenset(STATUSES) - {"answered"},
    "consultation": frozenset(STATUSES) - {"upheld", "rejected"},
}


class TransitionRefused(Exception):
    def __init__(self, rule: str, detail: str):
        super().__init__(detail)
        self.rule = rule
        self.detail = detail


@dataclass(frozen=True)
class AppealState:
    kind: str
    status: str
    registered_on: date
    due_date: date
    extended_due_date: date | None


@dataclass(frozen=True)
class TransitionDecision:
    to: str
    final: bool
    extended_due_date: date | None  # set by an extension, else unchanged (None)


def decide_transition(state: AppealState, to: str, note: str | None, today: date,
                      requested_due: date | None = None) -> TransitionDecision:
    """Whether `to` may follow the appeal's status; raises TransitionRefused with a rule code."""
    if to not in STATUSES:
        raise TransitionRefused("unknown_status", f"{to!r} is not a status")
    if state.status in FINAL_STATUSES:
        raise TransitionRefused("appeal_closed", f"the appeal is already {state.status}")
    if to not in TRANSITIONS[state.status]:
        raise TransitionRefused("transition_not_allowed", f"{state.status} cannot move to {to}")
    if to not in STATUSES_FOR_KIND[state.kind]:
        raise TransitionRefused("status_not_for_kind", f"a {state.kind} cannot end {to}")
    if requested_due is not None and to != "extended":
        raise TransitionRefused("due_date_only_on_extension", "a due date is set only by an extension")
    if to != "extended":
        return TransitionDecision(to, to in FINAL_STATUSES, None)
    if not note or not note.strip():
        raise TransitionRefused("extension_needs_notice",
                                "an extension records the notice sent to the applicant in `note`")
    if today > state.due_date:
        raise TransitionRefused("deadline_passed", f"the answer was due on {state.due_date}; "
                                "an extension must be decided before the deadline")
    limit = extension_limit(state.registered_on)
    new_due = requested_due or limit
    if new_due > limit:
        raise TransitionRefused("extension_beyond_limit",
                                f"an extension reaches at most {limit} (two months from registration)")
    if new_due <= state.due_date:
        raise TransitionRefused("extension_not_later", f"the extended date must be after {state.due_date}")
    return TransitionDecision(to, False, new_due)


# --- statistics ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class CountRow:
    kind: str
    category: str | None
    status: str
    overdue: bool
    n: int


def share(part: int, whole: int) -> float | None:
    """A share in [0, 1] to four decimals (56.39% -> 0.5639); None when there is nothing to divide."""
    if whole == 0:
        return None
    return float((Decimal(part) / Decimal(whole)).quantize(Decimal("0.0001"), rounding=ROUND_HALF_EVEN))


def summarize(rows: Iterable[CountRow]) -> dict:
    """Counts by kind, category and status, the complaint shares, and the number overdue."""
    by_kind = dict.fromkeys(KINDS, 0)
    by_category = dict.fromkeys(CATEGORIES, 0)
    by_status = dict.fromkeys(STATUSES, 0)
    total = overdue = spot_or_withdrawn = 0
    for r in rows:
        total += r.n
        by_kind[r.kind] += r.n
        by_status[r.status] += r.n
        overdue += r.n if r.overdue else 0
        if r.kind == "complaint":
            if r.category is not None:
                by_category[r.category] += r.n
            if r.status in ("resolved_on_spot", "withdrawn"):
                spot_or_withdrawn += r.n
    complaints = by_kind["complaint"]
    return {
        "appeals": total,
        "by_kind": by_kind,
        "by_category": by_category,
        "by_status": by_status,
        "resolved_on_spot_or_withdrawn_share": share(spot_or_withdrawn, complaints),
        "by_category_share": {c: share(n, complaints) for c, n in by_category.items()},
        "overdue": overdue,
    }
