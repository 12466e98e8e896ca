"""Registry API against the real PostgreSQL and Kafka: clinics, attachments, people and deaths,
and the events they publish."""
from __future__ import annotations

import asyncio
from datetime import date

from services.common import clock
from tests.support.kafka import read_topic
from tests.support.people import iin
from tests.support.registry_helpers import BACKDATED, events_for, new_clinic


async def attach(client, person, clinic, reason="choice", effective="2026-01-15"):
    """An admin's attachment (the module's client): the dates lie further back than a clinic may reach."""
    return await client.post("/v1/attachments", json={"iin": person, "clinic_id": clinic, "reason": reason,
                                                      "effective_date": effective, "backdate_reason": BACKDATED})


async def test_clinics_are_created_updated_read_and_listed_by_region(client):
    region = f"region-{iin()}"
    ids = sorted([await new_clinic(client, region=region) for _ in range(3)])
    r = await client.put(f"/v1/clinics/{ids[0]}", json={"name": "Renamed", "region": region, "settlement": "rural"})
    assert r.status_code == 200
    assert (await client.get(f"/v1/clinics/{ids[0]}")).json() == {
        "clinic_id": ids[0], "name": "Renamed", "region": region, "settlement": "rural"}
    page = (await client.get("/v1/clinics", params={"region": region, "limit": 2})).json()
    assert [c["clinic_id"] for c in page["clinics"]] == ids[:2] and page["next_after"] == ids[1]
    rest = (await client.get("/v1/clinics", params={"region": region, "limit": 2, "after": ids[1]})).json()
    assert [c["clinic_id"] for c in rest["clinics"]] == ids[2:] and rest["next_after"] is None
    missing = await client.get("/v1/clinics/NO-SUCH")
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"


async def test_attachments_follow_the_rules_and_publish_patient_attached_with_the_previous_clinic(client):
    a, b, c = [await new_clinic(client) for _ in range(3)]
    person = iin(birth=date(1990, 6, 15), sex="F")
    first = await attach(client, person, a, "choice", "2026-01-10")
    assert first.status_code == 201 and first.json()["previous_clinic_id"] is None
    again = await attach(client, person, a, "choice", "2026-01-10")
    assert again.status_code == 201 and again.json() == first.json()  # a repeat changes nothing

    change = await attach(client, person, b, "choice", "2026-03-01")
    assert change.status_code == 201 and change.json()["previous_clinic_id"] == a
    limited = await attach(client, person, c, "choice", "2026-06-01")
    assert limited.status_code == 409 and limited.headers["content-type"] == "application/problem+json"
    assert limited.json()["rule"] == "voluntary_change_limit"
    moved = await attach(client, person, c, "address_change", "2026-06-01")
    assert moved.status_code == 201 and moved.json()["previous_clinic_id"] == b

    for clinic, rule in ((a, "effective_date_before_current"), ("NO-SUCH", "unknown_clinic"),
                         (c, "already_attached")):
        r = await attach(client, person, clinic, "address_change", "2026-05-01")
        assert (r.status_code, r.json()["rule"]) == (409, rule)

    events = await events_for("patient-attached", {"iin": person}, 3)
    assert [(e["data"]["clinic_id"], e["data"]["previous_clinic_id"], e["data"]["person_version"])
            for e in sorted(events, key=lambda e: e["data"]["person_version"])] == \
        [(a, None, 1), (b, a, 2), (c, b, 3)]
    assert {(e["data"]["birth_date"], e["data"]["sex"]) for e in events} == {("1990-06-15", "F")}
    assert len(events) == 3  # the repeated request and the refusals published nothing

    person_view = (await client.get(f"/v1/persons/{person}")).json()
    assert (person_view["clinic_id"], person_view["attached_since"], person_view["died_on"]) == (c, "2026-06-01", None)
    assert [(h["clinic_id"], h["ended_on"]) for h in person_view["history"]] == \
        [(a, "2026-03-01"), (b, "2026-06-01"), (c, None)]


async def test_a_refused_first_attachment_leaves_no_person_behind(client):
    person = iin()
    r = await attach(client, person, "NO-SUCH")
    assert (r.status_code, r.json()["rule"]) == (409, "unknown_clinic")
    assert (await client.get(f"/v1/persons/{person}")).status_code == 404


async def test_person_lookup_derives_birth_date_and_sex_and_checks_the_iin(client, clinic):
    person = iin(birth=date(2001, 12, 31), sex="M")
    assert (await client.get(f"/v1/persons/{person}")).status_code == 404
    await attach(client, person, clinic)
    body = (await client.get(f"/v1/persons/{person}")).json()
    assert (body["birth_date"], body["sex"], body["clinic_id"]) == ("2001-12-31", "M", clinic)
    bad = person[:11] + str((int(person[11]) + 1) % 10)
    assert (await client.get(f"/v1/persons/{bad}")).status_code == 422


