"""financing's capitation table as published data, against the real servers: the seed as the Fund
reads it; a version published by an administrator changes the amounts of the months from its date on
(each month under the version in force on its first day) and no earlier one, at the base rate of each
clinic's settlement; the publication answer counts the visits dated on or after it; and every bad
publication is refused with nothing written."""
from __future__ import annotations

import random
from datetime import date
from decimal import Decimal

import pytest

from services.common import clock
from services.financing import domain
from services.financing.app import app
from services.financing.rules import RULE_TABLES, Capitation
from tests.support import financing_oracle as oracle
from tests.support.financing_events import attached, caught_up, clinic, publish, random_population, visit
from tests.support.financing_rules import capitation_values, publication
from tests.support.inproc import key_headers, running
from tests.support.people import clinic_id, iin, iins

SEED_VALUES = {
    "base_rate": {"urban": "1176.03", "rural": "1176.03"},
    "age_band_bounds": [0, 1, 5, 10, 15, 20, 30, 40, 50, 60, 70],
    "age_sex_coefficients": [{"male": m, "female": f} for m, f in (
        ("3.20", "3.10"), ("1.80", "1.75"), ("1.10", "1.10"), ("0.95", "0.95"), ("0.80", "0.95"), ("0.60", "1.05"),
        ("0.65", "1.05"), ("0.80", "0.95"), ("1.05", "1.10"), ("1.40", "1.35"), ("1.85", "1.70"))],
    "activity_coefficient": "0.8", "insurance_coefficient": "0.9", "activity_window_days": 365,
}


@pytest.fixture(scope="module")
async def client():
    async with running(app) as c:
        yield c


async def test_the_seed_is_the_kpn_of_october_2025_with_its_legal_basis(client):
    tables = (await client.get("/v1/rules")).json()["tables"]
    (table,) = [t for t in tables if t["table"] == "capitation"]
    assert (table["span"], table["published_until"]) == (None, None)     # in force until replaced
    seed = table["versions"][0]
    assert (seed["version"], seed["effective_from"]) == ("capitation@2025-10-01", "2025-10-01")
    assert seed["legal_basis"]["number"] == "ҚР ДСМ-291/2020 (as amended)"
    assert seed["legal_basis"]["url"] == "https://adilet.zan.kz/rus/docs/V2000021831"
    assert "not published" in seed["note"] and "was not identified" in seed["note"]
    r = await client.get("/v1/rules/capitation", params={"on": "2026-06-01"})
    assert r.status_code == 200, r.text
    got = r.json()
    assert (got["version"], got["values"], got["rules_provisional"]) == ("capitation@2025-10-01", SEED_VALUES, False)
    # The seed passes the checks a publication gets.
    assert RULE_TABLES["capitation"].check(Capitation.model_validate(got["values"]), date(2025, 10, 1)) == []


async def _amounts(client, clinics: list[str], month: date) -> dict[str, dict]:
    out = {}
    for c in clinics:
        r = await client.get(f"/v1/clinics/{c}/financing", params={"date": month.replace(day=20).isoformat()})
        assert r.status_code == 200, r.text
        out[c] = r.json()
    return out


