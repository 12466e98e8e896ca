"""Registry, feedback and financing as processes: a visit makes a patient active; an upheld
complaint that the visit never happened voids it, and the patient is inactive again. A complaint
about a visit the registry never recorded, or about another person's, is not upheld."""
from __future__ import annotations

import time

import httpx
import pytest

from tests.support.e2e_figures import wait_for
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


def uphold(fb: str, appeal: str, timeout: float = 20.0) -> httpx.Response:
    """Upholds the complaint, retrying while feedback has not yet learned the visit from the registry's
    event (as an operator would): the first answer that is not "not known (yet)", or the last one."""
    deadline = time.monotonic() + timeout
    while True:
        r = httpx.post(f"{fb}/v1/appeals/{appeal}/transitions", json={"to": "upheld", "note": "checked", "by": "op-1"},
                       headers=headers("operator"))
        if r.status_code != 409 or r.json()["rule"] != "disputed_visit_not_known" or time.monotonic() > deadline:
            return r
        time.sleep(0.1)


def complaint_in_review(fb: str, iin_: str, clinic: str, visit_id: str) -> str:
    r = httpx.post(f"{fb}/v1/appeals", json={
        "channel": "call_center", "kind": "complaint", "category": "service_not_provided", "region": "kyzylorda",
        "iin": iin_, "clinic_id": clinic, "visit_id": visit_id,
        "text": "I was not at the clinic on 3 November"}, headers=headers("operator"))
    assert r.status_code == 201, r.text
    appeal = r.json()["appeal_id"]
    r = httpx.post(f"{fb}/v1/appeals/{appeal}/transitions", json={"to": "in_review", "by": "op-1"},
                   headers=headers("operator"))
    assert r.status_code == 200, r.text
    return appeal


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

    appeal = complaint_in_review(fb, patient, clinic, "never-happened")
    r = uphold(fb, appeal)
    assert r.status_code == 200 and r.json()["status"] == "upheld", r.text

    after = wait_for(lambda f: f["active"] == 1, fin, clinic)
    assert (after["attached"], after["active"], after["active_share"]) == (2, 1, 0.5)


def test_a_complaint_about_an_unknown_or_another_persons_visit_is_not_upheld(services):
    reg, fin, fb = (services[n].url for n in ("registry", "financing", "feedback"))
    clinic = clinic_id()
    patient, other = iin(), iin()
    assert httpx.put(f"{reg}/v1/clinics/{clinic}", json={"name": "Honest", "region": "kyzylorda",
                                                         "settlement": "urban"}, headers=headers()).status_code == 201
    for person in (patient, other):
        assert httpx.post(f"{reg}/v1/attachments", json={"iin": person, "clinic_id": clinic, "reason": "choice",
                                                         "effective_date": "2026-01-10", "backdate_reason": BACKDATED},
                          headers=headers()).status_code == 201
    r = httpx.post(f"{reg}/v1/visits", json={"visits": [   # older than a clinic reports: an admin's correction
        {"visit_id": "theirs", "clinic_id": clinic, "iin": other, "date": "2026-11-04", "kind": "consultation"}]},
        headers=headers())
    assert [x["status"] for x in r.json()["results"]] == ["recorded"]
    assert wait_for(lambda f: f["active"] == 1, fin, clinic)["active"] == 1

    # Another person's visit: refused once feedback knows it, without saying whose it is.
    r = uphold(fb, complaint_in_review(fb, patient, clinic, "theirs"))
    assert r.status_code == 409 and r.json()["rule"] == "disputed_visit_not_the_complainants", r.text
    assert other not in r.text
    # A visit the registry never recorded: refused as not known (yet), however long one waits.
    unknown = complaint_in_review(fb, patient, clinic, "no-such-visit")
    time.sleep(1.0)
    r = httpx.post(f"{fb}/v1/appeals/{unknown}/transitions", json={"to": "upheld", "by": "op-1"},
                   headers=headers("operator"))
    assert r.status_code == 409 and r.json()["rule"] == "disputed_visit_not_known", r.text
    assert httpx.get(f"{fb}/v1/appeals/{unknown}", headers=headers("operator")).json()["status"] == "in_review"

    # Financing still counts the other person's visit: nothing was voided (a void would show within seconds).
    f = wait_for(lambda f: f["active"] != 1, fin, clinic, timeout=3.0)
    assert (f["attached"], f["active"]) == (2, 1)
