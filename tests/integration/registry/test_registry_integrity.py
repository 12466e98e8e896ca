"""Padded records against the real PostgreSQL and Kafka: the intake's checks answer and publish a held
visit, later holds (a death registered late, a practitioner's day far beyond the norm) publish
visit-held, and the store's hold / clear / void record who, when and why and publish in the same
transaction."""
from __future__ import annotations

from datetime import date, timedelta

import pytest

from services.common import clock
from services.registry import integrity
from tests.support.people import iin, iins
from tests.support.registry_helpers import events_for


def visit(visit_id, clinic, person, on, kind="consultation", practitioner=None):
    v = {"visit_id": visit_id, "clinic_id": clinic, "iin": person, "date": on.isoformat(), "kind": kind}
    if practitioner:
        v["practitioner_id"] = practitioner
    return v


def _pool():
    from services.registry.app import app

    return app.state.ctx.pool


def _day(back: int = 1) -> date:
    return clock.today() - timedelta(days=back)


async def test_hold_clear_and_void_are_recorded_with_who_when_why_and_published(client, clinic):
    person = iin(birth=date(1970, 3, 3), sex="F")
    r = await client.post("/v1/visits", json={"visits": [visit("mech-1", clinic, person, _day())]})
    assert r.json()["results"][0]["integrity"] == "clear"
    async with _pool().acquire() as conn:
        async with conn.transaction():
            made = await integrity.hold(conn, [(clinic, "mech-1"), (clinic, "no-such")], ["patient_denied"],
                                        "operator:k1", "the patient says no")
        assert [(c.visit_id, c.state, c.reasons, c.version) for c in made] == \
            [("mech-1", "held", ("patient_denied",), 1)]
        async with conn.transaction():   # the same hold again changes nothing
            assert await integrity.hold(conn, [(clinic, "mech-1")], ["patient_denied"], "operator:k1") == []
        async with conn.transaction():
            cleared = await integrity.clear(conn, clinic, "mech-1", "operator:k2", "seen in the chart")
        assert (cleared.state, cleared.version) == ("clear", 2)
        with pytest.raises(integrity.NotHeld):
            async with conn.transaction():
                await integrity.clear(conn, clinic, "mech-1", "operator:k2")
        async with conn.transaction():
            await integrity.hold(conn, [(clinic, "mech-1")], ["after_death"], "admin:k3")
            voided = await integrity.void(conn, clinic, "mech-1", "operator:k2", "no such visit")
        assert (voided.state, voided.version) == ("void", 4)
        with pytest.raises(integrity.NotHeld):
            async with conn.transaction():
                await integrity.void(conn, clinic, "mech-1", "operator:k2")
        async with conn.transaction():   # nothing holds a voided visit again
            assert await integrity.hold(conn, [(clinic, "mech-1")], ["kind_sex"], "admin:k3") == []
        assert await integrity.clear(conn, clinic, "no-such", "operator:k2") is None
        changes = await integrity.history(conn, clinic, "mech-1")
    assert [(c["version"], c["state"], c["changed_by"], c["note"]) for c in changes] == [
        (1, "held", "operator:k1", "the patient says no"), (2, "clear", "operator:k2", "seen in the chart"),
        (3, "held", "admin:k3", None), (4, "void", "operator:k2", "no such visit")]
    assert all(c["changed_at"] is not None for c in changes)

    held = await events_for("visit-held", {"clinic_id": clinic, "visit_id": "mech-1"}, 3)
    assert sorted((e["data"]["integrity_version"], e["data"]["voided"], tuple(e["data"]["reasons"])) for e in held) == [
        (1, False, ("patient_denied",)), (3, False, ("after_death",)), (4, True, ("after_death",))]
    cleared_events = await events_for("visit-cleared", {"clinic_id": clinic, "visit_id": "mech-1"}, 1)
    assert [(e["data"]["integrity_version"], e["data"]["iin"]) for e in cleared_events] == [(2, person)]


async def test_a_mans_cervical_screening_is_recorded_held_and_published_so(client, clinic):
    man, woman, boy = iin(birth=date(1975, 1, 1), sex="M"), iin(birth=date(1975, 1, 1), sex="F"), \
        iin(birth=date(2018, 1, 1), sex="M")
    on = _day()
    r = await client.post("/v1/visits", json={"visits": [
        visit("cx-man", clinic, man, on, "screening_cervical"),
        visit("cx-woman", clinic, woman, on, "screening_cervical"),
        visit("ante-boy", clinic, boy, on, "antenatal"),
        visit("pat-man", clinic, man, on, "patronage"),
    ]})
    assert [(x["visit_id"], x["status"], x["integrity"], x["reasons"]) for x in r.json()["results"]] == [
        ("cx-man", "recorded", "held", ["kind_sex"]), ("cx-woman", "recorded", "clear", []),
        ("ante-boy", "recorded", "held", ["kind_sex", "kind_age"]), ("pat-man", "recorded", "held", ["kind_age"])]
    again = await client.post("/v1/visits", json={"visits": [visit("cx-man", clinic, man, on, "screening_cervical")]})
    assert [(x["status"], x["integrity"], x["reasons"]) for x in again.json()["results"]] == \
        [("duplicate", "held", ["kind_sex"])]
    events = {e["data"]["visit_id"]: e["data"] for e in await events_for("visit-recorded", {"clinic_id": clinic}, 4)}
    assert (events["cx-man"]["integrity"], events["cx-man"]["reasons"]) == ("held", ["kind_sex"])
    assert (events["cx-woman"]["integrity"], events["cx-woman"]["reasons"]) == ("clear", [])


