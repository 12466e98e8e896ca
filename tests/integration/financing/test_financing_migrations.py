"""Migrations 0002 to 0009 on a database made before them: each person's history, kept as jsonb until
then, is bytes afterwards and reads back the same; the age-sex cells, one row per cell until then, are
one array row per clinic and bucket with the same numbers; the keys of people and visits, in the
database's collation until then, are in byte order (COLLATE "C") and still find their rows; clinics
keep a settlement, not known for those met before; the capitation and statements versions are seeded
and no month is closed; each person's clinics are in the worklists' index."""
from __future__ import annotations

from datetime import date
from pathlib import Path

import asyncpg

from services.common.db import prepare_database
from services.financing import store
from services.financing.domain import CELLS
from services.financing.projection import PersonState

MIGRATIONS = Path(store.__file__).parent / "migrations"


async def test_a_database_of_revision_0001_is_upgraded_without_losing_a_figure(settings):
    own = settings.model_copy(update={"db_prefix": f"{settings.db_prefix}mig0001_"})
    await prepare_database(own, "financing", MIGRATIONS)
    history = PersonState(birth=date(1990, 3, 3).toordinal(), sex="F",
                          versions={1: ("KZ-1", date(2025, 1, 1).toordinal()), 2: (None, date(2026, 2, 1).toordinal())},
                          status_version=7, insured=[(date(2025, 1, 1).toordinal(), date(2026, 1, 1).toordinal())],
                          visits=[date(2025, 5, 5).toordinal(), date(2025, 5, 5).toordinal()])
    old_cells = [(1, 0, date(2025, 1, 1), 3, 5), (1, 0, date(2025, 1, 1), 87, -2), (1, 1, date(2026, 2, 1), 3, 1),
                 (2, 1, date(2026, 2, 1), 0, 4)]
    conn = await asyncpg.connect(own.database_dsn("financing"))
    try:
        # The database as revision 0001 left it, before the common rule_versions (c0002): keys in the
        # default collation, histories as jsonb, a row per cell, clinics without a settlement; one
        # person, one visit, some cells, a clinic.
        for table, column in (("fin_persons", "iin"), ("fin_visits", "clinic_id"), ("fin_visits", "visit_id")):
            await conn.execute(f'ALTER TABLE {table} ALTER COLUMN {column} TYPE text COLLATE "default"')
        await conn.execute("ALTER TABLE fin_visits DROP COLUMN held, DROP COLUMN integrity_version")
        await conn.execute("INSERT INTO fin_visits (clinic_id, visit_id, iin, day) VALUES ('KZ-1', 'V-1', $1, $2)",
                           "900303400001", date(2025, 5, 5))
        await conn.execute("ALTER TABLE fin_persons ALTER COLUMN history TYPE jsonb "
                           "USING convert_from(history, 'UTF8')::jsonb")
        await conn.execute("INSERT INTO fin_persons (iin, history) VALUES ($1, $2::text::jsonb)",
                           "900303400001", history.dumps().decode())
        await conn.execute("""DROP TABLE fin_cells;
            CREATE TABLE fin_cells (clinic_no integer NOT NULL, grain smallint NOT NULL, bucket date NOT NULL,
                                    cell smallint NOT NULL, people integer NOT NULL,
                                    PRIMARY KEY (clinic_no, grain, bucket, cell))""")
        await conn.copy_records_to_table("fin_cells", records=old_cells,
                                         columns=["clinic_no", "grain", "bucket", "cell", "people"])
        await conn.execute("ALTER TABLE fin_clinics DROP COLUMN settlement")
        await conn.execute("INSERT INTO fin_clinics (clinic_id, region) VALUES ('KZ-1', 'kyzylorda')")
        await conn.execute("DROP TABLE rule_versions; DROP FUNCTION rule_versions_immutable()")
        await conn.execute("DROP TABLE fin_statement_state, fin_closed_months, fin_statements, fin_adjustments")
        await conn.execute("DROP TABLE fin_clinic_people, fin_count_marks, fin_month_cells")
        await conn.execute("DROP INDEX fin_counts_days")
        await conn.execute("DELETE FROM alembic_version; INSERT INTO alembic_version VALUES ('0001'), ('c0001')")
    finally:
        await conn.close()

    await prepare_database(own, "financing", MIGRATIONS)

    conn = await asyncpg.connect(own.database_dsn("financing"))
    try:
        kind = await conn.fetchval("SELECT data_type FROM information_schema.columns "
                                   "WHERE table_name = 'fin_persons' AND column_name = 'history'")
        stored = await conn.fetchval("SELECT history FROM fin_persons WHERE iin = '900303400001'")
        rows = await conn.fetch("SELECT clinic_no, grain, bucket, people FROM fin_cells ORDER BY 1, 2, 3")
        versions = {r["version_num"] for r in await conn.fetch("SELECT version_num FROM alembic_version")}
        collations = {(r[0], r[1]): r[2] for r in await conn.fetch(
            "SELECT table_name, column_name, collation_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name IN ('fin_persons', 'fin_visits') "
            "AND data_type = 'text'")}
        visit = await conn.fetchrow("SELECT iin, day FROM fin_visits WHERE (clinic_id, visit_id) = ('KZ-1', 'V-1')")
        clinic = await conn.fetchrow("SELECT region, settlement FROM fin_clinics WHERE clinic_id = 'KZ-1'")
        seeds = await conn.fetch("SELECT effective_from, published_by FROM rule_versions WHERE rule_table = 'capitation'")
        closing = await conn.fetch("SELECT effective_from, vals->>'close_day' FROM rule_versions "
                                   "WHERE rule_table = 'statements'")
        state = await conn.fetchrow("SELECT closed_through, started_on FROM fin_statement_state")
        members = await conn.fetch("SELECT c.clinic_id, m.iin FROM fin_clinic_people m JOIN fin_clinics c "
                                   "USING (clinic_no)")
    finally:
        await conn.close()
    assert kind == "bytea"
    assert PersonState.loads(stored) == history
    expected: dict[tuple, list[int]] = {}
    for no, grain, bucket, cell, n in old_cells:
        expected.setdefault((no, grain, bucket), [0] * CELLS)[cell] = n
    assert {(r["clinic_no"], r["grain"], r["bucket"]): list(r["people"]) for r in rows} == expected
    # The history's newest revision (whichever migration comes last).
    newest = max((MIGRATIONS / "versions").glob("0*.py")).stem
    assert newest in versions
    assert collations == {("fin_persons", "iin"): "C", ("fin_visits", "clinic_id"): "C",
                          ("fin_visits", "visit_id"): "C", ("fin_visits", "iin"): None}
    assert tuple(visit) == ("900303400001", date(2025, 5, 5))
    assert tuple(clinic) == ("kyzylorda", None)
    assert [tuple(r) for r in seeds] == [(date(2025, 10, 1), "migration 0005")]
    # Nothing closed yet, and statements close on the 10th of the month after.
    assert [tuple(r) for r in closing] == [(date(2020, 1, 1), "10")] and tuple(state) == (None, None)
    # The worklists' index holds the clinic the history was attached to (0008_console).
    assert [tuple(r) for r in members] == [("KZ-1", "900303400001")]
