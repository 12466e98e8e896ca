"""Migrations as their own step: `osms-migrate` creates and migrates a service's database, and the
service then runs as a role that may only use its tables (no CREATEDB, no DDL)."""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest

from services.common.settings import Settings
from tests.support.inproc import eventually
from bench.processes import ServiceProcess

pytestmark = pytest.mark.e2e


def _as_user(url: str, user: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, f"{user}@{parts.hostname}:{parts.port}", parts.path, parts.query, ""))


async def _app_role(settings: Settings, database: str, role: str) -> None:
    server = await asyncpg.connect(settings.server_dsn())
    try:
        await server.execute(f'DROP ROLE IF EXISTS "{role}"')
        await server.execute(f'CREATE ROLE "{role}" LOGIN NOCREATEDB NOCREATEROLE')
        await server.execute(f'GRANT CONNECT ON DATABASE "{database}" TO "{role}"')
    finally:
        await server.close()
    db = await asyncpg.connect(settings.database_dsn("registry"))
    try:
        await db.execute(f'GRANT USAGE ON SCHEMA public TO "{role}"; '
                         f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO "{role}"; '
                         f'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO "{role}"')
    finally:
        await db.close()


def test_a_service_runs_without_rights_to_migrate_after_osms_migrate(settings):
    env = {**os.environ, "OSMS_DB_PREFIX": os.environ["OSMS_DB_PREFIX"] + "apart_"}
    done = subprocess.run([str(Path(sys.executable).parent / "osms-migrate"), "registry"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    s = Settings(db_prefix=env["OSMS_DB_PREFIX"])
    role = f"app_{env['OSMS_DB_PREFIX'].rstrip('_')}"
    asyncio.run(_app_role(s, s.database_name("registry"), role))

    service = ServiceProcess("registry", {**env, "OSMS_MIGRATE_ON_START": "false",
                                          "OSMS_DATABASE_URL": _as_user(s.database_url, role)})
    try:
        service.start()
        key = asyncio.run(_key(s))
        r = httpx.put(f"{service.url}/v1/clinics/APART-1", json={"name": "Apart", "region": "Kyzylorda",
                                                                    "settlement": "rural"},
                      headers={"Authorization": f"Bearer {key}"}, timeout=10)
        assert r.status_code == 201, r.text
        asyncio.run(eventually(_outbox_drained(s), timeout=20))  # the relay runs as the same role
    finally:
        service.stop()

    refused = ServiceProcess("registry", {**env, "OSMS_MIGRATE_ON_START": "true",
                                          "OSMS_DB_PREFIX": env["OSMS_DB_PREFIX"] + "new_",
                                          "OSMS_DATABASE_URL": _as_user(s.database_url, role)})
    try:
        with pytest.raises(RuntimeError):  # creating a database needs a right the role does not have
            refused.start(wait=20)
    finally:
        refused.kill()
        asyncio.run(_drop_role(s, role))


async def _drop_role(s: Settings, role: str) -> None:
    db = await asyncpg.connect(s.database_dsn("registry"))
    try:
        await db.execute(f'DROP OWNED BY "{role}"')  # its grants; it owns nothing
    finally:
        await db.close()
    server = await asyncpg.connect(s.server_dsn())
    try:
        await server.execute(f'REVOKE CONNECT ON DATABASE "{s.database_name("registry")}" FROM "{role}"')
        await server.execute(f'DROP ROLE "{role}"')
    finally:
        await server.close()


async def _key(s: Settings) -> str:
    from services.common.auth import insert_key

    conn = await asyncpg.connect(s.database_dsn("registry"))
    try:
        return await insert_key(conn, "admin", None, "apart")
    finally:
        await conn.close()


def _outbox_drained(s: Settings):
    async def check():
        conn = await asyncpg.connect(s.database_dsn("registry"))
        try:
            return await conn.fetchval("SELECT count(*) = 0 FROM outbox")
        finally:
            await conn.close()
    return check
