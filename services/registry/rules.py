"""Registry rule tables (published data, services.common.rules): the attachment rules and the visit rules.

The values live in the `rule_versions` table, seeded by migration 0004 and published by the Fund's
administrators at POST /v1/rules/{table}; this module says what a version must hold and picks the
versions a request is judged by. Neither table has a year span: a version is in force until the
next one, so it is never provisional.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, PlainSerializer, PrivateAttr

from services.common.inputs import Day
from services.common.rules import EARLIEST, Dec, InForce, RuleSnapshot, RuleTable, Values, rules_fields

ATTACHMENT = "attachment"
VISITS = "visits"

Reason = Literal["choice", "address_change", "newborn", "campaign"]


def _month_day(value: object) -> tuple[int, int]:
    if not isinstance(value, str) or len(value) != 5 or value[2] != "-" \
            or not (value[:2] + value[3:]).isascii() or not (value[:2] + value[3:]).isdigit():
        raise ValueError('a day of the year as "MM-DD", such as "09-01"')
    month, day = int(value[:2]), int(value[3:])
    try:
        date(2001, month, day)  # a day every year has: 29 February is not one
    except ValueError:
        raise ValueError("not a day every year has") from None
    return month, day


# (month, day) in the code; "MM-DD" in the table and in the API.
MonthDay = Annotated[tuple[int, int], BeforeValidator(_month_day),
                     PlainSerializer(lambda md: f"{md[0]:02d}-{md[1]:02d}", return_type=str)]
Months = Annotated[int, Field(strict=True, ge=1, le=120)]
Age = Annotated[int, Field(strict=True, ge=0, le=120)]


class AttachmentValues(Values):
    # Voluntary change (свободный выбор): at most `voluntary_changes_allowed` re-attachments with a
    # limited reason whose effective dates fall within `voluntary_window_months` months.
    voluntary_window_months: Months
    voluntary_changes_allowed: Annotated[int, Field(strict=True, ge=1, le=12)]
    limited_reasons: list[Reason] = Field(max_length=4)
    # The annual campaign: requests from campaign_opens to campaign_closes (inclusive) of one year,
    # effective on campaign_effective of the next.
    campaign_opens: MonthDay
    campaign_closes: MonthDay
    campaign_effective: MonthDay
    # `newborn` is a first attachment of a child younger than this on the effective date.
    newborn_max_age_months: Annotated[int, Field(strict=True, ge=1, le=60)]
    # How many days before the day of the request a clinic's attachment may take effect; further back
    # only an admin's correction with a recorded reason. None (versions before it): no bound.
    clinic_backdate_days: Annotated[int, Field(strict=True, ge=0, le=366)] | None = None


class VisitKind(Values):
    code: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{1,40}$")]
    # Whom the kind applies to (a screening of one sex, patronage of small children): data only for
    # now, kept so that records inconsistent with the patient's sex or age can be found.
    sex: Literal["M", "F"] | None
    min_age_years: Age | None
    max_age_years: Age | None


class VisitsValues(Values):
    earliest_date: Day                # the service takes visits from this day on
    kinds: list[VisitKind] = Field(min_length=1, max_length=500)
    # The patients a PHC practitioner sees a day; volumes above it are reported.
    practitioner_daily_norm: Annotated[int, Field(strict=True, ge=1, le=500)]
    # How many days old a visit a clinic reports may be (clinics upload in batches); older ones only
    # through an admin's correction. None (versions before it): no bound but earliest_date.
    clinic_report_days: Annotated[int, Field(strict=True, ge=0, le=3660)] | None = None
    # Padded records (приписки): a practitioner's visits of a day beyond norm × tolerance are held, and
    # all of that day's once it passes norm × far_beyond. None (versions before them): no volume hold.
    practitioner_tolerance: Annotated[Dec, Field(ge=1, le=20)] | None = None
    practitioner_far_beyond: Annotated[Dec, Field(ge=1, le=100)] | None = None
    # The risk lists' turning-inactive signal: a visit landing within `turning_inactive_days` of the
    # person's previous visit growing `activity_window_days` old (financing's activity window).
    activity_window_days: Annotated[int, Field(strict=True, ge=1, le=3660)] | None = None
    turning_inactive_days: Annotated[int, Field(strict=True, ge=1, le=365)] | None = None
    # Built once when the version is read, not per request: the hot path asks it per visit.
    _codes: frozenset[str] = PrivateAttr()
    _limited: dict[str, VisitKind] = PrivateAttr()

    def model_post_init(self, _context: Any) -> None:
        self._codes = frozenset(k.code for k in self.kinds)
        self._limited = {k.code: k for k in self.kinds
                         if k.sex is not None or k.min_age_years is not None or k.max_age_years is not None}

    @property
    def codes(self) -> frozenset[str]:
        return self._codes

    @property
    def limited_kinds(self) -> dict[str, VisitKind]:
        """The kinds that apply to one sex or to some ages only, by code."""
        return self._limited


def _attachment_check(v: AttachmentValues, _effective: date) -> list[dict[str, Any]]:
    errors = []
    if len(set(v.limited_reasons)) != len(v.limited_reasons):
        errors.append({"loc": ["limited_reasons"], "msg": "a reason is listed twice"})
    if v.campaign_opens > v.campaign_closes:
        errors.append({"loc": ["campaign_closes"], "msg": "the campaign closes before it opens"})
    return errors


def _visits_check(v: VisitsValues, _effective: date) -> list[dict[str, Any]]:
    errors = []
    if v.earliest_date < EARLIEST:
        errors.append({"loc": ["earliest_date"], "msg": f"the service takes visits from {EARLIEST} on"})
    seen: set[str] = set()
    for i, k in enumerate(v.kinds):
        if k.code in seen:
            errors.append({"loc": ["kinds", i, "code"], "msg": f"{k.code} is listed twice"})
        seen.add(k.code)
        if k.min_age_years is not None and k.max_age_years is not None and k.min_age_years > k.max_age_years:
            errors.append({"loc": ["kinds", i, "max_age_years"], "msg": "max_age_years is below min_age_years"})
    if (v.practitioner_tolerance is not None and v.practitioner_far_beyond is not None
            and v.practitioner_far_beyond < v.practitioner_tolerance):
        errors.append({"loc": ["practitioner_far_beyond"], "msg": "far beyond is below the tolerance"})
    if (v.activity_window_days is not None and v.turning_inactive_days is not None
            and v.turning_inactive_days >= v.activity_window_days):
        errors.append({"loc": ["turning_inactive_days"], "msg": "not shorter than the activity window"})
    return errors


RULE_TABLES: dict[str, RuleTable] = {t.name: t for t in (
    RuleTable(ATTACHMENT, "attachment to PHC clinics: the voluntary change limit, the annual campaign's dates, "
                          "the newborn's age, how far back a clinic's attachment may take effect",
              AttachmentValues, check=_attachment_check),
    RuleTable(VISITS, "visits: the earliest date taken, the visit kinds with the sex and ages each applies to, "
                      "the practitioner's daily norm and the tolerance and far-beyond factors of the volume "
                      "hold, how many days old a visit a clinic reports may be, the turning-inactive windows",
              VisitsValues, check=_visits_check),
)}


def _in_force_or_first(snap: RuleSnapshot, table: str, on: date) -> InForce | None:
    """The version in force on a date; before the first version, the first: a date from before the
    tables (a person attached long ago) is judged by the earliest rules known, as it was before they
    were published data. None only while the table has no version."""
    found = snap.in_force(table, on)
    if found is None and snap.all(table):
        return InForce(snap.all(table)[0])
    return found


def attachment_rules(snap: RuleSnapshot, on: date) -> InForce[AttachmentValues] | None:
    """The attachment rules an attachment effective on `on` is judged by."""
    return _in_force_or_first(snap, ATTACHMENT, on)


def visit_rules(snap: RuleSnapshot, on: date) -> InForce[VisitsValues] | None:
    return _in_force_or_first(snap, VISITS, on)


@dataclass(frozen=True)
class VisitRules:
    """What a request's visits are judged by: the intake's earliest dates (the version in force today)
    and the kinds of the version in force on each visit's date."""

    earliest_date: date | None                   # None: no version published, nothing is taken
    kinds_on: dict[date, frozenset[str]]         # every date of the request
    fields: dict[str, Any]                       # rules_version... of the versions used
    clinic_earliest: date | None = None          # the oldest visit a clinic may report today (None: no bound)
    limited_on: dict[date, dict[str, VisitKind]] = field(default_factory=dict)   # every date of the request
    # The intake's volume hold (the version in force today): visits of a practitioner's day beyond
    # `volume_limit` are held, all of the day's beyond `volume_far`. None: no volume hold.
    volume_limit: int | None = None
    volume_far: int | None = None


