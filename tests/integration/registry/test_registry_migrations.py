"""Migration 0009 on a registry database made before it: the visits held or voided by then get their
practitioner, so that the confirmation sample's flags see them, and a clear visit stays without a row."""
from __future__ import annotations

from datetime import date
from pathlib import Path

import asyncpg

from services.common.db import prepare_database
from services.registry import store

MIGRATIONS = Path(store.__file__).parent / "migrations"


async def test_holds_recorded_before_0009_get_their_practitioner(settings):
    own = settings.model_copy(update={"db_prefix": f"{settings.db_prefix}reg0008_"})
    await prepare_database(own, "registry", MIGRATIONS)
    conn = await asyncpg.connect(own.database_dsn("registry"))
    try:
        # The database as 0008 left it: no practitioner with the integrity state, nor its indexes.
        await conn.execute("""DROP INDEX visit_integrity_practitioner_flags; DROP INDEX visit_integrity_clinic_flags;
                              ALTER TABLE visit_integrity DROP COLUMN practitioner_id;
                              UPDATE alembic_version SET version_num = '0008_confirmations'""")
        await conn.execute("INSERT INTO clinics (clinic_id, name, region, settlement) VALUES ('KZ-9', 'Clinic', 'kyzylorda', 'urban')")
        await conn.execute("""INSERT INTO visits (visit_id, clinic_id, iin, date, kind, practitioner_id) VALUES
                              ('V-1', 'KZ-9', '900303400001', '2026-11-02', 'consultation', 'dr-a'),
                              ('V-2', 'KZ-9', '900303400001', '2026-11-03', 'consultation', NULL),
                              ('V-3', 'KZ-9', '900303400001', '2026-11-04', 'consultation', 'dr-b')""")
        await conn.execute("""INSERT INTO visit_integrity (clinic_id, visit_id, iin, date, state, reasons, version,
                                                           changed_by) VALUES
                              ('KZ-9', 'V-1', '900303400001', '2026-11-02', 'held', '{repeated_visit}', 0, 't'),
                              ('KZ-9', 'V-2', '900303400001', '2026-11-03', 'void', '{after_death}', 1, 't')""")
    finally:
        await conn.close()

    await prepare_database(own, "registry", MIGRATIONS)
    conn = await asyncpg.connect(own.database_dsn("registry"))
    try:
        rows = await conn.fetch("SELECT visit_id, practitioner_id FROM visit_integrity ORDER BY visit_id")
        flagged = await conn.fetchval("""SELECT count(*) FROM visit_integrity WHERE clinic_id = 'KZ-9'
                                         AND practitioner_id = 'dr-a' AND date >= $1 AND state <> 'clear'""",
                                      date(2026, 11, 1))
        version = await conn.fetchval("SELECT version_num FROM alembic_version WHERE version_num LIKE '0%'")
    finally:
        await conn.close()
    assert [tuple(r) for r in rows] == [("V-1", "dr-a"), ("V-2", None)]
    assert flagged == 1 and version != "0008_confirmations"     # upgraded past it, to the head
