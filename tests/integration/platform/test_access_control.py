"""Access control: every role against every write endpoint, scopes, and no key at all.

Allowed means the request gets past access control (any answer but 401/403); the rest get 403,
a request without a key 401. Employers and clinics act only within their own scope."""
from __future__ import annotations

import importlib
import uuid
from contextlib import AsyncExitStack

import pytest

from services.common.auth import ROLES
from tests.support.inproc import key_headers, running
from tests.support.people import bin_, clinic_id, iin

EMPLOYER = bin_()
OTHER_EMPLOYER = bin_()
CLINIC = clinic_id()
OTHER_CLINIC = clinic_id()
PERSON = iin()


def _write_endpoints() -> list[tuple[str, str, str, object, set[str]]]:
    """(service, method, path, body, roles allowed besides admin)."""
    payroll = {"employer_bin": EMPLOYER, "period": "2026-10", "reference": f"r-{uuid.uuid4()}",
               "rows": [{"iin": PERSON, "income": "300000.00", "kind": "employee"}]}
    return [
        ("contributions", "POST", "/v1/payrolls", payroll, {"employer"}),
        ("contributions", "POST", "/v1/payments", {"iin": PERSON, "payer_kind": "self", "amount": "4250.00",
                                                   "paid_on": "2026-11-02", "reference": f"p-{uuid.uuid4()}"},
         {"payment_gateway"}),
        ("contributions", "POST", "/v1/state-contributions", {"budget": "republican", "category": "children",
                                                              "period": "2026-10", "reference": f"s-{uuid.uuid4()}",
                                                              "iins": [PERSON]}, {"state_budget"}),
        ("registry", "PUT", f"/v1/clinics/{CLINIC}", {"name": "A", "region": "kyzylorda", "settlement": "urban"}, set()),
        ("registry", "POST", "/v1/attachments", {"iin": PERSON, "clinic_id": CLINIC, "reason": "choice",
                                                 "effective_date": "2026-01-10"}, {"clinic"}),
        ("registry", "POST", "/v1/visits", {"visits": [{"visit_id": "v1", "clinic_id": CLINIC, "iin": PERSON,
                                                        "date": "2026-11-02", "kind": "consultation"}]}, {"clinic"}),
        ("registry", "POST", f"/v1/persons/{PERSON}/death", {"date": "2026-11-20"}, set()),
        ("financing", "PUT", f"/v1/clinics/{CLINIC}", {"region": "kyzylorda", "name": "A"}, set()),
        ("feedback", "POST", "/v1/appeals", {"channel": "call_center", "kind": "consultation", "region": "kyzylorda",
                                             "iin": PERSON, "text": "a question"}, {"operator"}),
        ("feedback", "POST", f"/v1/appeals/{uuid.uuid4()}/transitions", {"to": "in_review"}, {"operator"}),
    ]


SCOPES = {"employer": EMPLOYER, "clinic": CLINIC}


@pytest.fixture(scope="module")
async def clients():
    async with AsyncExitStack() as stack:
        out = {}
        for service in ("contributions", "registry", "financing", "feedback"):
            app = importlib.import_module(f"services.{service}.app").app
            client = await stack.enter_async_context(running(app, role=None))
            keys = {role: await key_headers(app, role, SCOPES.get(role)) for role in ROLES}
            keys["employer-other"] = await key_headers(app, "employer", OTHER_EMPLOYER)
            keys["clinic-other"] = await key_headers(app, "clinic", OTHER_CLINIC)
            out[service] = (client, keys)
        # The clinic exists, so that the allowed clinic requests are judged on their merits.
        client, keys = out["registry"]
        await client.put(f"/v1/clinics/{CLINIC}", json={"name": "A", "region": "kyzylorda", "settlement": "urban"},
                         headers=keys["admin"])
        yield out


