"""feedback against the real PostgreSQL and Kafka: registration, lifecycle, lists, statistics, events."""
from __future__ import annotations

import asyncio
import re
import uuid
from datetime import date

import pytest

from services.feedback.app import app
from tests.support import feedback_kyzylorda as kz
from tests.support import people
from tests.support.feedback_api import complaint, consultation, set_today
from tests.support.feedback_visits import recorded
from tests.support.financing_events import visit
from tests.support.inproc import eventually, running
from tests.support.kafka import read_topic


@pytest.fixture(scope="module")
async def client():
    async with running(app) as c:
        yield c


def _region() -> str:
    return f"Region-{uuid.uuid4().hex[:8]}"


async def _events(topic: str, appeal_id: str) -> list[dict]:
    return [e for e in await read_topic(topic) if e["value"]["data"]["appeal_id"] == appeal_id]


async def test_a_complaint_is_registered_with_its_deadline_and_announced(client, monkeypatch):
    set_today(monkeypatch, date(2026, 3, 16))  # Nauryz days off and two weekends lie ahead
    visit = f"V-{uuid.uuid4().hex[:6]}"
    body = complaint(_region(), "service_not_provided", clinic_id="C-1", visit_id=visit)
    r = await client.post("/v1/appeals", json=body, headers={"X-Operator": "desk-7"})
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["status"] == "registered" and created["due_date"] == "2026-04-09"
    assert created["due_date_provisional"] is created["rules_provisional"] is False
    assert created["rules_version"] == "calendar@2026-01-01+deadlines@2021-07-01"
    assert re.fullmatch(r"KZ-2026-\d{6}", created["registration_number"])

    appeal = (await client.get(f"/v1/appeals/{created['appeal_id']}")).json()
    assert appeal["iin"] == body["iin"] and appeal["visit_id"] == visit and appeal["overdue"] is False
    assert [(t["from"], t["to"], t["by"]) for t in appeal["transitions"]] == [(None, "registered", "desk-7")]

    filed = await eventually(lambda: _events("appeal-filed", created["appeal_id"]))
    assert len(filed) == 1 and filed[0]["key"] == body["iin"]
    data = filed[0]["value"]["data"]
    assert (data["registration_number"], data["category"], data["visit_id"], data["due_date"]) == \
        (created["registration_number"], "service_not_provided", visit, "2026-04-09")
    assert "text" not in data and "iin" not in data


async def test_registration_numbers_count_up_within_the_year(client, monkeypatch):
    set_today(monkeypatch, date(2027, 2, 1))
    numbers = [(await client.post("/v1/appeals", json=consultation(_region()))).json()["registration_number"]
               for _ in range(3)]
    serials = [int(n.rsplit("-", 1)[1]) for n in numbers]
    assert all(n.startswith("KZ-2027-") for n in numbers)
    assert serials == [serials[0], serials[0] + 1, serials[0] + 2]


async def test_same_key_same_answer_other_body_conflict(client, monkeypatch):
    set_today(monkeypatch, date(2026, 5, 4))
    region = _region()
    body = complaint(region)
    key = {"Idempotency-Key": f"desk-{uuid.uuid4()}"}
    first = await client.post("/v1/appeals", json=body, headers=key)
    again = await client.post("/v1/appeals", json=body, headers=key)
    assert first.status_code == again.status_code == 201 and first.json() == again.json()
    other = await client.post("/v1/appeals", json={**body, "text": "something else"}, headers=key)
    assert other.status_code == 409 and other.json()["rule"] == "idempotency_key_reused"
    assert first.json()["appeal_id"] not in other.text and first.json()["registration_number"] not in other.text
    # The same under a `reference` in the body; and without any key, each POST is a new appeal.
    ref = {**consultation(region), "reference": f"web-{uuid.uuid4()}"}
    assert (await client.post("/v1/appeals", json=ref)).json() == (await client.post("/v1/appeals", json=ref)).json()
    plain = consultation(region)
    a, b = [(await client.post("/v1/appeals", json=plain)).json()["appeal_id"] for _ in range(2)]
    assert a != b
    stats = (await client.get("/v1/stats", params={"region": region})).json()
    assert stats["appeals"] == 4


