"""Declared against paid, against the real PostgreSQL and Kafka: bank records matched to declarations
(or kept unmatched), the employer's account, the sweep that lapses a month unpaid past its grace
(driven with a fixed clock), coverage coming back when paid late, and the penalty."""
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal


from services.common.money import to_money
from services.contributions import domain, store
from services.contributions.app import app
from tests.support.contributions_api import TODAY, THIS_MONTH, on_day
from tests.support.inproc import eventually, key_headers
from tests.support.kafka import read_topic
from tests.support.people import bin_, iins

PERIOD = domain.month_str(THIS_MONTH - 1)
DUE = domain.first_day(THIS_MONTH).replace(day=25)   # the 25th of the month after PERIOD
UNTIL = max(DUE, TODAY) + timedelta(days=10)        # the seeded grace: 10 days


async def declare(client, employer: str, people: list[str], income: str, reference: str = "p") -> dict:
    r = await client.post("/v1/payrolls", json={"employer_bin": employer, "period": PERIOD, "reference": reference,
                                                "rows": [{"iin": p, "income": income, "kind": "employee"}
                                                         for p in people]})
    assert r.status_code == 201, r.text
    return r.json()


def record(payer: str, amount: str, purpose: str, reference: str, on: date = domain.first_day(THIS_MONTH)) -> dict:
    """A bank record, by default paid on time (the 1st of the month after PERIOD)."""
    return {"payer_bin": payer, "date": on.isoformat(), "amount": amount, "purpose": purpose, "reference": reference}


async def period_line(client, employer: str) -> dict:
    account = (await client.get(f"/v1/employers/{employer}/account")).json()
    return next(p for p in account["periods"] if p["period"] == PERIOD)


async def insured(client, person: str) -> str:
    return (await client.get(f"/v1/persons/{person}/status", params={"date": TODAY.isoformat()})).json()["status"]


async def sweep(day: date) -> int:
    return await store.sweep_lapses(app.state.ctx.pool, day)


async def test_bank_records_match_by_the_period_in_the_purpose_else_the_oldest_unpaid(client):
    employer, stranger = bin_(), bin_()
    (person,) = iins(1)
    await declare(client, employer, [person], "100000.00")   # 3,000 + 2,000
    statement = {"records": [
        record(employer, "3000.00", f"ОСМС отчисления за {PERIOD}", f"{employer}-1"),
        record(employer, "2000.00", "взносы ОСМС", f"{employer}-2"),            # no month: the oldest unpaid
        record(employer, "100.00", "ОСМС за 2021-01", f"{employer}-3"),         # a month never declared
        record(stranger, "700.00", f"ОСМС за {PERIOD}", f"{employer}-4"),       # nothing declared
    ]}
    r = await client.post("/v1/bank-statements", json=statement)
    assert r.status_code == 200, r.text
    assert [(x["status"], x["period"], x["duplicate"]) for x in r.json()["results"]] == [
        ("matched", PERIOD, False), ("matched", PERIOD, False), ("unmatched", None, False),
        ("unmatched", None, False)]
    line = await period_line(client, employer)
    assert (line["declared"], line["paid"], line["balance"], line["status"], line["penalty"]) == \
        ("5000.00", "5000.00", "0.00", "paid", "0.00")

    again = await client.post("/v1/bank-statements", json=statement)
    assert [x["duplicate"] for x in again.json()["results"]] == [True] * 4
    assert (await period_line(client, employer))["paid"] == "5000.00"
    changed = {"records": [{**statement["records"][0], "amount": "3000.01"}]}
    refused = await client.post("/v1/bank-statements", json=changed)
    assert refused.status_code == 409 and refused.json()["rule"] == "reference_reused"

    unmatched = (await client.get("/v1/bank-statements/unmatched", params={"limit": 1000})).json()["records"]
    mine = {u["reference"]: u for u in unmatched if u["reference"].startswith(employer)}
    assert set(mine) == {f"{employer}-3", f"{employer}-4"}
    assert (mine[f"{employer}-4"]["payer_bin"], mine[f"{employer}-4"]["amount"]) == (stranger, "700.00")

    bad = await client.post("/v1/bank-statements", json={"records": [
        record(employer, "1.00", "x", "dup"), record(employer, "5", "x", "dup"),
        record(employer, "1.00", "x", "later", TODAY + timedelta(days=1))]})
    assert bad.status_code == 422
    assert [e["loc"][2:] for e in bad.json()["errors"]] == [[1, "amount"]]
    bad = await client.post("/v1/bank-statements", json={"records": [
        record(employer, "1.00", "x", "dup"), record(employer, "2.00", "x", "dup"),
        record(employer, "1.00", "x", "later", TODAY + timedelta(days=1))]})
    assert [e["loc"][2:] for e in bad.json()["errors"]] == [[2, "date"], [1, "reference"]]