def visit_rules_for(snap: RuleSnapshot, today: date, dates: Iterable[date]) -> VisitRules:
    """One lookup per distinct date of the request, not per visit."""
    intake = visit_rules(snap, today)
    used: dict[str, InForce[VisitsValues]] = {}
    kinds_on: dict[date, frozenset[str]] = {}
    limited_on: dict[date, dict[str, VisitKind]] = {}
    for d in set(dates):
        found = visit_rules(snap, d)
        kinds_on[d] = found.values.codes if found else frozenset()
        limited_on[d] = found.values.limited_kinds if found else {}
        if found:
            used[found.version.version] = found
    if intake is not None:
        used[intake.version.version] = intake
    ordered = sorted(used.values(), key=lambda u: u.version.effective_from)
    days = intake.values.clinic_report_days if intake else None
    limit, far = volume_limits(intake.values) if intake else (None, None)
    return VisitRules(intake.values.earliest_date if intake else None, kinds_on, rules_fields(*ordered),
                      None if days is None else today - timedelta(days=days), limited_on, limit, far)


def volume_limits(v: VisitsValues) -> tuple[int | None, int | None]:
    """(the visits of a practitioner's day beyond which each is held, beyond which all are held), whole
    visits (norm × factor, rounded down); None where the version sets no factor."""
    norm = v.practitioner_daily_norm
    return (None if v.practitioner_tolerance is None else int(norm * v.practitioner_tolerance),
            None if v.practitioner_far_beyond is None else int(norm * v.practitioner_far_beyond))


