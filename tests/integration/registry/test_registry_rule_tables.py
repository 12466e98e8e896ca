"""The registry's rule tables against the real PostgreSQL: the seeded versions, a published version
followed from its effective date while earlier dates do not change, and bad publications refused
with nothing written.

The tests set the registry's clock to 2030 (clock.today, as the campaign test does): versions they
publish take effect on dates no other test records anything on, so the counts they check are exact
and the rules other tests rely on do not change."""
from __future__ import annotations

from datetime import date, timedelta

from services.common import clock
from tests.support.inproc import key_headers
from tests.support.people import iin
from tests.support.registry_helpers import BACKDATED, new_clinic

LEGAL_BASIS = {"act": "Приказ Министра здравоохранения РК (test)", "number": "ҚР ДСМ-1", "date": "2030-01-10",
               "url": "https://adilet.zan.kz/rus/docs/V0000000000"}


async def current(client, table: str, on: date | str) -> dict:
    r = await client.get(f"/v1/rules/{table}", params={"on": str(on)})
    assert r.status_code == 200, r.text
    return r.json()


async def publish(client, table: str, effective: date | str, values: dict, headers=None):
    return await client.post(f"/v1/rules/{table}", headers=headers, json={
        "effective_from": str(effective), "values": values, "legal_basis": LEGAL_BASIS, "note": "test version"})


def visit(visit_id: str, clinic: str, person: str, on: date, kind: str, practitioner: str = "dr-1") -> dict:
    return {"visit_id": visit_id, "clinic_id": clinic, "iin": person, "date": on.isoformat(), "kind": kind,
            "practitioner_id": practitioner}


async def test_the_seeded_tables_are_listed_with_their_legal_basis(client):
    listed = {t["table"]: t for t in (await client.get("/v1/rules")).json()["tables"]}
    assert set(listed) >= {"attachment", "visits"}
    for name in ("attachment", "visits"):
        first = listed[name]["versions"][0]
        assert (first["version"], listed[name]["span"], listed[name]["published_until"]) == \
            (f"{name}@2020-01-01", None, None)
        assert first["legal_basis"]["url"].startswith("https://adilet.zan.kz/rus/docs/")
    assert listed["attachment"]["versions"][0]["legal_basis"]["number"] == "ҚР ДСМ-194/2020"
    assert "as the project had them" in listed["attachment"]["versions"][0]["note"]
    assert "project's decision" in listed["visits"]["versions"][0]["note"]

    attachment = await current(client, "attachment", "2026-01-15")
    assert attachment["values"] == {
        "voluntary_window_months": 12, "voluntary_changes_allowed": 1, "limited_reasons": ["choice"],
        "campaign_opens": "09-01", "campaign_closes": "11-01", "campaign_effective": "01-01",
        "newborn_max_age_months": 12, "clinic_backdate_days": None}
    assert attachment["rules_provisional"] is False
    visits = await current(client, "visits", "2026-01-15")
    kinds = {k["code"]: k for k in visits["values"]["kinds"]}
    assert (visits["values"]["practitioner_daily_norm"], visits["values"]["earliest_date"]) == (24, "2020-01-01")
    assert {c: (k["sex"], k["min_age_years"], k["max_age_years"]) for c, k in kinds.items() if k["sex"]} == {
        "antenatal": ("F", 14, 55), "screening_cervical": ("F", 30, 70), "screening_breast": ("F", 40, 70),
        "screening_prostate": ("M", 45, 70)}
    assert (kinds["patronage"]["min_age_years"], kinds["patronage"]["max_age_years"]) == (0, 5)
    assert {"consultation", "home_visit", "vaccination", "screening"} <= set(kinds)
    # far past the last version: carried, but these tables have no year span, so never provisional
    assert (await current(client, "visits", clock.today() + timedelta(days=700)))["rules_provisional"] is False
    assert (await client.get("/v1/rules/visits", params={"on": "2019-12-31"})).status_code == 404


