"""Registry rules, pure: no I/O, no clock. Dates are arguments."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from services.common.ids import iin_problem


@dataclass(frozen=True)
class VisitIn:
    visit_id: str
    clinic_id: str
    iin: str
    date: date
    kind: str
    practitioner_id: str | None = None


def visit_errors(visit: VisitIn, *, today: date, clinic_known: bool, died_on: date | None) -> list[str]:
    """Why a visit cannot be recorded (empty when it can). Each visit is judged alone."""
    errors = []
    problem = iin_problem(visit.iin)
    if problem:
        errors.append(f"invalid_iin: {problem}")
    if not clinic_known:
        errors.append("unknown_clinic")
    if visit.date > today:
        errors.append("date_in_future")
    if died_on is not None and visit.date > died_on:
        errors.append("after_death")
    return errors
