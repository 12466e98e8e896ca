"""App factory: lifespan (database, migrations, topics, relay, consumers), problem+json errors,
/healthz, /readyz and /metrics. A service module only adds its routers and its projection."""
from __future__ import annotations

import asyncio
import gc
import os
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import (CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest,
                               multiprocess)
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.common import tracing
from services.common.auth import KeyStore, authenticate
from services.common.consumer import ApplyBatch, BatchConsumer, Decode
from services.common.db import create_pool, prepare_database
from services.common.docs import add_docs
from services.common.events import decode
from services.common.inputs import body_problem, has_body
from services.common.kafka import client_options
from services.common.logs import get_logger, request_context, setup_logging
from services.common.outbox import OutboxRelay
from services.common.problems import Problem, problem_response
from services.common.rules import CountRecords, RuleStore, RuleTable, check_horizon, rules_router, watch_horizon
from services.common.settings import Settings, get_settings
from services.common.topics import ensure_topics

log = get_logger(__name__)

KAFKA_UP = Gauge("osms_kafka_up", "1 when Kafka answered this process's last check", multiprocess_mode="livemin")
REQUESTS = Counter("osms_http_requests_total", "HTTP requests answered", ["method", "route", "status"])
LATENCY = Histogram("osms_http_request_duration_seconds", "Time to answer an HTTP request", ["method", "route"],
                    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))

# A dependency is down or a connection broke under us (asyncpg's InternalClientError: a pooled
# connection left mid-operation when the server died). The request can be retried: 503.
UNAVAILABLE = (OSError, asyncpg.PostgresConnectionError, asyncpg.CannotConnectNowError,
               asyncpg.TooManyConnectionsError, asyncpg.InterfaceError, asyncpg.InternalClientError,
               TimeoutError)


@dataclass
class ConsumerSpec:
    group: str
    topics: list[str]
    # Built once the pool exists, so the projection may keep its own state (rule tables...).
    make_apply: Callable[["ServiceContext"], ApplyBatch]
    # How a message is read: by default with the event models of services/common/events.py.
    decode: Decode = decode


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


def tune_gc() -> None:
    """Called once a process has started: what is loaded by then lives as long as the process, so the
    collector stops rescanning it (freeze), and young objects are collected less often: a consumer
    batch or a 1,000-visit request allocates hundreds of thousands of short-lived objects, and the
    default threshold spent a large share of their time in collections (docs/performance.md).
    Garbage that is not a cycle is freed at once whatever the threshold."""
    gc.collect()    # garbage of the start-up is not frozen with the rest
    gc.freeze()
    gc.set_threshold(200_000, 20, 100)


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
        ctx.tasks.append(asyncio.create_task(_watch_kafka(ctx)))
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
                                     decode=cs.decode)
            ctx.consumers.append(consumer)
            task = asyncio.create_task(_after(topics_ready, consumer.run))
            ctx.extra.setdefault("consumer_tasks", []).append((consumer, task))
            ctx.tasks.append(task)


async def _after(first: asyncio.Task, then: Callable[[], Awaitable[None]]) -> None:
    await asyncio.shield(first)
    await then()


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


async def _watch_kafka(ctx: ServiceContext) -> None:
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


def _health_router() -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/healthz", summary="The process is alive; Kafka, the relay and the consumers in details")
    async def healthz(ctx: Ctx) -> dict[str, Any]:
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
    async def readyz(ctx: Ctx):
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
    async def metrics():
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


class BodyTooLarge(Exception):
    def __init__(self, limit: int):
        super().__init__(f"the body exceeds {limit} bytes")


# A caller's X-Request-ID is kept when it is a plain token; anything else gets a new id (a header
# value goes into every log line of the request).
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")


class _Edge:
    """Pure ASGI middleware: request size limit, request id (X-Request-ID, taken or made, and
    returned), request metrics (route templates, not paths) and one access log line a request."""

    def __init__(self, app, max_body: int):
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        request_id = None
        for name, value in scope.get("headers", ()):
            if name == b"x-request-id":
                text = value.decode("latin-1")
                request_id = text if _REQUEST_ID.fullmatch(text) else None
        request_id = request_id or uuid.uuid4().hex
        # Also for the handler of unexpected errors, which runs outside this middleware.
        scope.setdefault("state", {})["request_id"] = request_id
        with request_context(request_id):
            await self._handle(scope, receive, send, request_id)

    async def _handle(self, scope, receive, send, request_id: str):
        started = time.perf_counter()
        status = {"code": 500}

        async def send_wrapper(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message["headers"] = [*message.get("headers", ()), (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            for name, value in scope.get("headers", ()):
                if name == b"content-length":
                    try:
                        too_big = int(value) > self.max_body
                    except ValueError:
                        too_big = True
                    if too_big:
                        resp = problem_response(413, "Request too large",
                                                f"the body exceeds {self.max_body} bytes")
                        return await resp(scope, receive, send_wrapper)
            if has_body(scope):
                unreadable = body_problem(scope.get("headers", ()))
                if unreadable:
                    resp = problem_response(415, "Unsupported media type", unreadable,
                                            type_="https://osms.kz/problems/unsupported-media-type")
                    return await resp(scope, receive, send_wrapper)
            # A body sent without Content-Length (chunked) is counted as it arrives.
            received = {"bytes": 0}
            inner_receive = receive

            async def receive():
                message = await inner_receive()
                if message["type"] == "http.request":
                    received["bytes"] += len(message.get("body", b""))
                    if received["bytes"] > self.max_body:
                        raise BodyTooLarge(self.max_body)
                return message

            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", "unmatched")
            seconds = time.perf_counter() - started
            REQUESTS.labels(scope["method"], path, str(status["code"])).inc()
            LATENCY.labels(scope["method"], path).observe(seconds)
            log.info("request", method=scope["method"], route=path, status=status["code"],
                     duration_ms=round(seconds * 1000, 3))


_PROBLEM_SCHEMA = {
    "type": "object",
    "description": "RFC 9457 problem details",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
        "detail": {"type": "string"}, "instance": {"type": "string"}, "rule": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object", "properties": {
            "loc": {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
            "msg": {"type": "string"}, "type": {"type": "string"}}}},
    },
    "additionalProperties": True,
}
_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
_COMMON_ERRORS = {
    "401": "no valid bearer key",
    "403": "the key's role or scope does not allow this",
    "413": "the request body is too large",
    "415": "the body is not application/json, or is encoded (Content-Encoding)",
    "422": "invalid input (problem+json with errors[])",
    "503": "a dependency is unavailable; retry after Retry-After seconds",
}
_OPEN_PATHS = {"/healthz", "/readyz", "/metrics"}


