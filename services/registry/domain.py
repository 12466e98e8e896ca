"""Registry rules, pure: attachment decisions and visit checks. No I/O, no clock: dates are arguments.

Rule values (windows, campaign dates, visit kinds, the norm) are published versions
(services.registry.rules): the route picks the version in force and hands it here, so a new order
of the Ministry is a new version, not an edit of the code.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any, NamedTuple

from services.common.ids import iin_birth_date_sex, iin_problem_on
from services.common.rules import InForce
from services.registry.rules import AttachmentValues, Reason, VisitKind, VisitRules


def add_months(d: date, months: int) -> date:
    """The same day `months` later, clamped to the month's end (29 Feb + 12 months = 28 Feb)."""
    y, m = divmod(d.month - 1 + months, 12)
    year, month = d.year + y, m + 1
    for day in (d.day, 30, 29, 28):
        try:
            return date(year, month, min(d.day, day))
        except ValueError:
            continue
    raise AssertionError("unreachable")


# ---------------------------------------------------------------- attachment

@dataclass(frozen=True)
class AttachmentRecord:
    """One row of a person's attachment history."""
    attachment_id: str
    clinic_id: str
    previous_clinic_id: str | None
    reason: str
    effective_date: date
    ended_on: date | None = None
    rules_version: str = ""  # the attachment rules it was accepted under
    requested_by: str = ""   # role:key_id of the key that asked for it
    backdate_reason: str | None = None  # an admin's reason for an effective date past the clinics' bound


@dataclass(frozen=True)
class AttachmentRequest:
    iin: str
    clinic_id: str
    reason: Reason
    effective_date: date


@dataclass(frozen=True)
class Attach:
    """Accept: a new attachment; `previous_clinic_id` is detached on the effective date."""
    previous_clinic_id: str | None
    rules_version: str


@dataclass(frozen=True)
class Replay:
    """The same request was accepted before: answer with it again, change nothing."""
    attachment: AttachmentRecord


@dataclass(frozen=True)
class Refusal:
    """A rule forbids the request. `detail` is in words that disclose nothing about another party (a
    clinic may read it); `facts` are the other parties' dates, for admins only."""
    rule: str
    detail: str
    facts: dict[str, Any] = field(default_factory=dict)
    status: int = 409                        # 422: the request itself is invalid
    loc: tuple[str, ...] | None = None       # the field at fault, for a 422


@dataclass(frozen=True)
class Backdating:
    """How far back the caller's attachment may take effect: `bound_days` before the day of the request
    (the attachment rules in force that day; None: no bound). An admin may go further (`correction`),
    with a `reason` that is recorded with the attachment."""
    bound_days: int | None
    correction: bool = False
    reason: str | None = None


def backdate_refusal(effective: date, today: date, backdating: Backdating) -> Refusal | None:
    """None when the effective date is within the caller's reach (exactly `bound_days` back is)."""
    bound = backdating.bound_days
    if bound is None or (today - effective).days <= bound:
        return None
    if not backdating.correction:
        return Refusal("clinic_backdate_limit", f"a clinic's attachment takes effect at most {bound} days before "
                                                "the day of the request; an earlier date is an admin's correction")
    if not backdating.reason:
        return Refusal("backdate_reason_required", f"an attachment effective more than {bound} days before the day "
                                                   "of the request needs a backdate_reason",
                       status=422, loc=("body", "backdate_reason"))
    return None


