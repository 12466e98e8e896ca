"""Strict input, the same everywhere: money only as the contract writes it, dates only YYYY-MM-DD,
IINs of people born by the date they are used for, JSON bodies only. Each class of bad input is a
4xx problem, never a 500, and nothing is written."""
from __future__ import annotations

import gzip
import importlib
from datetime import date

import orjson
import pytest

from services.common import clock
from services.common.ids import make_iin
from services.contributions import domain
from services.contributions.app import app
from tests.support.inproc import running
from tests.support.people import bin_, iins

TODAY = clock.today()
LAST_MONTH = domain.month_str(domain.month_of(TODAY) - 1)

# Every class the contract's "a JSON string, ASCII digits, two decimals, bounded" leaves out.
BAD_MONEY = [4250, 4250.0, "4250", "4250.0", "4250.000", "4 250.00", "4_250.00", "4250,00", "+4250.00",
             "-4250.00", "4.25e3", "1e999999", "4250.00 ", " 4250.00", "4250.00\n", "٤٢٥٠.٠٠", "４２５０.００",
             "NaN", "Infinity", "", "99999999999999.00", True, None, [], {}]
BAD_DATES = ["2026-1-05", "2026-01-05T00:00:00", "2026-01-05 00:00", "20260105", "2026-02-30", "٢٠٢٦-٠١-٠٥",
             "2026-01-05Z", 20260105, "", "05.01.2026"]


@pytest.fixture(scope="module")
async def client():
    async with running(app) as c:
        yield c


async def _payments(client) -> int:
    async with app.state.ctx.pool.acquire() as conn:
        return await conn.fetchval("SELECT (SELECT count(*) FROM payments) + (SELECT count(*) FROM payrolls)")


@pytest.mark.parametrize("amount", BAD_MONEY, ids=repr)
async def test_money_in_any_other_form_is_a_422(client, amount):
    before = await _payments(client)
    (person,) = iins(1)
    r = await client.post("/v1/payments", json={"iin": person, "payer_kind": "self", "amount": amount,
                                               "paid_on": TODAY.isoformat(), "reference": f"m-{person}"})
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    rows = await client.post("/v1/payrolls", json={"employer_bin": bin_(), "period": LAST_MONTH, "reference": "m",
                                                  "rows": [{"iin": person, "income": amount, "kind": "employee"}]})
    assert rows.status_code == 422, rows.text
    assert rows.json()["errors"][0]["loc"] == ["body", "rows", 0, "income"]
    assert await _payments(client) == before


@pytest.mark.parametrize("day", BAD_DATES, ids=repr)
async def test_a_date_in_any_other_form_is_a_422_in_bodies_and_queries(client, day):
    (person,) = iins(1)
    r = await client.post("/v1/payments", json={"iin": person, "payer_kind": "self", "amount": "4250.00",
                                               "paid_on": day, "reference": f"d-{person}"})
    assert r.status_code == 422, r.text
    q = await client.get(f"/v1/persons/{person}/status", params={"date": day})
    assert q.status_code == 422, q.text


@pytest.mark.parametrize("period", ["2026-1", "2026-13", "٢٠٢٦-١٠", "2026-10-01", "2026/10", 202610])
async def test_a_month_in_any_other_form_is_a_422(client, period):
    r = await client.post("/v1/payrolls", json={"employer_bin": bin_(), "period": period, "reference": "p",
                                               "rows": [{"iin": iins(1)[0], "income": "1.00", "kind": "employee"}]})
    assert r.status_code == 422, r.text


