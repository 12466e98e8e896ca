"""PostgreSQL's CPU a visit of the registry's visit intake (store.record_visits), measured alone.

A fresh registry database (the project's migrations), a warm-up of recorded visits, then requests of
1,000 visits on one connection; the CPU of that connection's backend is read from /proc (Linux, the
server on this machine), so other work on a shared machine counts only as noise, not as cost.

    python -m bench.intake_cost --shape spread   # each request over 300 days and 50 clinics
    python -m bench.intake_cost --shape day      # each request one clinic's day, as a clinic uploads
    python -m bench.intake_cost --shape region   # as the region benchmark posts: one day, 150 clinics
                                                 # mixed in each request, each person once, ~15 a practitioner

To measure another version (e.g. before the padded-records checks), run a copy of this file from that
version's checkout with its own virtualenv (its native module is built from its own sources): the
script uses only record_visits, visit_rules_for, the migrations and bench_registry's helpers, which every
version has."""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
from datetime import date, timedelta

import asyncpg

from bench.bench_registry import KINDS, make_people, process_cpu_seconds
from services.common.bootstrap import migrations_of
from services.common.db import _init_connection, prepare_database
from services.common.rules import load_snapshot
from services.common.settings import get_settings
from services.registry import store
from services.registry.domain import VisitIn
from services.registry.rules import RULE_TABLES, visit_rules_for

def requests(shape: str, count: int, start: int, clinics: list[str], iins: list[str], today: date,
             rng: random.Random) -> list[list[VisitIn]]:
    out = []
    for r in range(start, start + count):
        visits = []
        for i in range(1000):
            if shape == "region":   # iins holds each person once; practitioners sized for ~15 visits a day
                clinic = clinics[rng.randrange(len(clinics))]
                visits.append(VisitIn(f"v{r}-{i}", clinic, iins[r * 1000 + i], today, "consultation",
                                      f"P-{rng.randrange(len(iins) // len(clinics) // 15)}"))
                continue
            if shape == "spread":
                clinic = clinics[i % len(clinics)]
                day = today - timedelta(days=rng.randint(0, 300))
                dr = f"{clinic}-dr{rng.randint(1, 20)}"
            else:   # one clinic's day: 50 practitioners of 20 patients each
                clinic = clinics[r % len(clinics)]
                day = today - timedelta(days=r // len(clinics))
                dr = f"{clinic}-dr{i % 50}"
            visits.append(VisitIn(f"v{r}-{i}", clinic, rng.choice(iins), day, rng.choice(KINDS), dr))
        out.append(visits)
    return out


async def run(shape: str, warm: int, measured: int, seed: int) -> list[float]:
    settings = get_settings().model_copy(update={"db_prefix": f"osms_intakecost{os.getpid()}_"})
    await prepare_database(settings, "registry", migrations_of("registry"))
    conn = await asyncpg.connect(settings.database_dsn("registry"))
    try:
        await _init_connection(conn)
        rng = random.Random(seed)
        clinics = [f"COST{c:03d}" for c in range(150 if shape == "region" else 50)]
        await conn.executemany("INSERT INTO clinics (clinic_id, name, region, settlement) VALUES ($1, $1, 'x', 'urban')",
                               [(c,) for c in clinics])
        iins = make_people((warm + measured) * 1000 if shape == "region" else 20000, rng)
        snap = await load_snapshot(conn, RULE_TABLES)
        today = date.today()
        pid = await conn.fetchval("SELECT pg_backend_pid()")
        per_visit = []
        for phase, (start, count) in (("warm", (0, warm)), ("measured", (warm, measured))):
            for visits in requests(shape, count, start, clinics, iins, today, rng):
                rules = visit_rules_for(snap, today, {v.date for v in visits})
                before = process_cpu_seconds(pid)
                results = await store.record_visits(conn, visits, rules, today, correction=True)
                if phase == "measured":
                    per_visit.append((process_cpu_seconds(pid) - before) / len(visits) * 1e6)
                assert sum(r["status"] == "recorded" for r in results) == len(visits), results[:3]
        return per_visit
    finally:
        await conn.close()
        admin = await asyncpg.connect(settings.server_dsn())
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{settings.database_name("registry")}" WITH (FORCE)')
        finally:
            await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shape", choices=("spread", "day", "region"), default="spread")
    parser.add_argument("--warm", type=int, default=40, help="requests recorded before measuring")
    parser.add_argument("--requests", type=int, default=30, help="requests measured")
    parser.add_argument("--seed", type=int, default=24)
    args = parser.parse_args()
    per_visit = asyncio.run(run(args.shape, args.warm, args.requests, args.seed))
    # The sum over the requests, not a per-request median: /proc counts in clock ticks of 10 ms.
    print(f"{args.shape}: {statistics.fmean(per_visit):.1f} µs of PostgreSQL CPU a visit "
          f"({len(per_visit)} requests of 1,000 after {args.warm})")


if __name__ == "__main__":
    main()
