"""Builds the events the financing service consumes, and publishes them straight to this run's topics
(as the other services' outbox relays would: idempotent producer, key = IIN)."""
from __future__ import annotations

import random
from datetime import date, timedelta

from aiokafka import AIOKafkaProducer

from services.common.events import (AppealResolved, ClinicRegistered, ContributionPaid, EventData, InsuredPeriod,
                                    PatientAttached, PatientDetached, VisitCleared, VisitHeld, VisitRecorded,
                                    new_event)
from services.common.ids import iin_birth_date_sex
from services.common.settings import get_settings
from tests.support.inproc import eventually

TOPIC_OF = {PatientAttached: "patient-attached", PatientDetached: "patient-detached",
            VisitRecorded: "visit-recorded", ContributionPaid: "contribution-paid",
            AppealResolved: "appeal-resolved", ClinicRegistered: "clinic-registered",
            VisitHeld: "visit-held", VisitCleared: "visit-cleared"}


def attached(iin: str, clinic: str, on: date, version: int, reason: str = "choice") -> PatientAttached:
    born, sex = iin_birth_date_sex(iin)
    return PatientAttached(attachment_id=f"A-{iin}-{version}", iin=iin, clinic_id=clinic, reason=reason,
                           effective_date=on, birth_date=born, sex=sex, person_version=version)


def detached(iin: str, clinic: str, on: date, version: int) -> PatientDetached:
    return PatientDetached(iin=iin, clinic_id=clinic, date=on, reason="death", person_version=version)


def visit(iin: str, clinic: str, visit_id: str, on: date) -> VisitRecorded:
    return VisitRecorded(clinic_id=clinic, visit_id=visit_id, iin=iin, date=on, kind="consultation")


def held(iin: str, clinic: str, visit_id: str, on: date, version: int, voided: bool = False) -> VisitHeld:
    return VisitHeld(clinic_id=clinic, visit_id=visit_id, iin=iin, date=on, reasons=["kind_sex"],
                     integrity_version=version, voided=voided)


def cleared(iin: str, clinic: str, visit_id: str, on: date, version: int) -> VisitCleared:
    return VisitCleared(clinic_id=clinic, visit_id=visit_id, iin=iin, date=on, integrity_version=version)


def paid(iin: str, version: int, periods: list[tuple[date, date]]) -> ContributionPaid:
    last = periods[-1][1] if periods else None
    return ContributionPaid(iin=iin, payer_kind="self", covered_months=[], status="insured", reason="paid",
                            status_as_of=date(2026, 1, 1), insured_until=last, last_covered_month=None,
                            status_version=version,
                            insured_periods=[InsuredPeriod(**{"from": f, "until": u}) for f, u in periods])


def upheld(clinic: str, visit_id: str, category: str = "service_not_provided", status: str = "upheld",
           appeal_id: str = "AP-1") -> AppealResolved:
    return AppealResolved(appeal_id=appeal_id, registration_number=f"R-{appeal_id}", kind="complaint",
                          category=category, status=status, region="kyzylorda", clinic_id=clinic,
                          visit_id=visit_id, resolved_on=date(2026, 3, 1))


def clinic(clinic_id: str, region: str, settlement: str, version: int = 1) -> ClinicRegistered:
    return ClinicRegistered(clinic_id=clinic_id, name=f"Clinic {clinic_id}", region=region, settlement=settlement,
                            clinic_version=version)


def key_of(e: EventData) -> str:
    if isinstance(e, ClinicRegistered):
        return e.clinic_id
    return e.iin if hasattr(e, "iin") else "000000000000"


def random_population(rng: random.Random, iins: list[str], clinics: list[str]) -> list[EventData]:
    """A small population with moves, deaths, visits (some voided, some voided before they arrive, some
    held at intake or later, cleared, held again or voided for good: any order of those arriving gives
    the newest integrity version's state), and contribution timelines with stale versions: the awkward
    cases, mixed."""
    out: list[EventData] = []
    base = date(2025, 1, 1)
    for n, iin in enumerate(iins):
        version = 1
        day = base + timedelta(days=rng.randint(0, 400))
        clinic = rng.choice(clinics)
        out.append(attached(iin, clinic, day, version))
        for _ in range(rng.choice((0, 0, 1, 2))):
            version += 1
            day += timedelta(days=rng.randint(-30, 300))    # a later version may even be dated earlier
            clinic = rng.choice(clinics)
            out.append(attached(iin, clinic, day, version, reason=rng.choice(("choice", "campaign"))))
        if rng.random() < 0.1:
            version += 1
            out.append(detached(iin, clinic, day + timedelta(days=rng.randint(1, 200)), version))
        for k in range(rng.choice((0, 1, 2, 4))):
            vid = f"V-{n}-{k}"
            on = base + timedelta(days=rng.randint(0, 900))
            held_at_intake = rng.random() < 0.15
            recorded = visit(iin, clinic, vid, on)
            out.append(recorded.model_copy(update={"integrity": "held", "reasons": ["kind_sex"]})
                       if held_at_intake else recorded)
            for version in range(1, rng.choice((0, 0, 0, 1, 2, 3)) + 1):
                if (version % 2 == 1) == held_at_intake:     # alternates from the intake's state
                    out.append(cleared(iin, clinic, vid, on, version))
                else:
                    out.append(held(iin, clinic, vid, on, version, voided=rng.random() < 0.3))
            if rng.random() < 0.2:
                out.append(upheld(clinic, vid, appeal_id=f"AP-{n}-{k}"))
            elif rng.random() < 0.1:
                out.append(upheld(clinic, vid, status="rejected", appeal_id=f"AP-{n}-{k}"))
        statuses = rng.choice((0, 1, 3))
        start = base + timedelta(days=rng.randint(-100, 300))
        for v in range(1, statuses + 1):
            out.append(paid(iin, v, [(start, start + timedelta(days=150 * v + rng.randint(0, 40))),
                                     (start + timedelta(days=400), start + timedelta(days=400 + 30 * v))]))
    return out


async def publish(events: list[EventData], *, duplicate_every: int = 0) -> None:
    """Publishes each event (and every `duplicate_every`-th one again under a new event_id, as an
    at-least-once relay does after a crash)."""
    s = get_settings()
    producer = AIOKafkaProducer(bootstrap_servers=s.kafka_bootstrap, enable_idempotence=True, linger_ms=5)
    await producer.start()
    try:
        futures = []
        for i, e in enumerate(events):
            copies = 2 if duplicate_every and i % duplicate_every == 0 else 1
            for _ in range(copies):
                out = new_event(TOPIC_OF[type(e)], e, producer="test", key=key_of(e))
                futures.append(await producer.send(s.topic(out.topic), out.payload, key=out.key.encode(),
                                                   headers=[("event_id", str(out.event_id).encode())]))
        for f in futures:
            await f
    finally:
        await producer.stop()


async def caught_up(client) -> None:
    """Waits until the financing service (its client) has applied every event on its topics."""
    async def done():
        r = await client.get("/v1/consumer-lag")
        return r.status_code == 200 and r.json() and sum(p["lag"] for p in r.json()) == 0
    await eventually(done, timeout=30)