@pytest.mark.parametrize("change, field", [
    ({"iin": "900101300018"}, "iin"),                      # wrong check digit
    ({"category": None}, "category"),                      # a complaint needs one
    ({"iin": None}, "iin"),                                # complaints are not anonymous
    ({"category": "service_not_provided", "clinic_id": "C-1"}, "visit_id"),  # the disputed visit
    ({"kind": "consultation"}, "category"),                # consultations have no category
    ({"channel": "fax"}, "channel"),
    ({"category": "rudeness"}, "category"),
    ({"text": "   "}, "text"),
    ({"region": ""}, "region"),
    ({"visit_id": "V1"}, "clinic_id"),
    ({"iin": people.iin(date(2090, 1, 1))}, "iin"),      # not born on the day of registration
])
async def test_an_invalid_appeal_is_a_422_naming_the_field(client, change, field):
    r = await client.post("/v1/appeals", json={**complaint("Kyzylorda"), **change})
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    assert [e["loc"] for e in r.json()["errors"]] == [["body", field]]


@pytest.mark.parametrize("day", ["2026-04-01T00:00:00", "2026-04-01T00:00:00Z", "2026-4-1", "20260401",
                                 "1775001600", "2026-04-31"])
async def test_dates_are_exactly_yyyy_mm_dd(client, monkeypatch, day):
    set_today(monkeypatch, date(2026, 4, 1))
    r = await client.get("/v1/stats", params={"from": day})
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["query", "from"], r.text
    appeal_id = (await client.post("/v1/appeals", json=complaint(_region()))).json()["appeal_id"]
    path = f"/v1/appeals/{appeal_id}/transitions"
    assert (await client.post(path, json={"to": "in_review"})).status_code == 200
    for value in (day, 1780272000):   # a string of another form, or a Unix timestamp
        r = await client.post(path, json={"to": "extended", "note": "letter sent", "due_date": value})
        assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "due_date"], r.text
    r = await client.post(path, json={"to": "extended", "note": "letter sent", "due_date": "2026-05-29"})
    assert r.status_code == 200 and r.json()["extended_due_date"] == "2026-05-29"


async def test_an_upheld_never_provided_service_tells_financing_which_visit_to_void(client, monkeypatch):
    set_today(monkeypatch, date(2026, 4, 1))
    visit_id = f"V-{uuid.uuid4().hex[:6]}"
    body = complaint(_region(), "service_not_provided", clinic_id="C-77", visit_id=visit_id)
    await recorded(app, visit(body["iin"], "C-77", visit_id, date(2026, 3, 30)))  # the registry's event
    appeal_id = (await client.post("/v1/appeals", json=body)).json()["appeal_id"]
    path = f"/v1/appeals/{appeal_id}/transitions"

    r = await client.post(path, json={"to": "upheld", "note": "x"})
    assert r.status_code == 409 and r.json()["rule"] == "transition_not_allowed"
    assert (await client.post(path, json={"to": "in_review"}, headers={"X-Operator": "op-1"})).status_code == 200
    set_today(monkeypatch, date(2026, 4, 3))
    r = await client.post(path, json={"to": "upheld", "note": "no such visit in the clinic's logs", "by": "op-2"})
    assert r.status_code == 200, r.text
    appeal = r.json()
    assert appeal["status"] == "upheld" and appeal["resolved_on"] == "2026-04-03"
    # Registration is stamped with the key that registered it (no operator named); the others by name.
    assert [(t["from"], t["to"], t["by"]) for t in appeal["transitions"]] == [
        (None, "registered", appeal["transitions"][0]["by"]), ("registered", "in_review", "op-1"),
        ("in_review", "upheld", "op-2")]
    assert appeal["transitions"][0]["by"].startswith("key:")

    # A client's retry changes nothing; a different decision on a closed appeal is refused.
    retry = await client.post(path, json={"to": "upheld", "note": "no such visit in the clinic's logs", "by": "op-2"})
    assert retry.status_code == 200 and len(retry.json()["transitions"]) == 3
    r = await client.post(path, json={"to": "rejected"})
    assert r.status_code == 409 and r.json()["rule"] == "appeal_closed" and r.json()["current_status"] == "upheld"

    resolved = await eventually(lambda: _events("appeal-resolved", appeal_id))
    await asyncio.sleep(0.3)  # a duplicate from the retry would be on the topic by now
    resolved = await _events("appeal-resolved", appeal_id)
    assert len(resolved) == 1 and resolved[0]["key"] == body["iin"]
    data = resolved[0]["value"]["data"]
    assert (data["status"], data["category"], data["clinic_id"], data["visit_id"], data["resolved_on"]) == \
        ("upheld", "service_not_provided", "C-77", visit_id, "2026-04-03")


