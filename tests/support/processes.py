"""For the end-to-end tests: the services as real processes, and waiting for what they will show."""
from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from bench.processes import ServiceProcess
from tests.support.keys import headers


@contextmanager
def service_processes(*names: str) -> Iterator[dict[str, ServiceProcess]]:
    """The named services started as processes (stopped afterwards), by name; the caller may replace one."""
    headers("admin")  # databases and the admin key exist before the services start
    procs = {name: ServiceProcess(name).start() for name in names}
    try:
        yield procs
    finally:
        for p in procs.values():
            p.stop()


def wait_for(get, predicate, timeout=20.0):
    """Polls get() until predicate holds or the time is up, and returns the last value; None from get()
    is 'not yet' (a service has not heard of the thing yet)."""
    deadline = time.monotonic() + timeout
    while True:
        value = get()
        if (value is not None and predicate(value)) or time.monotonic() > deadline:
            return value
        time.sleep(0.05)
