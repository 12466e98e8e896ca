"""Registry, feedback and financing as processes, patients answering confirmation requests: a patient
denies a visit, so it is held and stops counting in financing, the complaint is filed in feedback, an
operator upholds it, and the registry voids the visit; another patient confirms a held visit, which is
cleared and counts again."""
from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from bench.processes import ServiceProcess
from tests.support.kafka import read_topic
from tests.support.keys import headers
from tests.support.people import clinic_id, iin
from tests.support.registry_confirmations import accept_publication, publication
from tests.support.registry_helpers import BACKDATED

pytestmark = pytest.mark.e2e
DAY = "2026-11-25"      # the figures' date: the visits below fall in the 365 days before it


@pytest.fixture(scope="module")
def services():
    headers("admin")
    procs = {name: ServiceProcess(name).start() for name in ("registry", "financing", "feedback")}
    path, body = publication()
    r = httpx.post(f"{procs['registry'].url}{path}", json=body, headers=headers())
    accept_publication(r.status_code, r.json())
    yield procs
    for p in procs.values():
        p.stop()


def until(fetch, predicate, timeout: float = 30.0):
    """Polls fetch() until predicate(value) holds; returns the last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if predicate(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def figures(fin: str, clinic: str) -> dict:
    r = httpx.get(f"{fin}/v1/clinics/{clinic}/financing", params={"date": DAY}, headers=headers("operator"))
    return r.json() if r.status_code == 200 else {}


def events(topic: str, **match) -> list[dict]:
    found = asyncio.run(read_topic(topic))
    return [e["value"]["data"] for e in found if all(e["value"]["data"].get(k) == v for k, v in match.items())]


def code_of(clinic: str, visit_id: str) -> str:
    found = until(lambda: events("visit-confirmation-requested", clinic_id=clinic, visit_id=visit_id), bool)
    assert found, f"no confirmation request for {visit_id}"
    return found[0]["code"]


def new_clinic(reg: str, *people: str) -> str:
    clinic = clinic_id()
    assert httpx.put(f"{reg}/v1/clinics/{clinic}", json={"name": "Asked", "region": "kyzylorda",
                                                         "settlement": "urban"}, headers=headers()).status_code == 201
    for person in people:
        assert httpx.post(f"{reg}/v1/attachments", json={"iin": person, "clinic_id": clinic, "reason": "choice",
                                                         "effective_date": "2026-01-10", "backdate_reason": BACKDATED},
                          headers=headers()).status_code == 201
    return clinic


def record(reg: str, visits: list[dict]) -> list[dict]:
    r = httpx.post(f"{reg}/v1/visits", json={"visits": visits}, headers=headers())   # an admin's: older dates
    assert r.status_code == 200, r.text
    return r.json()["results"]


def visit(visit_id, clinic, person, on, kind="consultation", practitioner=None) -> dict:
    return {"visit_id": visit_id, "clinic_id": clinic, "iin": person, "date": on, "kind": kind,
            "practitioner_id": practitioner}


def test_a_denied_visit_is_held_the_complaint_filed_upheld_and_the_visit_voided(services):
    reg, fin, fb = (services[n].url for n in ("registry", "financing", "feedback"))
    patient, man = iin(sex="F"), iin(sex="M")
    clinic = new_clinic(reg, patient)
    # A man's cervical screening is held: its practitioner is flagged, and the test's rules ask every
    # visit of a flagged practitioner.
    assert record(reg, [visit("screening", clinic, man, "2026-11-02", "screening_cervical", "doc-e")])[0][
        "integrity"] == "held"
    assert record(reg, [visit("never-happened", clinic, patient, "2026-11-03", practitioner="doc-e")])[0][
        "integrity"] == "clear"
    assert until(lambda: figures(fin, clinic), lambda f: f.get("active") == 1)["active"] == 1

    r = httpx.post(f"{reg}/v1/visit-confirmations/{code_of(clinic, 'never-happened')}", json={"answer": "denied"})
    assert r.status_code == 200, r.text       # no key: the code is the credential
    # Held: it no longer counts.
    assert until(lambda: figures(fin, clinic), lambda f: f.get("active") == 0)["active"] == 0

    # The complaint, filed by feedback from the registry's hold.
    def complaints():
        r = httpx.get(f"{fb}/v1/appeals", params={"clinic_id": clinic}, headers=headers("operator"))
        return r.json()["appeals"] if r.status_code == 200 else []
    (appeal,) = until(complaints, bool)
    assert (appeal["category"], appeal["visit_id"]) == ("service_not_provided", "never-happened")
    appeal_id = appeal["appeal_id"]
    assert httpx.post(f"{fb}/v1/appeals/{appeal_id}/transitions", json={"to": "in_review", "by": "op-1"},
                      headers=headers("operator")).status_code == 200
    r = until(lambda: httpx.post(f"{fb}/v1/appeals/{appeal_id}/transitions",
                                 json={"to": "upheld", "note": "the patient was abroad", "by": "op-1"},
                                 headers=headers("operator")),
              lambda r: r.status_code != 409 or r.json()["rule"] != "disputed_visit_not_known")
    assert r.status_code == 200 and r.json()["status"] == "upheld", r.text

    # The registry voids it (its consumer of appeal-resolved), and financing does not count it.
    voided = until(lambda: events("visit-held", clinic_id=clinic, visit_id="never-happened", voided=True), bool)
    assert len(voided) == 1 and voided[0]["reasons"] == ["patient_denied"]
    f = until(lambda: figures(fin, clinic), lambda f: f.get("active") != 0, timeout=3.0)
    assert (f["attached"], f["active"]) == (1, 0)


def test_a_confirmation_clears_a_held_visit_and_it_counts_again(services):
    reg, fin = services["registry"].url, services["financing"].url
    patient = iin(sex="F")
    others = [iin() for _ in range(36)]
    clinic = new_clinic(reg, patient)
    # The practitioner's 37th patient of the day is beyond the norm (24) times the tolerance (1.5): held.
    results = record(reg, [visit(f"v{n}", clinic, p, "2026-11-05", practitioner="doc-v")
                           for n, p in enumerate([*others, patient])])
    assert (results[-1]["integrity"], results[-1]["reasons"]) == ("held", ["practitioner_volume"])
    f = until(lambda: figures(fin, clinic), lambda f: f.get("attached") == 1)
    assert (f["attached"], f["active"]) == (1, 0)

    r = httpx.post(f"{reg}/v1/visit-confirmations/{code_of(clinic, 'v36')}", json={"answer": "confirmed"})
    assert r.status_code == 200, r.text
    assert until(lambda: events("visit-cleared", clinic_id=clinic, visit_id="v36"), bool)
    assert until(lambda: figures(fin, clinic), lambda f: f.get("active") == 1)["active"] == 1
