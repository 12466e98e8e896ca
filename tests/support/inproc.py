"""Runs a service app in-process with its lifespan (database, relay, consumers) for tests."""
from __future__ import annotations

import asyncio
import time
from contextlib import asynccontextmanager
from typing import Any, Awaitable, Callable

import httpx
from asgi_lifespan import LifespanManager


@asynccontextmanager
async def running(app) -> Any:
    """Yields an httpx client bound to the app, with the lifespan started and stopped around it."""
    async with LifespanManager(app, startup_timeout=60, shutdown_timeout=30) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=30) as client:
            yield client


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
