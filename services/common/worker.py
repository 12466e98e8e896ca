"""Runs a service's background loops (outbox relay, consumers) as a process of their own.

`python -m services.common.worker registry relay` / `... financing consumers` / `... <svc> all`.
Used when the HTTP process runs with OSMS_RUN_RELAY=false / OSMS_RUN_CONSUMERS=false, so that a
crash test can kill the relay or the consumer alone."""
from __future__ import annotations

import asyncio
import importlib
import signal
import sys

from services.common.app import ServiceContext, connect_pool, ensure_topics_forever, start_background
from services.common.collector import tune_gc
from services.common import tracing
from services.common.auth import KeyStore
from services.common.logs import get_logger, setup_logging
from services.common.settings import SERVICE_PORTS, get_settings

log = get_logger(__name__)


async def run(service: str, what: str) -> None:
    settings = get_settings()
    spec = importlib.import_module(f"services.{service}.app").spec
    setup_logging(f"{service}-worker", settings.log_level, settings.log_json)
    tracing.configure(settings, service)
    db = await connect_pool(settings, spec)
    ctx = ServiceContext(settings=settings, spec=spec, pool=db, keys=KeyStore(db))
    topics_ready = asyncio.create_task(ensure_topics_forever(settings))
    ctx.tasks.append(topics_ready)
    start_background(ctx, topics_ready, relay=what in ("relay", "all"), consumers=what in ("consumers", "all"))
    if len(ctx.tasks) == 1:
        sys.exit(f"{service} has nothing to run as {what!r}")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    tune_gc()
    log.info("worker started", what=what)
    await stop.wait()
    for t in ctx.tasks:
        t.cancel()
    try:  # a bounded shutdown: whatever is unconfirmed is redone by the next worker
        await asyncio.wait_for(asyncio.gather(*ctx.tasks, return_exceptions=True), timeout=5)
        if ctx.relay:
            await ctx.relay.close()
        await asyncio.wait_for(db.close(), timeout=5)
    except (asyncio.TimeoutError, Exception) as exc:
        log.warning("worker stopped without a clean shutdown", error=repr(exc))


def main() -> None:
    if len(sys.argv) != 3 or sys.argv[1] not in SERVICE_PORTS or sys.argv[2] not in ("relay", "consumers", "all"):
        sys.exit("usage: python -m services.common.worker <service> relay|consumers|all")
    import uvloop

    uvloop.run(run(sys.argv[1], sys.argv[2]))


if __name__ == "__main__":
    main()
