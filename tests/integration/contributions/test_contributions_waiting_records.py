"""Bank records that arrive before their declaration, and gateway batches whose payrolls share people,
against the real PostgreSQL and Kafka: a record that matches nothing is kept and listed, and is matched
by itself once its payer declares the month; a person in several payrolls of one batch gets an event
each, with versions that keep increasing."""
from __future__ import annotations

from services.contributions import domain
from tests.support.contributions_api import THIS_MONTH
from tests.support.inproc import eventually
from tests.support.kafka import read_topic
from tests.support.people import bin_, iins

PERIOD = domain.month_str(THIS_MONTH - 1)
PAID_ON = domain.first_day(THIS_MONTH).isoformat()   # before the due date: no penalty


def payroll(employer: str, people: list[str], income: str, reference: str = "p") -> dict:
    return {"employer_bin": employer, "period": PERIOD, "reference": reference,
            "rows": [{"iin": p, "income": income, "kind": "employee"} for p in people]}


async def unmatched_references(client) -> set[str]:
    records = (await client.get("/v1/bank-statements/unmatched", params={"limit": 1000})).json()["records"]
    return {r["reference"] for r in records}


async def period_line(client, employer: str) -> dict:
    account = (await client.get(f"/v1/employers/{employer}/account")).json()
    return next(p for p in account["periods"] if p["period"] == PERIOD)


async def test_records_paid_before_the_payroll_are_matched_when_it_arrives(client):
    employer, other = bin_(), bin_()
    (person,) = iins(1)
    r = await client.post("/v1/bank-statements", json={"records": [
        {"payer_bin": employer, "date": PAID_ON, "amount": "3000.00", "purpose": f"ОСМС за {PERIOD}",
         "reference": f"{employer}-named"},
        {"payer_bin": employer, "date": PAID_ON, "amount": "2000.00", "purpose": "взносы ОСМС",
         "reference": f"{employer}-unnamed"},
        {"payer_bin": other, "date": PAID_ON, "amount": "10.00", "purpose": f"ОСМС за {PERIOD}",
         "reference": f"{employer}-other"}]})
    assert [x["status"] for x in r.json()["results"]] == ["unmatched"] * 3
    assert {f"{employer}-named", f"{employer}-unnamed", f"{employer}-other"} <= await unmatched_references(client)

    r = await client.post("/v1/payrolls", json=payroll(employer, [person], "100000.00"))   # 3,000 + 2,000
    assert r.status_code == 201, r.text
    line = await period_line(client, employer)
    assert (line["declared"], line["paid"], line["balance"], line["status"], line["penalty"]) == \
        ("5000.00", "5000.00", "0.00", "paid", "0.00")
    left = await unmatched_references(client)
    assert f"{employer}-named" not in left and f"{employer}-unnamed" not in left
    assert f"{employer}-other" in left   # its payer declared nothing: still kept, still listed
    listed = (await client.get("/v1/bank-statements/unmatched", params={"limit": 1000})).json()["records"]
    paged = [r for offset in range(len(listed) + 1) for r in (await client.get(
        "/v1/bank-statements/unmatched", params={"limit": 1, "offset": offset})).json()["records"]]
    assert paged == listed

    # The record is matched once only: sent again, it is a duplicate of the matched one.
    again = await client.post("/v1/bank-statements", json={"records": [
        {"payer_bin": employer, "date": PAID_ON, "amount": "3000.00", "purpose": f"ОСМС за {PERIOD}",
         "reference": f"{employer}-named"}]})
    assert again.json()["results"][0] | {"record_id": None} == {
        "reference": f"{employer}-named", "record_id": None, "status": "matched", "period": PERIOD, "duplicate": True}
    assert (await period_line(client, employer))["paid"] == "5000.00"


async def test_a_gateway_batch_matches_waiting_records_too(client):
    employer = bin_()
    (person,) = iins(1)
    await client.post("/v1/bank-statements", json={"records": [
        {"payer_bin": employer, "date": PAID_ON, "amount": "1000.00", "purpose": f"ОСМС {PERIOD}",
         "reference": f"{employer}-early"}]})
    r = await client.post("/v1/payroll-batches", json={"payrolls": [payroll(employer, [person], "100000.00")]})
    assert r.json()["results"][0]["status"] == 201, r.text
    line = await period_line(client, employer)
    assert (line["declared"], line["paid"], line["balance"], line["status"]) == \
        ("5000.00", "1000.00", "4000.00", "due")
    assert f"{employer}-early" not in await unmatched_references(client)


