"""Benchmark (not a test): payrolls into the contributions service, 10,000-row ones or the region's mix.

Starts the contributions service as a process with its own topic and database prefix (so it never
touches real data; both are removed afterwards), posts K payrolls from a few concurrent clients and
reports rows per second accepted, and the time until all their contribution-paid events are on
Kafka (topic end offsets). With --mix, the payrolls are the region benchmark's employer mix (Pareto
sizes, mostly a few rows: bench/population.py) for --rows workers in all, posted as bench/run.py posts
them: large payrolls alone, small ones together in gateway batches (POST /v1/payroll-batches) of up to
--batch payrolls (1: each alone, as before batches).

  .venv/bin/python -m bench.bench_contributions --payrolls 10 --rows 10000 --clients 2 [--same-people]
  .venv/bin/python -m bench.bench_contributions --mix --rows 100000 --clients 8 [--batch 200]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

RUN_ID = uuid.uuid4().hex[:8]
os.environ["OSMS_TOPIC_PREFIX"] = f"bench{RUN_ID}."
os.environ["OSMS_DB_PREFIX"] = f"osmsbench_{RUN_ID}_"
os.environ.setdefault("OSMS_LOG_LEVEL", "WARNING")

import httpx  # noqa: E402

from bench.auth import admin_headers  # noqa: E402
import orjson  # noqa: E402
from aiokafka import AIOKafkaConsumer, TopicPartition  # noqa: E402

from services.common.bootstrap import remove_prefixed  # noqa: E402
from services.common.ids import make_bin, make_iin  # noqa: E402
from services.common.settings import get_settings  # noqa: E402
from bench import cpu  # noqa: E402
from bench.payroll_batches import batched, refused  # noqa: E402
from bench.processes import ServiceProcess  # noqa: E402

TOPIC = "contribution-paid"


def people(n: int, offset: int) -> list[str]:
    """n distinct valid IINs, deterministic, disjoint for disjoint offsets."""
    out, k = [], offset * 3
    birth0 = date(1960, 1, 1)
    while len(out) < n:
        birth = birth0 + timedelta(days=k // 9000)
        value = make_iin(birth, "M" if k % 2 else "F", k % 9000)
        if value:
            out.append(value)
        k += 1
    return out


def payroll_bodies(count: int, rows: int, period: str, same_people: bool = False) -> list[bytes]:
    """`count` payrolls; with `same_people`, one workforce over `count` consecutive months back from
    `period` (people who already have covered months: the steady state), else new people each."""
    bodies = []
    year, month = map(int, period.split("-"))
    for p in range(count):
        employer = next(b for s in range(p * 10, p * 10 + 10) if (b := make_bin(date(2015, 1, 1), 4, s)))
        iins = people(rows, 0 if same_people else p * rows)
        m = year * 12 + month - 1 - (p if same_people else 0)
        body = {"employer_bin": employer, "period": f"{m // 12:04d}-{m % 12 + 1:02d}",
                "reference": f"bench-{RUN_ID}-{p}",
                "rows": [{"iin": i, "income": f"{150000 + (j % 700) * 1000}.00",
                          "kind": "civil_contract" if j % 10 == 0 else "employee"} for j, i in enumerate(iins)]}
        bodies.append(orjson.dumps(body))
    return bodies


def mix_bodies(workers: int, period: str, batch: int) -> list[tuple[str, bytes, int]]:
    """(path, body) of the region benchmark's employer mix for `workers` people, one payroll an employer
    (at most 10,000 rows a request), with bench/run.py's incomes and kinds; small ones in batches."""
    import random

    from bench.population import KYZYLORDA, Population

    rng = random.Random(11)
    iins = people(workers, 0)
    bodies, i = [], 0
    for bin_, size in Population(KYZYLORDA).employers(workers):
        chunk, i = iins[i:i + size], i + size
        for j in range(0, len(chunk), 10_000):
            rows = [{"iin": p, "income": f"{rng.randint(85_000, 900_000)}.00",
                     "kind": "employee" if rng.random() < 0.95 else "civil_contract"} for p in chunk[j:j + 10_000]]
            bodies.append({"employer_bin": bin_, "period": period, "reference": f"bench-{RUN_ID}-{bin_}-{j}",
                           "rows": rows})
    return batched(bodies, batch)


