"""Refunds and the single payment (ЕП) against the real PostgreSQL and Kafka: a refund uncovers the
months it pays back and the statuses follow; a refund larger than what was paid is refused."""
from __future__ import annotations

from datetime import date, timedelta


from services.common import clock
from services.contributions import domain
from tests.support.contributions_api import TODAY, THIS_MONTH, month
from tests.support.people import bin_, iin

async def pay(client, person: str, kind: str, amount: str, reference: str) -> dict:
    r = await client.post("/v1/payments", json={"iin": person, "payer_kind": kind, "amount": amount,
                                                "paid_on": TODAY.isoformat(), "reference": reference})
    assert r.status_code == 201, r.text
    return r.json()


async def covered(client, person: str) -> list[str]:
    return (await client.get(f"/v1/persons/{person}/contributions")).json()["covered_months"]


async def test_a_self_payers_refund_gives_back_whole_months_latest_first(client):
    person = iin(date(1985, 1, 1))
    payment = await pay(client, person, "self", "12750.00", f"self-{person}")
    assert payment["covered_months"] == [month(-12), month(-11), month(-10)]
    url = f"/v1/payments/{payment['payment_id']}/refunds"
    body = {"amount": "4250.00", "reason": "paid twice by mistake", "reference": f"ref-{person}"}
    r = await client.post(url, json=body)
    assert r.status_code == 201, r.text
    assert (r.json()["uncovered_months"], r.json()["reason"]) == ([month(-10)], "paid twice by mistake")
    assert (await client.post(url, json=body)).json() == r.json()
    assert (await client.post(url, json={**body, "amount": "8500.00"})).status_code == 409
    assert await covered(client, person) == [month(-12), month(-11)]

    not_whole = await client.post(url, json={**body, "amount": "5000.00", "reference": "r2"})
    assert not_whole.status_code == 422
    too_much = await client.post(url, json={**body, "amount": "8500.01", "reference": "r3"})
    assert too_much.status_code == 409 and too_much.json()["rule"] == "refund_exceeds_paid"
    assert too_much.json()["refundable"] == "8500.00"
    rest = await client.post(url, json={**body, "amount": "8500.00", "reference": "r4"})
    assert rest.json()["uncovered_months"] == [month(-12), month(-11)]
    assert await covered(client, person) == []
    assert (await client.post(url, json={**body, "amount": "0.01", "reference": "r5"})).status_code == 409
    assert (await client.post(url, json={**body, "amount": "0.00", "reference": "r6"})).status_code == 422
    unknown = await client.post("/v1/payments/00000000-0000-0000-0000-000000000000/refunds",
                                json={**body, "reference": "r7"})
    assert unknown.status_code == 404


async def test_a_single_payment_covers_its_month_with_its_share_and_a_full_refund_uncovers_it(client):
    person = iin(date(1990, 2, 2))
    paid = await pay(client, person, "single_payment", "20000.00", f"ep-{person}")
    assert paid["covered_months"] == [month(0)]
    (item,) = (await client.get(f"/v1/persons/{person}/contributions")).json()["contributions"]
    assert (item["payer_kind"], item["amount"]) == ("single_payment", "4500.00")   # 22.5% to ОСМС
    status = (await client.get(f"/v1/persons/{person}/status")).json()
    assert status["status"] == "insured"
    nothing = await client.post("/v1/payments", json={"iin": person, "payer_kind": "single_payment", "amount": "0.02",
                                                      "paid_on": TODAY.isoformat(), "reference": f"ep0-{person}"})
    assert nothing.status_code == 422  # 0.0045 rounds to nothing
    before = await client.post("/v1/payments", json={"iin": person, "payer_kind": "single_payment",
                                                     "amount": "100.00", "paid_on": "2022-12-31",
                                                     "reference": f"ep1-{person}"})
    assert before.status_code == 422 and before.json()["errors"][0]["loc"] == ["body", "payer_kind"]

    url = f"/v1/payments/{paid['payment_id']}/refunds"
    part = await client.post(url, json={"amount": "10000.00", "reason": "overpaid", "reference": f"epr1-{person}"})
    assert part.json()["uncovered_months"] == []
    assert await covered(client, person) == [month(0)]
    whole = await client.post(url, json={"amount": "10000.00", "reason": "overpaid", "reference": f"epr2-{person}"})
    assert whole.json()["uncovered_months"] == [month(0)]
    assert (await client.get(f"/v1/persons/{person}/status")).json()["status"] == "not_insured"


async def test_an_employers_refund_is_limited_to_what_was_paid_and_past_the_grace_lapses_the_month(
        client, monkeypatch):
    employer, person = bin_(), iin(date(1975, 6, 6))
    period = month(-1)
    r = await client.post("/v1/payrolls", json={"employer_bin": employer, "period": period, "reference": "p",
                                                "rows": [{"iin": person, "income": "100000.00", "kind": "employee"}]})
    assert r.status_code == 201
    r = await client.post("/v1/bank-statements", json={"records": [
        {"payer_bin": employer, "date": domain.first_day(THIS_MONTH).isoformat(), "amount": "6000.00",  # on time
         "purpose": f"ОСМС {period}",
         "reference": f"b-{employer}"}]})
    assert r.json()["results"][0]["status"] == "matched"
    url = f"/v1/employers/{employer}/refunds"
    over = await client.post(url, json={"period": period, "amount": "1000.00", "reason": "overpaid",
                                        "reference": f"o-{employer}"})
    assert over.status_code == 201 and over.json()["uncovered_months"] == []
    reused = await client.post(url, json={"period": period, "amount": "999.00", "reason": "overpaid",
                                          "reference": f"o-{employer}"})
    assert reused.status_code == 409 and reused.json()["rule"] == "reference_reused"
    account = (await client.get(f"/v1/employers/{employer}/account")).json()
    (line,) = account["periods"]
    assert (line["paid"], line["balance"], line["status"]) == ("5000.00", "0.00", "paid")
    too_much = await client.post(url, json={"period": period, "amount": "5000.01", "reason": "x",
                                            "reference": f"t-{employer}"})
    assert too_much.status_code == 409 and too_much.json()["rule"] == "refund_exceeds_paid"
    none = await client.post(url, json={"period": month(-2), "amount": "1.00", "reason": "x", "reference": "n"})
    assert none.status_code == 404

    # refunded after the month's grace: it stops counting at once
    refund_day = date.fromisoformat(line["counts_until"]) + timedelta(days=1)
    monkeypatch.setattr(clock, "today", lambda: refund_day)
    back = await client.post(url, json={"period": period, "amount": "5000.00", "reason": "payroll reversed",
                                        "reference": f"r-{employer}"})
    assert back.json()["uncovered_months"] == [period]
    status = (await client.get(f"/v1/persons/{person}/status", params={"date": TODAY.isoformat()})).json()
    assert status["status"] == "not_insured"
    (line,) = (await client.get(f"/v1/employers/{employer}/account")).json()["periods"]
    assert (line["status"], line["balance"], line["penalty"]) == ("lapsed", "5000.00", "0.00")
    # owed again from the day after the refund: one day late on 5,000 at 18% x 1.25 / 365
    monkeypatch.setattr(clock, "today", lambda: refund_day + timedelta(days=1))
    (line,) = (await client.get(f"/v1/employers/{employer}/account")).json()["periods"]
    assert (line["penalty"], line["days_late"]) == ("3.08", 1)
