"""Keys for tests that run services as processes: created in every service database of this run."""
from __future__ import annotations

import asyncio
from functools import lru_cache

from services.common import keys
from services.common.bootstrap import bootstrap
from services.common.settings import get_settings


def headers(role: str = "admin", scope: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {_key(role, scope)}"}


@lru_cache
def _key(role: str, scope: str | None) -> str:
    async def make() -> str:
        settings = get_settings()
        await bootstrap(settings)  # the databases (and their api_keys tables) exist before the key
        return await keys.create(settings, role, scope, f"test {role}")

    return asyncio.run(make())
