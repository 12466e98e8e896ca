"""Creates every service's database (migrated to head) and the topics, before services start.

`python -m services.common.bootstrap` — run by `make up` / `make run` and by the test suite."""
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
    setup_logging("bootstrap", json=False)
    asyncio.run(bootstrap(get_settings()))


if __name__ == "__main__":
    main()
