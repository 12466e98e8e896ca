"""How the benchmarks post payrolls, as a payroll gateway would: large payrolls alone (POST /v1/payrolls),
small employers' payrolls together in batches (POST /v1/payroll-batches)."""
from __future__ import annotations

import orjson

SMALL_PAYROLL = 100       # rows: a payroll this small goes in a gateway's batch
BATCH_ROWS = 10_000       # rows a batch at most


def batched(payrolls: list[dict], batch: int) -> list[tuple[str, bytes, int]]:
    """(path, JSON body, rows) of each request: large payrolls alone, small ones in batches of up to
    `batch` payrolls and BATCH_ROWS rows (`batch` 1: every payroll alone)."""
    out, group, rows = [], [], 0
    for p in payrolls:
        if batch <= 1 or len(p["rows"]) >= SMALL_PAYROLL:
            out.append(("/v1/payrolls", orjson.dumps(p), len(p["rows"])))
            continue
        if len(group) == batch or rows + len(p["rows"]) > BATCH_ROWS:
            out.append(("/v1/payroll-batches", orjson.dumps({"payrolls": group}), rows))
            group, rows = [], 0
        group.append(p)
        rows += len(p["rows"])
    if group:
        out.append(("/v1/payroll-batches", orjson.dumps({"payrolls": group}), rows))
    return out


def refused(status: int, answer: bytes) -> bool:
    """Whether a payroll request (alone or a batch) was refused in whole or in part."""
    if status == 201:
        return False
    return status != 200 or any(r["status"] != 201 for r in orjson.loads(answer)["results"])