async def test_a_practitioners_day_beyond_the_norm_is_held_and_far_beyond_it_all_of_it(client, clinic):
    on = _day(2)
    people = iins(80)
    first = [visit(f"vol-{i}", clinic, p, on, practitioner="dr-busy") for i, p in enumerate(people[:40])]
    r = await client.post("/v1/visits", json={"visits": first})
    states = [x["integrity"] for x in r.json()["results"]]
    # the norm 24 × tolerance 1.5: visits 37 to 40 of the day are held
    assert states == ["clear"] * 36 + ["held"] * 4
    assert r.json()["results"][-1]["reasons"] == ["practitioner_volume"]
    more = [visit(f"vol-{i}", clinic, p, on, practitioner="dr-busy") for i, p in enumerate(people[40:72], 40)]
    r = await client.post("/v1/visits", json={"visits": more})       # 72 = 3 × the norm: not yet far beyond
    assert {x["integrity"] for x in r.json()["results"]} == {"held"}
    r = await client.post("/v1/visits", json={"visits": [visit("vol-72", clinic, people[72], on, practitioner="dr-busy"),
                                                         visit("other-dr", clinic, people[73], on, practitioner="dr-2")]})
    assert [x["integrity"] for x in r.json()["results"]] == ["held", "clear"]
    # the 73rd holds the day's first 36 too
    held = await events_for("visit-held", {"clinic_id": clinic}, 36)
    assert sorted(e["data"]["visit_id"] for e in held) == sorted(f"vol-{i}" for i in range(36))
    assert {tuple(e["data"]["reasons"]) for e in held} == {("practitioner_volume",)}


async def test_the_same_person_clinic_kind_and_day_under_another_id_is_held(client, clinic):
    person = iin(birth=date(1990, 6, 6), sex="M")
    on = _day()
    r = await client.post("/v1/visits", json={"visits": [visit("rep-1", clinic, person, on),
                                                         visit("rep-2", clinic, person, on),
                                                         visit("rep-3", clinic, person, on, "vaccination")]})
    assert [(x["integrity"], x["reasons"]) for x in r.json()["results"]] == \
        [("clear", []), ("held", ["repeated_visit"]), ("clear", [])]
    r = await client.post("/v1/visits", json={"visits": [visit("rep-4", clinic, person, on),
                                                         visit("rep-5", clinic, person, on - timedelta(days=1))]})
    assert [(x["integrity"], x["reasons"]) for x in r.json()["results"]] == \
        [("held", ["repeated_visit"]), ("clear", [])]


async def test_a_death_registered_later_holds_the_visits_recorded_after_it(client, clinic):
    person = iin(birth=date(1940, 2, 2), sex="M")
    r = await client.post("/v1/visits", json={"visits": [visit("dd-1", clinic, person, _day(10)),
                                                         visit("dd-2", clinic, person, _day(5)),
                                                         visit("dd-3", clinic, person, _day(3))]})
    assert {x["integrity"] for x in r.json()["results"]} == {"clear"}
    assert (await client.post(f"/v1/persons/{person}/death", json={"date": _day(6).isoformat()})).status_code == 200
    held = await events_for("visit-held", {"iin": person}, 2)
    assert sorted((e["data"]["visit_id"], tuple(e["data"]["reasons"])) for e in held) == \
        [("dd-2", ("after_death",)), ("dd-3", ("after_death",))]
    # a visit posted after the known death is still rejected
    r = await client.post("/v1/visits", json={"visits": [visit("dd-4", clinic, person, _day(2))]})
    assert r.json()["results"][0]["errors"] == ["visit_after_death"]
    # the same death again holds nothing twice
    assert (await client.post(f"/v1/persons/{person}/death", json={"date": _day(6).isoformat()})).status_code == 200
    async with _pool().acquire() as conn:
        assert [c["version"] for c in await integrity.history(conn, clinic, "dd-2")] == [1]


async def _changes(client, state: str, reason: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    text = (await client.get("/metrics")).text
    return sum(s.value for f in text_string_to_metric_families(text) if f.name == "osms_integrity_changes"
               for s in f.samples if s.name == "osms_integrity_changes_total"
               and s.labels == {"state": state, "reason": reason})


async def test_holds_and_decisions_are_counted_on_the_metrics_by_state_and_reason(client, clinic):
    held, cleared = await _changes(client, "held", "kind_sex"), await _changes(client, "clear", "kind_sex")
    man = iin(birth=date(1975, 1, 1), sex="M")
    await client.post("/v1/visits", json={"visits": [visit("m-1", clinic, man, _day(), "screening_cervical"),
                                                     visit("m-2", clinic, man, _day(2), "screening_cervical")]})
    async with _pool().acquire() as conn, conn.transaction():
        await integrity.clear(conn, clinic, "m-1", "operator:test", "the patient's sex was miskeyed")
    assert await _changes(client, "held", "kind_sex") == held + 2
    assert await _changes(client, "clear", "kind_sex") == cleared + 1