async def test_a_new_visit_kind_is_taken_from_its_effective_date_on_and_the_norm_follows(client, monkeypatch):
    today = date(2030, 6, 15)
    yesterday = today - timedelta(days=1)
    monkeypatch.setattr(clock, "today", lambda: today)
    clinic = await new_clinic(client)
    people = [iin(birth=date(1970, 3, 3)) for _ in range(4)]
    before = await client.post("/v1/visits", json={"visits": [
        visit("b-1", clinic, people[0], yesterday, "consultation"), visit("b-2", clinic, people[1], yesterday, "consultation"),
        visit("b-3", clinic, people[0], today, "consultation"), visit("b-4", clinic, people[1], today, "consultation"),
        visit("b-5", clinic, people[2], today, "lung_screening")]})
    assert before.status_code == 200
    assert [(x["status"], x["errors"]) for x in before.json()["results"]] == \
        [("recorded", [])] * 4 + [("rejected", ["unknown_kind"])]
    assert (before.json()["rules_version"], before.json()["rules_provisional"]) == ("visits@2026-12-07", False)

    old = (await current(client, "visits", today))["values"]
    new = {**old, "practitioner_daily_norm": 1,
           "kinds": [*old["kinds"], {"code": "lung_screening", "sex": None, "min_age_years": 40, "max_age_years": None}]}
    published = await publish(client, "visits", today, new)
    assert published.status_code == 201, published.text
    body = published.json()
    assert (body["version"], body["values"], body["records_on_or_after"]) == ("visits@2030-06-15", new, 2)
    assert body["published_by"].endswith("(admin)")

    after = await client.post("/v1/visits", json={"visits": [
        visit("a-1", clinic, people[3], yesterday, "lung_screening"),
        visit("a-2", clinic, people[3], today, "lung_screening"),
        visit("b-1", clinic, people[0], yesterday, "consultation")]})
    assert [(x["visit_id"], x["status"], x["errors"]) for x in after.json()["results"]] == [
        ("a-1", "rejected", ["unknown_kind"]), ("a-2", "recorded", []), ("b-1", "duplicate", [])]
    assert after.json()["rules_version"] == "visits@2026-12-07+visits@2030-06-15"

    def volumes(on):
        return client.get(f"/v1/clinics/{clinic}/practitioner-volumes", params={"date": on.isoformat()})

    earlier = (await volumes(yesterday)).json()
    assert (earlier["daily_norm"], earlier["rules_version"], earlier["practitioners"]) == \
        (24, "visits@2026-12-07", [{"practitioner_id": "dr-1", "visits": 2, "patients": 2, "over_norm": False}])
    later = (await volumes(today)).json()
    assert (later["daily_norm"], later["rules_version"], later["rules_provisional"], later["practitioners"]) == \
        (1, "visits@2030-06-15", False, [{"practitioner_id": "dr-1", "visits": 3, "patients": 3, "over_norm": True}])
    assert (await current(client, "visits", yesterday))["version"] == "visits@2026-12-07"


async def test_a_new_voluntary_window_applies_from_its_effective_date_and_not_before(client, monkeypatch):
    monkeypatch.setattr(clock, "today", lambda: date(2030, 9, 20))
    a, b, c = [await new_clinic(client) for _ in range(3)]
    person, other = iin(birth=date(1980, 2, 2)), iin(birth=date(1981, 3, 3))

    async def attach(who, clinic, reason, effective):
        return await client.post("/v1/attachments", json={"iin": who, "clinic_id": clinic, "reason": reason,
                                                          "effective_date": effective, "backdate_reason": BACKDATED})

    assert (await attach(person, a, "choice", "2030-01-10")).status_code == 201
    first_change = await attach(person, b, "choice", "2030-02-01")
    assert first_change.status_code == 201 and first_change.json()["rules_version"] == "attachment@2026-12-01"
    assert (await attach(other, a, "address_change", "2030-03-05")).status_code == 201
    refused = await attach(person, c, "choice", "2030-03-01")
    assert (refused.status_code, refused.json()["rule"], refused.json()["rules_version"]) == \
        (409, "voluntary_change_limit", "attachment@2026-12-01")

    values = {**(await current(client, "attachment", "2030-03-01"))["values"], "voluntary_window_months": 1}
    published = await publish(client, "attachment", "2030-03-01", values)
    assert published.status_code == 201, published.text
    assert published.json()["records_on_or_after"] == 1     # the other person's attachment of 5 March

    still = await attach(person, c, "choice", "2030-02-28")   # before the version: twelve months still
    assert (still.status_code, still.json()["rule"], still.json()["rules_version"]) == \
        (409, "voluntary_change_limit", "attachment@2026-12-01+attachment@2030-03-01")
    accepted = await attach(person, c, "choice", "2030-03-01")
    assert accepted.status_code == 201, accepted.text
    assert (accepted.json()["previous_clinic_id"], accepted.json()["rules_version"],
            accepted.json()["rules_provisional"]) == (b, "attachment@2030-03-01", False)
    again = await attach(person, c, "choice", "2030-03-01")  # a repeat answers as accepted, by its version
    assert again.json() == accepted.json()
    history = (await client.get(f"/v1/persons/{person}")).json()["history"]
    assert [(h["clinic_id"], h["effective_date"], h["ended_on"]) for h in history] == [
        (a, "2030-01-10", "2030-02-01"), (b, "2030-02-01", "2030-03-01"), (c, "2030-03-01", None)]


