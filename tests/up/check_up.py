"""`make up` brings back what died, on a complete local topology of its own: PostgreSQL, Kafka, the
four services, the financing consumer worker and the console, on free ports, with their data in a
folder of their own (OSMS_LOCAL_DIR), so that its Kafka can be killed while the machine's is not.

    make check-up      (CI: .ci/run; too long for make test, which runs tests/e2e's short form)

Not named test_*.py: `pytest tests` leaves it out; make check-up names the file. Everything it
started is stopped and its folder removed at the end, pass or fail.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path

import httpx
import pytest

from bench.processes import ROOT, free_port
from services.common import clock
from tests.support.people import clinic_id, iins

SERVICES = ("contributions", "registry", "financing", "feedback")


def make(target: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "-s", target], cwd=ROOT, env=env, capture_output=True, text=True, timeout=420)


@pytest.fixture(scope="module")
def topology():
    """The environment of `make`: no OSMS_* setting of the caller's (its servers, prefixes, ports)
    but the Python environment and the Kafka jars, which are shared rather than fetched again."""
    folder = ROOT / ".local" / f"check-up-{uuid.uuid4().hex[:8]}"
    folder.mkdir(parents=True)
    folder.chmod(0o755)        # PostgreSQL runs as its own user when this runs as root
    env = {k: v for k, v in os.environ.items() if not k.startswith("OSMS_")}
    if "OSMS_VENV" in os.environ:
        env["OSMS_VENV"] = os.environ["OSMS_VENV"]
    default_local = os.environ.get("OSMS_LOCAL_DIR", str(ROOT / ".local"))
    env |= {
        "OSMS_LOCAL_DIR": str(folder),
        "OSMS_KAFKA_LIB": os.environ.get("OSMS_KAFKA_LIB", f"{default_local}/kafka/lib"),
        "OSMS_PG_PORT": str(free_port()),
        "OSMS_KAFKA_PORT": str(free_port()),
        "OSMS_KAFKA_CONTROLLER_PORT": str(free_port()),
        "OSMS_KAFKA_HEAP": "-Xms128m -Xmx384m",
        "OSMS_PG_SHARED_BUFFERS": "128MB",
        "OSMS_LOG_LEVEL": "WARNING",
        **{f"OSMS_{s.upper()}_PORT": str(free_port()) for s in (*SERVICES, "console")},
    }
    try:
        yield env
    finally:
        down = make("down", env)
        # What `make down` could not stop (a pid file lost with a failure) is stopped by its pid file here.
        for pidfile in (folder / "run").glob("*.pid"):
            try:
                os.kill(int(pidfile.read_text()), signal.SIGKILL)
            except (ValueError, ProcessLookupError):
                pass
        shutil.rmtree(folder, ignore_errors=True)
        assert down.returncode == 0, down.stderr[-2000:]


def pid(env: dict, name: str) -> int:
    return int((Path(env["OSMS_LOCAL_DIR"]) / "run" / f"{name}.pid").read_text())


def wait_gone(process: int, seconds: float = 30) -> None:
    """Until the process has ended (a zombie counts as ended: its parent, make, is gone)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{process}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return
        except FileNotFoundError:
            return
        time.sleep(0.1)
    raise AssertionError(f"process {process} still running")


def assert_all_ready(env: dict) -> None:
    status = make("status", env)
    assert status.returncode == 0, status.stdout + status.stderr
    lines = {line.split()[0]: line for line in status.stdout.splitlines() if line.strip()}
    assert f"running on :{env['OSMS_PG_PORT']}" in lines["postgresql"], status.stdout
    assert lines["kafka"].split()[1] == "running", status.stdout
    for s in SERVICES:
        assert f"ready on :{env[f'OSMS_{s.upper()}_PORT']}" in lines[s], status.stdout
        assert httpx.get(f"http://127.0.0.1:{env[f'OSMS_{s.upper()}_PORT']}/readyz", timeout=5).status_code == 200
    assert lines["financing-consumer-1"].split()[1] == "running", status.stdout
    assert f"running on :{env['OSMS_CONSOLE_PORT']}" in lines["console"], status.stdout


def admin_headers(env: dict) -> dict[str, str]:
    keys = dict(line.split("=", 1) for line in (Path(env["OSMS_LOCAL_DIR"]) / "keys.env").read_text().splitlines()
                if line and not line.startswith("#"))
    return {"Authorization": f"Bearer {keys['OSMS_ADMIN_KEY']}"}


def test_up_brings_back_a_killed_service_then_a_killed_kafka(topology):
    env = topology
    first = make("up", env)
    assert first.returncode == 0, first.stderr[-3000:]
    assert_all_ready(env)

    # One service killed: `make status` says so, `make up` starts it and leaves the others.
    before = {s: pid(env, s) for s in (*SERVICES, "console", "kafka")}
    os.kill(before["registry"], signal.SIGKILL)
    wait_gone(before["registry"])
    down = make("status", env)
    assert down.returncode != 0 and "registry               down" in down.stdout, down.stdout
    again = make("up", env)
    assert again.returncode == 0, again.stderr[-3000:]
    after = {s: pid(env, s) for s in before}
    assert after["registry"] != before["registry"]
    assert {s: p for s, p in after.items() if s != "registry"} == {s: p for s, p in before.items() if s != "registry"}
    assert_all_ready(env)

    # Kafka killed: `make status` says so, `make up` starts it and leaves the services.
    os.kill(after["kafka"], signal.SIGKILL)
    wait_gone(after["kafka"])
    down = make("status", env)
    assert down.returncode != 0 and "kafka                  down" in down.stdout, down.stdout
    again = make("up", env)
    assert again.returncode == 0, again.stderr[-3000:]
    assert pid(env, "kafka") != after["kafka"]
    assert {s: pid(env, s) for s in (*SERVICES, "console")} == {s: after[s] for s in (*SERVICES, "console")}
    assert_all_ready(env)

    # A write made afterwards goes from the registry through the new broker to financing.
    registry = f"http://127.0.0.1:{env['OSMS_REGISTRY_PORT']}"
    financing = f"http://127.0.0.1:{env['OSMS_FINANCING_PORT']}"
    admin = admin_headers(env)
    clinic, person, today = clinic_id("UP"), iins(1)[0], clock.today().isoformat()
    r = httpx.put(f"{registry}/v1/clinics/{clinic}", json={"name": "After the crash", "region": "kyzylorda",
                                                           "settlement": "urban"}, headers=admin, timeout=30)
    assert r.status_code == 201, r.text
    r = httpx.post(f"{registry}/v1/attachments", json={"iin": person, "clinic_id": clinic, "reason": "choice",
                                                       "effective_date": today}, headers=admin, timeout=30)
    assert r.status_code == 201, r.text
    deadline = time.monotonic() + 120
    while True:
        r = httpx.get(f"{financing}/v1/clinics/{clinic}/financing", params={"date": today}, headers=admin, timeout=10)
        if r.status_code == 200 and r.json()["attached"] == 1:
            break
        assert time.monotonic() < deadline, f"the attachment did not reach financing: {r.status_code} {r.text}"
        time.sleep(0.5)
