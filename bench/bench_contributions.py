"""Benchmark (not a test): payrolls of 10,000 rows into the contributions service.

Starts the contributions service as a process with its own topic and database prefix (so it never
touches real data; both are removed afterwards), posts K payrolls from a few concurrent clients and
reports rows per second accepted, and the time until all their contribution-paid events are on
Kafka (topic end offsets).

  .venv/bin/python -m bench.bench_contributions --payrolls 10 --rows 10000 --clients 2 [--same-people]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from datetime import date, timedelta

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
        before = await end_offsets(consumer, topic)
        bodies = payroll_bodies(args.payrolls, args.rows, args.period, args.same_people)
        queue: asyncio.Queue[bytes] = asyncio.Queue()
        for b in bodies:
            queue.put_nowait(b)
        latencies: list[float] = []

        async def client() -> None:
            async with httpx.AsyncClient(base_url=service.url, timeout=120, headers=auth) as http:
                while not queue.empty():
                    body = queue.get_nowait()
                    t0 = time.perf_counter()
                    r = await http.post("/v1/payrolls", content=body, headers={"content-type": "application/json"})
                    latencies.append(time.perf_counter() - t0)
                    if r.status_code != 201:
                        raise RuntimeError(f"payroll refused: {r.status_code} {r.text[:500]}")

        started = time.perf_counter()
        await asyncio.gather(*[client() for _ in range(args.clients)])
        accepted = time.perf_counter() - started
        total = args.payrolls * args.rows
        while await end_offsets(consumer, topic) - before < total:
            if time.perf_counter() - started > 600:
                raise RuntimeError("events did not reach Kafka in 10 minutes")
            await asyncio.sleep(0.05)
        on_kafka = time.perf_counter() - started
        latencies.sort()
        print(f"payrolls: {args.payrolls} x {args.rows} rows, {args.clients} clients")
        print(f"accepted: {total} rows in {accepted:.2f} s = {total / accepted:,.0f} rows/s "
              f"(payroll latency median {latencies[len(latencies) // 2]:.2f} s, max {latencies[-1]:.2f} s)")
        print(f"all {total} events on Kafka {on_kafka:.2f} s after the first post "
              f"({on_kafka - accepted:.2f} s after the last payroll was accepted) = {total / on_kafka:,.0f} events/s")
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
    parser.add_argument("--same-people", action="store_true",
                        help="one workforce over consecutive months (people with history) instead of new people")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
