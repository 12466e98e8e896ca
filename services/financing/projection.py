"""Events -> projection changes, pure. Order- and duplicate-independent by construction."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from services.common.consumer import Event
from services.common.events import PatientAttached, PatientDetached, VisitRecorded


@dataclass(frozen=True)
class PersonState:
    iin: str
    clinic_id: str | None
    attached_since: date | None
    birth_date: date | None
    sex: str | None
    person_version: int


@dataclass
class BatchChanges:
    persons: dict[str, PersonState]                 # newest state per person in this batch
    visits: dict[tuple[str, str], tuple[str, date]]  # (clinic_id, visit_id) -> (iin, date)


def reduce_batch(events: list[Event]) -> BatchChanges:
    persons: dict[str, PersonState] = {}
    visits: dict[tuple[str, str], tuple[str, date]] = {}
    for e in events:
        d = e.data
        if isinstance(d, PatientAttached):
            state = PersonState(d.iin, d.clinic_id, d.effective_date, d.birth_date, d.sex, d.person_version)
        elif isinstance(d, PatientDetached):
            state = PersonState(d.iin, None, None, None, None, d.person_version)
        elif isinstance(d, VisitRecorded):
            visits[(d.clinic_id, d.visit_id)] = (d.iin, d.date)
            continue
        else:
            continue
        held = persons.get(state.iin)
        if held is None or state.person_version > held.person_version:
            persons[state.iin] = state
    return BatchChanges(persons, visits)
