"""The endpoints every service answers without a key: /healthz (alive; Kafka, relay and consumers
in its details), /readyz (can serve: the database answers) and /metrics (Prometheus)."""
from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest, multiprocess

from services.common.kafka import client_options
from services.common.problems import problem_response

if TYPE_CHECKING:
    from services.common.app import ServiceContext


def _context(request: Request) -> ServiceContext:
    return request.app.state.ctx


Ctx = Annotated[Any, Depends(_context)]  # the ServiceContext (services.common.app imports this module)

KAFKA_UP = Gauge("osms_kafka_up", "1 when Kafka answered this process's last check", multiprocess_mode="livemin")


async def _kafka_reachable(ctx: ServiceContext) -> bool:
    """Kafka answers a metadata request from this process's own clients (or a probe client when the
    relay and consumers run in a worker process)."""
    clients = []
    if ctx.relay is not None:
        if ctx.relay.producer is None:
            return False
        clients.append(ctx.relay.producer.client)
    for c in ctx.consumers:
        if c.consumer is None:
            return False
        clients.append(c.consumer._client)
    try:
        if not clients:
            return await _probe_kafka(ctx)
        for client in clients:
            await asyncio.wait_for(client.fetch_all_metadata(), timeout=2)
        return True
    except Exception:
        return False


async def _probe_kafka(ctx: ServiceContext) -> bool:
    from aiokafka.client import AIOKafkaClient

    probe = ctx.extra.get("kafka_probe")
    if probe is None:
        probe = AIOKafkaClient(**client_options(ctx.settings), request_timeout_ms=2000)
        ctx.extra["kafka_probe"] = probe
        await asyncio.wait_for(probe.bootstrap(), timeout=3)
    await asyncio.wait_for(probe.fetch_all_metadata(), timeout=2)
    return True


KAFKA_CHECK_SECONDS = 5.0


async def watch_kafka(ctx: ServiceContext) -> None:
    """Kafka's reachability, kept for /healthz and the metric: a probe must answer at once, and
    writes need only PostgreSQL (the outbox keeps the events while Kafka is away)."""
    while True:
        up = await _kafka_reachable(ctx)
        ctx.extra["kafka_up"] = up
        KAFKA_UP.set(1 if up else 0)
        await asyncio.sleep(KAFKA_CHECK_SECONDS)


def _task_state(task: asyncio.Task | None) -> str:
    if task is None:
        return "off"
    return "stopped" if task.done() else "running"


def health_router() -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/healthz", summary="The process is alive; Kafka, the relay and the consumers in details")
    async def check_liveness(ctx: Ctx) -> dict[str, Any]:
        """Always 200 while the process serves (a liveness probe). `checks` tells whether Kafka
        answered the last check, and whether this process's relay and consumers run."""
        kafka = ctx.extra.get("kafka_up")
        return {"status": "ok", "checks": {
            "kafka": "unknown" if kafka is None else ("ok" if kafka else "unavailable"),
            "relay": _task_state(ctx.extra.get("relay_task")),
            "consumers": {ctx.settings.unprefixed(c.group_id): _task_state(t)
                          for c, t in ctx.extra.get("consumer_tasks", [])},
        }}

    @router.get("/readyz", summary="The service can serve: its database answers",
                responses={503: {"description": "the database is unavailable"}})
    async def check_readiness(ctx: Ctx):
        """Ready when PostgreSQL answers: writes need only the database (events wait in the outbox
        while Kafka is away; /healthz shows Kafka's state)."""
        checks: dict[str, str] = {}
        try:
            async with ctx.pool.acquire(timeout=2) as conn:
                await asyncio.wait_for(conn.fetchval("SELECT 1"), timeout=2)
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"unavailable: {type(exc).__name__}"
        if checks["database"] == "ok":
            return {"status": "ready", "checks": checks}
        return problem_response(503, "Not ready", "the database is unavailable", checks=checks,
                                headers={"Retry-After": "2"})

    @router.get("/metrics", summary="Prometheus metrics", response_class=PlainTextResponse)
    async def get_metrics():
        """The service's metrics in Prometheus' text format, for a scraper (all its processes' in
        multiprocess mode): HTTP, outbox, consumers, lag, freshness, rules horizon."""
        return PlainTextResponse(metrics_text(), media_type=CONTENT_TYPE_LATEST)

    return router


def metrics_text() -> bytes:
    """This process's metrics; with PROMETHEUS_MULTIPROC_DIR set, those of every process of the service
    that shares the folder, added up (prometheus_client's multiprocess mode): a service whose consumers
    also run as worker processes (deploy/local/services.sh) shows all of its consumers, not only the
    HTTP process's own."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest()
