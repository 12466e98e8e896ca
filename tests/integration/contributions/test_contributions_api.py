"""The contributions API against the real PostgreSQL and Kafka: payrolls, payments, state
contributions, status, the operators' reads, and the contribution-paid events."""
from __future__ import annotations

import asyncio

import pytest

from services.contributions import domain
from tests.support.contributions_api import TODAY, THIS_MONTH, month
from tests.support.inproc import eventually
from tests.support.kafka import read_topic
from tests.support.people import bin_, iin, iins

async def events_for(people: set[str], expected: int) -> list[dict]:
    async def check():
        got = [e for e in await read_topic("contribution-paid") if e["key"] in people]
        return got if len(got) >= expected else None

    return await eventually(check, timeout=20)


async def test_payroll_amounts_follow_the_period_rules_and_each_person_gets_an_event(client):
    employer = bin_()
    low, high, civil = iins(3)
    body = {"employer_bin": employer, "period": month(-1), "reference": "pr-1", "rows": [
        {"iin": low, "income": "350000.00", "kind": "employee"},
        {"iin": high, "income": "5000000.00", "kind": "employee"},       # above both 2026 caps
        {"iin": civil, "income": "2000000.00", "kind": "civil_contract"},  # above the ГПХ cap
    ]}
    r = await client.post("/v1/payrolls", json=body)
    assert r.status_code == 201, r.text
    answer = r.json()
    # employer 3%: 10,500 + 3% x 3,400,000 = 102,000; employee 2%: 7,000 + 34,000 + ГПХ 2% x 1,700,000
    assert answer["rows"] == 3
    assert answer["employer_deduction_total"] == "112500.00"
    assert answer["employee_contribution_total"] == "75000.00"

    again = await client.post("/v1/payrolls", json=body)
    assert again.status_code == 201 and again.json() == answer
    other = await client.post("/v1/payrolls", json={**body, "rows": body["rows"][:2]})
    assert other.status_code == 409
    assert other.headers["content-type"] == "application/problem+json"

    listed = (await client.get(f"/v1/employers/{employer}/payrolls")).json()["payrolls"]
    assert [(p["payroll_id"], p["period"], p["reference"], p["rows"]) for p in listed] == \
        [(answer["payroll_id"], month(-1), "pr-1", 3)]

    status = (await client.get(f"/v1/persons/{civil}/status")).json()
    assert status["status"] == "insured" and status["reason"] == "current_coverage"
    assert status["last_covered_month"] == month(-1)
    assert status["insured_until"] == domain.last_day(THIS_MONTH + 3).isoformat()

    mine = (await client.get(f"/v1/persons/{high}/contributions")).json()
    assert mine["covered_months"] == [month(-1)]
    assert [(c["payer_kind"], c["employer_deduction"], c["employee_contribution"], c["employer_bin"])
            for c in mine["contributions"]] == [("employee", "102000.00", "34000.00", employer)]

    events = await events_for({low, high, civil}, 3)
    assert len(events) == 3  # the replay added none
    by_person = {e["key"]: e["value"]["data"] for e in events}
    assert by_person[civil]["payer_kind"] == "civil_contract"
    for data in by_person.values():
        assert data["covered_months"] == [month(-1)]
        assert data["status"] == "insured" and data["status_version"] == 1
        assert data["status_as_of"] == TODAY.isoformat()
        assert data["insured_periods"] == [{"from": domain.first_day(THIS_MONTH - 1).isoformat(),
                                            "until": domain.last_day(THIS_MONTH + 3).isoformat()}]


async def test_a_row_without_income_covers_nothing_but_the_person_still_gets_an_event(client):
    person = iin()
    r = await client.post("/v1/payrolls", json={"employer_bin": bin_(), "period": month(0), "reference": "zero",
                                                "rows": [{"iin": person, "income": "0.00", "kind": "employee"}]})
    assert r.status_code == 201 and r.json()["employee_contribution_total"] == "0.00"
    assert (await client.get(f"/v1/persons/{person}/status")).json()["reason"] == "none"
    (event,) = await events_for({person}, 1)
    assert event["value"]["data"]["covered_months"] == [] and event["value"]["data"]["status"] == "not_insured"


