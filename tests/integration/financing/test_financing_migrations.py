"""Migration 0002 on a database made before it: each person's history, kept as jsonb until then,
is bytes afterwards and reads back as the same history."""
from __future__ import annotations

from datetime import date
from pathlib import Path

import asyncpg

from services.common.db import prepare_database
from services.financing import store
from services.financing.projection import PersonState

MIGRATIONS = Path(store.__file__).parent / "migrations"


async def test_histories_held_as_jsonb_become_bytes_and_read_back_the_same(settings):
    own = settings.model_copy(update={"db_prefix": f"{settings.db_prefix}mig0002_"})
    await prepare_database(own, "financing", MIGRATIONS)
    history = PersonState(birth=date(1990, 3, 3).toordinal(), sex="F",
                          versions={1: ("KZ-1", date(2025, 1, 1).toordinal()), 2: (None, date(2026, 2, 1).toordinal())},
                          status_version=7, insured=[(date(2025, 1, 1).toordinal(), date(2026, 1, 1).toordinal())],
                          visits=[date(2025, 5, 5).toordinal(), date(2025, 5, 5).toordinal()])
    conn = await asyncpg.connect(own.database_dsn("financing"))
    try:
        # The database as revision 0001 left it, with one person in it.
        await conn.execute("ALTER TABLE fin_persons ALTER COLUMN history TYPE jsonb "
                           "USING convert_from(history, 'UTF8')::jsonb")
        await conn.execute("INSERT INTO fin_persons (iin, history) VALUES ($1, $2::text::jsonb)",
                           "900303400001", history.dumps().decode())
        await conn.execute("UPDATE alembic_version SET version_num = '0001' WHERE version_num = '0002'")
    finally:
        await conn.close()

    await prepare_database(own, "financing", MIGRATIONS)

    conn = await asyncpg.connect(own.database_dsn("financing"))
    try:
        kind = await conn.fetchval("SELECT data_type FROM information_schema.columns "
                                   "WHERE table_name = 'fin_persons' AND column_name = 'history'")
        stored = await conn.fetchval("SELECT history FROM fin_persons WHERE iin = '900303400001'")
        versions = await conn.fetch("SELECT version_num FROM alembic_version")
    finally:
        await conn.close()
    assert kind == "bytea"
    assert PersonState.loads(stored) == history
    assert "0002" in {r["version_num"] for r in versions}