async def test_transition_keys_and_unknown_appeals(client, monkeypatch):
    set_today(monkeypatch, date(2026, 4, 1))
    appeal_id = (await client.post("/v1/appeals", json=consultation(_region()))).json()["appeal_id"]
    path = f"/v1/appeals/{appeal_id}/transitions"
    key = {"Idempotency-Key": "t-1"}
    assert (await client.post(path, json={"to": "in_review"}, headers=key)).status_code == 200
    again = await client.post(path, json={"to": "in_review"}, headers=key)
    assert again.status_code == 200 and len(again.json()["transitions"]) == 2
    r = await client.post(path, json={"to": "answered"}, headers=key)
    assert r.status_code == 409 and r.json()["rule"] == "idempotency_key_reused"
    r = await client.post(path, json={"to": "upheld"})
    assert r.status_code == 409 and r.json()["rule"] == "status_not_for_kind"
    r = await client.post(path, json={"to": "answered"})
    assert r.status_code == 200 and r.json()["status"] == "answered"
    # An anonymous consultation's events are keyed by the appeal itself.
    resolved = await eventually(lambda: _events("appeal-resolved", appeal_id))
    assert resolved[0]["key"] == appeal_id and resolved[0]["value"]["data"]["status"] == "answered"
    missing = await client.post(f"/v1/appeals/{uuid.uuid4()}/transitions", json={"to": "in_review"})
    assert missing.status_code == 404
    assert (await client.get(f"/v1/appeals/{uuid.uuid4()}")).status_code == 404
    assert (await client.get("/v1/appeals/not-a-uuid")).status_code == 422


async def test_extension_moves_the_deadline_and_operators_see_overdue_first(client, monkeypatch):
    region = _region()
    set_today(monkeypatch, date(2026, 4, 1))  # due 2026-04-22
    ids = {}
    for name, body in {"late": complaint(region, clinic_id="C-A"),
                       "extended": complaint(region, "refusal_of_care"),
                       "closed": complaint(region, channel="telegram")}.items():
        ids[name] = (await client.post("/v1/appeals", json=body)).json()["appeal_id"]
    set_today(monkeypatch, date(2026, 4, 6))  # a later appeal, due later
    ids["fresh"] = (await client.post("/v1/appeals", json=consultation(region))).json()["appeal_id"]

    ext = f"/v1/appeals/{ids['extended']}/transitions"
    await client.post(ext, json={"to": "in_review"})
    r = await client.post(ext, json={"to": "extended"})
    assert r.status_code == 409 and r.json()["rule"] == "extension_needs_notice"
    r = await client.post(ext, json={"to": "extended", "note": "letter No 5 sent to the applicant"})
    assert r.json()["status"] == "extended" and r.json()["extended_due_date"] == "2026-06-01"
    assert r.json()["due_date"] == "2026-04-22"
    again = await client.post(ext, json={"to": "extended", "note": "another letter"})
    assert again.status_code == 409 and again.json()["rule"] == "transition_not_allowed"
    await client.post(f"/v1/appeals/{ids['closed']}/transitions", json={"to": "withdrawn"})

    set_today(monkeypatch, date(2026, 4, 23))
    page = (await client.get("/v1/appeals", params={"region": region})).json()
    order = [a["appeal_id"] for a in page["appeals"]]
    assert order[0] == ids["late"] and page["appeals"][0]["overdue"] is True
    assert [a["overdue"] for a in page["appeals"][1:]] == [False, False, False]
    assert (await client.get(f"/v1/appeals/{ids['late']}")).json()["overdue"] is True
    assert (await client.get(f"/v1/appeals/{ids['extended']}")).json()["overdue"] is False
    stats = (await client.get("/v1/stats", params={"region": region})).json()
    assert stats["overdue"] == 1 and stats["by_status"]["withdrawn"] == 1 and stats["by_status"]["extended"] == 1

    async def only(**params):
        body = (await client.get("/v1/appeals", params={"region": region, **params})).json()
        return {a["appeal_id"] for a in body["appeals"]}

    assert await only(clinic_id="C-A") == {ids["late"]}
    assert await only(status="extended") == {ids["extended"]}
    assert await only(category="refusal_of_care") == {ids["extended"]}
    assert await only(channel="telegram") == {ids["closed"]}
    assert await only(kind="consultation") == {ids["fresh"]}

    # Page by page, every appeal once, in the same order.
    walked, after = [], None
    while True:
        params = {"region": region, "limit": 1, **({"after": after} if after else {})}
        body = (await client.get("/v1/appeals", params=params)).json()
        walked += [a["appeal_id"] for a in body["appeals"]]
        if not (after := body["next"]):
            break
    assert walked == order and len(walked) == 4
    by_registration = (await client.get("/v1/appeals", params={"region": region, "overdue_first": "false"})).json()
    assert [a["appeal_id"] for a in by_registration["appeals"]] == [ids[n] for n in ("late", "extended", "closed",
                                                                                     "fresh")]
    bad = await client.get("/v1/appeals", params={"after": "nonsense"})
    assert bad.status_code == 422


