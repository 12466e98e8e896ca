"""PostgreSQL: each service's own database, created when missing, migrated by alembic, pooled."""
from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import orjson

from services.common.logs import get_logger
from services.common.settings import Settings

log = get_logger(__name__)


async def ensure_database(settings: Settings, service: str) -> None:
    name = settings.database_name(service)
    conn = await asyncpg.connect(settings.server_dsn(), timeout=10)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            try:
                await conn.execute(f'CREATE DATABASE "{name}"')
                log.info("database created", database=name)
            except asyncpg.DuplicateDatabaseError:
                pass
    finally:
        await conn.close()


def run_migrations(settings: Settings, service: str, script_location: Path) -> None:
    """Upgrades the service's database to the newest revision (blocking; call in a thread)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(script_location))
    # Two histories per database: the service's own, and the tables every service shares (api_keys).
    common_versions = Path(__file__).parent / "migrations_common" / "versions"
    cfg.set_main_option("version_locations", f"{script_location / 'versions'} {common_versions}")
    cfg.set_main_option("path_separator", "space")
    cfg.attributes["dsn"] = settings.database_dsn(service)
    command.upgrade(cfg, "heads")


async def prepare_database(settings: Settings, service: str, script_location: Path) -> None:
    await ensure_database(settings, service)
    await asyncio.to_thread(run_migrations, settings, service, script_location)


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=lambda v: orjson.dumps(v).decode(),
                              decoder=orjson.loads, schema="pg_catalog")
    await conn.set_type_codec("json", encoder=lambda v: orjson.dumps(v).decode(),
                              decoder=orjson.loads, schema="pg_catalog")


async def create_pool(settings: Settings, service: str) -> asyncpg.Pool:
    return await asyncpg.create_pool(
        settings.database_dsn(service),
        min_size=settings.db_pool_min,
        max_size=settings.db_pool_max,
        init=_init_connection,
        command_timeout=60,
        timeout=5,
    )
