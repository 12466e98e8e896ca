"""An admin key for a benchmark's own databases (every benchmark runs on its own prefixes)."""
from __future__ import annotations

from services.common import keys
from services.common.settings import Settings


async def admin_headers(settings: Settings, *services: str) -> dict[str, str]:
    key = await keys.create(settings, "admin", None, "bench", services=list(services) or None)
    return {"Authorization": f"Bearer {key}"}