async def test_a_bad_payroll_names_every_bad_row_and_accepts_nothing(client):
    employer = bin_()
    good, dup = iins(2)
    r = await client.post("/v1/payrolls", json={"employer_bin": employer, "period": month(-1), "reference": "bad",
                                                "rows": [
        {"iin": good, "income": "100000.00", "kind": "employee"},
        {"iin": good[:11] + str((int(good[11]) + 1) % 10), "income": "1.00", "kind": "employee"},
        {"iin": dup, "income": "-5.00", "kind": "employee"},
        {"iin": dup, "income": "10.001", "kind": "contractor"},
    ]})
    assert r.status_code == 422
    locs = [(e["loc"][2], e["loc"][3]) for e in r.json()["errors"]]
    assert locs == [(1, "iin"), (2, "income"), (3, "iin"), (3, "income"), (3, "kind")]
    assert (await client.get(f"/v1/employers/{employer}/payrolls")).json()["payrolls"] == []
    assert (await client.get(f"/v1/persons/{good}/status")).json()["reason"] == "none"


@pytest.mark.parametrize("period", ["2019-12", month(1), "2026-13"])
async def test_a_period_without_rules_or_in_the_future_is_refused(client, period):
    r = await client.post("/v1/payrolls", json={"employer_bin": bin_(), "period": period, "reference": "p",
                                                "rows": [{"iin": iin(), "income": "1.00", "kind": "employee"}]})
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "period"]


async def test_self_payer_after_a_long_gap_pays_arrears_first(client):
    person = iin()
    employer = bin_()
    r = await client.post("/v1/payrolls", json={"employer_bin": employer, "period": month(-14), "reference": "old",
                                                "rows": [{"iin": person, "income": "200000.00", "kind": "employee"}]})
    assert r.status_code == 201
    pay = {"iin": person, "payer_kind": "self", "amount": "8500.00", "paid_on": TODAY.isoformat(), "reference": "sp-1"}
    r = await client.post("/v1/payments", json=pay)
    assert r.status_code == 201, r.text
    assert r.json()["covered_months"] == [month(-12), month(-11)]
    assert (await client.post("/v1/payments", json=pay)).json() == r.json()
    assert (await client.post("/v1/payments", json={**pay, "amount": "4250.00"})).status_code == 409
    status = (await client.get(f"/v1/persons/{person}/status")).json()
    assert (status["status"], status["reason"], status["last_covered_month"]) == ("not_insured", "arrears", month(-11))

    r = await client.post("/v1/payments", json={**pay, "amount": str(4250 * 12) + ".00", "reference": "sp-2"})
    assert r.json()["covered_months"] == [month(k) for k in range(-10, 2)]  # 10 arrears, this month, 1 ahead
    status = (await client.get(f"/v1/persons/{person}/status")).json()
    assert (status["status"], status["last_covered_month"]) == ("insured", month(1))
    assert status["insured_until"] == domain.last_day(THIS_MONTH + 5).isoformat()

    too_many = await client.post("/v1/payments", json={**pay, "amount": str(4250 * 12) + ".00", "reference": "sp-3"})
    assert too_many.status_code == 409 and too_many.json()["rule"] == "months_not_payable"

    data = [e["value"]["data"] for e in await events_for({person}, 3)]
    assert sorted(d["status_version"] for d in data) == [1, 2, 3]
    last = max(data, key=lambda d: d["status_version"])
    assert last["payer_kind"] == "self" and last["status"] == "insured" and len(last["covered_months"]) == 12


