"""financing against the real PostgreSQL and Kafka: events published to the topics (out of order,
some twice) become figures that equal a brute-force reference for any date, and amounts that equal
the reference's under the capitation version in force on the month's first day; lists, region totals,
the monthly statement; and the rebuild from the topics finds the live projection identical."""
from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal

import asyncpg
import pytest

from services.common import clock
from services.common.money import to_money
from services.financing import domain, rebuild
from services.financing.app import app
from tests.support import financing_oracle as oracle
from tests.support.financing_events import attached, caught_up, publish, random_population, visit
from tests.support.financing_rules import version_in_force
from tests.support.inproc import running
from tests.support.people import clinic_id, iin, iins

DATES = [date(2025, 1, 1) + timedelta(days=k) for k in range(0, 1100, 61)]


@pytest.fixture(scope="module")
async def client():
    async with running(app) as c:
        yield c


@pytest.fixture(scope="module")
async def population(client):
    rng = random.Random()
    clinics = [clinic_id() for _ in range(3)]
    events = random_population(rng, iins(150), clinics)
    await publish(events, duplicate_every=4)
    await caught_up(client)
    return clinics, events


async def test_figures_equal_the_reference_on_any_date(client, population):
    clinics, events = population
    versions: dict = {}
    for clinic in clinics:
        for on in DATES:
            want = oracle.figures(events, clinic, on)
            r = await client.get(f"/v1/clinics/{clinic}/financing", params={"date": on.isoformat()})
            assert r.status_code == 200, r.text
            got = r.json()
            rules = await version_in_force(client, on.replace(day=1), versions)
            # These clinics' settlement is not known: the urban base rate.
            assert got == {"clinic_id": clinic, "date": on.isoformat(), "attached": want.attached,
                           "active": want.active, "insured": want.insured,
                           "active_share": domain.share(want.active, want.attached),
                           "insured_share": domain.share(want.insured, want.attached),
                           "monthly_amount": str(oracle.amount(rules["values"], None, want.cells)),
                           "rules_version": rules["version"], "rules_provisional": False,
                           "rules_carried_from": None}
    assert any(oracle.figures(events, c, d).active for c in clinics for d in DATES)


async def test_the_statement_explains_the_amount_cell_by_cell(client, population):
    clinics, events = population
    on = date(2026, 2, 1)
    want = oracle.figures(events, clinics[0], on)
    r = await client.get(f"/v1/clinics/{clinics[0]}/statements/2026-02")
    assert r.status_code == 200, r.text
    s = r.json()
    assert s["counted_on"] == "2026-02-01" and s["people"] == sum(want.cells.values()) > 0
    rules = await version_in_force(client, on)
    assert (s["rules_version"], s["rules_provisional"], s["settlement"]) == (rules["version"], False, None)
    assert s["base_rate"] == rules["values"]["base_rate"]["urban"]
    assert Decimal(s["monthly_amount"]) == sum(Decimal(x["amount"]) for x in s["lines"])
    assert Decimal(s["monthly_amount"]) == oracle.amount(rules["values"], None, want.cells)
    got = {domain.cell_of([domain.band_label(b) for b in range(len(domain.AGE_BAND_BOUNDS))].index(x["age_group"]),
                          x["sex"], x["active"], x["insured"]): x["people"] for x in s["lines"]}
    assert got == want.cells
    for x in s["lines"]:
        expected = (x["people"] * Decimal(s["base_rate"]) * Decimal(x["age_sex_coefficient"])
                    * Decimal(x["activity_coefficient"]) * Decimal(x["insurance_coefficient"]))
        assert Decimal(x["amount"]) == to_money(expected)      # tenge round half up
    figures = (await client.get(f"/v1/clinics/{clinics[0]}/financing", params={"date": "2026-02-20"})).json()
    assert figures["monthly_amount"] == s["monthly_amount"]


async def test_clinics_listed_by_lowest_share_and_region_totals(client, population):
    clinics, events = population
    region = f"region-{clinics[0]}"
    for n, c in enumerate(clinics):
        r = await client.put(f"/v1/clinics/{c}", json={"region": region, "name": f"Clinic {n}"})
        assert r.status_code == 201, r.text
    again = await client.put(f"/v1/clinics/{clinics[0]}", json={"region": region, "name": "Clinic 0"})
    assert again.status_code == 200 and again.json() == {"clinic_id": clinics[0], "region": region, "name": "Clinic 0",
                                                         "settlement": None}
    on = "2026-01-15"
    r = await client.get("/v1/clinics", params={"region": region, "date": on})
    listed = r.json()["clinics"]
    assert sorted(x["clinic_id"] for x in listed) == sorted(clinics)
    shares = [x["active_share"] for x in listed]
    assert shares == sorted(shares)
    top = (await client.get("/v1/clinics", params={"region": region, "date": on, "order_by": "-attached",
                                                   "limit": 1})).json()["clinics"]
    assert len(top) == 1 and top[0]["attached"] == max(x["attached"] for x in listed)
    total = (await client.get(f"/v1/regions/{region}/financing", params={"date": on})).json()
    assert total["clinics"] == 3
    assert total["attached"] == sum(x["attached"] for x in listed)
    assert total["insured"] == sum(x["insured"] for x in listed)
    assert Decimal(total["monthly_amount"]) == sum(Decimal(x["monthly_amount"]) for x in listed)
    in_force = await version_in_force(client, date(2026, 1, 1))
    assert total["rules_version"] == listed[0]["rules_version"] == in_force["version"]


