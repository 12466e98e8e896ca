"""Contribution rules as published data, against the real PostgreSQL: no cliff on 1 January 2027,
a published МЗП followed from its effective date, accepted records keeping their amounts, and the
admin API refusing what it must."""
from __future__ import annotations

from datetime import date

import pytest

from services.common import clock
from services.contributions.app import app
from tests.support.contributions_api import on_day
from tests.support.inproc import key_headers
from tests.support.people import bin_, iins

MZP_2027 = {"effective_from": "2027-01-01", "values": {"amount": "100000.00"},
            "legal_basis": {"act": "Закон РК «О республиканском бюджете на 2027–2029 годы»", "number": "test-1",
                            "date": "2026-12-05", "url": "https://adilet.zan.kz/rus/docs/test"},
            "note": "a test publication"}


def payroll(employer: str, period: str, reference: str, people: list[str]) -> dict:
    # incomes above both 2026 caps (40 and 20 МЗП), so the caps show in the totals
    return {"employer_bin": employer, "period": period, "reference": reference,
            "rows": [{"iin": p, "income": "5000000.00", "kind": "employee"} for p in people]}


async def test_the_horizon_of_each_yearly_table_is_a_metric(client):
    text = (await client.get("/metrics")).text
    tables = {t["table"]: t for t in (await client.get("/v1/rules")).json()["tables"]}
    for name in ("mzp", "average_wage"):
        until = date.fromisoformat(tables[name]["published_until"])
        assert f'osms_rules_horizon_days{{table="{name}"}} {float((until - clock.today()).days)}' in text
    assert 'table="rates"' not in text  # in force until replaced: no horizon


async def test_new_year_intake_goes_on_provisionally_then_follows_the_published_mzp(client, monkeypatch):
    employer = bin_()
    a, b, c = iins(3)
    on_day(monkeypatch, date(2027, 1, 20))
    jan = await client.post("/v1/payrolls", json=payroll(employer, "2027-01", "jan", [a]))
    assert jan.status_code == 201, jan.text
    # 2026's МЗП (85,000) carried: employer 3% of 40 МЗП, employee 2% of 20 МЗП
    assert (jan.json()["employer_deduction_total"], jan.json()["employee_contribution_total"]) == \
        ("102000.00", "34000.00")
    assert (jan.json()["rules_provisional"], jan.json()["rules_carried_from"]) == (True, 2026)
    assert jan.json()["rules_version"] == "mzp@2026-01-01+rates@2026-01-01"

    paid = await client.post("/v1/payments", json={"iin": b, "payer_kind": "self", "amount": "4250.00",
                                                   "paid_on": "2027-01-05", "reference": f"self-{b}"})
    assert paid.status_code == 201, paid.text
    assert paid.json()["rules_provisional"] is True and paid.json()["covered_months"]

    published = await client.post("/v1/rules/mzp", json=MZP_2027)
    assert published.status_code == 201, published.text
    assert published.json()["version"] == "mzp@2027-01-01"
    assert published.json()["records_on_or_after"] >= 2  # this payroll and payment at least; they keep their amounts

    on_day(monkeypatch, date(2027, 2, 20))
    feb = await client.post("/v1/payrolls", json=payroll(employer, "2027-02", "feb", [c]))
    assert feb.status_code == 201, feb.text
    assert (feb.json()["employer_deduction_total"], feb.json()["employee_contribution_total"]) == \
        ("120000.00", "40000.00")  # 3% x 40 x 100,000 and 2% x 20 x 100,000
    assert (feb.json()["rules_provisional"], feb.json()["rules_version"]) == \
        (False, "mzp@2027-01-01+rates@2026-01-01")

    again = await client.post("/v1/payrolls", json=payroll(employer, "2027-01", "jan", [a]))
    assert again.json() == jan.json()  # accepted on the carried values, kept as given
    listed = {p["period"]: p for p in (await client.get(f"/v1/employers/{employer}/payrolls")).json()["payrolls"]}
    assert listed["2027-01"]["employer_deduction_total"] == "102000.00"
    assert listed["2027-01"]["rules_provisional"] is True

    in_force = (await client.get("/v1/rules/mzp", params={"on": "2027-06-30"})).json()
    assert (in_force["values"], in_force["rules_provisional"]) == ({"amount": "100000.00"}, False)
    carried = (await client.get("/v1/rules/mzp", params={"on": "2028-03-01"})).json()
    assert (carried["version"], carried["rules_provisional"], carried["rules_carried_from"]) == \
        ("mzp@2027-01-01", True, 2027)


