"""Appeal rules, pure: deadlines over the published calendar, the lifecycle, statistics.

No I/O, no clock: the route passes today's date and the rule versions in force (rules.py). The SQL
lives in store.py.
"""
from __future__ import annotations

import calendar as _cal
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

from services.common.ids import iin_birth_date_sex

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
class CalendarYear:
    """A published calendar version: it governs the days of its year from its effective date on (a later
    version of the same year is a correction from its own date)."""

    version: str
    effective_from: date
    days_off: frozenset[date]          # Monday-Friday dates that are not working days
    working_weekends: frozenset[date]  # Saturday/Sunday dates that are working days


@dataclass(frozen=True)
class DeadlineRule:
    """The statutory answer period in force on the day of registration."""

    version: str
    working_days: int          # the answer is due on the Nth working day after registration
    max_extension_months: int  # extended once, to at most this many months from registration


def governing(d: date, calendars: Sequence[CalendarYear]) -> CalendarYear | None:
    """The calendar version that governs `d`: the latest of d's year in force on d; None if none is."""
    chosen = None
    for cal in calendars:
        if cal.effective_from.year == d.year and cal.effective_from <= d \
                and (chosen is None or cal.effective_from > chosen.effective_from):
            chosen = cal
    return chosen


def is_working_day(d: date, calendars: Sequence[CalendarYear]) -> tuple[bool, CalendarYear | None]:
    """(working?, the version that says so): without a version only weekends are days off, which errs
    towards an earlier deadline, never a later one."""
    cal = governing(d, calendars)
    if cal is None:
        return d.weekday() < 5, None
    if d in cal.working_weekends:
        return True, cal
    return d.weekday() < 5 and d not in cal.days_off, cal


@dataclass(frozen=True)
class Count:
    day: date
    versions: tuple[str, ...]  # the calendar versions that governed the days counted, in order
    provisional: bool          # some day counted had no calendar version: weekends-only


def add_working_days(start: date, n: int, calendars: Sequence[CalendarYear]) -> Count:
    """The nth working day after `start` (start itself not counted)."""
    if n < 1:
        raise ValueError("n must be at least 1")
    d, counted, versions, provisional = start, 0, [], False
    while counted < n:
        d += timedelta(days=1)
        working, cal = is_working_day(d, calendars)
        if cal is None:
            provisional = True
        elif cal.version not in versions:
            versions.append(cal.version)
        counted += working
    return Count(d, tuple(versions), provisional)


@dataclass(frozen=True)
class DueDate:
    due_date: date
    extension_limit: date
    provisional: bool   # a year on the way had no calendar version: weekends-only count
    rules_version: str  # the calendar versions used and the deadline rule, "calendar@2026-01-01+deadlines@..."


def due_date(registered_on: date, calendars: Sequence[CalendarYear], rule: DeadlineRule) -> DueDate:
    count = add_working_days(registered_on, rule.working_days, calendars)
    return DueDate(count.day, extension_limit(registered_on, rule), count.provisional,
                   "+".join((*count.versions, rule.version)))


def add_months(d: date, months: int) -> date:
    """Same day `months` later, clamped to the month's end (31 Dec + 2 months -> 28/29 Feb)."""
    total = d.month - 1 + months
    year, month = d.year + total // 12, total % 12 + 1
    return date(year, month, min(d.day, _cal.monthrange(year, month)[1]))


def extension_limit(registered_on: date, rule: DeadlineRule) -> date:
    return add_months(registered_on, rule.max_extension_months)


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


def appeal_errors(a: AppealIn, registered_on: date) -> list[dict]:
    """Cross-field rules (field formats are checked by the schema); each error names its field."""
    errors: list[dict] = []

    def err(field: str, msg: str) -> None:
        errors.append({"loc": ["body", field], "msg": msg})

    if a.iin is not None and iin_birth_date_sex(a.iin)[0] > registered_on:
        err("iin", "the IIN's birth date is after the day of registration")

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
    extension_limit: date  # from the deadline rule in force at registration


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
    limit = state.extension_limit
    new_due = requested_due or limit
    if new_due > limit:
        raise TransitionRefused("extension_beyond_limit",
                                f"an extension reaches at most {limit}, as the deadline rule in force at "
                                "registration allows")
    if new_due <= state.due_date:
        raise TransitionRefused("extension_not_later", f"the extended date must be after {state.due_date}")
    return TransitionDecision(to, False, new_due)


# An upheld complaint of this category voids the visit it names (registry, financing).
VOIDING_CATEGORY = "service_not_provided"


def needs_recorded_visit(category: str | None, to: str) -> bool:
    """Whether this transition must find the disputed visit among the visits the registry recorded."""
    return to == "upheld" and category == VOIDING_CATEGORY


def check_disputed_visit(complainant_iin: str | None, recorded_iin: str | None) -> None:
    """An upheld service_not_provided complaint voids a visit, so it must name one the registry recorded at
    that clinic for the complainant. `recorded_iin`: whose visit the registry recorded under the clinic and
    visit id the complaint names, None when feedback has not learned of one (events take a moment). Raises
    TransitionRefused; the words name neither the other person nor another clinic."""
    if recorded_iin is None:
        raise TransitionRefused("disputed_visit_not_known",
                                "the visit named is not known at this clinic (yet): a visit the registry "
                                "recorded moments ago may not have reached feedback; try again shortly")
    if recorded_iin != complainant_iin:
        raise TransitionRefused("disputed_visit_not_the_complainants",
                                "the visit named is not a visit of the complainant")


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