async def test_a_person_not_born_by_the_date_is_refused_everywhere(client):
    unborn = make_iin(date(2026, 11, 20), "F", 17) or make_iin(date(2026, 11, 20), "F", 18)
    r = await client.post("/v1/payrolls", json={"employer_bin": bin_(), "period": "2026-10", "reference": "u",
                                               "rows": [{"iin": unborn, "income": "100.00", "kind": "employee"}]})
    assert r.status_code == 422 and "birth date" in r.json()["errors"][0]["msg"], r.text
    r = await client.post("/v1/payments", json={"iin": unborn, "payer_kind": "self", "amount": "4250.00",
                                               "paid_on": "2026-11-19", "reference": "unborn-pay"})
    assert r.status_code == 422, r.text
    r = await client.post("/v1/state-contributions", json={"budget": "republican", "category": "children",
                                                           "period": "2026-10", "reference": "unborn-state",
                                                           "iins": [unborn]})
    assert r.status_code == 422, r.text
    assert (await client.get(f"/v1/persons/{unborn}/status", params={"date": "2026-11-19"})).status_code == 422
    assert (await client.get(f"/v1/persons/{unborn}/status", params={"date": "2026-11-20"})).status_code == 200


@pytest.mark.parametrize("service", ["contributions", "registry", "financing", "feedback"])
async def test_bodies_must_be_json_and_not_encoded(service):
    service_app = importlib.import_module(f"services.{service}.app").app
    path = {"contributions": "/v1/payments", "registry": "/v1/attachments", "financing": "/v1/clinics/C1",
            "feedback": "/v1/appeals"}[service]
    method = "PUT" if service == "financing" else "POST"
    body = orjson.dumps({"anything": 1})
    async with running(service_app) as c:
        for headers, content in [({"content-type": "text/plain"}, body),
                                 ({"content-type": "application/x-www-form-urlencoded"}, b"a=1"),
                                 ({}, body),
                                 ({"content-type": "application/json", "content-encoding": "gzip"}, gzip.compress(body)),
                                 ({"content-type": "application/json", "content-encoding": "br"}, body)]:
            r = await c.request(method, path, content=content, headers=headers)
            assert r.status_code == 415, (headers, r.text)
            assert r.headers["content-type"] == "application/problem+json"
        ok = await c.request(method, path, content=body, headers={"content-type": "application/json; charset=utf-8"})
        assert ok.status_code == 422  # read, and refused for what it says


@pytest.mark.parametrize("day", BAD_DATES, ids=repr)
async def test_a_visit_or_an_attachment_dated_in_another_form_is_refused(day):
    from services.registry.app import app as registry

    (person,) = iins(1)
    async with running(registry) as c:
        visits = await c.post("/v1/visits", json={"visits": [{"visit_id": "v1", "clinic_id": "C1", "iin": person,
                                                              "date": day, "kind": "consultation"}]})
        assert visits.status_code == 422, visits.text   # the whole body is malformed: no visit is read
        attach = await c.post("/v1/attachments", json={"iin": person, "clinic_id": "C1", "reason": "choice",
                                                       "effective_date": day})
        assert attach.status_code == 422, attach.text
        volumes = await c.get("/v1/clinics/C1/practitioner-volumes", params={"date": day})
        assert volumes.status_code == 422, volumes.text


async def test_financing_keeps_the_registry_s_clinic_data_and_refuses_control_characters(settings):
    """A clinic the registry has sent is not overridden by financing's own PUT; text takes no control characters."""
    from services.financing.app import app as financing
    from tests.support.financing_events import clinic as clinic_registered
    from tests.support.financing_events import publish
    from tests.support.inproc import eventually
    from tests.support.people import clinic_id

    clinic = clinic_id()
    async with running(financing) as c:
        bad = await c.put(f"/v1/clinics/{clinic}", json={"region": "Kyzy\x00lorda", "name": "X"})
        assert bad.status_code == 422, bad.text
        dots = await c.put("/v1/clinics/..", json={"region": "Kyzylorda", "name": "X"})
        assert dots.status_code in (404, 422), dots.text
        await publish([clinic_registered(clinic, "Kyzylorda", "urban")])

        async def known():
            r = await c.get(f"/v1/clinics/{clinic}/financing")
            return r.status_code == 200

        await eventually(known, timeout=30)
        r = await c.put(f"/v1/clinics/{clinic}", json={"region": "Almaty", "name": "Other"})
        assert r.status_code == 409 and r.json()["rule"] == "clinic_from_registry", r.text
