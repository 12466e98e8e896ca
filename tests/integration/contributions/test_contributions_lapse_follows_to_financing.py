"""A payroll declared and not paid by its due date plus the grace: the employee's months lapse in
contributions and, through contribution-paid, in financing; paid late, coverage returns in both and
the penalty shows on the employer's account. Both services run in-process against the real
PostgreSQL and Kafka; the sweep is driven with a fixed clock."""
from __future__ import annotations

from datetime import date, timedelta

import pytest

from services.common import clock
from services.contributions import domain, store
from services.contributions.app import app as contributions_app
from services.financing.app import app as financing_app
from tests.support.financing_events import attached, caught_up, publish
from tests.support.inproc import eventually, running
from tests.support.people import bin_, clinic_id, iin

TODAY = clock.today()
PERIOD = domain.month_str(domain.month_of(TODAY) - 1)


@pytest.fixture(scope="module")
async def services():
    async with running(contributions_app) as contributions, running(financing_app) as financing:
        yield contributions, financing


async def test_unpaid_months_lapse_in_financing_and_come_back_when_paid_late(services, monkeypatch):
    contributions, financing = services
    employer, clinic, person = bin_(), clinic_id(), iin(date(1990, 5, 17))
    await publish([attached(person, clinic, date(2025, 1, 1), 1)])
    r = await contributions.post("/v1/payrolls", json={"employer_bin": employer, "period": PERIOD, "reference": "p",
                                                       "rows": [{"iin": person, "income": "300000.00",
                                                                 "kind": "employee"}]})
    assert r.status_code == 201, r.text

    async def insured_in_financing(want: int):
        async def check():
            await caught_up(financing)
            got = (await financing.get(f"/v1/clinics/{clinic}/financing",
                                       params={"date": TODAY.isoformat()})).json()
            return got if got["insured"] == want else None
        return await eventually(check, timeout=40)

    await insured_in_financing(1)

    line = next(p for p in (await contributions.get(f"/v1/employers/{employer}/account")).json()["periods"]
                if p["period"] == PERIOD)
    lapse_day = date.fromisoformat(line["counts_until"]) + timedelta(days=1)
    await store.sweep_lapses(contributions_app.state.ctx.pool, lapse_day)
    status = (await contributions.get(f"/v1/persons/{person}/status", params={"date": TODAY.isoformat()})).json()
    assert status["status"] == "not_insured"
    await insured_in_financing(0)

    paid_on = lapse_day + timedelta(days=3)
    monkeypatch.setattr(clock, "today", lambda: paid_on)
    r = await contributions.post("/v1/bank-statements", json={"records": [
        {"payer_bin": employer, "date": paid_on.isoformat(), "amount": line["declared"],
         "purpose": f"ОСМС за {PERIOD}", "reference": f"bank-{employer}"}]})
    assert r.json()["results"][0]["status"] == "matched"
    status = (await contributions.get(f"/v1/persons/{person}/status", params={"date": TODAY.isoformat()})).json()
    assert status["status"] == "insured"
    await insured_in_financing(1)

    account = (await contributions.get(f"/v1/employers/{employer}/account")).json()
    (paid,) = [p for p in account["periods"] if p["period"] == PERIOD]
    assert paid["status"] == "paid" and paid["days_late"] == (paid_on - date.fromisoformat(paid["due_on"])).days
    assert float(paid["penalty"]) > 0 and account["penalty"] == paid["penalty"] and account["debt"] == "0.00"
