"""financing's consumers run in more than one process (`make run` starts a worker beside the HTTP
process): with PROMETHEUS_MULTIPROC_DIR, as deploy/local/services.sh sets it, the HTTP process's
/metrics counts what every one of them applied."""
from __future__ import annotations

import subprocess
import sys
from datetime import date

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.financing_events import publish, visit
from tests.support.inproc import eventually
from tests.support.people import clinic_id, iins
from bench.processes import LOGS, ROOT, ServiceProcess

pytestmark = pytest.mark.e2e


@pytest.fixture
def financing_and_a_worker(tmp_path):
    """The HTTP process without a consumer of its own, and one consumer worker process."""
    http = ServiceProcess("financing", {"OSMS_RUN_CONSUMERS": "false", "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)})
    http.start()
    with open(LOGS / f"{http.log_path.stem}-worker.log", "ab") as log:
        worker = subprocess.Popen([sys.executable, "-m", "services.common.worker", "financing", "consumers"],
                                  cwd=ROOT, env=http.env, stdout=log, stderr=subprocess.STDOUT)
    yield http
    worker.terminate()
    worker.wait(timeout=30)
    http.stop()


def samples(url: str, name: str) -> list:
    text = httpx.get(f"{url}/metrics", timeout=5).text
    return [s for family in text_string_to_metric_families(text) for s in family.samples if s.name == name]


def applied(url: str) -> float:
    """osms_consumer_events_applied_total as /metrics gives it, over every topic."""
    return sum(s.value for s in samples(url, "osms_consumer_events_applied_total"))


async def test_the_events_a_worker_applied_are_counted_on_the_services_metrics(financing_and_a_worker):
    url = financing_and_a_worker.url
    clinic = clinic_id()
    events = [visit(person, clinic, f"v-{i}", date(2026, 11, 2)) for i, person in enumerate(iins(30))]
    await publish(events)

    async def counted():
        return applied(url) >= len(events)
    await eventually(counted, timeout=60, interval=0.2)

    # The worker's freshness histogram and lag gauge too (a gauge is shared by its multiprocess_mode).
    fresh = samples(url, "osms_consumer_event_freshness_seconds_count")
    assert sum(s.value for s in fresh) >= len(events)

    async def lag_shown():
        lag = [s for s in samples(url, "osms_consumer_lag_events") if s.labels["topic"] == "visit-recorded"]
        return lag and all(s.value == 0 and "pid" not in s.labels for s in lag)
    await eventually(lag_shown, timeout=30, interval=0.5)
