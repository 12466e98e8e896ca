"""CPU a visit of feedback's `visit-recorded` consumer and of its PostgreSQL backends: N visits on the
topic, feedback's consumer run as its own worker process (`services.common.worker feedback consumers`,
the code the service runs), its CPU and that of the backends serving its database read from /proc from
the worker's start-up to the last visit applied.

    .venv/bin/python -m bench.bench_feedback --visits 200000              # a backlog waiting: full batches
    .venv/bin/python -m bench.bench_feedback --visits 200000 --rate 20000  # produced meanwhile, as in the region run
    .venv/bin/python -m bench.bench_feedback --rate 20000 --profile fb.svg   # and where the worker's time goes

With --rate the visits are sent at that rate while the worker runs (the sending shares the cores,
its CPU is not counted), so batches hold what arrived since the last one, as end to end. CPU rather
than a rate: steadier on a shared machine. Everything runs on its own topic and database prefix,
removed afterwards.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from datetime import date, datetime, timezone
from pathlib import Path

RUN = f"{int(time.time())}"
os.environ.setdefault("OSMS_TOPIC_PREFIX", f"benchfb{RUN}.")
os.environ.setdefault("OSMS_DB_PREFIX", f"osmsbenchfb{RUN}_")

import asyncpg  # noqa: E402

from bench.cpu import _HZ  # noqa: E402
from bench.population import SMALL, Population  # noqa: E402
from services.common.bootstrap import migrations_of, remove_prefixed  # noqa: E402
from services.common.db import prepare_database  # noqa: E402
from services.common.events import VisitRecorded, new_event  # noqa: E402
from services.common.outbox import make_producer  # noqa: E402
from services.common.settings import get_settings  # noqa: E402
from services.common.topics import ensure_topics  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def payloads(n: int, clinics: int = 150) -> list[tuple[bytes, bytes]]:
    """(key, value) of n visit-recorded events as the registry's relay sends them: distinct visits of
    2,000 people at `clinics` clinics."""
    people = [p.iin for _, p in zip(range(2000), Population(SMALL).people())]
    stamp = datetime(2026, 11, 2, 9, tzinfo=timezone.utc)
    out = []
    for i in range(n):
        iin = people[i % len(people)]
        data = VisitRecorded(clinic_id=f"KYZ-{i % clinics:04d}", visit_id=f"{RUN}-{i:08d}", iin=iin,
                             date=date(2026, 11, 2), kind="consultation", practitioner_id="P-17")
        out.append((iin.encode(), new_event("visit-recorded", data, producer="registry", key=iin,
                                            occurred_at=stamp).payload))
    return out


def cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:   # ended meanwhile
            continue
        total += (int(fields[11]) + int(fields[12])) / _HZ
    return total


def backends_of(database: str, but: int) -> dict[int, float]:
    """CPU seconds so far of each PostgreSQL backend serving `database` (except pid `but`)."""
    out = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == but:
            continue
        try:
            parts = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").split()
        except OSError:
            continue
        if len(parts) > 2 and parts[0] == "postgres:" and parts[2] == database:
            out[int(entry.name)] = cpu_seconds([int(entry.name)])
    return out


def start_worker() -> subprocess.Popen:
    """feedback's consumer as a worker process; returns once it has started (its imports, the pool),
    before it consumes anything."""
    env = {**os.environ, "OSMS_LOG_LEVEL": "INFO", "OSMS_LOG_JSON": "true", "OSMS_MIGRATE_ON_START": "false"}
    proc = subprocess.Popen([sys.executable, "-m", "services.common.worker", "feedback", "consumers"], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    for line in proc.stdout:
        if b"worker started" in line:
            # The rest of its log is read (and dropped) so that the pipe never fills.
            asyncio.get_running_loop().run_in_executor(None, lambda: [None for _ in proc.stdout])
            return proc
    raise RuntimeError(f"the feedback worker exited with {proc.wait()}")


async def send(settings, messages: list[tuple[bytes, bytes]], rate: float) -> None:
    """Sends the messages as the relay would, `rate` a second (0: as fast as acknowledged)."""
    producer = make_producer(settings)
    await producer.start()
    try:
        chunk = max(int(rate / 20), 1) if rate else 5000
        started = time.perf_counter()
        for i in range(0, len(messages), chunk):
            futures = [await producer.send(settings.topic("visit-recorded"), value, key=key)
                       for key, value in messages[i:i + chunk]]
            await asyncio.gather(*futures)
            if rate:
                await asyncio.sleep(max(0.0, started + (i + chunk) / rate - time.perf_counter()))
    finally:
        await producer.stop()


async def measure(n: int, rate: float, profile: str | None = None) -> dict:
    settings = get_settings()
    await prepare_database(settings, "feedback", migrations_of("feedback"))
    await ensure_topics(settings)
    messages = payloads(n)
    database = settings.database_name("feedback")
    conn = await asyncpg.connect(settings.database_dsn("feedback"))
    worker = None
    try:
        own = await conn.fetchval("SELECT pg_backend_pid()")
        if not rate:
            await send(settings, messages, 0)
        worker = start_worker()
        if profile:
            # Until the worker ends; py-spy then writes the flame graph.
            subprocess.Popen([str(Path(sys.executable).with_name("py-spy")), "record", "-o", profile,
                              "--pid", str(worker.pid)])
        started, worker_before, db_before = time.perf_counter(), cpu_seconds([worker.pid]), backends_of(database, own)
        sending = asyncio.create_task(send(settings, messages, rate)) if rate else None
        while await conn.fetchval("SELECT coalesce(sum(next_offset), 0) FROM consumer_offsets WHERE group_id = $1",
                                  settings.group("feedback")) < n:
            if sending is not None and sending.done():
                sending.result()
            await asyncio.sleep(0.1)
        took = time.perf_counter() - started
        worker_cpu = cpu_seconds([worker.pid]) - worker_before
        db_cpu = sum(s - db_before.get(pid, 0.0) for pid, s in backends_of(database, own).items())
        rows = await conn.fetchval("SELECT count(*) FROM recorded_visits")
        return {"visits": n, "rate_sent": rate or "backlog", "rows": rows, "seconds": round(took, 2),
                "feedback_us_a_visit": round(worker_cpu / n * 1e6, 2),
                "postgres_us_a_visit": round(db_cpu / n * 1e6, 2)}
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(timeout=30)
        await conn.close()
        await remove_prefixed(settings)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--visits", type=int, default=200_000)
    ap.add_argument("--rate", type=float, default=0, help="visits/s sent while the worker runs (0: a backlog)")
    ap.add_argument("--profile", metavar="SVG", help="a py-spy flame graph of the worker (its CPU then counts py-spy's pauses)")
    args = ap.parse_args()
    print(asyncio.run(measure(args.visits, args.rate, args.profile)))


if __name__ == "__main__":
    main()
