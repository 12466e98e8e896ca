"""feedback's rule tables against the real database: the seeded calendar held against the `holidays`
package, publication of new versions and what they change (and what they do not), refused publications."""
from __future__ import annotations

import uuid
from datetime import date, timedelta

import holidays
import pytest

from services.common.problems import Problem
from services.common.rules import PublishIn, validate_version
from services.feedback.app import app
from services.feedback.domain import CalendarYear, is_working_day
from services.feedback.rules import RULE_TABLES
from tests.support import feedback_rules as fr
from tests.support.feedback_api import complaint, consultation, set_today
from tests.support.inproc import key_headers, running

LAW_ON_HOLIDAYS = "267-II"
SEEDED_YEARS = range(2024, 2028)

# Days on which the seeded calendar and holidays.KZ disagree on whether the day is worked, with the source
# that decides each: {date: (worked in the seed, source)}. The package knows the Ministry's transfers of
# 2024 and 2025 and the Constitution change of 2026, and estimates Kurban Ait as the seed does, so none
# is left; a day here that no longer differs fails the test as much as a new difference does.
KNOWN_DIFFERENCES: dict[date, tuple[bool, str]] = {}


@pytest.fixture(scope="module")
async def client():
    async with running(app) as c:
        yield c


def _region() -> str:
    return f"Region-{uuid.uuid4().hex[:8]}"


async def _version(client, table: str, on: date) -> dict:
    r = await client.get(f"/v1/rules/{table}", params={"on": on.isoformat()})
    assert r.status_code == 200, r.text
    return r.json()


async def _seeded_calendars(client) -> list[CalendarYear]:
    """Every calendar version of 2024-2027 as the service's database holds it."""
    listing = (await client.get("/v1/rules")).json()
    (table,) = [t for t in listing["tables"] if t["table"] == "calendar"]
    calendars = []
    for summary in table["versions"]:
        effective = date.fromisoformat(summary["effective_from"])
        if effective.year not in SEEDED_YEARS:
            continue
        v = await _version(client, "calendar", effective)
        assert v["version"] == summary["version"] and v["legal_basis"]["number"] == LAW_ON_HOLIDAYS
        values = v["values"]
        # The seed is a version the API would accept: a complete year whose dates give its working_days.
        try:
            validate_version(RULE_TABLES["calendar"], PublishIn(effective_from=effective, values=values,
                                                                legal_basis=v["legal_basis"]))
        except Problem as refused:
            pytest.fail(f"{v['version']} would be refused: {refused.errors}")
        calendars.append(CalendarYear(v["version"], effective,
                                      frozenset(date.fromisoformat(e["date"]) for e in values["days_off"]),
                                      frozenset(date.fromisoformat(e["date"]) for e in values["working_weekends"])))
    return calendars


async def test_the_seeded_calendar_agrees_with_the_holidays_package_day_by_day(client):
    calendars = await _seeded_calendars(client)
    package = holidays.KZ(years=SEEDED_YEARS)
    differences, day = {}, date(SEEDED_YEARS[0], 1, 1)
    while day.year in SEEDED_YEARS:
        ours, governing = is_working_day(day, calendars)
        assert governing is not None, f"{day} has no calendar version"
        theirs = (day.weekday() < 5 or day in package.weekend_workdays) and day not in package
        if ours != theirs:
            differences[day] = ours
        day += timedelta(days=1)
    assert differences == {d: worked for d, (worked, _source) in KNOWN_DIFFERENCES.items()}


