"""financing SQL: applies a reduced batch set-based, and reads a clinic's figures."""
from __future__ import annotations

from datetime import date, timedelta

import asyncpg

from services.financing.projection import BatchChanges

ACTIVITY_WINDOW_DAYS = 365


async def apply_changes(conn: asyncpg.Connection, changes: BatchChanges) -> None:
    if changes.persons:
        p = list(changes.persons.values())
        # Newer person_version wins; an older or repeated event changes nothing.
        await conn.execute(
            """INSERT INTO fin_persons AS t (iin, clinic_id, attached_since, birth_date, sex, person_version)
               SELECT * FROM unnest($1::text[], $2::text[], $3::date[], $4::date[], $5::text[], $6::bigint[])
               ON CONFLICT (iin) DO UPDATE
                 SET clinic_id = excluded.clinic_id, attached_since = excluded.attached_since,
                     birth_date = coalesce(excluded.birth_date, t.birth_date),
                     sex = coalesce(excluded.sex, t.sex), person_version = excluded.person_version
                 WHERE t.person_version < excluded.person_version""",
            [x.iin for x in p], [x.clinic_id for x in p], [x.attached_since for x in p],
            [x.birth_date for x in p], [x.sex for x in p], [x.person_version for x in p])
    if changes.visits:
        keys = list(changes.visits)
        await conn.execute(
            """INSERT INTO fin_visits (clinic_id, visit_id, iin, date)
               SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::date[])
               ON CONFLICT DO NOTHING""",
            [k[0] for k in keys], [k[1] for k in keys],
            [changes.visits[k][0] for k in keys], [changes.visits[k][1] for k in keys])


async def clinic_figures(conn: asyncpg.Connection, clinic_id: str, on: date) -> dict:
    row = await conn.fetchrow(
        """SELECT count(*) AS attached,
                  count(*) FILTER (WHERE EXISTS (
                      SELECT 1 FROM fin_visits v
                      WHERE v.iin = p.iin AND NOT v.voided AND v.date <= $2 AND v.date > $3)) AS active
           FROM fin_persons p WHERE p.clinic_id = $1 AND p.attached_since <= $2""",
        clinic_id, on, on - timedelta(days=ACTIVITY_WINDOW_DAYS))
    return dict(row)
