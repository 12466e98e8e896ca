"""Operators review held visits against the real PostgreSQL and Kafka: the list of held visits (filters,
pages), a decision recorded with who, when and why and published, 409 on a visit not held; and the risk
lists per clinic and per practitioner."""
from __future__ import annotations

from datetime import date, timedelta

from services.common import clock
from services.registry import integrity
from tests.support.inproc import key_headers
from tests.support.people import iin, iins
from tests.support.registry_helpers import events_for, new_clinic


def visit(visit_id, clinic, person, on, kind="consultation", practitioner=None):
    v = {"visit_id": visit_id, "clinic_id": clinic, "iin": person, "date": on.isoformat(), "kind": kind}
    if practitioner:
        v["practitioner_id"] = practitioner
    return v


def _day(back: int) -> date:
    return clock.today() - timedelta(days=back)


async def _operator(client):
    from services.registry.app import app

    return await key_headers(app, "operator")


async def test_held_visits_are_listed_by_clinic_reason_and_date_in_pages(client, clinic):
    men = iins(5, sex="M", birth=date(1980, 1, 1))
    r = await client.post("/v1/visits", json={"visits": [
        visit(f"h-{i}", clinic, m, _day(i + 1), "screening_cervical") for i, m in enumerate(men)] + [
        visit("ok", clinic, men[0], _day(1)), visit("rep", clinic, men[0], _day(1))]})
    assert [x["integrity"] for x in r.json()["results"]] == ["held"] * 5 + ["clear", "held"]
    operator = await _operator(client)
    page = (await client.get("/v1/integrity/held", params={"clinic_id": clinic, "limit": 3}, headers=operator)).json()
    assert [v["visit_id"] for v in page["visits"]] == ["h-4", "h-3", "h-2"]          # oldest visit date first
    assert page["visits"][0]["reasons"] == ["kind_sex"] and page["visits"][0]["held_by"].startswith("admin:")
    rest = (await client.get("/v1/integrity/held", params={"clinic_id": clinic, "limit": 3,
                                                           "after": page["next_after"]}, headers=operator)).json()
    assert sorted(v["visit_id"] for v in rest["visits"]) == ["h-0", "h-1", "rep"] and rest["next_after"] is not None
    assert (await client.get("/v1/integrity/held", params={"clinic_id": clinic, "limit": 3,
                                                           "after": rest["next_after"]}, headers=operator)).json() \
        == {"visits": [], "next_after": None}
    repeated = (await client.get("/v1/integrity/held", params={"clinic_id": clinic, "reason": "repeated_visit"},
                                 headers=operator)).json()
    assert [v["visit_id"] for v in repeated["visits"]] == ["rep"]
    dated = (await client.get("/v1/integrity/held", params={"clinic_id": clinic, "from": _day(3).isoformat(),
                                                            "to": _day(2).isoformat()}, headers=operator)).json()
    assert sorted(v["visit_id"] for v in dated["visits"]) == ["h-1", "h-2"]
    bad = await client.get("/v1/integrity/held", params={"reason": "vibes"}, headers=operator)
    assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"
    bad_key = await client.get("/v1/integrity/held", params={"after": "not-a-key"}, headers=operator)
    assert bad_key.status_code == 422


async def test_a_decision_is_recorded_with_who_when_why_published_and_a_second_one_is_409(client, clinic):
    man = iin(sex="M", birth=date(1970, 1, 1))
    await client.post("/v1/visits", json={"visits": [visit("d-1", clinic, man, _day(1), "screening_cervical"),
                                                     visit("d-2", clinic, man, _day(2), "screening_breast"),
                                                     visit("d-3", clinic, man, _day(3))]})
    operator = await _operator(client)
    url = f"/v1/integrity/held/{clinic}/d-1/decision"
    cleared = await client.post(url, json={"decision": "clear", "note": "a data-entry slip: the kind was wrong"},
                                headers=operator)
    assert cleared.status_code == 200, cleared.text
    body = cleared.json()
    assert (body["integrity"], body["reasons"], body["integrity_version"]) == ("clear", ["kind_sex"], 1)
    assert body["decided_by"].startswith("operator:")
    again = await client.post(url, json={"decision": "void", "note": "too late"}, headers=operator)
    assert again.status_code == 409 and again.json()["rule"] == "visit_not_held"
    clear_one = await client.post(f"/v1/integrity/held/{clinic}/d-3/decision",
                                  json={"decision": "clear", "note": "x"}, headers=operator)
    assert clear_one.status_code == 409 and clear_one.json()["rule"] == "visit_not_held"
    voided = await client.post(f"/v1/integrity/held/{clinic}/d-2/decision",
                               json={"decision": "void", "note": "no such visit"}, headers=operator)
    assert voided.json()["integrity"] == "void"
    assert (await client.post(f"/v1/integrity/held/{clinic}/no-such/decision", json={"decision": "clear", "note": "x"},
                              headers=operator)).status_code == 404
    wrong = await client.post(url, json={"decision": "maybe", "note": "x"}, headers=operator)
    assert wrong.status_code == 422
    from services.registry.app import app

    clinic_key = await key_headers(app, "clinic", clinic)
    assert (await client.post(url, json={"decision": "clear", "note": "x"}, headers=clinic_key)).status_code == 403

    assert [e["data"]["integrity_version"] for e in
            await events_for("visit-cleared", {"clinic_id": clinic, "visit_id": "d-1"}, 1)] == [1]
    assert [e["data"]["voided"] for e in await events_for("visit-held", {"clinic_id": clinic, "visit_id": "d-2"}, 1)] \
        == [True]
    async with app.state.ctx.pool.acquire() as conn:
        changes = await integrity.history(conn, clinic, "d-1")
    assert [(c["version"], c["state"], c["note"]) for c in changes] == [
        (0, "held", None), (1, "clear", "a data-entry slip: the kind was wrong")]
    assert changes[1]["changed_by"] == body["decided_by"]
    still = (await client.get("/v1/integrity/held", params={"clinic_id": clinic}, headers=operator)).json()
    assert still["visits"] == []