async def test_stats_count_a_period_and_a_region(client, monkeypatch):
    region = _region()
    for day in (date(2026, 1, 12), date(2026, 2, 10), date(2026, 3, 10)):
        set_today(monkeypatch, day)
        await client.post("/v1/appeals", json=complaint(region, "other"))
    stats = (await client.get("/v1/stats", params={"region": region, "from": "2026-02-01",
                                                   "to": "2026-03-10"})).json()
    assert stats["appeals"] == 2 and stats["by_category"]["other"] == 2
    assert (await client.get("/v1/stats", params={"from": "2026-03-01", "to": "2026-02-01"})).status_code == 422


async def test_kyzylorda_2025_through_the_api_reproduces_the_published_shares(client, monkeypatch):
    set_today(monkeypatch, date(2025, 6, 2))
    region = f"Kyzylorda-{uuid.uuid4().hex[:6]}"
    gate = asyncio.Semaphore(8)
    channels = ["call_center", "mobile_app", "website", "telegram", "clinic_desk"]

    async def file(i: int, a: kz.MixAppeal) -> None:
        body = {"channel": channels[i % 5], "kind": a.kind, "region": region, "text": f"appeal {i}"}
        if a.kind == "complaint":
            body |= {"category": a.category, "iin": people.iin()}
            if a.category == "service_not_provided":
                body |= {"clinic_id": "C-KZY-1", "visit_id": f"V-{i}"}
        async with gate:
            r = await client.post("/v1/appeals", json=body)
            assert r.status_code == 201, r.text
            if a.final_status:
                t = await client.post(f"/v1/appeals/{r.json()['appeal_id']}/transitions", json={"to": a.final_status})
                assert t.status_code == 200, t.text

    await asyncio.gather(*(file(i, a) for i, a in enumerate(kz.mix())))
    stats = (await client.get("/v1/stats", params={"region": region, "from": "2025-01-01",
                                                   "to": "2025-12-31"})).json()
    assert stats["appeals"] == kz.APPEALS
    assert stats["by_kind"] == {"consultation": kz.APPEALS - kz.COMPLAINTS, "complaint": kz.COMPLAINTS}
    assert stats["by_status"]["resolved_on_spot"] + stats["by_status"]["withdrawn"] == kz.SPOT_OR_WITHDRAWN
    assert {c: stats["by_category"][c] for c in kz.TOP_CATEGORIES} == kz.TOP_CATEGORIES
    shares = {"resolved_on_spot_or_withdrawn": stats["resolved_on_spot_or_withdrawn_share"],
              **{c: stats["by_category_share"][c] for c in kz.TOP_CATEGORIES}}
    for name, published in kz.PUBLISHED.items():
        assert kz.agrees_with_published(shares[name], published), (name, shares[name], published)
