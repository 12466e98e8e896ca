"""An upheld service_not_provided complaint voids a visit, so feedback upholds it only for a visit the
registry recorded at that clinic for the complainant: feedback learns visits from visit-recorded."""
from __future__ import annotations

import asyncio
import uuid
from datetime import date

import pytest

from services.feedback.app import app
from tests.support import people
from tests.support.feedback_api import complaint, set_today
from tests.support.feedback_visits import caught_up, recorded
from tests.support.financing_events import publish, visit
from tests.support.inproc import eventually, running
from tests.support.kafka import read_topic


@pytest.fixture(scope="module")
async def client():
    async with running(app) as c:
        yield c


async def _resolved(appeal_id: str) -> list[dict]:
    return [e for e in await read_topic("appeal-resolved") if e["value"]["data"]["appeal_id"] == appeal_id]


async def _in_review(client, iin: str, clinic: str, visit_id: str) -> str:
    """A service_not_provided complaint by `iin` naming the visit, taken into review."""
    body = complaint("Kyzylorda", "service_not_provided", iin=iin, clinic_id=clinic, visit_id=visit_id)
    r = await client.post("/v1/appeals", json=body)
    assert r.status_code == 201, r.text
    appeal_id = r.json()["appeal_id"]
    assert (await client.post(f"/v1/appeals/{appeal_id}/transitions", json={"to": "in_review"})).status_code == 200
    return appeal_id


async def _assert_refused_and_unchanged(client, appeal_id: str, rule: str, *hidden: str) -> dict:
    """Upholding is refused with `rule`; the appeal stays in review, nothing is announced, and the answer
    carries none of `hidden` (another person's IIN, another clinic's id)."""
    r = await client.post(f"/v1/appeals/{appeal_id}/transitions", json={"to": "upheld", "note": "checked"})
    assert r.status_code == 409 and r.headers["content-type"] == "application/problem+json", r.text
    assert r.json()["rule"] == rule and r.json()["current_status"] == "in_review"
    assert not [h for h in hidden if h in r.text]
    appeal = (await client.get(f"/v1/appeals/{appeal_id}")).json()
    assert appeal["status"] == "in_review" and appeal["resolved_on"] is None
    assert [t["to"] for t in appeal["transitions"]] == ["registered", "in_review"]
    return r.json()


async def test_a_recorded_visit_reaches_feedback_and_the_complaint_about_it_is_upheld(client, monkeypatch):
    set_today(monkeypatch, date(2026, 11, 20))
    patient, clinic, visit_id = people.iin(), people.clinic_id(), f"V-{uuid.uuid4().hex[:8]}"
    await recorded(app, visit(patient, clinic, visit_id, date(2026, 11, 3)))
    appeal_id = await _in_review(client, patient, clinic, visit_id)
    r = await client.post(f"/v1/appeals/{appeal_id}/transitions", json={"to": "upheld", "note": "not there"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "upheld" and r.json()["resolved_on"] == "2026-11-20"
    (event,) = await eventually(lambda: _resolved(appeal_id))
    assert event["key"] == patient
    assert (event["value"]["data"]["clinic_id"], event["value"]["data"]["visit_id"]) == (clinic, visit_id)


async def test_a_visit_not_known_yet_is_refused_and_the_same_request_succeeds_once_it_arrives(client):
    patient, clinic, visit_id = people.iin(), people.clinic_id(), f"V-{uuid.uuid4().hex[:8]}"
    appeal_id = await _in_review(client, patient, clinic, visit_id)
    upheld = {"to": "upheld", "note": "the clinic's log has no such visit"}
    key = {"Idempotency-Key": f"desk-{uuid.uuid4()}"}
    r = await client.post(f"/v1/appeals/{appeal_id}/transitions", json=upheld, headers=key)
    assert r.status_code == 409 and r.json()["rule"] == "disputed_visit_not_known"
    assert "not known" in r.json()["detail"] and "(yet)" in r.json()["detail"]
    await _assert_refused_and_unchanged(client, appeal_id, "disputed_visit_not_known")

    # The registry's event arrives a moment later: the operator's retry, under the same key, goes through.
    await recorded(app, visit(patient, clinic, visit_id, date(2026, 11, 3)))
    r = await client.post(f"/v1/appeals/{appeal_id}/transitions", json=upheld, headers=key)
    assert r.status_code == 200 and r.json()["status"] == "upheld", r.text
    assert len(await eventually(lambda: _resolved(appeal_id))) == 1


async def test_another_persons_visit_is_refused_without_saying_whose(client):
    patient, someone_else, clinic = people.iin(), people.iin(), people.clinic_id()
    visit_id = f"V-{uuid.uuid4().hex[:8]}"
    await recorded(app, visit(someone_else, clinic, visit_id, date(2026, 11, 4)))
    appeal_id = await _in_review(client, patient, clinic, visit_id)
    problem = await _assert_refused_and_unchanged(client, appeal_id, "disputed_visit_not_the_complainants",
                                                  someone_else)
    assert "not a visit of the complainant" in problem["detail"]
    await asyncio.sleep(0.5)  # an event from the refusal would be on the topic by now
    assert await _resolved(appeal_id) == []


async def test_the_same_visit_id_at_another_clinic_is_not_the_one_named(client):
    patient, clinic, elsewhere = people.iin(), people.clinic_id(), people.clinic_id()
    visit_id = f"V-{uuid.uuid4().hex[:8]}"
    await recorded(app, visit(patient, elsewhere, visit_id, date(2026, 11, 5)))
    appeal_id = await _in_review(client, patient, clinic, visit_id)
    await _assert_refused_and_unchanged(client, appeal_id, "disputed_visit_not_known", elsewhere)
    await asyncio.sleep(0.5)
    assert await _resolved(appeal_id) == []


async def test_replayed_and_repeated_events_change_nothing(client):
    patient, someone_else, clinic = people.iin(), people.iin(), people.clinic_id()
    mine, theirs = f"V-{uuid.uuid4().hex[:8]}", f"V-{uuid.uuid4().hex[:8]}"
    events = [visit(patient, clinic, mine, date(2026, 11, 6)), visit(someone_else, clinic, theirs, date(2026, 11, 6))]
    await recorded(app, *events, duplicate_every=1)          # each one twice, as a relay after a crash
    upheld_id = await _in_review(client, patient, clinic, mine)
    refused_id = await _in_review(client, patient, clinic, theirs)
    assert (await client.post(f"/v1/appeals/{upheld_id}/transitions", json={"to": "upheld"})).status_code == 200

    # The same events again, and one claiming the other person's visit for the complainant: the first
    # event of a visit stands (the registry records a visit once).
    await publish([*events, visit(patient, clinic, theirs, date(2026, 11, 6))])
    await caught_up(app)
    await _assert_refused_and_unchanged(client, refused_id, "disputed_visit_not_the_complainants", someone_else)
    appeal = (await client.get(f"/v1/appeals/{upheld_id}")).json()
    assert appeal["status"] == "upheld" and len(appeal["transitions"]) == 3
    await asyncio.sleep(0.5)
    assert len(await _resolved(upheld_id)) == 1 and await _resolved(refused_id) == []