def our_processes(service: ServiceProcess, db_prefix: str) -> dict[int, str]:
    """The service, this benchmark, and the PostgreSQL backends serving this run's database (its pool
    keeps them open), so that other work on a shared machine is not counted as ours."""
    named = {service.proc.pid: "contributions", os.getpid(): "bench"}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if cmdline.startswith("postgres:") and db_prefix in cmdline:
                named[int(entry.name)] = "postgres (this run)"
    return named


async def end_offsets(consumer: AIOKafkaConsumer, topic: str) -> int:
    tps = [TopicPartition(topic, p) for p in range(get_settings().topic_partitions)]
    return sum((await consumer.end_offsets(tps)).values())


async def run(args) -> None:
    settings = get_settings()
    service = ServiceProcess("contributions").start()
    auth = await admin_headers(settings, "contributions")
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=None)
    await consumer.start()
    try:
        topic = settings.topic(TOPIC)
        bodies = (mix_bodies(args.rows, args.period, args.batch) if args.mix
                  else [("/v1/payrolls", b, args.rows) for b in payroll_bodies(args.payrolls, args.rows, args.period,
                                                                              args.same_people)])
        queue: asyncio.Queue[tuple[str, bytes, int]] = asyncio.Queue()
        for b in bodies:
            queue.put_nowait(b)
        latencies: list[float] = []

        async def client() -> None:
            async with httpx.AsyncClient(base_url=service.url, timeout=120, headers=auth) as http:
                while not queue.empty():
                    path, body, _ = queue.get_nowait()
                    t0 = time.perf_counter()
                    r = await http.post(path, content=body, headers={"content-type": "application/json"})
                    latencies.append(time.perf_counter() - t0)
                    if refused(r.status_code, r.content):
                        raise RuntimeError(f"payroll refused: {r.status_code} {r.text[:500]}")

        total = args.rows if args.mix else args.payrolls * args.rows
        # one small payroll first, so that the pool's connections (and their backends) exist
        async with httpx.AsyncClient(base_url=service.url, timeout=120, headers=auth) as http:
            await http.post("/v1/payrolls", content=payroll_bodies(1, 1, "2025-01")[0],
                            headers={"content-type": "application/json"})
        before = await end_offsets(consumer, topic)
        named = our_processes(service, settings.db_prefix)
        cpu_before = cpu.snapshot(named)
        started = time.perf_counter()
        await asyncio.gather(*[client() for _ in range(args.clients)])
        accepted = time.perf_counter() - started
        while await end_offsets(consumer, topic) - before < total:
            if time.perf_counter() - started > 600:
                raise RuntimeError("events did not reach Kafka in 10 minutes")
            await asyncio.sleep(0.05)
        on_kafka = time.perf_counter() - started
        spent = cpu.per_event_us(cpu_before, cpu.snapshot(named), total)
        latencies.sort()
        print(f"requests: {len(bodies)} ({'the region mix' if args.mix else 'payrolls of equal size'}), {total} rows, "
              f"{args.clients} clients")
        print(f"accepted: {total} rows in {accepted:.2f} s = {total / accepted:,.0f} rows/s "
              f"(request latency median {latencies[len(latencies) // 2]:.2f} s, max {latencies[-1]:.2f} s)")
        print(f"all {total} events on Kafka {on_kafka:.2f} s after the first post "
              f"({on_kafka - accepted:.2f} s after the last payroll was accepted) = {total / on_kafka:,.0f} events/s")
        print("CPU a row, µs (steadier than the rates on a shared machine): " +
              ", ".join(f"{g} {spent.get(g, 0.0):,.0f}" for g in ("contributions", "postgres (this run)", "bench")))
    finally:
        await consumer.stop()
        service.stop()
        await remove_prefixed(settings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payrolls", type=int, default=10)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--period", default="2026-10")
    parser.add_argument("--mix", action="store_true",
                        help="the region benchmark's employer mix for --rows workers (--payrolls is ignored)")
    parser.add_argument("--batch", type=int, default=200,
                        help="with --mix, small payrolls a gateway batch (1: each payroll alone)")
    parser.add_argument("--same-people", action="store_true",
                        help="one workforce over consecutive months (people with history) instead of new people")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
