"""All four services as processes: an HTTP request becomes a live figure, and a killed financing
service, started again, loses and double-counts nothing."""
from __future__ import annotations

import asyncio
import signal
import time

import httpx
import pytest

from tests.support.keys import headers
from tests.support.people import clinic_id, iins
from tests.support.processes import service_processes, wait_for
from tests.support.registry_helpers import BACKDATED

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def services():
    with service_processes("contributions", "registry", "financing", "feedback") as procs:
        yield procs


def financing(fin: str, clinic: str) -> dict | None:
    r = httpx.get(f"{fin}/v1/clinics/{clinic}/financing", params={"date": "2026-11-25"}, headers=headers())
    return r.json() if r.status_code == 200 else None


def test_clinic_four_attachments_one_visit_show_in_financing(services):
    reg, fin = services["registry"].url, services["financing"].url
    clinic = clinic_id()
    assert httpx.put(f"{reg}/v1/clinics/{clinic}", json={"name": "Emhana No. 1", "region": "kyzylorda",
                                                         "settlement": "urban"}, headers=headers()).status_code == 201
    people = iins(4)
    for person in people:
        # Dated further back than a clinic may reach (the rule tables): an admin's, with a reason.
        r = httpx.post(f"{reg}/v1/attachments", json={"iin": person, "clinic_id": clinic, "reason": "choice",
                                                      "effective_date": "2026-01-15", "backdate_reason": BACKDATED},
                       headers=headers())
        assert r.status_code == 201, r.text
    r = httpx.post(f"{reg}/v1/visits", json={"visits": [
        {"visit_id": "v-1", "clinic_id": clinic, "iin": people[0], "date": "2026-11-02", "kind": "consultation"}]},
        headers=headers())
    assert r.json()["results"][0]["status"] == "recorded"
    # How fast is measured, not asserted here (the closing note and README give the figure).
    figures = wait_for(lambda: financing(fin, clinic), lambda f: f["attached"] == 4 and f["active"] == 1)
    assert (figures["attached"], figures["active"], figures["active_share"]) == (4, 1, 0.25)
    assert (figures["rules_version"], figures["rules_provisional"]) == ("capitation@2025-10-01", False)
    # The registry's clinic-registered event gave financing the clinic's settlement: its base rate.
    statement = wait_for(lambda: httpx.get(f"{fin}/v1/clinics/{clinic}/statements/2026-11", headers=headers()).json(),
                         lambda s: s["settlement"] is not None)
    assert (statement["settlement"], statement["people"]) == ("urban", 4)
    # The registry's clinic-registered event gave financing the clinic's region.
    listed = httpx.get(f"{fin}/v1/clinics", params={"region": "kyzylorda", "date": "2026-11-25", "limit": 1000},
                       headers=headers("operator")).json()
    assert clinic in [c["clinic_id"] for c in listed["clinics"]]


def test_financing_killed_and_restarted_loses_and_double_counts_nothing(services):
    reg, fin = services["registry"].url, services["financing"]
    clinic = clinic_id()
    httpx.put(f"{reg}/v1/clinics/{clinic}", json={"name": "Kill test", "region": "kyzylorda", "settlement": "rural"},
              headers=headers())
    admin = headers()  # the dates lie further back than a clinic may reach: an admin's corrections
    people = iins(600)

    async def push():
        async with httpx.AsyncClient(timeout=30, headers=admin) as client:
            for i, person in enumerate(people):
                r = await client.post(f"{reg}/v1/attachments", json={
                    "iin": person, "clinic_id": clinic, "reason": "choice", "effective_date": "2026-02-01",
                    "backdate_reason": BACKDATED})
                assert r.status_code == 201
                if i % 2 == 0:
                    r = await client.post(f"{reg}/v1/visits", json={"visits": [{
                        "visit_id": f"v-{i}", "clinic_id": clinic, "iin": person, "date": "2026-10-01",
                        "kind": "consultation"}]})
                    assert r.json()["results"][0]["status"] == "recorded"
                if i == 250:
                    fin.kill(signal.SIGKILL)  # dies mid-stream, whatever batch it was applying
                    await asyncio.sleep(0.5)
                    fin.start()

    asyncio.run(push())
    figures = wait_for(lambda: financing(fin.url, clinic), lambda f: f["attached"] == 600 and f["active"] == 300,
                       timeout=30)
    assert (figures["attached"], figures["active"]) == (600, 300)
    time.sleep(1)  # nothing more arrives later: no event is applied twice
    again = financing(fin.url, clinic)
    assert (again["attached"], again["active"]) == (600, 300)
    lag = httpx.get(f"{fin.url}/v1/consumer-lag", headers=headers("operator")).json()
    assert sum(p["lag"] for p in lag) == 0
