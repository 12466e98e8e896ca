"""Registry and financing as processes: a man's cervical screening is held at intake and he stays
inactive in financing; an operator clears it, and he becomes active."""
from __future__ import annotations

from datetime import date

import httpx
import pytest

from bench.processes import ServiceProcess
from tests.support.e2e_figures import wait_for
from tests.support.keys import headers
from tests.support.people import clinic_id, iin
from tests.support.registry_helpers import BACKDATED

pytestmark = pytest.mark.e2e

@pytest.fixture(scope="module")
def services():
    headers("admin")
    procs = {name: ServiceProcess(name).start() for name in ("registry", "financing")}
    yield procs
    for p in procs.values():
        p.stop()


def test_a_mans_cervical_screening_counts_only_once_an_operator_clears_it(services):
    reg, fin = services["registry"].url, services["financing"].url
    clinic = clinic_id()
    man, woman = iin(sex="M", birth=date(1980, 4, 4)), iin(sex="F")   # 46: the screening's ages
    assert httpx.put(f"{reg}/v1/clinics/{clinic}", json={"name": "Screening", "region": "kyzylorda",
                                                         "settlement": "urban"}, headers=headers()).status_code == 201
    for person in (man, woman):
        assert httpx.post(f"{reg}/v1/attachments", json={"iin": person, "clinic_id": clinic, "reason": "choice",
                                                         "effective_date": "2026-01-10", "backdate_reason": BACKDATED},
                          headers=headers()).status_code == 201
    r = httpx.post(f"{reg}/v1/visits", json={"visits": [
        {"visit_id": "cx-1", "clinic_id": clinic, "iin": man, "date": "2026-11-03", "kind": "screening_cervical"},
        {"visit_id": "c-1", "clinic_id": clinic, "iin": woman, "date": "2026-11-04", "kind": "consultation"}]},
        headers=headers())
    assert [(x["status"], x["integrity"], x["reasons"]) for x in r.json()["results"]] == [
        ("recorded", "held", ["kind_sex"]), ("recorded", "clear", [])]
    before = wait_for(lambda f: f["active"] >= 1, fin, clinic)
    assert (before["attached"], before["active"]) == (2, 1)
    # The woman's visit arrived and the man's did not count: it stays so (a count would show within seconds).
    assert wait_for(lambda f: f["active"] != 1, fin, clinic, timeout=2.0)["active"] == 1

    held = httpx.get(f"{reg}/v1/integrity/held", params={"clinic_id": clinic}, headers=headers("operator")).json()
    assert [(v["visit_id"], v["reasons"]) for v in held["visits"]] == [("cx-1", ["kind_sex"])]
    r = httpx.post(f"{reg}/v1/integrity/held/{clinic}/cx-1/decision",
                   json={"decision": "clear", "note": "the chart shows a consultation keyed as a screening"},
                   headers=headers("operator"))
    assert r.status_code == 200 and r.json()["integrity"] == "clear", r.text

    after = wait_for(lambda f: f["active"] == 2, fin, clinic)
    assert (after["attached"], after["active"], after["active_share"]) == (2, 2, 1.0)
    again = httpx.post(f"{reg}/v1/integrity/held/{clinic}/cx-1/decision", json={"decision": "void", "note": "late"},
                       headers=headers("operator"))
    assert again.status_code == 409 and again.json()["rule"] == "visit_not_held"