async def test_an_unpaid_month_lapses_after_its_grace_and_comes_back_when_paid_late(client, monkeypatch):
    employer = bin_()
    person, colleague = iins(2)
    await declare(client, employer, [person], "200000.00")   # 6,000 + 4,000
    line = await period_line(client, employer)
    assert (line["due_on"], line["counts_until"], line["status"]) == \
        (DUE.isoformat(), UNTIL.isoformat(), "due" if TODAY <= DUE else "overdue")

    await sweep(UNTIL)                          # the last day it counts: nothing lapses
    on_day(monkeypatch, UNTIL)
    line = await period_line(client, employer)
    assert (line["status"], await insured(client, person)) == ("overdue", "insured")

    await sweep(UNTIL + timedelta(days=1))
    on_day(monkeypatch, UNTIL + timedelta(days=1))
    assert await insured(client, person) == "not_insured"
    line = await period_line(client, employer)
    late = (UNTIL + timedelta(days=1) - DUE).days
    assert (line["status"], line["balance"], line["days_late"]) == ("lapsed", "10000.00", late)
    assert line["penalty"] == str(to_money(Decimal(10000) * Decimal("0.18") * Decimal("1.25") * late / 365))
    account = (await client.get(f"/v1/employers/{employer}/account")).json()
    assert account["debt"] == "10000.00"

    async def last_event(who: str) -> dict:
        events = [e["value"]["data"] for e in await read_topic("contribution-paid") if e["key"] == who]
        return max(events, key=lambda d: d["status_version"]) if events else {}

    assert (await eventually(lambda: _status_is(last_event, person, "not_insured")))["insured_periods"] == []

    # A further payroll into the lapsed month covers no one until the month is paid.
    await declare(client, employer, [colleague], "100000.00", reference="p-2")
    assert await insured(client, colleague) == "not_insured"

    paid_on = UNTIL + timedelta(days=5)
    on_day(monkeypatch, paid_on)
    part = await client.post("/v1/bank-statements", json={"records": [
        record(employer, "10000.00", f"ОСМС {PERIOD}", f"{employer}-a", paid_on)]})
    assert part.json()["results"][0]["status"] == "matched"
    assert await insured(client, person) == "not_insured"    # 10,000 of 15,000: still short
    rest = await client.post("/v1/bank-statements", json={"records": [
        record(employer, "5000.00", f"ОСМС {PERIOD}", f"{employer}-b", paid_on)]})
    assert rest.status_code == 200
    assert (await insured(client, person), await insured(client, colleague)) == ("insured", "insured")
    # as of the day paid (in January) the month paid for gives grace; the whole timeline is back
    back = await eventually(lambda: _status_is(last_event, person, "grace"))
    assert back["insured_periods"] == [{"from": domain.first_day(THIS_MONTH - 1).isoformat(),
                                        "until": domain.last_day(THIS_MONTH + 3).isoformat()}]
    line = await period_line(client, employer)
    days = (paid_on - DUE).days
    # 10,000 late for `days` days, the colleague's 5,000 declared late is late from the same due date
    want = to_money(Decimal(15000) * Decimal("0.18") * Decimal("1.25") * days / 365)
    assert (line["status"], line["balance"], line["days_late"], line["penalty"]) == ("paid", "0.00", days, str(want))

    theirs = await key_headers(app, "employer", bin_())
    assert (await client.get(f"/v1/employers/{employer}/account", headers=theirs)).status_code == 403
    mine = await key_headers(app, "employer", employer)
    assert (await client.get(f"/v1/employers/{employer}/account", headers=mine)).status_code == 200


async def _status_is(last_event, who: str, status: str) -> dict | None:
    event = await last_event(who)
    return event if event.get("status") == status else None
