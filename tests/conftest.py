"""Test harness: real PostgreSQL and Kafka, isolated per run.

Each run gets its own topic prefix and database prefix (set here, before any service module
reads its settings), so runs never see each other's events or rows; both are removed at the end.
The local servers are started if they are not running (or OSMS_DATABASE_URL /
OSMS_KAFKA_BOOTSTRAP point elsewhere).
"""
from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUN_ID = uuid.uuid4().hex[:8]
os.environ["OSMS_TOPIC_PREFIX"] = f"test{RUN_ID}."
os.environ["OSMS_DB_PREFIX"] = f"osmstest_{RUN_ID}_"
os.environ.setdefault("OSMS_LOG_JSON", "true")

import pytest  # noqa: E402

from services.common.settings import get_settings  # noqa: E402


def _port_open(port: int) -> bool:
    import socket

    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def pytest_sessionstart(session):
    settings = get_settings()
    need = (not os.environ.get("OSMS_DATABASE_URL") and not _port_open(int(os.environ.get("OSMS_PG_PORT", 55432)))) or \
           (not os.environ.get("OSMS_KAFKA_BOOTSTRAP") and not _port_open(int(os.environ.get("OSMS_KAFKA_PORT", 19092))))
    if need and not _only_unit(session):
        subprocess.run([str(ROOT / "deploy/local/infra.sh"), "start"], check=True)
    del settings


def _only_unit(session) -> bool:
    args = [a for a in session.config.args if not a.startswith("-")]
    return bool(args) and all("tests/unit" in a for a in args)


@pytest.fixture(scope="session")
def settings():
    return get_settings()


@pytest.fixture(scope="session", autouse=True)
async def _isolated_run(request):
    """Creates this run's topics; afterwards drops its databases and topics."""
    if _only_unit(request.session):
        yield
        return
    from services.common.bootstrap import remove_prefixed
    from services.common.topics import ensure_topics

    s = get_settings()
    await ensure_topics(s)
    yield
    await remove_prefixed(s)