async def test_a_published_version_changes_the_months_from_its_date_on_and_no_earlier_one(client):
    rural, urban, unknown = (clinic_id() for _ in range(3))
    region = f"region-{rural}"
    events = random_population(random.Random(3), iins(90), [rural, urban, unknown])
    await publish([clinic(rural, region, "rural", version=2), *events])
    await caught_up(client)
    r = await client.put(f"/v1/clinics/{urban}", json={"region": region, "name": "Urban", "settlement": "urban"})
    assert r.status_code == 201 and r.json()["settlement"] == "urban"
    r = await client.put(f"/v1/clinics/{unknown}", json={"region": region, "name": "Unknown"})
    assert r.status_code == 201 and r.json()["settlement"] is None
    # The registry's event gave this clinic's data: financing's own PUT does not override it.
    r = await client.put(f"/v1/clinics/{rural}", json={"region": region, "name": "Rural", "settlement": "urban"})
    assert r.status_code == 409 and r.json()["rule"] == "clinic_from_registry", r.text
    settlement = {rural: "rural", urban: "urban", unknown: None}
    clinics = list(settlement)

    today = clock.today()
    this_month, first = today.replace(day=1), domain.month_after(today)
    second, third = domain.month_after(today, 2), domain.month_after(today, 3)
    before = {m: await _amounts(client, clinics, m) for m in (this_month, first, second, third)}
    a = capitation_values(urban="1300.00", rural="1700.00")
    b = capitation_values(urban="900.00", rural="950.00", activity_coefficient="0.5")
    admin = await key_headers(app, "admin")
    # A from the first of next month; B from the 15th of the month after: that month is counted on its
    # first day, under A, and B is first used the month after.
    for effective, values in ((first, a), (second.replace(day=15), b)):
        r = await client.post("/v1/rules/capitation", json=publication(effective, values), headers=admin)
        assert r.status_code == 201, r.text
        assert r.json()["version"] == f"capitation@{effective}" and r.json()["values"] == values
    expected = {this_month: (before[this_month][urban]["rules_version"], None), first: (f"capitation@{first}", a),
                second: (f"capitation@{first}", a), third: (f"capitation@{second.replace(day=15)}", b)}
    for month, (version, values) in expected.items():
        after = await _amounts(client, clinics, month)
        for c in clinics:
            want = oracle.figures(events, c, month.replace(day=20))
            got = after[c]
            assert (got["rules_version"], got["rules_provisional"]) == (version, False), (month, c)
            if values is None:       # before the publications: unchanged
                assert got == before[month][c], (month, c)
            else:
                assert got["monthly_amount"] == str(oracle.amount(values, settlement[c], want.cells)), (month, c)
        if values is not None and any(oracle.figures(events, c, month).cells for c in clinics):
            assert {after[c]["monthly_amount"] for c in clinics} != {before[month][c]["monthly_amount"]
                                                                   for c in clinics}
    # The rural clinic's statement shows the rural base rate of A; the region adds the clinics' amounts.
    s = (await client.get(f"/v1/clinics/{rural}/statements/{first:%Y-%m}")).json()
    assert (s["rules_version"], s["settlement"], s["base_rate"]) == (f"capitation@{first}", "rural", "1700.00")
    total = (await client.get(f"/v1/regions/{region}/financing", params={"date": first.isoformat()})).json()
    firsts = await _amounts(client, clinics, first)
    assert total["rules_version"] == f"capitation@{first}"
    assert Decimal(total["monthly_amount"]) == sum(Decimal(firsts[c]["monthly_amount"]) for c in clinics)
    assert sum(oracle.figures(events, c, first).attached for c in clinics) > 0


async def test_the_publication_answer_counts_the_visits_dated_on_or_after_it(client):
    place, person = clinic_id(), iin()
    # Dates no other test gives a visit, so the count is these alone.
    await publish([attached(person, place, date(2025, 1, 1), 1), visit(person, place, "late-1", date(2028, 8, 31)),
                   visit(person, place, "late-2", date(2028, 9, 1)), visit(person, place, "late-3", date(2028, 10, 2))])
    await caught_up(client)
    r = await client.post("/v1/rules/capitation", json=publication(date(2028, 9, 1), capitation_values()),
                          headers=await key_headers(app, "admin"))
    assert r.status_code == 201, r.text
    assert r.json()["records_on_or_after"] == 2


def _without(values: dict, field: str) -> dict:
    return {k: v for k, v in values.items() if k != field}


async def test_a_bad_publication_is_refused_and_nothing_is_written(client):
    admin = await key_headers(app, "admin")
    before = (await client.get("/v1/rules")).json()
    effective = date(2026, 4, 1)
    good = capitation_values()
    cases = [
        ("nosuch", publication(effective, good), admin, 404),
        ("capitation", publication(effective, _without(good, "insurance_coefficient")), admin, 422),
        ("capitation", publication(effective, capitation_values(urban="-1176.03")), admin, 422),
        ("capitation", publication(effective, capitation_values(rural="5000000.00")), admin, 422),
        ("capitation", publication(effective, capitation_values(activity_coefficient="1.2")), admin, 422),
        ("capitation", publication(effective, capitation_values(activity_window_days=180)), admin, 422),
        ("capitation", publication(date(2019, 12, 1), good), admin, 422),
        ("capitation", publication(date(2025, 10, 1), good), admin, 409),             # the seed's date
        ("capitation", publication(effective, good), await key_headers(app, "operator"), 403),
        ("capitation", publication(effective, good), await key_headers(app, "clinic", clinic_id()), 403),
    ]
    for table, body, headers, status in cases:
        r = await client.post(f"/v1/rules/{table}", json=body, headers=headers)
        assert r.status_code == status, (table, body, r.text)
        assert r.headers["content-type"] == "application/problem+json"
    r = await client.post("/v1/rules/capitation", json=publication(effective, capitation_values(
        age_band_bounds=[0, 1, 5, 10, 15, 20, 30, 40, 50, 60, 65])), headers=admin)
    assert r.status_code == 422
    assert "python -m services.financing.rebuild" in r.json()["errors"][0]["msg"]
    assert (await client.get("/v1/rules")).json() == before
    assert (await client.get("/v1/rules/capitation", params={"on": "2026-04-01"})).json()["values"] == SEED_VALUES