# ---------------------------------------------------------------- confirmations

CONFIRMATIONS = "confirmations"
Share = Annotated[Dec, Field(ge=0, le=1)]


class ConfirmationValues(Values):
    """Patients confirm a sample of their visits (services/registry/confirmations.py): the share of
    recorded visits asked, by what is known of the clinic, the practitioner and the visit at intake."""
    base_rate: Share
    # A clinic (a practitioner) is flagged when a visit of theirs dated in the `flag_window_days` before
    # the day of intake is held or voided (cleared ones do not count: they were false alarms).
    flagged_clinic_rate: Share
    flagged_practitioner_rate: Share
    held_rate: Share                  # a visit held at intake
    flag_window_days: Annotated[int, Field(strict=True, ge=1, le=366)]
    code_valid_days: Annotated[int, Field(strict=True, ge=1, le=90)]
    # The hold reasons a patient's confirmation clears (what the patient can witness); a visit held for
    # any other reason stays held for an operator, the confirmation recorded.
    confirmation_clears: list[Annotated[str, Field(pattern=r"^[a-z][a-z_]{1,40}$")]] = Field(max_length=20)
    # Wrong codes one client address may try in a window before its answers are refused (429) until the
    # window ends: a code has 128 random bits, this keeps guessing from loading the service.
    wrong_codes_allowed: Annotated[int, Field(strict=True, ge=1, le=10_000)]
    wrong_codes_window_minutes: Annotated[int, Field(strict=True, ge=1, le=1440)]


def _confirmations_check(v: ConfirmationValues, _effective: date) -> list[dict[str, Any]]:
    errors = []
    if v.flagged_clinic_rate < v.base_rate:
        errors.append({"loc": ["flagged_clinic_rate"], "msg": "below the base rate"})
    if v.flagged_practitioner_rate < v.flagged_clinic_rate:
        errors.append({"loc": ["flagged_practitioner_rate"], "msg": "below the flagged clinic's rate"})
    return errors


RULE_TABLES[CONFIRMATIONS] = RuleTable(
    CONFIRMATIONS, "patients confirming visits: the share of recorded visits asked (base, at a flagged clinic, of a "
                   "flagged practitioner, held at intake), the window that flags, how long a code is good, the "
                   "hold reasons a confirmation clears, the wrong codes a client may try", ConfirmationValues, check=_confirmations_check)


def confirmation_rules(snap: RuleSnapshot, on: date) -> InForce[ConfirmationValues] | None:
    """The confirmations rules in force on the day of intake; None before the table's first version
    (then no visit is asked)."""
    return snap.in_force(CONFIRMATIONS, on)