def judge_attachment(req: AttachmentRequest, *, rules: InForce[AttachmentValues], history: list[AttachmentRecord],
                     died_on: date | None, clinic_known: bool, today: date,
                     backdating: Backdating = Backdating(None)) -> Attach | Replay | Refusal:
    """Decides an attachment request from the person's history (oldest first) and state, by the
    attachment rules in force on the requested effective date (the numbers below are the 2020 version's)
    and the caller's backdating bound (the version in force on the day of the request).

    Decisions taken here (the law leaves them open):
    - A repeat of an accepted request (same clinic, reason and effective date as an attachment in
      the history) is answered with that attachment again, even after later changes or a death.
    - The rules that need nothing of the person's record (the IIN's birth date, the clinic, the
      backdating bound, the campaign, the newborn's age) are judged before those that do, so that a
      refusal tells as little as it can about a person's other attachments or death.
    - A *change* is an attachment while the person is attached to another clinic; a first
      attachment is never a change. Only `choice` changes are limited: a `choice` change is
      refused while an earlier `choice` change took effect less than 12 months before the
      requested effective date (exactly 12 months later is allowed).
    - The effective date may not precede the current attachment's (history is not rewritten),
      nor the birth date (the IIN is invalid for it: 422); only `campaign` may lie in the future
      (the campaign takes effect on 1 January), others take effect at once.
    - `campaign`: requested from 1 September to 1 November (inclusive, by the registry's
      date of the request) and effective 1 January of the next year.
    - `newborn`: only a first attachment, of a child under 12 months on the effective date.
    """
    for past in history:
        if (past.clinic_id, past.reason, past.effective_date) == (req.clinic_id, req.reason, req.effective_date):
            return Replay(past)
    problem = iin_problem_on(req.iin, req.effective_date)
    if problem:
        return Refusal("iin_born_after_date", problem, status=422, loc=("body", "iin"))
    if not clinic_known:
        return Refusal("unknown_clinic", f"clinic {req.clinic_id} is not registered")
    refusal = backdate_refusal(req.effective_date, today, backdating)
    if refusal:
        return refusal
    values = rules.values
    birth, _ = iin_birth_date_sex(req.iin)
    if req.reason == "campaign":
        refusal = _campaign_refusal(req.effective_date, today, values)
        if refusal:
            return refusal
    elif req.effective_date > today:
        return Refusal("effective_date_in_future", "only a campaign attachment may take effect later; "
                                                   "others take effect at once")
    if req.reason == "newborn" and req.effective_date >= add_months(birth, values.newborn_max_age_months):
        return Refusal("newborn_too_old", f"the child is {values.newborn_max_age_months} months "
                                          "or older on the effective date")
    # From here on the person's record decides: the words name the rule, the facts stay for admins.
    if died_on is not None:
        return Refusal("person_deceased", "the person cannot be attached on this date", {"died_on": died_on})
    current = history[-1] if history else None
    if current is not None and current.clinic_id == req.clinic_id:
        return Refusal("already_attached", "the person is already attached to this clinic",
                       {"attached_since": current.effective_date})
    if current is not None and req.effective_date < current.effective_date:
        return Refusal("effective_date_before_current",
                       "the effective date is before the person's current attachment took effect; "
                       "an earlier date would rewrite history",
                       {"current_clinic_id": current.clinic_id, "current_since": current.effective_date})
    if req.reason == "newborn" and history:
        return Refusal("newborn_not_first_attachment", "reason newborn is for a first attachment only")
    if req.reason in values.limited_reasons and current is not None:
        # Counted forward from each earlier change, so 29 Feb frees the next change on 28 Feb.
        recent = [a for a in history if a.reason in values.limited_reasons and a.previous_clinic_id is not None
                  and req.effective_date < add_months(a.effective_date, values.voluntary_window_months)]
        if len(recent) >= values.voluntary_changes_allowed:
            last = max(a.effective_date for a in recent)
            return Refusal("voluntary_change_limit",
                           f"the person changed clinic by choice less than {values.voluntary_window_months} "
                           "months before the effective date",
                           {"last_change": last, "next_allowed_from": add_months(last, values.voluntary_window_months)})
    return Attach(previous_clinic_id=current.clinic_id if current else None, rules_version=rules.version.version)


def _campaign_refusal(effective: date, today: date, rules: AttachmentValues) -> Refusal | None:
    if (effective.month, effective.day) != rules.campaign_effective:
        m, d = rules.campaign_effective
        return Refusal("campaign_effective_date", f"a campaign attachment takes effect on {d:02d}.{m:02d}")
    opens = date(effective.year - 1, *rules.campaign_opens)
    closes = date(effective.year - 1, *rules.campaign_closes)
    if not opens <= today <= closes:
        return Refusal("campaign_closed", f"the campaign for {effective} takes requests from {opens} to {closes}")
    return None


