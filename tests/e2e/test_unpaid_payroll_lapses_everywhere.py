"""Declared but not paid, against the real servers (contributions, registry, financing as processes):
a payroll not paid by its due date plus the grace lapses, and the employee's months stop counting in
contributions and in financing; paid late, coverage comes back in both and the penalty shows on the
employer's account. The days pass by starting contributions again with its business date moved
(OSMS_CLOCK_SHIFT_DAYS); its sweep lapses the month as it starts."""
from __future__ import annotations

from datetime import date, timedelta

import httpx
import pytest

from bench.processes import ServiceProcess
from services.common import clock
from services.contributions import domain
from tests.support.keys import headers
from tests.support.processes import service_processes, wait_for
from tests.support.people import bin_, clinic_id, iin
from tests.support.registry_helpers import BACKDATED

pytestmark = pytest.mark.e2e

TODAY = clock.today()
PERIOD = domain.month_str(domain.month_of(TODAY) - 1)


@pytest.fixture(scope="module")
def services():
    with service_processes("contributions", "registry", "financing") as procs:
        yield procs


def test_unpaid_months_lapse_in_contributions_and_financing_and_return_when_paid_late(services):
    reg, fin = services["registry"].url, services["financing"].url
    admin = headers()
    clinic, employer, person = clinic_id(), bin_(), iin(date(1988, 3, 9))
    assert httpx.put(f"{reg}/v1/clinics/{clinic}", json={"name": "Lapse test", "region": "kyzylorda",
                                                         "settlement": "urban"}, headers=admin).status_code == 201
    r = httpx.post(f"{reg}/v1/attachments", json={"iin": person, "clinic_id": clinic, "reason": "choice",
                                                  "effective_date": "2026-01-15", "backdate_reason": BACKDATED},
                   headers=admin)
    assert r.status_code == 201, r.text
    con = services["contributions"].url
    r = httpx.post(f"{con}/v1/payrolls", headers=admin, json={
        "employer_bin": employer, "period": PERIOD, "reference": "lapse-e2e",
        "rows": [{"iin": person, "income": "300000.00", "kind": "employee"}]})
    assert r.status_code == 201, r.text

    def status(url: str) -> str:
        return httpx.get(f"{url}/v1/persons/{person}/status", params={"date": TODAY.isoformat()},
                         headers=admin).json()["status"]

    def insured_in_financing() -> int | None:
        r = httpx.get(f"{fin}/v1/clinics/{clinic}/financing", params={"date": TODAY.isoformat()}, headers=admin)
        return r.json()["insured"] if r.status_code == 200 else None

    assert status(con) == "insured"
    assert wait_for(insured_in_financing, lambda n: n == 1, timeout=40) == 1
    (line,) = [p for p in httpx.get(f"{con}/v1/employers/{employer}/account", headers=admin).json()["periods"]
               if p["period"] == PERIOD]
    assert line["status"] in ("due", "overdue") and line["paid"] == "0.00"

    # The day after the declared month stops counting without the money: contributions starts again on it.
    lapse_day = date.fromisoformat(line["counts_until"]) + timedelta(days=1)
    services["contributions"].stop()
    later = services["contributions"] = ServiceProcess(
        "contributions", env={"OSMS_CLOCK_SHIFT_DAYS": str((lapse_day - TODAY).days)}).start()
    assert wait_for(lambda: status(later.url), lambda s: s == "not_insured", timeout=40) == "not_insured"
    assert wait_for(insured_in_financing, lambda n: n == 0, timeout=40) == 0
    account = httpx.get(f"{later.url}/v1/employers/{employer}/account", headers=admin).json()
    (line,) = [p for p in account["periods"] if p["period"] == PERIOD]
    assert (line["status"], account["debt"]) == ("lapsed", line["declared"])

    # Paid late, on that day: coverage comes back in both, and the penalty shows.
    r = httpx.post(f"{later.url}/v1/bank-statements", headers=admin, json={"records": [
        {"payer_bin": employer, "date": lapse_day.isoformat(), "amount": line["declared"],
         "purpose": f"ОСМС за {PERIOD}", "reference": f"bank-{employer}"}]})
    assert r.json()["results"][0]["status"] == "matched", r.text
    assert status(later.url) == "insured"
    assert wait_for(insured_in_financing, lambda n: n == 1, timeout=40) == 1
    account = httpx.get(f"{later.url}/v1/employers/{employer}/account", headers=admin).json()
    (line,) = [p for p in account["periods"] if p["period"] == PERIOD]
    late = (lapse_day - date.fromisoformat(line["due_on"])).days
    assert (line["status"], line["balance"], line["days_late"], account["debt"]) == ("paid", "0.00", late, "0.00")
    assert float(line["penalty"]) > 0 and account["penalty"] == line["penalty"]
