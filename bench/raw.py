"""The machine's raw limits, for ratios: aiokafka produce -> consume, and asyncpg COPY.

Messages are the size and shape of a real `visit-recorded` envelope; the COPY table has the
shape of the registry's visits table. Both use this run's own topic and database, removed after.
"""
from __future__ import annotations

import asyncio
import time
import uuid
from datetime import date, datetime, timezone

import asyncpg
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from services.common.events import VisitRecorded, new_event
from services.common.outbox import make_producer
from services.common.settings import Settings


def sample_payloads(n: int) -> list[tuple[bytes, bytes]]:
    from bench.population import Population, SMALL

    people = [p.iin for _, p in zip(range(2000), Population(SMALL).people())]
    out = []
    for i in range(n):
        iin = people[i % len(people)]
        data = VisitRecorded(clinic_id="KYZ-0001", visit_id=f"v{i}", iin=iin, date=date(2026, 11, 2),
                             kind="consultation", practitioner_id="P-17")
        e = new_event("visit-recorded", data, producer="bench", key=iin,
                      occurred_at=datetime(2026, 11, 2, tzinfo=timezone.utc))
        out.append((iin.encode(), e.payload))
    return out


async def kafka_produce_consume(settings: Settings, n: int = 200_000) -> dict:
    topic = f"bench-raw-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic(topic, num_partitions=6, replication_factor=1)])
    payloads = sample_payloads(n)
    producer = make_producer(settings)  # the relay's own settings: idempotent, acks=all
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=settings.kafka_bootstrap, group_id=f"{topic}-g",
                                auto_offset_reset="earliest", enable_auto_commit=False,
                                max_partition_fetch_bytes=8 << 20, fetch_max_bytes=64 << 20)
    await producer.start()
    await consumer.start()
    try:
        received = 0

        async def consume():
            nonlocal received
            while received < n:
                batch = await consumer.getmany(timeout_ms=200, max_records=10000)
                received += sum(len(m) for m in batch.values())

        started = time.perf_counter()
        consuming = asyncio.create_task(consume())
        futures = []
        for key, value in payloads:
            futures.append(await producer.send(topic, value=value, key=key))
            if len(futures) >= 5000:
                await asyncio.gather(*futures)
                futures = []
        await asyncio.gather(*futures)
        produced_at = time.perf_counter()
        await consuming
        done = time.perf_counter()
    finally:
        await producer.stop()
        await consumer.stop()
        await admin.delete_topics([topic])
        await admin.close()
    return {"messages": n, "bytes_each": len(payloads[0][1]),
            "produce_per_s": n / (produced_at - started), "produce_consume_per_s": n / (done - started)}


async def pg_copy(settings: Settings, n: int = 500_000) -> dict:
    dsn = settings.database_dsn("bench_raw")
    server = await asyncpg.connect(settings.server_dsn())
    name = settings.database_name("bench_raw")
    await server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await server.execute(f'CREATE DATABASE "{name}"')
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("""CREATE TABLE visits (clinic_id text, visit_id text, iin text, date date, kind text,
                              practitioner_id text, recorded_at timestamptz DEFAULT now(),
                              PRIMARY KEY (clinic_id, visit_id))""")
        rows = [("KYZ-0001", f"v{i}", "900101312348", date(2026, 11, 2), "consultation", "P-17") for i in range(n)]
        started = time.perf_counter()
        for i in range(0, n, 10_000):
            await conn.copy_records_to_table("visits", records=rows[i:i + 10_000],
                                             columns=["clinic_id", "visit_id", "iin", "date", "kind", "practitioner_id"])
        elapsed = time.perf_counter() - started
    finally:
        await conn.close()
        await server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await server.close()
    return {"rows": n, "copy_rows_per_s": n / elapsed}


async def main() -> None:
    from services.common.settings import get_settings

    s = get_settings()
    print(await kafka_produce_consume(s, 100_000))
    print(await pg_copy(s, 200_000))


if __name__ == "__main__":
    asyncio.run(main())