async def test_death_detaches_once_publishes_patient_detached_and_closes_the_person(client, clinic):
    person = iin(birth=date(1950, 2, 1))
    attached = (await attach(client, person, clinic)).json()
    died = await client.post(f"/v1/persons/{person}/death", json={"date": "2026-09-30"})
    assert died.status_code == 200
    assert (died.json()["died_on"], died.json()["clinic_id"]) == ("2026-09-30", None)
    assert died.json()["history"][0]["ended_on"] == "2026-09-30"
    assert (await client.post(f"/v1/persons/{person}/death", json={"date": "2026-09-30"})).json() == died.json()
    other = await client.post(f"/v1/persons/{person}/death", json={"date": "2026-09-29"})
    assert (other.status_code, other.json()["rule"]) == (409, "death_already_recorded")

    after = await attach(client, person, await new_clinic(client), "address_change", "2026-10-01")
    assert (after.status_code, after.json()["rule"]) == (409, "person_deceased")
    visits = await client.post("/v1/visits", json={"visits": [
        {"visit_id": f"d-{person}-1", "clinic_id": clinic, "iin": person, "date": "2026-09-30", "kind": "home_visit"},
        {"visit_id": f"d-{person}-2", "clinic_id": clinic, "iin": person, "date": "2026-10-01", "kind": "home_visit"}]})
    assert [(v["status"], v["errors"]) for v in visits.json()["results"]] == \
        [("recorded", []), ("rejected", ["visit_after_death"])]

    events = await events_for("patient-detached", {"iin": person}, 1)
    assert len(events) == 1
    assert {k: events[0]["data"][k] for k in ("clinic_id", "attachment_id", "date", "reason", "person_version")} == \
        {"clinic_id": clinic, "attachment_id": attached["attachment_id"], "date": "2026-09-30",
         "reason": "death", "person_version": 2}


async def test_death_of_a_person_never_attached_is_kept_and_a_future_death_is_invalid(client):
    person = iin()
    tomorrow = date.fromordinal(clock.today().toordinal() + 1)
    future = await client.post(f"/v1/persons/{person}/death", json={"date": tomorrow.isoformat()})
    assert future.status_code == 422 and future.headers["content-type"] == "application/problem+json"
    r = await client.post(f"/v1/persons/{person}/death", json={"date": "2026-01-05"})
    assert r.status_code == 200 and (r.json()["died_on"], r.json()["history"]) == ("2026-01-05", [])


async def test_concurrent_repeats_of_one_attachment_record_it_once(client, clinic):
    person = iin()
    answers = await asyncio.gather(*(attach(client, person, clinic, "address_change", "2026-04-01")
                                     for _ in range(6)))
    assert {r.status_code for r in answers} == {201}
    assert len({r.json()["attachment_id"] for r in answers}) == 1
    view = (await client.get(f"/v1/persons/{person}")).json()
    assert len(view["history"]) == 1
    # a later event of the same person is on Kafka: had a repeat published, it would be too
    await client.post(f"/v1/persons/{person}/death", json={"date": "2026-05-01"})
    await events_for("patient-detached", {"iin": person}, 1)
    assert len([e for e in await read_topic("patient-attached") if e["key"] == person]) == 1


async def test_a_campaign_change_asked_in_october_takes_effect_on_1_january(client, monkeypatch):
    a, b = await new_clinic(client), await new_clinic(client)
    person = iin(birth=date(1970, 1, 1))
    await attach(client, person, a, "choice", "2025-03-01")
    monkeypatch.setattr(clock, "today", lambda: date(2026, 10, 15))
    r = await attach(client, person, b, "campaign", "2027-01-01")
    assert r.status_code == 201 and r.json()["previous_clinic_id"] == a
    view = (await client.get(f"/v1/persons/{person}")).json()
    assert (view["clinic_id"], view["history"][-1]["clinic_id"]) == (a, b)  # still A until 1 January
    monkeypatch.setattr(clock, "today", lambda: date(2026, 11, 2))
    late = await attach(client, person, await new_clinic(client), "campaign", "2027-01-01")
    assert (late.status_code, late.json()["rule"]) == (409, "campaign_closed")
    event = (await events_for("patient-attached", {"iin": person, "reason": "campaign"}, 1))[0]
    assert (event["data"]["effective_date"], event["data"]["previous_clinic_id"]) == ("2027-01-01", a)
