"""App factory: a service's spec and context, its lifespan (database, migrations, topics, relay,
consumers) and the app put together from the common parts (edge.py, errors.py, health.py). A
service module only adds its routers, its rule tables and its projection."""
from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Depends, FastAPI, Request

from services.common import tracing
from services.common.auth import KeyStore, authenticate
from services.common.consumer import ApplyBatch, BatchConsumer, Decode
from services.common.db import create_pool, prepare_database
from services.common.collector import tune_gc
from services.common.docs import add_docs
from services.common.edge import Edge
from services.common.errors import UNAVAILABLE, install_error_handlers
from services.common.events import decode
from services.common.health import health_router, watch_kafka
from services.common.logs import get_logger, setup_logging
from services.common.openapi import integrator_openapi, operation_id
from services.common.outbox import OutboxRelay
from services.common.rules import CountRecords, RuleStore, RuleTable, check_horizon, rules_router, watch_horizon
from services.common.settings import Settings, get_settings
from services.common.topics import ensure_topics

log = get_logger(__name__)




@dataclass
class ConsumerSpec:
    group: str
    topics: list[str]
    # Built once the pool exists, so the projection may keep its own state (rule tables...).
    make_apply: Callable[["ServiceContext"], ApplyBatch]
    # How a message is read: by default with the event models of services/common/events.py.
    decode: Decode = decode
    # A consumer that need not be fresh to the second can gather larger batches: the broker holds a
    # fetch until this many bytes have arrived or fetch.max.wait.ms has passed, and a batch's fixed
    # cost (its transaction, its offsets) is shared by more events. 1: whatever is there.
    fetch_min_bytes: int = 1


@dataclass
class ServiceSpec:
    name: str
    routers: list[APIRouter]
    migrations: Path
    title: str = ""
    description: str = ""
    relay: bool = True
    consumers: list[ConsumerSpec] = field(default_factory=list)
    on_startup: Callable[["ServiceContext"], Awaitable[None]] | None = None
    # The rule tables this service publishes (GET/POST /v1/rules), and how many accepted records
    # fall on or after a date (the answer to a publication).
    rule_tables: dict[str, RuleTable] = field(default_factory=dict)
    count_records: CountRecords | None = None


@dataclass
class ServiceContext:
    settings: Settings
    spec: ServiceSpec
    pool: asyncpg.Pool
    keys: KeyStore | None = None
    rules: RuleStore | None = None
    relay: OutboxRelay | None = None
    consumers: list[BatchConsumer] = field(default_factory=list)
    tasks: list[asyncio.Task] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


# async: FastAPI runs a plain function dependency in its thread pool, a thread hop on every request
async def context(request: Request) -> ServiceContext:
    return request.app.state.ctx


async def pool(request: Request) -> asyncpg.Pool:
    return request.app.state.ctx.pool


Ctx = Annotated[ServiceContext, Depends(context)]
Pool = Annotated[asyncpg.Pool, Depends(pool)]


async def connect_pool(settings: Settings, spec: ServiceSpec) -> asyncpg.Pool:
    deadline = time.monotonic() + 60
    while True:
        try:
            if settings.migrate_on_start:
                await prepare_database(settings, spec.name, spec.migrations)
            return await create_pool(settings, spec.name)
        except UNAVAILABLE as exc:
            if time.monotonic() > deadline:
                raise
            log.warning("database not reachable yet; retrying", error=repr(exc))
            await asyncio.sleep(1)


async def ensure_topics_forever(settings: Settings) -> None:
    backoff = 0.5
    while True:
        try:
            await ensure_topics(settings)
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("kafka not reachable yet; retrying topic check", error=repr(exc))
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 10)