async def test_the_seed_states_the_changes_of_2026_and_2027_and_the_deadlines(client):
    # The calendar the Ministry published for 2026 (246 working days, 31 August off), corrected from 1 July
    # 2026: Constitution Day moved to 15 March, so 31 August is worked and the year has 247.
    published = await _version(client, "calendar", date(2026, 6, 30))
    corrected = await _version(client, "calendar", date(2026, 8, 31))
    assert (published["version"], published["values"]["working_days"]) == ("calendar@2026-01-01", 246)
    assert (corrected["version"], corrected["values"]["working_days"]) == ("calendar@2026-07-01", 247)
    assert "2026-08-31" in {e["date"] for e in published["values"]["days_off"]}
    assert "2026-08-31" not in {e["date"] for e in corrected["values"]["days_off"]}
    assert "Constitution" in corrected["note"] and corrected["rules_provisional"] is False
    y2027 = await _version(client, "calendar", date(2027, 3, 15))
    off_2027 = {e["date"] for e in y2027["values"]["days_off"]}
    assert "2027-03-15" in off_2027 and "2027-08-30" not in off_2027 and y2027["values"]["working_weekends"] == []
    assert "not published yet" in y2027["note"]
    deadlines = await _version(client, "deadlines", date(2026, 1, 1))
    assert deadlines["version"] == "deadlines@2021-07-01"
    assert deadlines["values"] == {"working_days": 15, "max_extension_months": 2}
    assert (deadlines["legal_basis"]["number"], deadlines["legal_basis"]["url"]) == \
        ("350-VI", "https://adilet.zan.kz/rus/docs/K2000000350")
    # Before the first calendar there is none in force; the deadlines start with the Code.
    assert (await client.get("/v1/rules/calendar", params={"on": "2023-06-01"})).status_code == 404
    assert (await client.get("/v1/rules/deadlines", params={"on": "2021-06-30"})).status_code == 404


async def test_a_calendar_published_for_a_year_moves_the_due_dates_of_later_appeals_only(client, monkeypatch):
    region = _region()
    set_today(monkeypatch, date(2027, 12, 20))  # 9 working days left in 2027; the rest in 2028, unpublished
    first = (await client.post("/v1/appeals", json=complaint(region))).json()
    assert (first["due_date"], first["rules_provisional"], first["due_date_provisional"]) == \
        ("2028-01-10", True, True)
    assert first["rules_version"] == "calendar@2027-01-01+deadlines@2021-07-01"

    body = {"effective_from": "2028-01-01",
            "values": fr.calendar_values(2028, ["2028-01-03", "2028-01-04", "2028-01-07"]),
            "legal_basis": {"act": "Закон РК «О праздниках в Республике Казахстан»", "number": LAW_ON_HOLIDAYS,
                            "date": "2001-12-13", "url": "https://adilet.zan.kz/rus/docs/Z010000267_"},
            "note": "test: 3 and 4 January for the New Year on the weekend, 7 January"}
    r = await client.post("/v1/rules/calendar", json=body)
    assert r.status_code == 201, r.text
    assert r.json()["version"] == "calendar@2028-01-01" and r.json()["records_on_or_after"] >= 1

    second = (await client.post("/v1/appeals", json=complaint(region))).json()
    assert (second["due_date"], second["rules_provisional"]) == ("2028-01-13", False)
    assert second["rules_version"] == "calendar@2027-01-01+calendar@2028-01-01+deadlines@2021-07-01"
    kept = (await client.get(f"/v1/appeals/{first['appeal_id']}")).json()
    assert (kept["due_date"], kept["rules_provisional"], kept["rules_version"]) == \
        ("2028-01-10", True, first["rules_version"])

    # Overdue counts go by the due dates stored at registration.
    set_today(monkeypatch, date(2028, 1, 11))
    stats = (await client.get("/v1/stats", params={"region": region})).json()
    assert stats["overdue"] == 1
    assert (await client.get(f"/v1/appeals/{first['appeal_id']}")).json()["overdue"] is True
    assert (await client.get(f"/v1/appeals/{second['appeal_id']}")).json()["overdue"] is False