async def test_a_person_in_several_payrolls_of_one_batch_gets_increasing_versions(client):
    first, second, third = bin_(), bin_(), bin_()
    person, colleague = iins(2)
    r = await client.post("/v1/payroll-batches", json={"payrolls": [
        payroll(first, [person, colleague], "200000.00"), payroll(second, [person], "90000.00"),
        payroll(third, [person], "0.00")]})
    assert [x["status"] for x in r.json()["results"]] == [201, 201, 201], r.text
    assert [x["employer_deduction_total"] for x in r.json()["results"]] == ["12000.00", "2700.00", "0.00"]

    async def published():
        got = [e["value"]["data"] for e in await read_topic("contribution-paid") if e["key"] == person]
        return got if len(got) == 3 else None

    events = await eventually(published, timeout=20)
    assert sorted(e["status_version"] for e in events) == [1, 2, 3]
    assert sorted(e["covered_months"] for e in events) == [[], [PERIOD], [PERIOD]]   # a nil income covers nothing
    assert {e["status"] for e in events} == {"insured"}
    status = (await client.get(f"/v1/persons/{person}/status")).json()
    assert (status["status"], status["last_covered_month"]) == ("insured", PERIOD)


async def test_a_statement_as_the_banks_csv_export(client):
    employer = bin_()
    (person,) = iins(1)
    await client.post("/v1/payrolls", json=payroll(employer, [person], "100000.00"))
    text = ("reference,payer_bin,date,amount,purpose\r\n"
            f'{employer}-csv-1,{employer},{PAID_ON},3000.00,"ОСМС, отчисления за {PERIOD}"\r\n'
            f"{employer}-csv-2,{employer},{PAID_ON},2000.00,взносы\r\n")
    r = await client.post("/v1/bank-statements", json={"csv": text})
    assert r.status_code == 200, r.text
    assert [(x["reference"], x["status"], x["period"]) for x in r.json()["results"]] == [
        (f"{employer}-csv-1", "matched", PERIOD), (f"{employer}-csv-2", "matched", PERIOD)]
    assert (await period_line(client, employer))["paid"] == "5000.00"
    again = await client.post("/v1/bank-statements", json={"csv": text})
    assert [x["duplicate"] for x in again.json()["results"]] == [True, True]
    changed = await client.post("/v1/bank-statements", json={"csv": text.replace("2000.00", "2000.50")})
    assert changed.status_code == 409 and changed.json()["rule"] == "reference_reused"

    bad = await client.post("/v1/bank-statements", json={"csv": (
        "payer_bin,date,amount,purpose,reference\n"
        f"{employer},{PAID_ON},12,x,{employer}-bad-0\n"        # money needs two decimals
        f"{employer},{PAID_ON},1.00,x\n"                        # a field short
        f"{employer},2020-13-01,1.00,x,{employer}-bad-2\n")})
    assert bad.status_code == 422
    assert [e["loc"][1:] for e in bad.json()["errors"]] == [["csv", 0, "amount"], ["csv", 1], ["csv", 2, "date"]]
    no_header = await client.post("/v1/bank-statements", json={"csv": f"{employer},{PAID_ON},1.00,x,r\n"})
    assert no_header.status_code == 422 and no_header.json()["errors"][0]["loc"] == ["body", "csv", "header"]
    one = {"payer_bin": employer, "date": PAID_ON, "amount": "1.00", "purpose": "x", "reference": f"{employer}-one"}
    both = await client.post("/v1/bank-statements", json={"csv": text, "records": [one]})
    neither = await client.post("/v1/bank-statements", json={})
    assert (both.status_code, neither.status_code) == (422, 422)


async def test_one_reference_twice_in_a_batch_for_two_months_is_refused_the_second_time(client):
    employer = bin_()
    a, b = iins(2)
    earlier = domain.month_str(THIS_MONTH - 2)
    r = await client.post("/v1/payroll-batches", json={"payrolls": [
        payroll(employer, [a], "100000.00", reference="same"),
        {**payroll(employer, [b], "100000.00", reference="same"), "period": earlier}]})
    # a batch is written in (employer, period) order: the earlier month's payroll takes the reference
    assert [x["status"] for x in r.json()["results"]] == [409, 201], r.text
    assert r.json()["results"][0]["rule"] == "reference_reused"
    # the month the refused payroll would have opened was not left declared
    account = (await client.get(f"/v1/employers/{employer}/account")).json()
    assert [p["period"] for p in account["periods"]] == [earlier]
    assert (await client.get(f"/v1/persons/{a}/status")).json()["status"] == "not_insured"
