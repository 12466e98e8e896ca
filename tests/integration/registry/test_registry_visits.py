"""POST /v1/visits against the real PostgreSQL and Kafka: each visit judged alone, recorded once,
one visit-recorded event per recorded visit, and a 1,000-visit request in a few queries."""
from __future__ import annotations

import asyncio
from datetime import date

import asyncpg

from services.common import clock
from tests.support.people import iin, iins
from tests.support.registry_helpers import events_for


def visit(visit_id, clinic, person, on="2026-10-01", kind="consultation", practitioner=None):
    v = {"visit_id": visit_id, "clinic_id": clinic, "iin": person, "date": on, "kind": kind}
    if practitioner:
        v["practitioner_id"] = practitioner
    return v


async def test_each_visit_is_judged_alone_and_a_resent_batch_records_nothing_twice(client, clinic):
    person, woman = iin(birth=date(1961, 5, 5), sex="M"), iin(birth=date(1980, 1, 1), sex="F")
    bad_iin = person[:11] + str((int(person[11]) + 1) % 10)
    tomorrow = date.fromordinal(clock.today().toordinal() + 1).isoformat()
    batch = [
        visit("ok-1", clinic, person, practitioner="dr-1"),
        visit("bad-iin", clinic, bad_iin),
        visit("no-clinic", "NO-SUCH", person),
        visit("future", clinic, person, on=tomorrow),
        visit("old", clinic, person, on="2019-12-31"),
        visit("kind", clinic, person, kind="massage"),
        visit("ok-1", clinic, person, practitioner="dr-1"),             # the same visit twice in one request
        visit("ok-2", clinic, woman, kind="screening_cervical", practitioner="dr-1"),
        visit("ok-2", clinic, woman, kind="consultation"),              # the same id, another visit
    ]
    r = await client.post("/v1/visits", json={"visits": batch})
    assert r.status_code == 200
    assert [(x["visit_id"], x["status"], x["errors"]) for x in r.json()["results"]] == [
        ("ok-1", "recorded", []),
        ("bad-iin", "rejected", ["invalid_iin: IIN check digit is wrong"]),
        ("no-clinic", "rejected", ["unknown_clinic"]),
        ("future", "rejected", ["date_in_future"]),
        ("old", "rejected", ["date_too_old"]),
        ("kind", "rejected", ["unknown_kind"]),
        ("ok-1", "duplicate", []),
        ("ok-2", "recorded", []),
        ("ok-2", "rejected", ["conflicts_with_recorded_visit"]),
    ]
    resent = await client.post("/v1/visits", json={"visits": [batch[0], batch[7], visit("ok-2", clinic, woman)]})
    assert [(x["status"], x["errors"]) for x in resent.json()["results"]] == [
        ("duplicate", []), ("duplicate", []), ("rejected", ["conflicts_with_recorded_visit"])]

    events = await events_for("visit-recorded", {"clinic_id": clinic}, 2)
    assert sorted((e["data"]["visit_id"], e["data"]["kind"], e["data"]["practitioner_id"]) for e in events) == \
        [("ok-1", "consultation", "dr-1"), ("ok-2", "screening_cervical", "dr-1")]
    assert {e["data"]["iin"] for e in events} == {person, woman}

    volumes = (await client.get(f"/v1/clinics/{clinic}/practitioner-volumes", params={"date": "2026-10-01"})).json()
    assert volumes["practitioners"] == [{"practitioner_id": "dr-1", "visits": 2, "patients": 2, "over_norm": False}]


async def test_a_malformed_request_is_a_422_naming_the_field(client, clinic):
    r = await client.post("/v1/visits", json={"visits": [{"visit_id": "x", "clinic_id": clinic, "iin": iin(),
                                                          "date": "2026-13-01", "kind": "consultation"}]})
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["errors"][0]["loc"] == ["body", "visits", 0, "date"]
    too_many = [visit(f"v{i}", clinic, iin()) for i in range(1001)]
    assert (await client.post("/v1/visits", json={"visits": too_many})).status_code == 422
    assert (await client.post("/v1/visits", json={"visits": []})).status_code == 422
    nul = await client.post("/v1/visits", json={"visits": [visit("a\u0000b", clinic, iin())]})
    assert nul.status_code == 422 and nul.json()["errors"][0]["loc"] == ["body", "visits", 0, "visit_id"]
    odd = await client.post("/v1/visits", json={"visits": [visit("odd", clinic, "12\u0000")]})
    assert [x["errors"] for x in odd.json()["results"]] == [["invalid_iin: IIN must be 12 digits"]]


