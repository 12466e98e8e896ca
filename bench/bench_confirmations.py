"""What the confirmation sample costs the registry's visit intake: store.record_visits over 1,000-visit
requests (the bench_registry mix) with the sample and without it, interleaved in one process on one
connection, so that a loaded machine slows both alike. Reports this process's CPU and its PostgreSQL
backend's, a visit, paired round by round, and the share of the intake's own CPU spent in the sample.

    .venv/bin/python bench/bench_confirmations.py --rounds 30 --requests 6
"""
from __future__ import annotations

import argparse
import asyncio
import math
import random
import statistics
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Imported first: bench_registry sets this run's own topic and database prefixes.
from bench.bench_registry import make_bodies, make_people, process_cpu_seconds  # noqa: E402
import orjson  # noqa: E402

from services.common import clock  # noqa: E402
from services.common.bootstrap import remove_prefixed  # noqa: E402
from services.common.db import create_pool, prepare_database  # noqa: E402
from services.common.rules import load_snapshot  # noqa: E402
from services.common.settings import get_settings  # noqa: E402
from services.registry import store  # noqa: E402
from services.registry.domain import VisitIn  # noqa: E402
from services.registry.rules import RULE_TABLES, confirmation_rules, visit_rules_for  # noqa: E402


def _paired(on: list[float], off: list[float]) -> str:
    d = [a - b for a, b in zip(on, off)]
    return f"{statistics.mean(d):+.2f} ± {statistics.stdev(d) / math.sqrt(len(d)):.2f} µs a visit " \
           f"(without: {statistics.mean(off):.2f})"


async def run(args) -> None:
    settings = get_settings()
    await prepare_database(settings, "registry", ROOT / "services/registry/migrations")
    pool = await create_pool(settings, "registry")
    conn = await pool.acquire()
    try:
        backend = await conn.fetchval("SELECT pg_backend_pid()")
        clinics = [f"BENCH-{i:04d}" for i in range(args.clinics)]
        for c in clinics:
            await store.upsert_clinic(conn, c, c, "bench", "urban")
        rng = random.Random(args.seed)
        bodies = make_bodies(args.rounds * 2 * args.requests * 1000, 1000, clinics, make_people(50_000, rng), rng)
        requests = [[VisitIn(v["visit_id"], v["clinic_id"], v["iin"], date.fromisoformat(v["date"]), v["kind"],
                             v["practitioner_id"]) for v in orjson.loads(b)["visits"]] for b in bodies]
        snap = await load_snapshot(conn, RULE_TABLES)
        today = clock.today()
        rules = confirmation_rules(snap, today)
        sampled = {"sample": 0.0, "intake": 0.0}
        request_confirmations = store.request_confirmations

        async def timed(*a, **kw):
            started = time.process_time()
            try:
                return await request_confirmations(*a, **kw)
            finally:
                sampled["sample"] += time.process_time() - started
        store.request_confirmations = timed
        cpu: dict[str, list[float]] = {"on": [], "off": []}
        pg: dict[str, list[float]] = {"on": [], "off": []}
        queue = iter(requests)
        for r in range(args.rounds):
            for side in ("on", "off") if r % 2 == 0 else ("off", "on"):
                c0, p0 = time.process_time(), process_cpu_seconds(backend)
                for _ in range(args.requests):
                    visits = next(queue)
                    started = time.process_time()
                    await store.record_visits(conn, visits, visit_rules_for(snap, today, {v.date for v in visits}),
                                              today, correction=True, confirm=rules if side == "on" else None)
                    if side == "on":
                        sampled["intake"] += time.process_time() - started
                n = args.requests * 1000
                cpu[side].append((time.process_time() - c0) / n * 1e6)
                pg[side].append((process_cpu_seconds(backend) - p0) / n * 1e6)
        asked = await conn.fetchval("SELECT count(*) FROM visit_confirmations")
        print(f"visits               {len(requests) * 1000:,} in requests of 1,000, {args.rounds} rounds; "
              f"{asked:,} asked ({asked / (len(requests) * 500):.2%} of those sampled from)")
        print(f"this process         sample on - off: {_paired(cpu['on'], cpu['off'])}")
        print(f"its PostgreSQL       sample on - off: {_paired(pg['on'], pg['off'])}")
        print(f"the sample's share   {sampled['sample'] / sampled['intake']:.1%} of this process's intake CPU")
    finally:
        await pool.release(conn)
        await pool.close()
        await remove_prefixed(settings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30, help="rounds of one phase with the sample and one without")
    parser.add_argument("--requests", type=int, default=6, help="1,000-visit requests a phase")
    parser.add_argument("--clinics", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
