"""The console's proxy without a browser: it passes the key, the query and the body through to a service
and its answer back; a service that does not answer is a readable 502, never a stack trace."""
from __future__ import annotations

from contextlib import asynccontextmanager

import httpx
from asgi_lifespan import LifespanManager

from bench.processes import free_port
from services.console.app import ConsoleSettings, create_console
from services.contributions.app import app as contributions
from tests.support.inproc import running
from tests.support.people import iins


@asynccontextmanager
async def console(settings: ConsoleSettings, transport: httpx.AsyncBaseTransport | None = None):
    async with LifespanManager(create_console(settings, transport)) as manager:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url="http://console") as c:
            yield c


async def test_the_proxy_passes_key_and_body_and_answers_back():
    async with running(contributions) as service:
        settings = ConsoleSettings(contributions_url="http://service")
        async with console(settings, httpx.ASGITransport(app=contributions)) as client:
            people = iins(2)
            r = await client.post("/api/contributions/v1/status-checks", json={"iins": people},
                                  headers=service.headers)
            assert r.status_code == 200, r.text
            assert [x["iin"] for x in r.json()["results"]] == people
            r = await client.get(f"/api/contributions/v1/persons/{people[0]}/status", params={"date": "2026-01-15"},
                                 headers=service.headers)
            assert r.json()["date"] == "2026-01-15"
            r = await client.get(f"/api/contributions/v1/persons/{people[0]}/status",
                                 headers={"Authorization": "Bearer osms_nope_nope"})
            assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"


async def test_a_service_that_does_not_answer_is_a_502_problem_and_an_unknown_one_404():
    settings = ConsoleSettings(financing_url=f"http://127.0.0.1:{free_port()}")
    async with console(settings) as client:
        r = await client.get("/api/financing/v1/consumer-lag", headers={"Authorization": "Bearer osms_a_b"})
        assert r.status_code == 502 and r.headers["content-type"] == "application/problem+json"
        assert r.json()["detail"] == "the financing service is not reachable"
        r = await client.get("/api/payroll/v1/anything")
        assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
        page = await client.get("/")
        assert page.status_code == 200 and "/static/vendor/echarts.min.js" in page.text
