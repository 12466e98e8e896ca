"""Runs a service app in-process with its lifespan (database, relay, consumers) for tests."""
from __future__ import annotations

import asyncio
import time
from contextlib import asynccontextmanager
from typing import Any, Awaitable, Callable

import httpx
from asgi_lifespan import LifespanManager


@asynccontextmanager
async def running(app, role: str | None = "admin", scope: str | None = None) -> Any:
    """Yields an httpx client bound to the app, with the lifespan started and stopped around it.
    The client carries a fresh key of `role` (admin by default; None: no key at all)."""
    async with LifespanManager(app, startup_timeout=60, shutdown_timeout=30) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        headers = {}
        if role is not None:
            headers = await key_headers(app, role, scope)
        async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=30,
                                     headers=headers) as client:
            yield client


async def key_headers(app, role: str, scope: str | None = None) -> dict[str, str]:
    """Authorization headers of a new key with this role and scope, in the running app's database."""
    from services.common.auth import insert_key

    async with app.state.ctx.pool.acquire() as conn:
        key = await insert_key(conn, role, scope, f"test {role}")
    return {"Authorization": f"Bearer {key}"}


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 15.0, interval: float = 0.05) -> Any:
    """Polls `check` until it returns a truthy value; fails with its last value after `timeout`."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s; last value: {last!r}")
