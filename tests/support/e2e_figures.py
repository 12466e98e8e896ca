"""A clinic's financing figures as the end-to-end tests read them from a financing process, and a wait
until they show what a test expects (the consumer applies events a moment after they are published)."""
from __future__ import annotations

import time

import httpx

from tests.support.keys import headers

ON = "2026-11-25"


def figures(fin: str, clinic: str) -> dict:
    r = httpx.get(f"{fin}/v1/clinics/{clinic}/financing", params={"date": ON}, headers=headers("operator"))
    return r.json() if r.status_code == 200 else {}


def wait_for(predicate, fin: str, clinic: str, timeout: float = 20.0) -> dict:
    """The figures once `predicate` holds for them, or the last ones read after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        f = figures(fin, clinic)
        if (f and predicate(f)) or time.monotonic() > deadline:
            return f
        time.sleep(0.05)