async def test_the_state_rate_of_2027_is_published_and_the_wage_is_carried(client, monkeypatch):
    on_day(monkeypatch, date(2027, 1, 20))
    r = await client.post("/v1/state-contributions", json={"budget": "republican", "category": "children",
                                                           "period": "2027-01", "reference": "state-2027-01",
                                                           "iins": iins(2)})
    assert r.status_code == 201, r.text
    # 2.2% (from 2027) of the 2024 average wage (the 2025 figure is not published yet)
    assert r.json()["amount_per_person"] == "8888.00"
    assert (r.json()["rules_provisional"], r.json()["rules_carried_from"]) == (True, 2024)
    assert r.json()["rules_version"] == "state_rate@2027-01-01+average_wage@2024-01-01"


async def test_the_tables_are_listed_with_their_legal_basis(client):
    tables = {t["table"]: t for t in (await client.get("/v1/rules")).json()["tables"]}
    assert set(tables) == {"mzp", "rates", "state_rate", "average_wage", "state_categories", "payment_terms",
                           "base_rate", "single_payment"}
    assert tables["mzp"]["span"] == "year" and tables["rates"]["span"] is None
    for t in tables.values():
        assert t["versions"], t["table"]
        for v in t["versions"]:
            assert v["legal_basis"]["act"] and v["legal_basis"]["url"].startswith("https://"), v
    wage_2023 = (await client.get("/v1/rules/average_wage", params={"on": "2023-06-01"})).json()
    assert wage_2023["values"] == {"amount": "364295.00"}


@pytest.mark.parametrize("table, change, status", [
    ("nonsense", {}, 404),
    ("mzp", {"values": {}}, 422),                                            # incomplete
    ("mzp", {"values": {"amount": "-5.00"}}, 422),                           # negative
    ("mzp", {"values": {"amount": "1e9"}}, 422),                             # not a plain decimal
    ("mzp", {"values": {"amount": "999999999999.00"}}, 422),                 # absurd
    ("mzp", {"values": {"amount": 85000.5}}, 422),                           # a float
    ("mzp", {"values": {"amount": "85000.00", "extra": 1}}, 422),            # unknown field
    ("mzp", {"effective_from": "2019-01-01"}, 422),                          # before 2020
    ("mzp", {"effective_from": "2026-01-01T00:00:00"}, 422),                 # not a date
    ("mzp", {"effective_from": "2026-01-01"}, 409),                          # an existing version's date
    ("mzp", {"legal_basis": {"act": "x"}}, 422),                             # legal basis incomplete
    ("rates", {"values": {"employer_rate": "1.5"}}, 422),                    # rate outside [0, 1)
    ("state_rate", {"values": {"rate": "1"}}, 422),
])
async def test_a_bad_publication_writes_nothing(client, table, change, status):
    before = (await client.get("/v1/rules")).json()
    r = await client.post(f"/v1/rules/{table}", json={**MZP_2027, "effective_from": "2030-01-01", **change})
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert (await client.get("/v1/rules")).json() == before


async def test_only_an_admin_publishes(client):
    for role in ("operator", "payment_gateway"):
        r = await client.post("/v1/rules/mzp", json={**MZP_2027, "effective_from": "2031-01-01"},
                              headers=await key_headers(app, role))
        assert r.status_code == 403, (role, r.text)
    r = await client.get("/v1/rules/mzp", headers=await key_headers(app, "operator"))
    assert r.status_code == 200  # published rules are readable by any key


async def test_a_published_version_is_never_edited(client):
    async with app.state.ctx.pool.acquire() as conn:
        with pytest.raises(Exception, match="never edited"):
            await conn.execute("UPDATE rule_versions SET vals = '{}' WHERE rule_table = 'mzp'")


@pytest.mark.parametrize("period", ["0000-01", "1999-12", "2019-12"])
async def test_a_period_before_the_tables_is_a_422_for_every_payer(client, period):
    state = await client.post("/v1/state-contributions", json={"budget": "republican", "category": "children",
                                                               "period": period, "reference": f"old-{period}",
                                                               "iins": iins(1)})
    assert state.status_code == 422, state.text
    employer = bin_()
    pay = await client.post("/v1/payrolls", json=payroll(employer, period, f"old-{period}", iins(1)))
    assert pay.status_code == 422, pay.text
