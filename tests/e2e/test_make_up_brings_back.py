"""`make up` after a crash starts what is down and leaves what runs; `make status` tells each part.
Run against the suite's PostgreSQL and Kafka, with its own local folder, ports and prefixes: the short
form of tests/up/check_up.py (make check-up), which also kills Kafka, on servers of its own."""
from __future__ import annotations

import os
import signal
import subprocess

import httpx
import pytest

from bench.processes import ROOT, free_port

pytestmark = pytest.mark.e2e
SERVICES = ("contributions", "registry", "financing", "feedback")


def make(target: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "-s", target], cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)


@pytest.fixture
def env(tmp_path):
    prefix = os.environ["OSMS_TOPIC_PREFIX"] + "up."
    ports: set[int] = set()
    while len(ports) < len(SERVICES) + 1:      # free_port may give a port twice
        ports.add(free_port())
    e = {**os.environ, "OSMS_LOCAL_DIR": str(tmp_path), "OSMS_TOPIC_PREFIX": prefix,
         "OSMS_DB_PREFIX": os.environ["OSMS_DB_PREFIX"] + "up_",
         **{f"OSMS_{s.upper()}_PORT": str(p) for s, p in zip((*SERVICES, "console"), sorted(ports))}}
    yield e
    make("down", e)


def pid(env: dict, name: str) -> int:
    with open(os.path.join(env["OSMS_LOCAL_DIR"], "run", f"{name}.pid")) as f:
        return int(f.read())


def test_up_after_a_service_died_starts_it_again_and_leaves_the_others(env):
    first = make("up", env)
    assert first.returncode == 0, first.stderr[-2000:]
    before = {s: pid(env, s) for s in SERVICES}
    os.kill(before["registry"], signal.SIGKILL)
    down = make("status", env)
    assert down.returncode != 0 and "registry               down" in down.stdout, down.stdout

    again = make("up", env)
    assert again.returncode == 0, again.stderr[-2000:]
    after = {s: pid(env, s) for s in SERVICES}
    assert after["registry"] != before["registry"]
    assert {s: after[s] for s in SERVICES if s != "registry"} == {s: before[s] for s in SERVICES if s != "registry"}
    status = make("status", env)
    assert status.returncode == 0, status.stdout
    for s in SERVICES:
        port = env[f"OSMS_{s.upper()}_PORT"]
        assert f"ready on :{port}" in status.stdout
        assert httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200


def test_up_refuses_two_parts_on_one_port_before_starting_anything(env):
    env = {**env, "OSMS_FEEDBACK_PORT": env["OSMS_REGISTRY_PORT"]}
    r = make("up", env)
    assert r.returncode != 0
    assert f"feedback and registry are both set to port {env['OSMS_REGISTRY_PORT']}" in r.stderr, r.stderr[-2000:]
    assert not os.path.exists(os.path.join(env["OSMS_LOCAL_DIR"], "run", "contributions.pid"))
