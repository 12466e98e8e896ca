"""The quote against the real servers: paying what it says makes the person insured on the date."""
from __future__ import annotations

from datetime import date, timedelta

import pytest

from tests.support.contributions_api import TODAY
from tests.support.people import iin



@pytest.mark.parametrize("ahead", [0, 200])
async def test_paying_the_quote_makes_the_person_insured_on_the_date(client, ahead):
    person = iin(date(1980, 3, 3))
    on = (TODAY + timedelta(days=ahead)).isoformat()
    quote = (await client.get(f"/v1/persons/{person}/quote", params={"on": on})).json()
    assert quote["months"] and quote["amount"] == f"{4250 * len(quote['months'])}.00", quote
    r = await client.post("/v1/payments", json={"iin": person, "payer_kind": "self", "amount": quote["amount"],
                                                "paid_on": TODAY.isoformat(), "reference": f"q-{person}"})
    assert r.status_code == 201 and r.json()["covered_months"] == quote["months"]
    status = (await client.get(f"/v1/persons/{person}/status", params={"date": on})).json()
    assert status["status"] == quote["status_after"] != "not_insured"
    again = (await client.get(f"/v1/persons/{person}/quote", params={"on": on})).json()
    assert (again["amount"], again["months"]) == ("0.00", [])


async def test_a_date_in_the_past_or_out_of_reach_is_refused(client):
    person = iin(date(1980, 3, 3))
    past = await client.get(f"/v1/persons/{person}/quote", params={"on": (TODAY - timedelta(days=1)).isoformat()})
    assert past.status_code == 422
    far = await client.get(f"/v1/persons/{person}/quote", params={"on": (TODAY + timedelta(days=600)).isoformat()})
    assert far.status_code == 409 and far.json()["rule"] == "months_not_payable"
    assert (await client.get("/v1/persons/123/quote", params={"on": TODAY.isoformat()})).status_code == 422