async def _versions(client) -> dict:
    return {t["table"]: [v["version"] for v in t["versions"]] for t in (await client.get("/v1/rules")).json()["tables"]}


async def test_bad_publications_are_refused_and_write_nothing(client):
    from services.registry.app import app

    attachment, visits = [(await current(client, t, "2026-01-15"))["values"] for t in ("attachment", "visits")]
    kinds = visits["kinds"]
    before = await _versions(client)
    cases = [
        ("nope", "2031-01-01", attachment, None, 404),
        ("visits", "2031-01-01", {k: v for k, v in visits.items() if k != "practitioner_daily_norm"}, None, 422),
        ("attachment", "2031-01-01", {k: v for k, v in attachment.items() if k != "campaign_opens"}, None, 422),
        ("attachment", "2031-01-01", {**attachment, "voluntary_window_months": -12}, None, 422),
        ("attachment", "2031-01-01", {**attachment, "campaign_opens": "02-30"}, None, 422),
        ("visits", "2031-01-01", {**visits, "practitioner_daily_norm": 100_000}, None, 422),
        ("visits", "2031-01-01", {**visits, "practitioner_daily_norm": 0}, None, 422),
        ("visits", "2031-01-01", {**visits, "kinds": [*kinds, kinds[0]]}, None, 422),
        ("visits", "2031-01-01", {**visits, "kinds": [{**kinds[0], "min_age_years": 200}]}, None, 422),
        ("visits", "2031-01-01", {**visits, "kinds": [{**kinds[0], "min_age_years": 9, "max_age_years": 3}]}, None, 422),
        ("visits", "2031-01-01", {**visits, "kinds": [{**kinds[0], "code": "Bad Code"}]}, None, 422),
        ("visits", "2019-12-31", visits, None, 422),
        ("visits", "2020-01-01", visits, None, 409),
        ("attachment", "2020-01-01", attachment, None, 409),
        ("visits", "2031-01-01", visits, await key_headers(app, "operator"), 403),
        ("attachment", "2031-01-01", attachment, await key_headers(app, "clinic", "C-1"), 403),
    ]
    for table, effective, values, headers, status in cases:
        r = await publish(client, table, effective, values, headers)
        assert (r.status_code, r.headers["content-type"]) == (status, "application/problem+json"), (table, values)
    assert await _versions(client) == before
    r = await publish(client, "visits", "2031-01-01", {**visits, "practitioner_daily_norm": 0})
    assert r.json()["errors"][0]["loc"] == ["body", "values", "practitioner_daily_norm"]
    conflict = await publish(client, "visits", "2020-01-01", visits)
    assert conflict.json()["rule"] == "rule_version_exists"


async def test_dates_before_the_first_version_take_the_first_and_too_far_ahead_is_a_422(client, clinic):
    person = iin(birth=date(1960, 1, 1))
    old = await client.post("/v1/attachments", json={"iin": person, "clinic_id": clinic, "reason": "address_change",
                                                      "effective_date": "2015-05-01", "backdate_reason": BACKDATED})
    assert old.status_code == 201  # attached long ago: judged by the first version, the bound by today's
    assert old.json()["rules_version"].startswith("attachment@2020-01-01+attachment@")
    report = await client.get(f"/v1/clinics/{clinic}/practitioner-volumes", params={"date": "2019-12-31"})
    assert (report.json()["daily_norm"], report.json()["rules_version"]) == (24, "visits@2020-01-01")

    far = date(clock.today().year + 3, 1, 1)
    ahead = await client.post("/v1/attachments", json={"iin": iin(), "clinic_id": clinic, "reason": "campaign",
                                                        "effective_date": far.isoformat()})
    assert ahead.status_code == 422 and ahead.json()["errors"][0]["loc"] == ["body", "effective_date"]
    r = await client.get(f"/v1/clinics/{clinic}/practitioner-volumes", params={"date": far.isoformat()})
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["query", "date"]
