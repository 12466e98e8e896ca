"""registry SQL: each write is one transaction with its outbox rows."""
from __future__ import annotations

import uuid
from datetime import date

import asyncpg

from services.common.events import PatientAttached, VisitRecorded, new_event
from services.common.ids import iin_birth_date_sex
from services.common.outbox import add_events
from services.registry.domain import VisitIn, visit_errors

PRODUCER = "registry"


async def upsert_clinic(conn: asyncpg.Connection, clinic_id: str, name: str, region: str,
                        settlement: str) -> tuple[dict, bool]:
    row = await conn.fetchrow(
        """INSERT INTO clinics (clinic_id, name, region, settlement) VALUES ($1, $2, $3, $4)
           ON CONFLICT (clinic_id) DO UPDATE
             SET name = excluded.name, region = excluded.region, settlement = excluded.settlement,
                 updated_at = now()
           RETURNING clinic_id, name, region, settlement, (xmax = 0) AS created""",
        clinic_id, name, region, settlement)
    d = dict(row)
    created = d.pop("created")
    return d, created


async def get_clinic(conn: asyncpg.Connection, clinic_id: str) -> dict | None:
    row = await conn.fetchrow("SELECT clinic_id, name, region, settlement FROM clinics WHERE clinic_id = $1",
                              clinic_id)
    return dict(row) if row else None


async def attach(conn: asyncpg.Connection, iin: str, clinic_id: str, reason: str,
                 effective_date: date) -> dict:
    """Attaches a person (skeleton: one clinic at a time; the rules come with the registry issue)."""
    birth, sex = iin_birth_date_sex(iin)
    async with conn.transaction():
        await conn.execute(
            "INSERT INTO persons (iin, birth_date, sex) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            iin, birth, sex)
        person = await conn.fetchrow("SELECT * FROM persons WHERE iin = $1 FOR UPDATE", iin)
        attachment_id = uuid.uuid4()
        previous = person["clinic_id"]
        version = person["version"] + 1
        if person["attachment_id"] is not None:
            await conn.execute(
                "UPDATE attachments SET ended_on = $2, end_reason = 'reattached' WHERE attachment_id = $1",
                person["attachment_id"], effective_date)
        await conn.execute(
            """INSERT INTO attachments (attachment_id, iin, clinic_id, previous_clinic_id, reason, effective_date)
               VALUES ($1, $2, $3, $4, $5, $6)""",
            attachment_id, iin, clinic_id, previous, reason, effective_date)
        await conn.execute(
            """UPDATE persons SET clinic_id = $2, attachment_id = $3, attached_since = $4, version = $5
               WHERE iin = $1""", iin, clinic_id, attachment_id, effective_date, version)
        data = PatientAttached(attachment_id=str(attachment_id), iin=iin, clinic_id=clinic_id,
                               previous_clinic_id=previous, reason=reason, effective_date=effective_date,
                               birth_date=birth, sex=sex, person_version=version)
        await add_events(conn, [new_event("patient-attached", data, producer=PRODUCER, key=iin)])
    return {"attachment_id": str(attachment_id), "iin": iin, "clinic_id": clinic_id,
            "previous_clinic_id": previous}


async def record_visits(conn: asyncpg.Connection, visits: list[VisitIn], today: date) -> list[dict]:
    """Judges each visit alone and records the good ones; a few set-based queries per batch."""
    clinic_ids = list({v.clinic_id for v in visits})
    iins = list({v.iin for v in visits})
    async with conn.transaction():
        known = {r["clinic_id"] for r in await conn.fetch(
            "SELECT clinic_id FROM clinics WHERE clinic_id = ANY($1::text[])", clinic_ids)}
        deaths = {r["iin"]: r["died_on"] for r in await conn.fetch(
            "SELECT iin, died_on FROM persons WHERE iin = ANY($1::text[]) AND died_on IS NOT NULL", iins)}
        results: list[dict] = []
        candidates: list[tuple[int, VisitIn]] = []
        seen: set[tuple[str, str]] = set()
        for i, v in enumerate(visits):
            errors = visit_errors(v, today=today, clinic_known=v.clinic_id in known, died_on=deaths.get(v.iin))
            if errors:
                results.append({"visit_id": v.visit_id, "status": "rejected", "errors": errors})
            elif (v.clinic_id, v.visit_id) in seen:
                results.append({"visit_id": v.visit_id, "status": "duplicate", "errors": []})
            else:
                seen.add((v.clinic_id, v.visit_id))
                results.append({"visit_id": v.visit_id, "status": "recorded", "errors": []})
                candidates.append((i, v))
        inserted: set[tuple[str, str]] = set()
        if candidates:
            rows = await conn.fetch(
                """INSERT INTO visits (clinic_id, visit_id, iin, date, kind, practitioner_id)
                   SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::date[], $5::text[], $6::text[])
                   ON CONFLICT (clinic_id, visit_id) DO NOTHING
                   RETURNING clinic_id, visit_id""",
                [v.clinic_id for _, v in candidates], [v.visit_id for _, v in candidates],
                [v.iin for _, v in candidates], [v.date for _, v in candidates],
                [v.kind for _, v in candidates], [v.practitioner_id for _, v in candidates])
            inserted = {(r["clinic_id"], r["visit_id"]) for r in rows}
        events = []
        for i, v in candidates:
            if (v.clinic_id, v.visit_id) in inserted:
                data = VisitRecorded(clinic_id=v.clinic_id, visit_id=v.visit_id, iin=v.iin, date=v.date,
                                     kind=v.kind, practitioner_id=v.practitioner_id)
                events.append(new_event("visit-recorded", data, producer=PRODUCER, key=v.iin))
            else:
                results[i] = {"visit_id": v.visit_id, "status": "duplicate", "errors": []}
        await add_events(conn, events)
    return results
