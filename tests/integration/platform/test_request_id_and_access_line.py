"""Every request has an id (the caller's X-Request-ID, or one made) returned in the response and carried
by each line logged while it is handled, and one access line with its route, status and duration."""
from __future__ import annotations

import structlog

from services.feedback.app import app
from tests.support.inproc import running


async def test_a_caller_s_request_id_is_returned_and_logged_with_the_route_status_and_duration():
    async with running(app) as client:
        with structlog.testing.capture_logs([structlog.contextvars.merge_contextvars]) as lines:
            r = await client.get("/v1/appeals/00000000-0000-4000-8000-000000000000",
                                 headers={"X-Request-ID": "trace-me-42"})
            made = await client.get("/v1/appeals/00000000-0000-4000-8000-000000000001")
            hostile = await client.get("/healthz", headers={"X-Request-ID": "a\"}\n{\"forged\": 1"})
    assert r.status_code == 404 and r.headers["x-request-id"] == "trace-me-42"
    access = [line for line in lines if line["event"] == "request"]
    mine = next(line for line in access if line.get("request_id") == "trace-me-42")
    assert mine["route"] == "/v1/appeals/{appeal_id}" and mine["status"] == 404 and mine["method"] == "GET"
    assert mine["duration_ms"] >= 0
    # Without one, an id is made, returned and logged; a header that is not a plain token is replaced.
    assert len(made.headers["x-request-id"]) == 32
    assert any(line.get("request_id") == made.headers["x-request-id"] for line in access)
    assert hostile.headers["x-request-id"] != "a\"}\n{\"forged\": 1" and len(hostile.headers["x-request-id"]) == 32