async def test_the_risk_list_puts_the_clinic_visiting_people_just_before_they_turn_inactive_first(client):
    region = f"risk-{iin()[:6]}"
    honest, padder = await new_clinic(client, region=region), await new_clinic(client, region=region)
    people = iins(20, birth=date(1980, 5, 5))
    # The padder's ten were last seen 340 days ago and are seen again now, 25 days before they would turn
    # inactive; the honest clinic's ten were seen 200 days ago and again 5 days ago.
    first = [visit(f"f-{i}", honest if i % 2 else padder, p, _day(200 if i % 2 else 340))
             for i, p in enumerate(people)]
    later = [visit(f"l-{i}", honest if i % 2 else padder, p, _day(5 if i % 2 else 0),
                   practitioner="dr-h" if i % 2 else "dr-p") for i, p in enumerate(people)]
    for batch in (first, later):
        r = await client.post("/v1/visits", json={"visits": batch})
        assert {x["status"] for x in r.json()["results"]} == {"recorded"}
    operator = await _operator(client)
    r = await client.get("/v1/integrity/clinics", params={"region": region, "order_by": "risk",
                                                          "from": _day(30).isoformat()}, headers=operator)
    assert r.status_code == 200, r.text
    rows = r.json()["rows"]
    assert [x["clinic_id"] for x in rows] == [padder, honest]
    assert (rows[0]["visits"], rows[0]["turning_inactive"], rows[0]["turning_inactive_share"]) == (10, 10, 1.0)
    assert rows[0]["risk"] > rows[1]["risk"] and rows[0]["denial_rate"] is None
    assert 0 < r.json()["region_turning_inactive_share"] < 1
    per_practitioner = (await client.get(f"/v1/integrity/clinics/{padder}/practitioners",
                                         headers=operator)).json()["rows"]
    assert [(x["practitioner_id"], x["turning_inactive"]) for x in per_practitioner] == [("dr-p", 10)]
    assert (await client.get("/v1/integrity/clinics/NO-SUCH/practitioners", headers=operator)).status_code == 404


async def test_a_clinics_key_lists_its_own_held_visits_only(client, clinic):
    from services.registry.app import app

    other = await new_clinic(client)
    man = iin(sex="M", birth=date(1980, 1, 1))
    for c in (clinic, other):
        r = await client.post("/v1/visits", json={"visits": [visit(f"own-{c}", c, man, _day(1), "screening_cervical")]})
        assert r.json()["results"][0]["integrity"] == "held"
    key = await key_headers(app, "clinic", clinic)
    for params in ({}, {"clinic_id": clinic}):
        page = (await client.get("/v1/integrity/held", params=params, headers=key)).json()
        assert {v["clinic_id"] for v in page["visits"]} == {clinic} and f"own-{clinic}" in \
            {v["visit_id"] for v in page["visits"]}
    # A visit its patient denied stays the Fund's to see: the clinic does not learn who denied it.
    woman = iin(sex="F", birth=date(1980, 1, 1))
    await client.post("/v1/visits", json={"visits": [visit("denied", clinic, woman, _day(1))]})
    async with app.state.ctx.pool.acquire() as conn, conn.transaction():
        await integrity.hold(conn, [(clinic, "denied")], ["patient_denied"], "patient")
    seen = {v["visit_id"] for v in (await client.get("/v1/integrity/held", headers=key)).json()["visits"]}
    operator = await _operator(client)
    assert "denied" not in seen and "denied" in {v["visit_id"] for v in (await client.get(
        "/v1/integrity/held", params={"clinic_id": clinic}, headers=operator)).json()["visits"]}
    refused = await client.get("/v1/integrity/held", params={"clinic_id": other}, headers=key)
    assert refused.status_code == 403 and other not in refused.text
    employer = await key_headers(app, "employer", "180140000013")
    assert (await client.get("/v1/integrity/held", headers=employer)).status_code == 403