def current_on(history: list[AttachmentRecord], on: date) -> AttachmentRecord | None:
    """The attachment in force on a date (a campaign attachment waits for its 1 January)."""
    for a in reversed(history):
        if a.effective_date <= on and (a.ended_on is None or a.ended_on > on):
            return a
    return None


# ---------------------------------------------------------------- death

@dataclass(frozen=True)
class DeathRefusal:
    status: int
    rule: str
    detail: str


def judge_death(iin: str, died_on: date, *, recorded: date | None, today: date) -> DeathRefusal | None:
    """None when the death may be recorded (or is the same one again); a refusal otherwise."""
    if died_on > today:
        return DeathRefusal(422, "death_in_future", "the date of death is in the future")
    birth, _ = iin_birth_date_sex(iin)
    if died_on < birth:
        return DeathRefusal(422, "death_before_birth", "the date of death is before the birth date")
    if recorded is not None and recorded != died_on:
        return DeathRefusal(409, "death_already_recorded", f"a death on {recorded} is already recorded")
    return None


# ---------------------------------------------------------------- visits

class VisitIn(NamedTuple):
    """A visit as pushed (a plain tuple: a request carries up to 1,000)."""

    visit_id: str
    clinic_id: str
    iin: str
    date: date
    kind: str
    practitioner_id: str | None = None


VISIT_AFTER_DEATH = "visit_after_death"


def visit_errors(visit: VisitIn, *, today: date, clinic_known: bool, rules: VisitRules,
                 correction: bool = False) -> list[str]:
    """Why a visit cannot be recorded (empty when it can), by what the request itself shows: the
    person's record (a death) is judged apart, by after_death, and only for a visit nothing here
    rejects. Each visit is judged alone: its kind by the visit rules in force on its date, its date
    by the earliest date taken today and, unless it is an admin's `correction`, by the clinic's
    reporting window.

    Records no real clinic could produce (in the future, after death, before birth, before 2020)
    are rejected so that they never count towards a person's activity."""
    errors = []
    problem = iin_problem_on(visit.iin, visit.date)
    if problem:
        errors.append(f"invalid_iin: {problem}")
    if not clinic_known:
        errors.append("unknown_clinic")
    if visit.kind not in rules.kinds_on[visit.date]:
        errors.append("unknown_kind")
    if visit.date > today:
        errors.append("date_in_future")
    if rules.earliest_date is None or visit.date < rules.earliest_date:
        errors.append("date_too_old")
    elif not correction and rules.clinic_earliest is not None and visit.date < rules.clinic_earliest:
        errors.append("report_window_passed")
    return errors


def after_death(visit: VisitIn, died_on: date | None) -> bool:
    """A visit after the person's death (the day of death still counts). Its rejection names the rule
    by VISIT_AFTER_DEATH alone, without a date; it is judged last, for a new visit nothing else
    rejects (store.record_visits), so a clinic trying dates pays for each try before the death with a
    recorded visit, within its reporting window only."""
    return died_on is not None and visit.date > died_on


# ---------------------------------------------------------------- integrity (padded records)
CLEAR, HELD, VOID = "clear", "held", "void"      # a recorded visit's integrity states
# Why a recorded visit is held; the codes are part of the API (results, events, the review's filter).
KIND_SEX = "kind_sex"                      # a kind for the other sex (a man's cervical screening)
KIND_AGE = "kind_age"                      # a kind outside its ages (an adult's newborn patronage)
PRACTITIONER_VOLUME = "practitioner_volume"  # beyond the practitioner's daily norm × tolerance
AFTER_DEATH = "after_death"                # dated after a death registered later
REPEATED_VISIT = "repeated_visit"          # the same person, clinic, kind and day under another visit id
PATIENT_DENIED = "patient_denied"          # the patient denied it, answering a confirmation request
COMPLAINT_UPHELD = "complaint_upheld"      # a service_not_provided complaint upheld (then voided)
HOLD_REASONS = (KIND_SEX, KIND_AGE, PRACTITIONER_VOLUME, AFTER_DEATH, REPEATED_VISIT, PATIENT_DENIED,
                COMPLAINT_UPHELD)


