"""What every service answers at its edges: health, readiness, metrics, problem+json errors."""
from __future__ import annotations

import importlib

import pytest

from tests.support.inproc import running

SERVICES = ["contributions", "registry", "financing", "feedback"]


@pytest.mark.parametrize("service", SERVICES)
async def test_health_readiness_metrics_and_openapi(service):
    app = importlib.import_module(f"services.{service}.app").app
    async with running(app) as client:
        from tests.support.inproc import eventually

        r = await client.get("/readyz")
        assert r.status_code == 200 and r.json()["checks"] == {"database": "ok"}

        async def kafka_seen():
            health = (await client.get("/healthz")).json()
            return health if health["checks"]["kafka"] == "ok" else None

        health = await eventually(kafka_seen, timeout=30)
        assert health["status"] == "ok"
        assert health["checks"]["relay"] == ("off" if service == "financing" else "running")
        consumers = {"financing": {"financing": "running"},
                     "feedback": {"feedback": "running", "feedback-denials": "running"},
                     "registry": {"registry": "running"}}
        assert health["checks"]["consumers"] == consumers.get(service, {})
        metrics = await client.get("/metrics")
        assert metrics.status_code == 200 and "osms_http_requests_total" in metrics.text
        assert (await client.get("/openapi.json")).json()["info"]["title"] == f"osms {service}"
        missing = await client.get("/v1/no-such-thing")
        assert missing.status_code == 404
        assert missing.headers["content-type"] == "application/problem+json"
        assert missing.json()["status"] == 404


async def test_bad_input_is_a_422_problem_naming_the_field():
    from services.registry.app import app

    async with running(app) as client:
        r = await client.post("/v1/attachments", json={"iin": "900101312349", "clinic_id": "C1",
                                                       "reason": "choice", "effective_date": "2026-01-01"})
        assert r.status_code == 422
        assert r.headers["content-type"] == "application/problem+json"
        body = r.json()
        assert body["errors"][0]["loc"] == ["body", "iin"] and "check digit" in body["errors"][0]["msg"]
        r = await client.post("/v1/attachments", content=b"{broken", headers={"content-type": "application/json"})
        assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
        r = await client.post("/v1/visits", content=b"x" * 9_000_000, headers={"content-type": "application/json"})
        assert r.status_code == 413

        async def chunked():  # no Content-Length: the limit is enforced on the stream
            for _ in range(10):
                yield b"x" * 1_000_000

        r = await client.post("/v1/visits", content=chunked(), headers={"content-type": "application/json"})
        assert r.status_code == 413 and r.headers["content-type"] == "application/problem+json"


async def test_inputs_found_by_fuzzing_are_422_not_500():
    """Regressions from schemathesis: a 43-digit amount, and a NUL byte in a text filter."""
    from services.contributions.app import app as contributions
    from services.feedback.app import app as feedback

    async with running(contributions) as client:
        r = await client.post("/v1/payments", json={
            "iin": "900101312348", "payer_kind": "self", "paid_on": "2026-11-02", "reference": "x",
            "amount": "0495713893007538838332699150716529273027400.38"})
        assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "amount"]
    async with running(feedback) as client:
        r = await client.get("/v1/stats", params={"region": "Kyzylorda\x00"})
        assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"


async def test_a_service_is_ready_and_takes_writes_while_kafka_is_away(settings):
    """Writes need only PostgreSQL: the events wait in the outbox, and /healthz says Kafka is away."""
    from services.common.app import create_app
    from services.registry.app import spec
    from bench.processes import free_port

    from tests.support.inproc import eventually

    away = settings.model_copy(update={"kafka_bootstrap": f"127.0.0.1:{free_port()}"})
    app = create_app(spec, away)
    async with running(app) as client:
        assert (await client.get("/readyz")).status_code == 200
        r = await client.put("/v1/clinics/AWAY-1", json={"name": "Away", "region": "Kyzylorda", "settlement": "urban"})
        assert r.status_code == 201, r.text

        async def kafka_away():
            health = (await client.get("/healthz")).json()
            return health if health["checks"]["kafka"] == "unavailable" else None

        assert (await eventually(kafka_away, timeout=15))["status"] == "ok"
        assert "osms_kafka_up 0.0" in (await client.get("/metrics")).text
        async with app.state.ctx.pool.acquire() as conn:
            assert await conn.fetchval("SELECT count(*) FROM outbox") >= 1
