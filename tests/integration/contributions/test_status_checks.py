"""Point-of-care eligibility (POST /v1/status-checks): a clinic's key checks up to 1,000 people and
learns each one's status and until when, nothing of the contributions behind it."""
from __future__ import annotations

from datetime import date

import pytest

from services.common import clock
from services.contributions import domain
from services.contributions.app import app
from tests.support.inproc import key_headers, running
from tests.support.people import bin_, clinic_id, iin, iins

TODAY = clock.today()
THIS_MONTH = domain.month_of(TODAY)


@pytest.fixture(scope="module")
async def admin():
    async with running(app) as c:
        yield c


async def test_a_clinic_learns_each_persons_status_and_until_when_only(admin):
    paid, state_paid, nobody = iins(3, birth=date(1980, 5, 5))
    last_month = domain.month_str(THIS_MONTH - 1)
    r = await admin.post("/v1/payrolls", json={"employer_bin": bin_(), "period": last_month, "reference": "sc-1",
                                               "rows": [{"iin": paid, "income": "400000.00", "kind": "employee"}]})
    assert r.status_code == 201, r.text
    r = await admin.post("/v1/state-contributions", json={"budget": "republican", "category": "pensioners",
                                                          "period": last_month, "reference": "sc-2",
                                                          "iins": [state_paid]})
    assert r.status_code == 201, r.text

    clinic = await key_headers(app, "clinic", clinic_id())
    asked = [paid, nobody, "123", paid, state_paid]
    r = await admin.post("/v1/status-checks", json={"iins": asked}, headers=clinic)
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["date"] == TODAY.isoformat()
    results = answer["results"]
    assert [x["iin"] for x in results] == asked
    until = domain.last_day(THIS_MONTH + 3).isoformat()
    assert results[0] == {"iin": paid, "status": "insured", "insured_until": until, "errors": []}
    assert results[3] == results[0]
    assert results[1] == {"iin": nobody, "status": "not_insured", "insured_until": None, "errors": []}
    assert results[2]["status"] is None and results[2]["errors"]
    # The same answer as the operators' status, without the reason (a state-paid category) or the months.
    full = (await admin.get(f"/v1/persons/{state_paid}/status")).json()
    assert results[4] == {"iin": state_paid, "status": full["status"], "insured_until": full["insured_until"],
                          "errors": []}
    assert full["reason"] == "state_category"


async def test_a_check_on_a_date_and_a_person_not_yet_born(admin):
    person = iin(birth=date(1990, 1, 1))
    newborn = iin(birth=TODAY)
    r = await admin.post("/v1/status-checks", json={"iins": [person, newborn], "date": "2020-01-01"})
    assert r.status_code == 200, r.text
    assert r.json()["date"] == "2020-01-01"
    first, second = r.json()["results"]
    assert first["status"] == "not_insured"
    assert second["status"] is None and "birth date" in second["errors"][0]


async def test_batch_limits_and_roles(admin):
    r = await admin.post("/v1/status-checks", json={"iins": iins(1001)})
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    assert (await admin.post("/v1/status-checks", json={"iins": []})).status_code == 422
    assert (await admin.post("/v1/status-checks", json={"iins": iins(1000)})).status_code == 200
    employer = await key_headers(app, "employer", bin_())
    r = await admin.post("/v1/status-checks", json={"iins": iins(1)}, headers=employer)
    assert r.status_code == 403
    operator = await key_headers(app, "operator")
    assert (await admin.post("/v1/status-checks", json={"iins": iins(1)}, headers=operator)).status_code == 200