def _openapi_with_problems(app: FastAPI) -> dict:
    """The OpenAPI document with every error documented as application/problem+json."""
    if app.openapi_schema:
        return app.openapi_schema
    from fastapi.openapi.utils import get_openapi

    schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas["Problem"] = _PROBLEM_SCHEMA
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    components["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer",
                                                "description": "an osms API key: osms_<key_id>_<secret>"}}
    for path, ops in schema.get("paths", {}).items():
        for op in ops.values():
            responses = op.setdefault("responses", {})
            if path not in _OPEN_PATHS:
                op["security"] = [{"bearer": []}]
                for code, text in _COMMON_ERRORS.items():
                    if code in ("413", "415") and "requestBody" not in op:
                        continue
                    responses.setdefault(code, {"description": text})
            else:
                responses.setdefault("503", {"description": _COMMON_ERRORS["503"]})
            for code, resp in responses.items():
                if code.startswith(("4", "5")):
                    resp["content"] = {"application/problem+json": {"schema": _PROBLEM_REF}}
    app.openapi_schema = schema
    return schema


def create_app(spec: ServiceSpec, settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    # /docs from the service's own copy of Swagger UI (services/common/docs.py), not a CDN; no ReDoc.
    app = FastAPI(title=spec.title or f"osms {spec.name}", description=spec.description,
                  version="1", lifespan=_lifespan(spec, settings), docs_url=None, redoc_url=None)
    add_docs(app)

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return exc.response(instance=request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
                  for e in exc.errors()]
        return problem_response(422, "Invalid request", "the request does not match the schema",
                                type_="https://osms.kz/problems/validation", errors=errors,
                                instance=request.url.path)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:  # FastAPI's answer to a body it cannot decode (not UTF-8, not JSON)
            return problem_response(422, "Invalid request", "the body is not valid UTF-8 JSON",
                                    type_="https://osms.kz/problems/validation",
                                    errors=[{"loc": ["body"], "msg": str(exc.detail), "type": "json_invalid"}],
                                    instance=request.url.path)
        titles = {404: "Not found", 405: "Method not allowed", 401: "Unauthorized", 403: "Forbidden"}
        return problem_response(exc.status_code, titles.get(exc.status_code, "Error"), str(exc.detail),
                                headers=getattr(exc, "headers", None), instance=request.url.path)

    async def _data_error(request: Request, exc: Exception) -> JSONResponse:
        # A value the database cannot take (a NUL byte in text, a number out of range): it came
        # from the request, so it is the caller's to fix. Routes validate first; this is the net.
        log.warning("input refused by the database", path=request.url.path, error=type(exc).__name__)
        return problem_response(422, "Invalid request", "a value in the request cannot be stored or searched",
                                type_="https://osms.kz/problems/validation",
                                errors=[{"loc": ["request"], "msg": type(exc).__name__, "type": "value_error"}],
                                instance=request.url.path)

    async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
        log.warning("dependency unavailable", path=request.url.path, error=type(exc).__name__)
        return problem_response(503, "Service unavailable", "a dependency is unavailable; retry",
                                headers={"Retry-After": "2"}, instance=request.url.path)

    async def _too_large(request: Request, exc: Exception) -> JSONResponse:
        return problem_response(413, "Request too large", str(exc), instance=request.url.path)

    # Handlers by class run inside the app (the catch-all below would also log a traceback).
    app.add_exception_handler(BodyTooLarge, _too_large)
    app.add_exception_handler(asyncpg.DataError, _data_error)
    for cls in UNAVAILABLE:
        app.add_exception_handler(cls, _unavailable)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        request_id = getattr(request.state, "request_id", None)
        log.exception("unhandled error", path=request.url.path, request_id=request_id)
        return problem_response(500, "Internal error", "an unexpected error; it has been logged",
                                instance=request.url.path,
                                headers={"X-Request-ID": request_id} if request_id else None)

    app.openapi = lambda: _openapi_with_problems(app)  # type: ignore[method-assign]
    app.add_middleware(_Edge, max_body=settings.max_body_bytes)
    if tracing.configure(settings, spec.name):
        tracing.instrument_app(app)     # outside _Edge: its access line carries the request's trace id
    app.include_router(_health_router())
    routers = [*spec.routers, rules_router()] if spec.rule_tables else spec.routers
    for router in routers:
        # Every route of a service needs a valid key; each route then checks role and scope.
        app.include_router(router, dependencies=[Depends(authenticate)])
    return app
