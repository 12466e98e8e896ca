"""feedback as a real process: concurrent requests under one key make one appeal, and its log tells
what happened to an appeal without the appeal's text or the applicant's IIN."""
from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from tests.support.feedback_api import complaint
from tests.support.keys import headers as key_headers
from bench.processes import ServiceProcess


@pytest.fixture(scope="module")
def feedback():
    operator = key_headers("operator")
    proc = ServiceProcess("feedback").start()
    proc.headers = operator
    yield proc
    proc.stop()


async def test_concurrent_requests_under_one_key_make_one_appeal(feedback):
    region = f"Region-{uuid.uuid4().hex[:8]}"
    body = complaint(region)
    headers = {"Idempotency-Key": f"retry-{uuid.uuid4()}"}
    async with httpx.AsyncClient(base_url=feedback.url, timeout=10, headers=feedback.headers) as client:
        answers = await asyncio.gather(*(client.post("/v1/appeals", json=body, headers=headers)
                                         for _ in range(8)))
        assert {r.status_code for r in answers} == {201}
        assert len({r.json()["registration_number"] for r in answers}) == 1
        stats = (await client.get("/v1/stats", params={"region": region})).json()
        assert stats["appeals"] == 1


async def test_logs_carry_ids_and_numbers_never_texts_or_iins(feedback):
    marker = uuid.uuid4().hex
    body = complaint("Kyzylorda", "refusal_of_medicines", text=f"My insulin was refused {marker}")
    note = f"called the applicant back {marker[::-1]}"
    async with httpx.AsyncClient(base_url=feedback.url, timeout=10, headers=feedback.headers) as client:
        created = (await client.post("/v1/appeals", json=body)).json()
        path = f"/v1/appeals/{created['appeal_id']}/transitions"
        assert (await client.post(path, json={"to": "in_review", "note": note})).status_code == 200
        assert (await client.post(path, json={"to": "upheld", "note": note})).status_code == 200
    feedback.stop()  # the last test of this module: stopping flushes the log
    log = feedback.log_path.read_text()
    assert created["registration_number"] in log and created["appeal_id"] in log
    assert marker not in log and marker[::-1] not in log
    assert body["iin"] not in log
