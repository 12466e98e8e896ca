"""A brute-force reference for financing figures: evaluates each person directly from the events on the
asked date, with none of the projection's calendars, so tests can compare the two; and the amount of
people by cell from a capitation version's published values (JSON), line by line."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from services.common.events import (AppealResolved, ContributionPaid, EventData, PatientAttached,
                                    PatientDetached, VisitCleared, VisitHeld, VisitRecorded)
from services.common.money import to_money
from services.financing import domain


@dataclass
class OracleFigures:
    attached: int
    active: int
    insured: int
    cells: dict[int, int]      # on the first of the date's month


def _person_clinic(versions: dict[int, tuple[str | None, date]], on: date) -> str | None:
    effective = [(v, c) for v, (c, d) in versions.items() if d <= on]
    return max(effective)[1] if effective else None


def figures(events: list[EventData], clinic_id: str, on: date) -> OracleFigures:
    versions: dict[str, dict[int, tuple[str | None, date]]] = {}
    birth: dict[str, tuple[date, str]] = {}
    visits: dict[tuple[str, str], tuple[str, date]] = {}
    voided: set[tuple[str, str]] = set()
    # (clinic_id, visit_id) -> (integrity_version, held): the newest; visit-recorded is version 0
    integrity: dict[tuple[str, str], tuple[int, bool]] = {}
    status: dict[str, ContributionPaid] = {}
    for e in events:
        if isinstance(e, (VisitRecorded, VisitHeld, VisitCleared)):
            version, held = (0, e.integrity == "held") if isinstance(e, VisitRecorded) else \
                (e.integrity_version, isinstance(e, VisitHeld))
            key = (e.clinic_id, e.visit_id)
            if key not in integrity or integrity[key][0] < version:
                integrity[key] = (version, held)
        if isinstance(e, PatientAttached):
            versions.setdefault(e.iin, {})[e.person_version] = (e.clinic_id, e.effective_date)
            birth[e.iin] = (e.birth_date, e.sex)
        elif isinstance(e, PatientDetached):
            versions.setdefault(e.iin, {})[e.person_version] = (None, e.date)
        elif isinstance(e, VisitRecorded):
            visits.setdefault((e.clinic_id, e.visit_id), (e.iin, e.date))
        elif isinstance(e, ContributionPaid):
            if e.iin not in status or status[e.iin].status_version < e.status_version:
                status[e.iin] = e
        elif isinstance(e, AppealResolved) and e.status == "upheld" and e.category == "service_not_provided":
            voided.add((e.clinic_id, e.visit_id))
    days: dict[str, list[date]] = {}
    for key, (iin, d) in visits.items():
        if key not in voided and not integrity[key][1]:
            days.setdefault(iin, []).append(d)

    def active(iin: str, d: date) -> bool:
        return any(d - timedelta(days=domain.ACTIVITY_WINDOW_DAYS) < v <= d for v in days.get(iin, []))

    def insured(iin: str, d: date) -> bool:
        s = status.get(iin)
        return bool(s) and any(p.from_ <= d <= p.until for p in s.insured_periods)

    first = on.replace(day=1)
    out = OracleFigures(0, 0, 0, {})
    cells: Counter[int] = Counter()
    for iin, vs in versions.items():
        if _person_clinic(vs, on) == clinic_id:
            out.attached += 1
            out.active += active(iin, on)
            out.insured += insured(iin, on)
        if _person_clinic(vs, first) == clinic_id:
            b, sex = birth[iin]
            band = domain.band_of(domain.age_on(b, first))
            cells[domain.cell_of(band, sex, active(iin, first), insured(iin, first))] += 1
    out.cells = dict(cells)
    return out


def amount(values: dict[str, Any], settlement: str | None, cells: dict[int, int]) -> Decimal:
    """The month's amount: per cell, people x the settlement's base rate (urban when not known) x the
    age-sex coefficient, x the activity coefficient when inactive and the insurance coefficient when
    uninsured; each line rounded to the tiyn as tenge are (services.common.money.to_money, half up)."""
    rate = Decimal(values["base_rate"]["rural" if settlement == "rural" else "urban"])
    total = Decimal("0.00")
    for cell, people in cells.items():
        c = domain.decode_cell(cell)
        pair = values["age_sex_coefficients"][c.band]
        factor = Decimal(pair["female" if c.sex == "F" else "male"])
        if not c.active:
            factor *= Decimal(values["activity_coefficient"])
        if not c.insured:
            factor *= Decimal(values["insurance_coefficient"])
        total += to_money(people * rate * factor)
    return total