@pytest.mark.parametrize("endpoint", _write_endpoints(), ids=lambda e: f"{e[1]} {e[0]}{e[2].split('/v1')[1][:30]}")
async def test_every_role_against_every_write_endpoint(clients, endpoint):
    service, method, path, body, allowed = endpoint
    client, keys = clients[service]
    anonymous = await client.request(method, path, json=body)
    assert anonymous.status_code == 401 and anonymous.headers["content-type"] == "application/problem+json"
    assert anonymous.headers["www-authenticate"].startswith("Bearer")
    bad_key = await client.request(method, path, json=body, headers={"Authorization": "Bearer osms_nope_nope"})
    assert bad_key.status_code == 401
    for role in ROLES:
        r = await client.request(method, path, json=body, headers=keys[role])
        if role == "admin" or role in allowed:
            assert r.status_code not in (401, 403), (role, r.status_code, r.text)
        else:
            assert r.status_code == 403, (role, r.status_code, r.text)
            assert r.headers["content-type"] == "application/problem+json"
    for scoped in ("employer", "clinic"):
        if scoped in allowed:  # the same request by another employer / clinic is refused
            r = await client.request(method, path, json=body, headers=keys[f"{scoped}-other"])
            assert r.status_code == 403, (scoped, r.status_code, r.text)


async def test_scoped_reads_show_only_the_tenant_s_own_data(clients):
    client, keys = clients["contributions"]
    assert (await client.get(f"/v1/employers/{EMPLOYER}/payrolls", headers=keys["employer"])).status_code == 200
    assert (await client.get(f"/v1/employers/{EMPLOYER}/payrolls", headers=keys["employer-other"])).status_code == 403
    assert (await client.get(f"/v1/persons/{PERSON}/status", headers=keys["employer"])).status_code == 403
    assert (await client.get(f"/v1/persons/{PERSON}/status", headers=keys["operator"])).status_code == 200
    client, keys = clients["registry"]
    assert (await client.get(f"/v1/clinics/{CLINIC}", headers=keys["clinic"])).status_code == 200
    assert (await client.get(f"/v1/clinics/{CLINIC}", headers=keys["clinic-other"])).status_code == 403
    assert (await client.get(f"/v1/persons/{PERSON}", headers=keys["clinic"])).status_code == 403
    client, keys = clients["financing"]
    assert (await client.get(f"/v1/clinics/{CLINIC}/financing", headers=keys["clinic-other"])).status_code == 403
    assert (await client.get("/v1/consumer-lag", headers=keys["employer"])).status_code == 403


async def test_a_clinic_cannot_slip_another_clinic_s_visit_into_its_batch(clients):
    client, keys = clients["registry"]
    r = await client.post("/v1/visits", headers=keys["clinic"], json={"visits": [
        {"visit_id": "mine", "clinic_id": CLINIC, "iin": PERSON, "date": "2026-11-02", "kind": "consultation"},
        {"visit_id": "theirs", "clinic_id": OTHER_CLINIC, "iin": PERSON, "date": "2026-11-02", "kind": "consultation"}]})
    assert r.status_code == 403


async def test_health_readiness_and_metrics_need_no_key(clients):
    client, _ = clients["registry"]
    for path in ("/healthz", "/readyz", "/metrics"):
        assert (await client.get(path)).status_code == 200


async def test_a_revoked_key_stops_working(clients, settings):
    from services.common import auth

    client, keys = clients["feedback"]
    app = importlib.import_module("services.feedback.app").app
    headers = await key_headers(app, "operator")
    assert (await client.get("/v1/stats", headers=headers)).status_code == 200
    key_id = headers["Authorization"].split("_")[1]
    async with app.state.ctx.pool.acquire() as conn:
        await conn.execute("UPDATE api_keys SET revoked_at = now() WHERE key_id = $1", key_id)
    app.state.ctx.keys._cache.clear()  # the cache would let it work for up to CACHE_SECONDS more
    assert (await client.get("/v1/stats", headers=headers)).status_code == 401
    assert auth.CACHE_SECONDS <= 10