def age_on(birth: date, on: date) -> int:
    """Whole years of age on a date."""
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def kind_reasons(iin: str, on: date, kind: VisitKind | None) -> list[str]:
    """Why a visit of this kind cannot be this person's: the IIN's sex against the kind's, the age on
    the visit's date against the kind's ages (both bounds inclusive). `kind`: None for a kind that
    applies to everyone (most visits: nothing to compute)."""
    if kind is None:
        return []
    birth, sex = iin_birth_date_sex(iin)
    reasons = []
    if kind.sex is not None and kind.sex != sex:
        reasons.append(KIND_SEX)
    if kind.min_age_years is not None or kind.max_age_years is not None:
        age = age_on(birth, on)
        if (kind.min_age_years is not None and age < kind.min_age_years) or \
                (kind.max_age_years is not None and age > kind.max_age_years):
            reasons.append(KIND_AGE)
    return reasons


PractitionerDay = tuple[str, date, str]     # (clinic_id, date, practitioner_id)


def volume_held(before: int, new: int, limit: int | None, far: int | None) -> tuple[range, bool]:
    """A practitioner's day that held `before` visits and gains `new` (in order): (the positions among
    the new ones, from 0, that are held: those numbered beyond `limit` in the day, or all of them once
    the day is beyond `far`; whether the day's earlier visits become held too: the day has just gone
    beyond `far`)."""
    total = before + new
    if far is not None and total > far:
        return range(new), before <= far and before > 0
    if limit is None or total <= limit:
        return range(0), False
    return range(max(0, limit - before), new), False


def intake_holds(visits: list[VisitIn], rules: VisitRules, *, day_counts: dict[PractitionerDay, int],
                 repeated: set[int]) -> tuple[dict[int, list[str]], list[PractitionerDay]]:
    """The intake's checks of newly recorded visits (in the order the clinic sent them): ({position:
    reasons} of those held, the practitioner's days whose earlier visits become held too).
    `day_counts`: the visits recorded before these on each practitioner's day that these may take
    beyond the volume limit (a day not named cannot: the store asks only for those); `repeated`: the
    positions of visits repeating the person, clinic, kind and day of a visit recorded before or sent
    earlier under another id (found by the store's query on the person-day index: the first stays clear,
    the later ones are held). Pure: the store gathers both."""
    held: dict[int, list[str]] = {}
    limited = rules.limited_on
    for i, v in enumerate(visits):
        kind = limited.get(v.date, _NONE).get(v.kind)
        if kind is not None:
            reasons = kind_reasons(v.iin, v.date, kind)
            if reasons:
                held[i] = reasons
    whole_days = []
    if day_counts:       # most requests keep every practitioner's day within the norm: nothing to count
        by_day: dict[PractitionerDay, list[int]] = {}
        for i, v in enumerate(visits):
            if v.practitioner_id is not None and (day := (v.clinic_id, v.date, v.practitioner_id)) in day_counts:
                by_day.setdefault(day, []).append(i)
        for day, positions in by_day.items():
            over, whole = volume_held(day_counts[day], len(positions), rules.volume_limit, rules.volume_far)
            for k in over:
                held.setdefault(positions[k], []).append(PRACTITIONER_VOLUME)
            if whole:
                whole_days.append(day)
    for i in sorted(repeated):
        held.setdefault(i, []).append(REPEATED_VISIT)
    return held, whole_days


_NONE: dict = {}


def share(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def risk_score(visits: int, turning_inactive: int, region_turning_share: float,
               denial_rate: float | None = None) -> float:
    """How much of a clinic's (or practitioner's) counting visits look padded, for ranking, never for a
    hold: the share of its visits that land just before the person would turn inactive, beyond the
    region's share of such visits, plus the patients' denial rate among confirmations once those exist.
    Held visits are out of the money already and are listed beside it, not in it."""
    excess = max(0.0, share(turning_inactive, visits) - region_turning_share)
    return round(excess + (denial_rate or 0.0), 4)
