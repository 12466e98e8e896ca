"""Events -> projection changes, pure: folds a batch into each person's history and turns a person's
history into what it adds to the per-clinic calendars. No I/O, no clock.

A person's history is kept whole (every attachment version, the newest insured timeline, every
non-voided visit day), so the result does not depend on the order events arrive in, and an event seen
twice changes nothing. Days are proleptic ordinals (date.toordinal()) for speed. Events are read into
tuples of the fields the projection uses (`read_event`: natively, native/src/events.rs, with the event
models as fallback).

From a history, the native core (native/src/person.rs and deltas.rs, through `deltas()`) derives:
- day deltas: on each day the person's (clinic, active, insured) changes, -1 from the old clinic's
  counts and +1 to the new one's: the counts of any date are the sum of deltas up to it;
- month deltas: the same for the full cell (age band, sex, active, insured) sampled on the first day
  of each month, which is the day the monthly amount is counted on.
The store adds the difference between a person's timeline before and after a batch (Deltas.diff,
which computes both only between the days where the two part and where they meet again).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from services.common.consumer import Event
from services.common.events import (AppealResolved, ClinicRegistered, ContributionPaid, EventData, PatientAttached,
                                    PatientDetached, VisitCleared, VisitHeld, VisitRecorded, decode)
from services.common.native import osms_native
from services.financing.domain import ACTIVITY_WINDOW_DAYS, AGE_BAND_BOUNDS, band_of

VOIDING_CATEGORY = "service_not_provided"


# A person's whole history (native: osms_native.PersonState): birth (ordinal) and sex; versions,
# {person_version: (clinic_id or None for a detachment, effective day)}; status_version and insured,
# the newest insured timeline [(from, until + 1)]; visits, the non-voided visit days, sorted,
# repeats kept. PersonState.loads / .dumps read and write fin_persons.history (JSON); == compares.
PersonState = osms_native.PersonState


# --- reading events --------------------------------------------------------------------------------
# What the projection reads of an event, as a tuple whose first item names its kind (days as ordinals):
#   (VISIT, clinic_id, visit_id, iin, day, held at intake)
#   (ATTACHED, iin, person_version, clinic_id, effective day, birth day, sex)
#   (DETACHED, iin, person_version, day)
#   (STATUS, iin, status_version, [(from, until + 1)] of insured_periods)
#   (RESOLVED, status, category, clinic_id, visit_id)
#   (CLINIC, clinic_id, clinic_version, region, name, settlement)
#   (INTEGRITY, clinic_id, visit_id, iin, day, integrity_version, held): visit-held (held, or voided for
#   good) and visit-cleared
VISIT, ATTACHED, DETACHED, STATUS, RESOLVED, CLINIC, INTEGRITY = range(7)




def read_event(payload: bytes, topic: str) -> tuple:
    """The projection's tuple of a message on `topic`; ValueError when it is malformed. The native
    fast path (native/src/events.rs) reads canonical events and checks them as the pydantic models
    would; whatever it does not take is decoded by the models."""
    fast = osms_native.financing_event(topic, payload)
    if fast is not None:
        return fast
    return reading_of(decode(payload, topic)[1])


def decode_for_consumer(payload: bytes, topic: str) -> tuple[None, tuple]:
    """The consumer's decoder (BatchConsumer's `decode`): no envelope, the projection's tuple."""
    return None, read_event(payload, topic)


_INT64 = range(-(2**63), 2**63)


def reading_of(d: EventData) -> tuple:
    """The projection's tuple of a decoded event. A version beyond 64 bits, which the models take and
    the stored history cannot hold, makes the event malformed (ValueError), not a batch that fails."""
    t = type(d)
    for name in ("person_version", "status_version", "clinic_version"):
        if getattr(d, name, 0) not in _INT64:
            raise ValueError(f"{name} is beyond 64 bits")
    if t is VisitRecorded:
        return (VISIT, d.clinic_id, d.visit_id, d.iin, d.date.toordinal(), d.integrity == "held")
    if t is VisitHeld or t is VisitCleared:
        if d.integrity_version not in _INT64:
            raise ValueError("integrity_version is beyond 64 bits")
        return (INTEGRITY, d.clinic_id, d.visit_id, d.iin, d.date.toordinal(), d.integrity_version, t is VisitHeld)
    if t is PatientAttached:
        return (ATTACHED, d.iin, d.person_version, d.clinic_id, d.effective_date.toordinal(),
                d.birth_date.toordinal(), d.sex)
    if t is PatientDetached:
        return (DETACHED, d.iin, d.person_version, d.date.toordinal())
    if t is ContributionPaid:
        return (STATUS, d.iin, d.status_version,
                [(x.from_.toordinal(), x.until.toordinal() + 1) for x in d.insured_periods])
    if t is AppealResolved:
        return (RESOLVED, d.status, d.category, d.clinic_id, d.visit_id)
    if t is ClinicRegistered:
        return (CLINIC, d.clinic_id, d.clinic_version, d.region, d.name, d.settlement)
    raise ValueError(f"the financing projection does not read {t.__name__} events")


@dataclass
class PersonChanges:
    """What one batch says about one person (before visit de-duplication by the store)."""

    birth: int | None = None
    sex: str | None = None
    versions: dict[int, tuple[str | None, int]] = field(default_factory=dict)
    status_version: int = 0
    insured: list[tuple[int, int]] = field(default_factory=list)