async def test_a_deadline_rule_applies_from_its_effective_date_and_earlier_appeals_keep_theirs(client, monkeypatch):
    region = _region()
    set_today(monkeypatch, date(2029, 12, 31))
    early = (await client.post("/v1/appeals", json=consultation(region))).json()
    assert (early["due_date"], early["rules_version"]) == ("2030-01-21", "deadlines@2021-07-01")

    body = {"effective_from": "2030-01-02", "values": {"working_days": 10, "max_extension_months": 1},
            "legal_basis": {"act": "test amendment of the Administrative Procedural Code", "number": "T-1",
                            "date": "2029-12-01", "url": "https://adilet.zan.kz/rus/docs/K2000000350"}}
    r = await client.post("/v1/rules/deadlines", json=body)
    assert r.status_code == 201, r.text
    assert (r.json()["version"], r.json()["records_on_or_after"]) == ("deadlines@2030-01-02", 0)
    assert (await _version(client, "deadlines", date(2030, 1, 1)))["version"] == "deadlines@2021-07-01"
    assert (await _version(client, "deadlines", date(2030, 1, 2)))["values"]["working_days"] == 10

    set_today(monkeypatch, date(2030, 1, 1))  # the day before: still 15 working days
    eve = (await client.post("/v1/appeals", json=consultation(region))).json()
    assert (eve["due_date"], eve["rules_version"]) == ("2030-01-22", "deadlines@2021-07-01")
    set_today(monkeypatch, date(2030, 1, 2))
    late = (await client.post("/v1/appeals", json=consultation(region))).json()
    assert (late["due_date"], late["rules_version"]) == ("2030-01-16", "deadlines@2030-01-02")

    # Extensions reach as far as the rule in force at each appeal's registration allows.
    for appeal, limit in ((early, "2030-02-28"), (late, "2030-02-02")):
        path = f"/v1/appeals/{appeal['appeal_id']}/transitions"
        assert (await client.post(path, json={"to": "in_review"})).status_code == 200
        over = await client.post(path, json={"to": "extended", "note": "letter sent",
                                             "due_date": (date.fromisoformat(limit) + timedelta(1)).isoformat()})
        assert over.status_code == 409 and over.json()["rule"] == "extension_beyond_limit"
        extended = (await client.post(path, json={"to": "extended", "note": "letter sent"})).json()
        assert (extended["extended_due_date"], extended["extension_limit"]) == (limit, limit)
    assert (await client.get(f"/v1/appeals/{early['appeal_id']}")).json()["due_date"] == "2030-01-21"


_BASIS = {"act": "Закон РК «О праздниках в Республике Казахстан»", "number": LAW_ON_HOLIDAYS,
          "date": "2001-12-13", "url": "https://adilet.zan.kz/rus/docs/Z010000267_"}


@pytest.mark.parametrize("table, body, status", [
    ("holidays", {"effective_from": "2029-01-01", "values": fr.calendar_values(2029)}, 404),
    ("calendar", {"effective_from": "2029-01-01", "values": {"days_off": [], "working_weekends": []}}, 422),
    ("calendar", {"effective_from": "2029-01-01", "values": fr.calendar_values(2029, working_days=250)}, 422),
    ("calendar", {"effective_from": "2029-01-01", "values": fr.calendar_values(2029, ["2029-01-06"])}, 422),
    ("calendar", {"effective_from": "2019-01-01", "values": fr.calendar_values(2019)}, 422),
    ("calendar", {"effective_from": "2026-01-01", "values": fr.calendar_values(2026)}, 409),
    ("deadlines", {"effective_from": "2031-01-01", "values": {"working_days": -15, "max_extension_months": 2}}, 422),
    ("deadlines", {"effective_from": "2031-01-01", "values": {"working_days": 15, "max_extension_months": 120}},
     422),
    ("deadlines", {"effective_from": "2019-12-31", "values": {"working_days": 15, "max_extension_months": 2}}, 422),
    ("deadlines", {"effective_from": "2021-07-01", "values": {"working_days": 15, "max_extension_months": 2}}, 409),
])
async def test_a_refused_publication_writes_nothing(client, table, body, status):
    before = (await client.get("/v1/rules")).json()
    r = await client.post(f"/v1/rules/{table}", json={**body, "legal_basis": _BASIS})
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    if status == 409:
        assert r.json()["rule"] == "rule_version_exists"
    assert (await client.get("/v1/rules")).json() == before


async def test_only_an_admin_publishes(client):
    before = (await client.get("/v1/rules")).json()
    operator = await key_headers(app, "operator")
    body = {"effective_from": "2029-01-01", "values": fr.calendar_values(2029), "legal_basis": _BASIS}
    r = await client.post("/v1/rules/calendar", json=body, headers=operator)
    assert r.status_code == 403 and r.headers["content-type"] == "application/problem+json"
    assert (await client.get("/v1/rules/calendar", params={"on": "2026-05-01"}, headers=operator)).status_code == 200
    assert (await client.get("/v1/rules")).json() == before
