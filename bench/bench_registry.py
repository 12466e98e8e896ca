"""Benchmark of the registry's hot path: clinic systems posting 1,000-visit batches concurrently.

Runs the registry as a real process (uvicorn, its own outbox relay) under its own topic and
database prefixes, so no real data is touched, and removes both afterwards. Reports the visits
recorded per second over HTTP and the time until all their visit-recorded events are on Kafka
(the topic's end offsets).

    .venv/bin/python bench/bench_registry.py --visits 250000 --clients 4
    .venv/bin/python bench/bench_registry.py --visits 20000 --clients 2      # smoke run
    .venv/bin/python bench/bench_registry.py --relay-process   # the outbox relay in a worker process
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RUN_ID = uuid.uuid4().hex[:8]
# Before any settings are read: this run's own topics and databases.
os.environ["OSMS_TOPIC_PREFIX"] = f"bench{RUN_ID}."
os.environ["OSMS_DB_PREFIX"] = f"osmsbench_{RUN_ID}_"
os.environ.setdefault("OSMS_LOG_LEVEL", "WARNING")

import httpx  # noqa: E402

from bench.auth import admin_headers  # noqa: E402
import orjson  # noqa: E402
from aiokafka import AIOKafkaConsumer, TopicPartition  # noqa: E402

from services.common.bootstrap import remove_prefixed  # noqa: E402
from services.common.ids import make_iin  # noqa: E402
from services.common.settings import get_settings  # noqa: E402
from bench import cpu  # noqa: E402
from bench.processes import ServiceProcess  # noqa: E402

KINDS = ["consultation", "consultation", "consultation", "home_visit", "prophylactic", "vaccination", "screening"]


def make_people(n: int, rng: random.Random) -> list[str]:
    out: set[str] = set()
    while len(out) < n:
        value = make_iin(date(rng.randint(1940, 2019), rng.randint(1, 12), rng.randint(1, 28)),
                         rng.choice("MF"), rng.randint(0, 9999))
        if value:
            out.add(value)
    return list(out)


def make_bodies(visits: int, batch: int, clinics: list[str], people: list[str], rng: random.Random) -> list[bytes]:
    """Pre-serialized requests, so the clients spend little CPU while the registry is measured."""
    today = date.today()
    bodies = []
    for b in range(0, visits, batch):
        items = []
        for i in range(b, min(b + batch, visits)):
            clinic = clinics[i % len(clinics)]
            items.append({"visit_id": f"v{i}", "clinic_id": clinic, "iin": rng.choice(people),
                          "date": (today - timedelta(days=rng.randint(0, 300))).isoformat(),
                          "kind": rng.choice(KINDS), "practitioner_id": f"{clinic}-dr{rng.randint(1, 20)}"})
        bodies.append(orjson.dumps({"visits": items}))
    return bodies


def process_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU seconds spent not idle by all cores (the benchmark shares the machine with PG and Kafka)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(values) - values[3] - values[4]) / os.sysconf("SC_CLK_TCK")


async def kafka_end_total(consumer: AIOKafkaConsumer, partitions: list[TopicPartition]) -> int:
    return sum((await consumer.end_offsets(partitions)).values())


async def run(args) -> None:
    settings = get_settings()
    rng = random.Random(args.seed)
    worker = None
    if args.relay_process:
        # The relay as a process of its own (services.common.worker): it can use the other core.
        service = ServiceProcess("registry", env={"OSMS_RUN_RELAY": "false"}).start()
        worker = subprocess.Popen([sys.executable, "-m", "services.common.worker", "registry", "relay"],
                                  cwd=ROOT, env=service.env)
    else:
        service = ServiceProcess("registry").start()
    auth = await admin_headers(settings, "registry")
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=None)
    try:
        clinics = [f"BENCH-{i:04d}" for i in range(args.clinics)]
        async with httpx.AsyncClient(base_url=service.url, timeout=120, headers=auth) as client:
            for c in clinics:
                r = await client.put(f"/v1/clinics/{c}", json={"name": c, "region": "bench", "settlement": "urban"})
                r.raise_for_status()
        people = make_people(args.people, rng)
        bodies = make_bodies(args.visits, args.batch, clinics, people, rng)
        await consumer.start()
        topic = settings.topic("visit-recorded")
        partitions = [TopicPartition(topic, p) for p in range(get_settings().topic_partitions)]
        already = await kafka_end_total(consumer, partitions)

        queue: asyncio.Queue[bytes] = asyncio.Queue()
        for body in bodies:
            queue.put_nowait(body)
        latencies: list[float] = []
        statuses: dict[str, int] = {}

        async def client_loop() -> None:
            async with httpx.AsyncClient(base_url=service.url, timeout=120,
                                         headers={"content-type": "application/json", **auth}) as client:
                while not queue.empty():
                    body = queue.get_nowait()
                    started = time.perf_counter()
                    r = await client.post("/v1/visits", content=body)
                    latencies.append(time.perf_counter() - started)
                    r.raise_for_status()
                    for result in orjson.loads(r.content)["results"]:
                        statuses[result["status"]] = statuses.get(result["status"], 0) + 1

        named = {service.proc.pid: "registry"}
        groups_before = cpu.snapshot(named)
        cpu_before, busy_before = process_cpu_seconds(service.proc.pid), machine_busy_seconds()
        started = time.perf_counter()
        await asyncio.gather(*(client_loop() for _ in range(args.clients)))
        http_done = time.perf_counter()
        recorded = statuses.get("recorded", 0)
        while await kafka_end_total(consumer, partitions) - already < recorded:
            if time.perf_counter() - http_done > args.kafka_timeout:
                raise SystemExit(f"events not on Kafka within {args.kafka_timeout}s")
            await asyncio.sleep(0.05)
        on_kafka = time.perf_counter()
        process = process_cpu_seconds(service.proc.pid) - cpu_before
        busy = machine_busy_seconds() - busy_before
        groups = cpu.per_event_us(groups_before, cpu.snapshot(named), max(recorded, 1))

        http_s, kafka_s = http_done - started, on_kafka - started
        latencies.sort()
        print(f"visits posted        {args.visits:,} in {len(bodies)} requests of {args.batch} "
              f"from {args.clients} concurrent clients, {args.clinics} clinics")
        print(f"statuses             {statuses}")
        print(f"recorded (HTTP)      {recorded / http_s:,.0f} visits/s  ({http_s:.2f} s)")
        print(f"request latency      p50 {statistics.median(latencies) * 1000:.0f} ms, "
              f"p95 {latencies[int(len(latencies) * 0.95) - 1] * 1000:.0f} ms")
        print(f"all events on Kafka  {kafka_s:.2f} s after the first request "
              f"({on_kafka - http_done:.2f} s after the last answer); "
              f"end to end {recorded / kafka_s:,.0f} visits/s")
        print(f"CPU                  registry process {process:.2f} s ({process / max(recorded, 1) * 1e6:.0f} us a visit); "
              f"whole machine {busy:.2f} s of {kafka_s * os.cpu_count():.2f} s available")
        print(f"CPU a visit (us)     registry {groups.get('registry', 0)}, its PostgreSQL backends "
              f"{groups.get('postgres: registry', 0)}, Kafka {groups.get('kafka', 0)}")
    finally:
        await consumer.stop()
        service.stop()
        if worker is not None:
            worker.terminate()
            worker.wait(timeout=30)
        await cleanup(settings)


async def cleanup(settings) -> None:
    await remove_prefixed(settings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--visits", type=int, default=250_000, help="visits in all (default: a day of the country)")
    parser.add_argument("--batch", type=int, default=1000, help="visits a request (at most 1,000)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients")
    parser.add_argument("--clinics", type=int, default=50)
    parser.add_argument("--people", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--kafka-timeout", type=float, default=300)
    parser.add_argument("--relay-process", action="store_true",
                        help="run the outbox relay as a worker process (OSMS_RUN_RELAY=false in the service)")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