def _lifespan(spec: ServiceSpec, settings: Settings):
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        setup_logging(spec.name, settings.log_level, settings.log_json)
        db = await connect_pool(settings, spec)
        ctx = ServiceContext(settings=settings, spec=spec, pool=db, keys=KeyStore(db),
                             rules=RuleStore(db, spec.rule_tables, spec.count_records))
        app.state.ctx = ctx
        if spec.rule_tables:
            await check_horizon(ctx.rules)
            ctx.tasks.append(asyncio.create_task(watch_horizon(ctx.rules)))
        topics_ready = asyncio.create_task(ensure_topics_forever(settings))
        ctx.tasks.append(topics_ready)
        start_background(ctx, topics_ready, relay=settings.run_relay, consumers=settings.run_consumers)
        ctx.tasks.append(asyncio.create_task(watch_kafka(ctx)))
        if spec.on_startup:
            await spec.on_startup(ctx)
        tune_gc()
        log.info("service started", port=settings.port_of(spec.name))
        try:
            yield
        finally:
            for task in ctx.tasks:
                task.cancel()
            try:
                await asyncio.wait_for(asyncio.gather(*ctx.tasks, return_exceptions=True), timeout=5)
            except asyncio.TimeoutError:
                log.warning("background tasks did not stop in 5 s")
            if ctx.relay:
                await ctx.relay.close()
            for name, client in ctx.extra.items():  # Kafka probe clients kept by the service
                if not name.endswith("probe"):
                    continue
                closing = getattr(client, "stop", None) or getattr(client, "close", None)
                if closing is not None:
                    try:
                        await closing()
                    except Exception:
                        pass
            try:
                await asyncio.wait_for(db.close(), timeout=5)
            except asyncio.TimeoutError:
                db.terminate()
            log.info("service stopped")

    return lifespan


def start_background(ctx: ServiceContext, topics_ready: asyncio.Task, *, relay: bool, consumers: bool) -> None:
    """Starts the outbox relay and the consumers of a service as tasks of this process."""
    spec, settings = ctx.spec, ctx.settings
    if spec.relay and relay:
        ctx.relay = OutboxRelay(settings, settings.database_dsn(spec.name), spec.name)
        ctx.extra["relay_task"] = asyncio.create_task(_after(topics_ready, ctx.relay.run))
        ctx.tasks.append(ctx.extra["relay_task"])
    if consumers:
        for cs in spec.consumers:
            consumer = BatchConsumer(settings, ctx.pool, group=cs.group, topics=cs.topics, apply=cs.make_apply(ctx),
                                     decode=cs.decode, fetch_min_bytes=cs.fetch_min_bytes)
            ctx.consumers.append(consumer)
            task = asyncio.create_task(_after(topics_ready, consumer.run))
            ctx.extra.setdefault("consumer_tasks", []).append((consumer, task))
            ctx.tasks.append(task)


async def _after(first: asyncio.Task, then: Callable[[], Awaitable[None]]) -> None:
    await asyncio.shield(first)
    await then()


def create_app(spec: ServiceSpec, settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    # /docs and /redoc from the service's own copies of Swagger UI and ReDoc (services/common/docs.py), not a CDN.
    app = FastAPI(title=spec.title or f"osms {spec.name}", description=spec.description,
                  version="1", lifespan=_lifespan(spec, settings), docs_url=None, redoc_url=None,
                  generate_unique_id_function=operation_id)

    install_error_handlers(app)
    app.openapi = lambda: integrator_openapi(app, spec.name)  # type: ignore[method-assign]
    app.add_middleware(Edge, max_body=settings.max_body_bytes)
    if tracing.configure(settings, spec.name):
        tracing.instrument_app(app)     # outside Edge: its access line carries the request's trace id
    app.include_router(health_router())
    routers = [*spec.routers, rules_router()] if spec.rule_tables else spec.routers
    for router in routers:
        # Every route of a service needs a valid key; each route then checks role and scope.
        app.include_router(router, dependencies=[Depends(authenticate)])
    add_docs(app)  # after the API's routes, which are matched first: the pages cost them nothing
    return app