@dataclass
class BatchChanges:
    persons: dict[str, PersonChanges]
    # (clinic_id, visit_id) -> (iin, day): the first one seen in the batch; duplicates are the same visit
    visits: dict[tuple[str, str], tuple[str, int]]
    voids: set[tuple[str, str]]                # (clinic_id, visit_id) of upheld service_not_provided
    clinics: set[str]                          # every clinic the batch names
    # clinic_id -> (clinic_version, region, name, settlement): the newest clinic-registered in the batch
    references: dict[str, tuple[int, str, str, str]] = field(default_factory=dict)
    held_at_intake: set[tuple[str, str]] = field(default_factory=set)   # visits recorded `integrity: held`
    # (clinic_id, visit_id) -> (iin, day, integrity_version, held): the newest visit-held / visit-cleared
    integrity: dict[tuple[str, str], tuple[str, int, int, bool]] = field(default_factory=dict)


def reduce_batch(events: list[Event]) -> BatchChanges:
    persons: dict[str, PersonChanges] = {}
    visits: dict[tuple[str, str], tuple[str, int]] = {}
    voids: set[tuple[str, str]] = set()
    clinics: set[str] = set()
    references: dict[str, tuple[int, str, str, str]] = {}
    held_at_intake: set[tuple[str, str]] = set()
    integrity: dict[tuple[str, str], tuple[str, int, int, bool]] = {}

    def person(iin: str) -> PersonChanges:
        p = persons.get(iin)
        if p is None:
            p = persons[iin] = PersonChanges()
        return p

    for e in events:
        r: Any = e.data if type(e.data) is tuple else reading_of(e.data)
        kind = r[0]
        if kind == VISIT:
            _, clinic_id, visit_id, iin, day, held_now = r
            visits.setdefault((clinic_id, visit_id), (iin, day))
            if held_now:
                held_at_intake.add((clinic_id, visit_id))
            clinics.add(clinic_id)
        elif kind == INTEGRITY:
            _, clinic_id, visit_id, iin, day, version, held_now = r
            seen = integrity.get((clinic_id, visit_id))
            if seen is None or version > seen[2]:
                integrity[(clinic_id, visit_id)] = (iin, day, version, held_now)
            clinics.add(clinic_id)
        elif kind == ATTACHED:
            _, iin, version, clinic_id, effective, birth, sex = r
            p = person(iin)
            p.versions[version] = (clinic_id, effective)
            p.birth, p.sex = birth, sex
            clinics.add(clinic_id)
        elif kind == DETACHED:
            person(r[1]).versions[r[2]] = (None, r[3])
        elif kind == STATUS:
            p = person(r[1])
            if r[2] > p.status_version:
                p.status_version, p.insured = r[2], r[3]
        elif kind == RESOLVED:
            _, status, category, clinic_id, visit_id = r
            if status == "upheld" and category == VOIDING_CATEGORY and clinic_id and visit_id:
                voids.add((clinic_id, visit_id))
        elif kind == CLINIC:
            _, clinic_id, version, region, name, settlement = r
            held = references.get(clinic_id)
            if held is None or version > held[0]:
                references[clinic_id] = (version, region, name, settlement)
    return BatchChanges(persons, visits, voids, clinics, references, held_at_intake, integrity)


def fold(state: PersonState, iin: str, changes: PersonChanges | None,
         added_visits: list[int], removed_visits: list[int]) -> PersonState:
    """The person's history after this batch. A version already held is the same event again;
    a lower status_version is stale and dropped; a person only visits have met gets the birth date
    and sex their IIN encodes."""
    return state.fold(iin, changes, added_visits, removed_visits)


# --- timeline: the native core ---------------------------------------------------------------------
# Everything a history adds to the calendars, and the difference of that between two histories, is
# computed by native/src/deltas.rs (Rust): the arithmetic of every event, the largest share of the
# consumer's CPU when it was Python. Its inputs are the rule table's window and age bands, given here.

_BAND_BY_AGE = [band_of(age) for age in range(AGE_BAND_BOUNDS[-1] + 1)]


def deltas() -> osms_native.Deltas:
    """A batch's calendar deltas, empty. `diff(old, new)` adds timeline(new) - timeline(old) of a
    PersonState, computing both only between where their daily states part and where they meet
    again; `timeline(state, sign=1)` adds a whole timeline; `count_columns(numbers)` gives the rows to add
    to fin_counts as sorted columns (clinic numbers from `numbers`, bucket days as ordinals), and
    `count_arrays(numbers)` and `cell_arrays(numbers)` those of fin_counts and fin_cells as (rows, the
    text of an array literal per column); `cell_vectors()` gives the fin_cells rows as lists,
    and `days()` and `months()` the non-zero deltas by (clinic_id, day) and (clinic_id, month-start
    day, cell)."""
    return osms_native.Deltas(ACTIVITY_WINDOW_DAYS, _BAND_BY_AGE, list(AGE_BAND_BOUNDS[1:]))


State = tuple[str, bool, bool] | None     # (clinic, active, insured) while attached


def daily_states(state: PersonState) -> list[tuple[int, State]]:
    """[(from day, state)]: the person's state changes, in day order (before the first: None)."""
    return osms_native.daily_states_of(state, ACTIVITY_WINDOW_DAYS)
