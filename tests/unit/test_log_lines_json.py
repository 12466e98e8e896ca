"""Every log line is one JSON object with the service's name, whoever wrote it (structlog, uvicorn,
alembic, a warning, the interpreter's report of an uncaught exception), and no full IIN."""
from __future__ import annotations

import subprocess
import sys

import orjson

from bench.processes import ROOT

_SCRIPT = r"""
import logging, warnings
from services.common.logs import get_logger, request_context, setup_logging
setup_logging("registry")
get_logger("x").info("attached", iin="900315400017")
with request_context("req-1"):
    get_logger("x").info("inside a request")
logging.getLogger("uvicorn.error").info("Uvicorn running on http://127.0.0.1:8002 for 900315400017")
logging.getLogger("alembic.runtime.migration").info("Running upgrade  -> 0001, init")
warnings.warn("a library's warning")
try:
    raise ValueError("bad 900315400017")
except ValueError:
    logging.getLogger("uvicorn.error").exception("Exception in ASGI application")
raise RuntimeError("uncaught at the top")
"""


def _lines() -> list[dict]:
    done = subprocess.run([sys.executable, "-c", _SCRIPT], cwd=ROOT, capture_output=True, timeout=60)
    assert done.returncode == 1, done.stderr.decode()     # the script ends with an uncaught exception
    assert b"900315400017" not in done.stderr
    return [orjson.loads(line) for line in done.stderr.splitlines()]   # each line parses, or this fails


def test_every_line_is_json_with_the_service_and_no_full_iin():
    lines = _lines()
    assert len(lines) == 7
    assert all(line["service"] == "registry" and line["level"] and line["timestamp"] for line in lines)
    by_event = {line["event"]: line for line in lines}
    assert by_event["attached"]["iin"] == "9003********"
    assert by_event["inside a request"]["request_id"] == "req-1"
    assert "request_id" not in by_event["attached"]
    assert by_event["Running upgrade  -> 0001, init"]["logger"] == "alembic.runtime.migration"
    assert by_event["Uvicorn running on http://127.0.0.1:8002 for 9003********"]["logger"] == "uvicorn.error"
    assert any("a library's warning" in line["event"] for line in lines)
    failure = by_event["Exception in ASGI application"]
    assert "ValueError: bad 9003********" in failure["exception"]
    assert "RuntimeError: uncaught at the top" in by_event["uncaught exception"]["exception"]
