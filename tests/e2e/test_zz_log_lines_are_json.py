"""Runs last in the end-to-end suite (by its name): every line the services and their workers wrote
during this run is one JSON object naming its service (uvicorn's, alembic's and the services' own)."""
from __future__ import annotations

import os

import orjson

from bench.processes import LOGS


def test_every_log_line_of_this_run_is_json_with_its_service():
    prefix = os.environ["OSMS_TOPIC_PREFIX"]
    logs = sorted(LOGS.glob(f"{prefix}*.log"))
    assert logs, "the end-to-end tests wrote no service log to read"
    lines, bad, loggers = 0, [], set()
    for path in logs:
        for line in path.read_bytes().splitlines():
            lines += 1
            try:
                record = orjson.loads(line)
                assert isinstance(record, dict) and record["service"] and record["event"] is not None
                loggers.add(record.get("logger"))
            except (orjson.JSONDecodeError, AssertionError, KeyError):
                bad.append((path.name, line[:200]))
    assert lines > 50, "too little was logged for this check to mean anything"
    assert not bad, f"{len(bad)} log lines are not JSON with a service: {bad[:5]}"
    assert {"uvicorn.error", "alembic.runtime.migration"} <= loggers