async def test_bad_requests_are_problems(client):
    assert (await client.get(f"/v1/clinics/{clinic_id()}/financing")).status_code == 404
    assert (await client.get("/v1/regions/nowhere-at-all/financing")).status_code == 404
    known = clinic_id()
    await publish([attached(iin(), known, date(2025, 1, 1), 1)])
    await caught_up(client)
    for path, params in ((f"/v1/clinics/{known}/financing", {"date": "2026-13-01"}),
                         (f"/v1/clinics/{known}/statements/2026-13", {}),
                         ("/v1/clinics", {"order_by": "amount; drop table"}),
                         ("/v1/clinics", {"limit": 0})):
        r = await client.get(path, params=params)
        assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json", (path, r.text)
    assert (await client.put(f"/v1/clinics/{known}", json={"region": ""})).status_code == 422
    assert (await client.put(f"/v1/clinics/{known}", json={"region": "r", "name": "n",
                                                            "settlement": "suburban"})).status_code == 422


async def test_dates_more_than_24_months_ahead_are_refused_and_earlier_ones_answered(client):
    known = clinic_id()
    await publish([attached(iin(), known, date(2025, 1, 1), 1)])
    await caught_up(client)
    assert (await client.put(f"/v1/clinics/{known}", json={"region": f"r-{known}", "name": "n"})).status_code == 201
    today = clock.today()
    last = date(today.year + 2, today.month, 28)              # 24 months ahead: carried
    beyond = date(today.year + 2 + today.month // 12, today.month % 12 + 1, 1)   # 25 months ahead
    for day, status in ((last, 200), (beyond, 422)):
        for path, params in ((f"/v1/clinics/{known}/financing", {"date": day.isoformat()}),
                             ("/v1/clinics", {"date": day.isoformat()}),
                             (f"/v1/regions/r-{known}/financing", {"date": day.isoformat()}),
                             (f"/v1/clinics/{known}/statements/{day:%Y-%m}", {})):
            r = await client.get(path, params=params)
            assert r.status_code == status, (path, day, r.text)
            if status == 422:
                assert r.headers["content-type"] == "application/problem+json"
                assert r.json()["errors"][0]["loc"] in (["query", "date"], ["path", "month"]), r.text
    # Before the first version: paid under the first, and said so.
    early = (await client.get(f"/v1/clinics/{known}/financing", params={"date": "2025-03-01"})).json()
    assert (early["attached"], early["rules_version"], early["rules_provisional"]) == (1, "capitation@2025-10-01",
                                                                                       False)


async def test_a_visit_changes_the_figures_of_its_day_and_365_days_later(client):
    clinic, person = clinic_id(), iin()
    await publish([attached(person, clinic, date(2025, 1, 1), 1), visit(person, clinic, "v-1", date(2026, 3, 10))])
    await caught_up(client)

    async def active(on: str) -> int:
        return (await client.get(f"/v1/clinics/{clinic}/financing", params={"date": on})).json()["active"]
    assert [await active(d) for d in ("2026-03-09", "2026-03-10", "2027-03-09", "2027-03-10")] == [0, 1, 1, 0]


async def test_rebuild_from_the_topics_equals_the_live_projection(client, population, settings):
    await caught_up(client)
    report = await rebuild.rebuild(settings, batch=500)
    assert report.events > 0 and report.live_at_same_offsets
    assert report.differences == []
    clinic = population[0][0]
    conn = await asyncpg.connect(settings.database_dsn("financing"))
    try:
        # A projection that went wrong is caught, cell by cell.
        await conn.execute(
            """WITH target AS (SELECT x.clinic_no, x.grain, x.bucket, z.i FROM fin_cells x
                                 JOIN fin_clinics c USING (clinic_no), unnest(x.people) WITH ORDINALITY AS z(n, i)
                               WHERE c.clinic_id = $1 AND z.n > 0 LIMIT 1)
               UPDATE fin_cells f SET people[t.i] = f.people[t.i] + 1 FROM target t
               WHERE (f.clinic_no, f.grain, f.bucket) = (t.clinic_no, t.grain, t.bucket)""", clinic)
        report = await rebuild.rebuild(settings, batch=5000)
        assert [(d["calendar"], d["clinic_id"]) for d in report.differences] == [("fin_cells", clinic)]
    finally:
        await conn.execute(
            """UPDATE fin_cells SET people[$4::int + 1] = people[$4::int + 1] - 1
               WHERE clinic_no = (SELECT clinic_no FROM fin_clinics WHERE clinic_id = $1) AND (grain, bucket) = ($2, $3)""",
            clinic, report.differences[0]["grain"], report.differences[0]["bucket"], report.differences[0]["cell"])
        await conn.close()