@pytest.mark.parametrize("amount, paid_on, field", [
    ("4000.00", TODAY.isoformat(), "amount"),        # not a multiple of 4,250
    ("4250.00", "2030-01-01", "paid_on"),            # in the future
])
async def test_a_payment_breaking_a_rule_is_refused(client, amount, paid_on, field):
    r = await client.post("/v1/payments", json={"iin": iin(), "payer_kind": "self", "amount": amount,
                                                "paid_on": paid_on, "reference": f"bad-{amount}"})
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", field]


async def test_entrepreneur_and_platform_payments(client):
    person = iin()
    r = await client.post("/v1/payments", json={"iin": person, "payer_kind": "entrepreneur", "amount": "5950.00",
                                                "paid_on": TODAY.isoformat(), "reference": "ip-1"})
    assert r.json()["covered_months"] == [month(-12)]
    worker = iin()
    r = await client.post("/v1/payments", json={"iin": worker, "payer_kind": "platform", "amount": "1234.56",
                                                "paid_on": TODAY.isoformat(), "reference": "pl-1"})
    assert r.status_code == 201 and r.json()["covered_months"] == [month(0)]
    assert (await client.get(f"/v1/persons/{worker}/status")).json()["status"] == "insured"
    r = await client.post("/v1/payments", json={"iin": worker, "payer_kind": "platform", "amount": "17000.01",
                                                "paid_on": TODAY.isoformat(), "reference": "pl-2"})
    assert r.status_code == 422


async def test_state_contribution_covers_the_category_without_counting_towards_continuity(client):
    people = iins(3)
    body = {"budget": "republican", "category": "pensioners", "period": month(-1), "reference": "st-1",
            "iins": people}
    r = await client.post("/v1/state-contributions", json=body)
    assert r.status_code == 201, r.text
    assert (r.json()["persons"], r.json()["amount_per_person"], r.json()["total"]) == (3, "8080.00", "24240.00")
    assert (await client.post("/v1/state-contributions", json=body)).json() == r.json()
    assert (await client.post("/v1/state-contributions", json={**body, "iins": people[:2]})).status_code == 409
    status = (await client.get(f"/v1/persons/{people[0]}/status")).json()
    assert (status["status"], status["reason"]) == ("insured", "state_category")
    mine = (await client.get(f"/v1/persons/{people[0]}/contributions")).json()
    assert mine["state_only_months"] == [month(-1)]
    assert mine["contributions"][0]["payer_kind"] == "state_republican"

    r = await client.post("/v1/state-contributions", json={
        "budget": "local", "category": "pensioners", "period": month(-1), "reference": "st-2",
        "iins": [people[0], "123", people[0]]})
    assert r.status_code == 422
    assert [e["loc"] for e in r.json()["errors"]] == [["body", "category"], ["body", "iins", 1], ["body", "iins", 2]]


async def test_status_of_an_unknown_person_and_bad_identifiers(client):
    r = await client.get(f"/v1/persons/{iin()}/status", params={"date": "2026-01-15"})
    assert r.json() | {"iin": None} == {"iin": None, "date": "2026-01-15", "status": "not_insured", "reason": "none",
                                         "insured_until": None, "last_covered_month": None}
    assert (await client.get("/v1/persons/123456789012/status")).status_code == 422
    assert (await client.get("/v1/employers/123456789012/payrolls")).status_code == 422


async def test_concurrent_duplicates_of_one_payroll_are_accepted_once(client):
    employer = bin_()
    people = iins(50)
    body = {"employer_bin": employer, "period": month(-2), "reference": "race",
            "rows": [{"iin": p, "income": "150000.00", "kind": "employee"} for p in people]}
    answers = await asyncio.gather(*[client.post("/v1/payrolls", json=body) for _ in range(4)])
    assert {r.status_code for r in answers} == {201}
    assert len({r.json()["payroll_id"] for r in answers}) == 1
    assert len((await client.get(f"/v1/employers/{employer}/payrolls")).json()["payrolls"]) == 1
    events = await events_for(set(people), 50)
    assert len(events) == 50 and {e["value"]["data"]["status_version"] for e in events} == {1}
