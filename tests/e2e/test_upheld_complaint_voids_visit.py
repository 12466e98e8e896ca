"""Registry, feedback and financing as processes: a visit makes a patient active; an upheld
complaint that the visit never happened voids it, and the patient is inactive again."""
from __future__ import annotations

import time

import httpx
import pytest

from tests.support.keys import headers
from tests.support.people import clinic_id, iin
from bench.processes import ServiceProcess
from tests.support.registry_helpers import BACKDATED

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def services():
    headers("admin")
    procs = {name: ServiceProcess(name).start() for name in ("registry", "financing", "feedback")}
    yield procs
    for p in procs.values():
        p.stop()


def figures(fin: str, clinic: str) -> dict:
    r = httpx.get(f"{fin}/v1/clinics/{clinic}/financing", params={"date": "2026-11-25"}, headers=headers("operator"))
    return r.json() if r.status_code == 200 else {}


def wait_for(predicate, fin, clinic, timeout=20.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        f = figures(fin, clinic)
        if (f and predicate(f)) or time.monotonic() > deadline:
            return f
        time.sleep(0.05)


def test_upheld_service_not_provided_complaint_makes_the_patient_inactive_again(services):
    reg, fin, fb = (services[n].url for n in ("registry", "financing", "feedback"))
    clinic = clinic_id()
    patient, other = iin(), iin()
    assert httpx.put(f"{reg}/v1/clinics/{clinic}", json={"name": "Padded", "region": "kyzylorda",
                                                         "settlement": "urban"}, headers=headers()).status_code == 201
    for person in (patient, other):
        assert httpx.post(f"{reg}/v1/attachments", json={"iin": person, "clinic_id": clinic, "reason": "choice",
                                                         "effective_date": "2026-01-10", "backdate_reason": BACKDATED},
                          headers=headers()).status_code == 201  # further back than a clinic may: an admin's
    r = httpx.post(f"{reg}/v1/visits", json={"visits": [
        {"visit_id": "never-happened", "clinic_id": clinic, "iin": patient, "date": "2026-11-03", "kind": "consultation"},
        {"visit_id": "real-one", "clinic_id": clinic, "iin": other, "date": "2026-11-04", "kind": "consultation"}]},
        headers=headers())
    assert [x["status"] for x in r.json()["results"]] == ["recorded", "recorded"]
    before = wait_for(lambda f: f["active"] == 2, fin, clinic)
    assert (before["attached"], before["active"]) == (2, 2)

    r = httpx.post(f"{fb}/v1/appeals", json={
        "channel": "call_center", "kind": "complaint", "category": "service_not_provided", "region": "kyzylorda",
        "iin": patient, "clinic_id": clinic, "visit_id": "never-happened",
        "text": "I was not at the clinic on 3 November"}, headers=headers("operator"))
    assert r.status_code == 201, r.text
    appeal = r.json()["appeal_id"]
    for to in ("in_review", "upheld"):
        r = httpx.post(f"{fb}/v1/appeals/{appeal}/transitions", json={"to": to, "note": "checked", "by": "op-1"},
                       headers=headers("operator"))
        assert r.status_code in (200, 201), r.text

    after = wait_for(lambda f: f["active"] == 1, fin, clinic)
    assert (after["attached"], after["active"], after["active_share"]) == (2, 1, 0.5)
