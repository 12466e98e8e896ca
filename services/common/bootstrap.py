"""Creates every service's database (migrated to head) and the topics, before services start.

`osms-migrate` (or `python -m services.common.bootstrap [service ...]`): run by `make up` / `make run`,
by the test suite and, in a cluster, as the migration Job; it needs the right to create databases and
tables, which the services then need not have (OSMS_MIGRATE_ON_START=false)."""
from __future__ import annotations

import asyncio
import importlib
from pathlib import Path

from services.common.db import prepare_database
from services.common.logs import setup_logging
from services.common.settings import SERVICE_PORTS, Settings, get_settings
from services.common.topics import ensure_topics


def migrations_of(service: str) -> Path:
    module = importlib.import_module(f"services.{service}")
    return Path(module.__file__).parent / "migrations"


async def bootstrap(settings: Settings, services: list[str] | None = None) -> None:
    for service in services or list(SERVICE_PORTS):
        await prepare_database(settings, service, migrations_of(service))
    await ensure_topics(settings)


def main() -> None:
    import sys

    wanted = sys.argv[1:] or None
    unknown = [s for s in wanted or [] if s not in SERVICE_PORTS]
    if unknown:
        sys.exit(f"usage: osms-migrate [{' '.join(SERVICE_PORTS)}] (unknown: {' '.join(unknown)})")
    settings = get_settings()
    setup_logging("bootstrap", settings.log_level, settings.log_json)
    asyncio.run(bootstrap(settings, wanted))


if __name__ == "__main__":
    main()


async def remove_prefixed(settings: Settings) -> None:
    """Drops the topics and databases of a test or benchmark run's own prefixes. Refuses the
    defaults, which hold real data."""
    import asyncpg

    from services.common.topics import delete_topics

    if not settings.topic_prefix or settings.db_prefix == Settings.model_fields["db_prefix"].default:
        raise ValueError("refusing to remove the default (real) topics and databases")
    try:
        await delete_topics(settings)
    except Exception:  # the topics may never have been created
        pass
    conn = await asyncpg.connect(settings.server_dsn())
    try:
        for (name,) in await conn.fetch("SELECT datname FROM pg_database WHERE datname LIKE $1",
                                        settings.db_prefix.replace("_", r"\_") + "%"):
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()
