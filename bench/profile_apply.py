"""Where the financing consumer's time goes: applies the financing benchmark's event mix straight
through store.apply_events (no Kafka), batch by batch as the consumer would, and splits each second
into the consumer's own CPU, the PostgreSQL backend's CPU and waiting.

    .venv/bin/python -m bench.profile_apply --people 140000 --clinics 20 --events 100000
    .venv/bin/py-spy record -o apply.svg -- .venv/bin/python -m bench.profile_apply   # a flame graph

A projection is bulk-loaded first (bench.bench_financing's loader); everything runs on its own
database prefix, dropped afterwards. To compare server settings on one national load (ten minutes
to load): `--keep F` keeps the database and writes the people sample to F; later runs with
`OSMS_DB_PREFIX=<the prefix it prints> ... --reuse F --seed N` apply a fresh mix to it.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import pickle
import random
import time
from pathlib import Path

RUN = f"{int(time.time())}"
os.environ.setdefault("OSMS_DB_PREFIX", f"osmsprof{RUN}_")
os.environ.setdefault("OSMS_TOPIC_PREFIX", f"prof{RUN}.")   # no topics are made; remove_prefixed wants one

import asyncpg  # noqa: E402

from bench.bench_financing import STRESS_MIX, event_mix, load, parse_mix, read_cover  # noqa: E402
from bench.population import Population, Scale  # noqa: E402
from services.common.collector import tune_gc  # noqa: E402
from services.common.bootstrap import remove_prefixed  # noqa: E402
from services.common.collector import collector_paused  # noqa: E402
from services.common.consumer import Event  # noqa: E402
from services.common.db import prepare_database  # noqa: E402
from services.common.events import decode  # noqa: E402
from services.common.settings import get_settings  # noqa: E402
from services.financing import store  # noqa: E402
from services.financing.projection import read_event, reading_of  # noqa: E402


class TimedConnection(asyncpg.Connection):
    """Adds up the time each statement takes, and the rows it is sent (the length of its first array
    argument, a list or an array literal's text), by the statement's first words."""

    spent: dict[str, float] = {}
    rows: dict[str, int] = {}

    async def _timed(self, call, query, *args, **kwargs):
        t = time.perf_counter()
        try:
            return await call(query, *args, **kwargs)
        finally:
            what = " ".join(query.split())[:90]
            self.spent[what] = self.spent.get(what, 0.0) + time.perf_counter() - t
            if args:
                self.rows[what] = self.rows.get(what, 0) + _length(args[0])

    async def execute(self, query, *args, **kwargs):
        return await self._timed(super().execute, query, *args, **kwargs)

    async def fetch(self, query, *args, **kwargs):
        return await self._timed(super().fetch, query, *args, **kwargs)

    async def fetchval(self, query, *args, **kwargs):
        return await self._timed(super().fetchval, query, *args, **kwargs)


def _length(first) -> int:
    """Rows a statement is sent: its first argument's length, a list or the text of an array literal."""
    if isinstance(first, list):
        return len(first)
    if isinstance(first, str) and first.startswith('{"'):    # quoted items (row addresses hold a comma)
        return first.count('","') + 1
    if isinstance(first, str) and first.startswith("{"):
        return 0 if first == "{}" else first.count(",") + 1
    return 0


def _cpu_of(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=140_000)
    parser.add_argument("--clinics", type=int, default=20)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--statements", action="store_true",
                        help="also print the wall time of each SQL statement (mostly PostgreSQL's CPU)")
    parser.add_argument("--keep", metavar="FILE", help="keep the loaded database; write the people sample to FILE")
    parser.add_argument("--reuse", metavar="FILE", help="apply to a database kept by --keep (same OSMS_DB_PREFIX)")
    parser.add_argument("--seed", type=int, default=3, help="of the event mix")
    parser.add_argument("--decoder", choices=("native", "models"), default="native",
                        help="read events as the consumer does (native, models as fallback), or with the models only")
    parser.add_argument("--mix", type=parse_mix, default=STRESS_MIX,
                        help="shares of visits, contribution statuses and moves; real: a year of the nation (default 0.8,0.1,0.1)")
    args = parser.parse_args()
    settings = get_settings()
    pop = Population(Scale("bench", "national", args.people, args.clinics, insured_share=0.90))
    try:
        if args.reuse:
            sample = pickle.loads(Path(args.reuse).read_bytes())
        else:
            await prepare_database(settings, "financing", Path(store.__file__).parent / "migrations")
            sample = await load(settings, pop, args.people)
        if args.keep:
            Path(args.keep).write_bytes(pickle.dumps(sample))
            print(f"kept: OSMS_DB_PREFIX={settings.db_prefix}")
        cover = await read_cover(settings, sample)
        events = list(event_mix(sample, pop.clinic_ids, args.events, random.Random(args.seed), tag=f"s{args.seed}",
                                mix=args.mix, cover=cover))
        payloads = [(e.topic, e.payload) for e in events]
        del events
        tune_gc()   # as the service does once started
        conn = await asyncpg.connect(settings.database_dsn("financing"),
                                     connection_class=TimedConnection if args.statements else asyncpg.Connection)
        backend = await conn.fetchval("SELECT pg_backend_pid()")
        decode_s = apply_s = 0.0
        read = read_event if args.decoder == "native" else (lambda payload, topic: reading_of(decode(payload, topic)[1]))
        print(f"applying {len(payloads):,} events", flush=True)
        cpu0, pg0, wall0 = time.process_time(), _cpu_of(backend), time.perf_counter()
        for i in range(0, len(payloads), args.batch):
            with collector_paused():   # as the consumer applies a batch
                t = time.perf_counter()
                batch = []
                for offset, (topic, payload) in enumerate(payloads[i:i + args.batch], start=i):
                    batch.append(Event(topic, 0, offset, None, read(payload, topic)))
                decode_s += time.perf_counter() - t
                t = time.perf_counter()
                async with conn.transaction():
                    await store.apply_events(conn, batch)
                apply_s += time.perf_counter() - t
                del batch
        wall = time.perf_counter() - wall0
        cpu, pg = time.process_time() - cpu0, _cpu_of(backend) - pg0
        n = len(payloads)
        print(f"{n:,} events in {wall:.2f} s: {n / wall:,.0f} events/s "
              f"(decode {decode_s:.2f} s, apply {apply_s:.2f} s)")
        print(f"per event: consumer CPU {cpu / n * 1e6:.1f} µs, PostgreSQL backend CPU {pg / n * 1e6:.1f} µs, "
              f"wall {wall / n * 1e6:.0f} µs")
        if args.statements:
            for what, seconds in sorted(TimedConnection.spent.items(), key=lambda x: -x[1]):
                rows = TimedConnection.rows.get(what)
                per_row = f"{rows / n:5.2f} rows/event {seconds / rows * 1e6:5.1f} µs/row" if rows else " " * 32
                print(f"  {seconds / n * 1e6:5.1f} µs/event {per_row}  {what}")
        await conn.close()
    finally:
        if not (args.keep or args.reuse):
            await remove_prefixed(settings)


if __name__ == "__main__":
    asyncio.run(main())