async def test_a_thousand_visit_request_is_recorded_in_a_few_queries(client, clinic):
    people = iins(1000)
    batch = [visit(f"bulk-{i}", clinic, p, practitioner=f"dr-{i % 50}") for i, p in enumerate(people)]
    queries = await _count_queries(client.post("/v1/visits", json={"visits": batch}))
    r, n = queries
    assert [x["status"] for x in r.json()["results"]] == ["recorded"] * 1000
    # clinics, deaths, the INSERT with the integrity checks' look-up, the packed outbox row and its NOTIFY;
    # and for the confirmation sample (the rules in force say how many are drawn): the flags' look-up, its
    # rows, their events and NOTIFY
    assert n <= 9, n
    again, n = await _count_queries(client.post("/v1/visits", json={"visits": batch}))
    assert [x["status"] for x in again.json()["results"]] == ["duplicate"] * 1000 and n <= 5, n
    volumes = (await client.get(f"/v1/clinics/{clinic}/practitioner-volumes", params={"date": "2026-10-01"})).json()
    assert sum(p["visits"] for p in volumes["practitioners"]) == 1000 and len(volumes["practitioners"]) == 50


async def test_identifiers_with_any_printable_characters_are_stored_and_published_as_sent(client, clinic):
    """The INSERT's columns travel as array literals and the events' envelopes are written natively:
    quotes, backslashes, braces, commas, spaces, the word NULL and letters beyond ASCII come back as
    they were sent, from the table and on Kafka, and a visit repeated with them is a duplicate."""
    odd = ['q"uote', "back\\slash", "{brace}", "a,b", " spaced ", "NULL", "Дәрігер №5", "", "\\\"", "x" * 64]
    people = iins(len(odd))
    batch = [visit(f"odd-{i}-{name}"[:64], clinic, person, practitioner=name or None)
             for i, (name, person) in enumerate(zip(odd, people))]
    r = await client.post("/v1/visits", json={"visits": batch})
    assert [x["status"] for x in r.json()["results"]] == ["recorded"] * len(odd)
    from services.registry.app import app

    async with app.state.ctx.pool.acquire() as conn:
        stored = {row["visit_id"]: (row["iin"], row["date"], row["practitioner_id"]) for row in await conn.fetch(
            "SELECT visit_id, iin, date, practitioner_id FROM visits WHERE clinic_id = $1", clinic)}
    assert stored == {v["visit_id"]: (v["iin"], date(2026, 10, 1), v.get("practitioner_id")) for v in batch}
    events = await events_for("visit-recorded", {"clinic_id": clinic}, len(odd))
    assert sorted((e["data"]["visit_id"], e["data"]["practitioner_id"], e["data"]["iin"]) for e in events) == \
        sorted((v["visit_id"], v.get("practitioner_id"), v["iin"]) for v in batch)
    again = await client.post("/v1/visits", json={"visits": batch})
    assert [x["status"] for x in again.json()["results"]] == ["duplicate"] * len(odd)


async def _count_queries(request):
    """Runs the request counting the statements sent on behalf of this task, transaction control and
    the cached rule snapshot's check aside (the relay's, in another task, are not counted)."""
    task = asyncio.current_task()
    count = 0
    originals = {}

    def counting(name):
        original = originals[name] = getattr(asyncpg.Connection, name)

        async def wrapper(self, *args, **kwargs):
            nonlocal count
            sql = args[0] if args and isinstance(args[0], str) else name
            # The rule snapshot is read at most once in CACHE_SECONDS for every request, not by this one.
            if asyncio.current_task() is task and "rule_versions" not in sql \
                    and sql.split()[0].upper().rstrip(";") not in ("BEGIN", "COMMIT", "ROLLBACK"):
                count += 1
            return await original(self, *args, **kwargs)
        return wrapper

    for name in ("execute", "executemany", "fetch", "fetchrow", "fetchval", "copy_records_to_table"):
        setattr(asyncpg.Connection, name, counting(name))
    try:
        response = await request
    finally:
        for name, original in originals.items():
            setattr(asyncpg.Connection, name, original)
    assert count > 0  # the counting reached the request's queries
    return response, count
