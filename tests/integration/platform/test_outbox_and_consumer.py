"""The outbox relay and the idempotent batch consumer, against the real PostgreSQL and Kafka."""
from __future__ import annotations

import asyncio
from datetime import date

import asyncpg
import pytest
from prometheus_client import REGISTRY

from services.common.consumer import BatchConsumer, ChangedMeanwhile, Event
from services.common.events import VisitRecorded, new_event
from services.common.outbox import OutboxRelay, add_events, make_producer
from services.common.settings import Settings
from services.common.settings import get_settings
from tests.support import scratch_schema
from tests.support.inproc import eventually
from tests.support.kafka import read_topic
from tests.support.people import iin

SCRATCH = "platform"


@pytest.fixture(scope="module")
async def scratch(settings: Settings):
    """A database of the shape every service has: outbox, consumer offsets, and an applied-log table."""
    pool = await scratch_schema.scratch_pool(settings, SCRATCH, scratch_schema.OUTBOX + scratch_schema.OUTBOX_PACKING
                                             + scratch_schema.OUTBOX_TRACEPARENT + scratch_schema.CONSUMER + """
        CREATE TABLE applied (event_id uuid NOT NULL, visit_id text NOT NULL, consumer text NOT NULL,
                              partition int NOT NULL, "offset" bigint NOT NULL);
    """)
    yield pool
    await pool.close()


def visit_event(visit_id: str):
    person = iin()
    return new_event("visit-recorded",
                     VisitRecorded(clinic_id="C-PLAT", visit_id=visit_id, iin=person, date=date(2026, 3, 1), kind="x"),
                     producer="test", key=person)


async def test_relay_never_skips_a_row_whose_transaction_commits_late(scratch, settings):
    relay = OutboxRelay(settings, settings.database_dsn(SCRATCH))
    relay_task = None
    early = await scratch.acquire()
    try:
        tx = early.transaction()
        await tx.start()
        # The early transaction takes its id first but commits last.
        await add_events(early, [visit_event("late-commit")])
        async with scratch.acquire() as conn, conn.transaction():
            await add_events(conn, [visit_event("early-commit")])
        relay_task = asyncio.create_task(relay.run())
        await asyncio.sleep(1.5)
        published = [e["value"]["data"]["visit_id"] for e in await read_topic("visit-recorded")]
        # Nothing behind the open transaction may go out yet, or its row would later be skipped.
        assert "early-commit" not in published and "late-commit" not in published
        await tx.commit()
    finally:
        await scratch.release(early)

    async def both_published():
        ids = [e["value"]["data"]["visit_id"] for e in await read_topic("visit-recorded")]
        return ids if {"early-commit", "late-commit"} <= set(ids) else None

    await eventually(both_published)

    async def outbox_emptied():
        async with scratch.acquire() as conn:
            return await conn.fetchval("SELECT count(*) FROM outbox") == 0

    await eventually(outbox_emptied)
    relay_task.cancel()
    await asyncio.gather(relay_task, return_exceptions=True)
    await relay.close()


async def test_relay_publishes_an_outbox_longer_than_its_batch_each_row_once(scratch, settings):
    """Batches of 3 from 14 rows in three transactions, one still open while the first batches go: each
    batch deletes only what it published (the range of rows up to the last one it read)."""
    relay = OutboxRelay(settings.model_copy(update={"relay_batch": 3}), settings.database_dsn(SCRATCH))
    async with scratch.acquire() as conn, conn.transaction():
        await add_events(conn, [visit_event(f"batched-a{i}") for i in range(5)])
    late = await scratch.acquire()
    relay_task = asyncio.create_task(relay.run())
    try:
        tx = late.transaction()
        await tx.start()
        await add_events(late, [visit_event(f"batched-c{i}") for i in range(2)])
        async with scratch.acquire() as conn, conn.transaction():
            await add_events(conn, [visit_event(f"batched-b{i}") for i in range(7)])
        await asyncio.sleep(1.0)
        await tx.commit()
    finally:
        await scratch.release(late)
    expected = sorted([f"batched-a{i}" for i in range(5)] + [f"batched-b{i}" for i in range(7)]
                      + [f"batched-c{i}" for i in range(2)])

    async def all_published():
        async with scratch.acquire() as conn:
            if await conn.fetchval("SELECT count(*) FROM outbox") != 0:
                return None
        ids = sorted(e["value"]["data"]["visit_id"] for e in await read_topic("visit-recorded"))
        return [i for i in ids if i.startswith("batched-")] == expected or None

    try:
        await eventually(all_published)
    finally:
        relay_task.cancel()
        await asyncio.gather(relay_task, return_exceptions=True)
        await relay.close()
    ids = [e["value"]["data"]["visit_id"] for e in await read_topic("visit-recorded")]
    assert sorted(i for i in ids if i.startswith("batched-")) == expected    # each once


async def test_relay_puts_a_key_s_events_in_one_partition_in_order_where_a_plain_send_would(scratch, settings):
    """The relay sends batches per partition: each key must still land where the producer's own
    send() puts it (events published before and after stay in one partition) and in outbox order."""
    from aiokafka import AIOKafkaProducer

    prefix = "order"
    keys = [iin() for _ in range(8)]
    async with scratch.acquire() as conn, conn.transaction():
        events = []
        for i in range(240):
            key = keys[i % len(keys)]
            events.append(new_event("visit-recorded", VisitRecorded(
                clinic_id="C-PLAT", visit_id=f"{prefix}-{i:04d}", iin=key, date=date(2026, 3, 1), kind="x"),
                producer="test", key=key))
        await add_events(conn, events)
    relay = OutboxRelay(settings, settings.database_dsn(SCRATCH))
    task = asyncio.create_task(relay.run())
    try:
        async def published():
            mine = [e for e in await read_topic("visit-recorded")
                    if e["value"]["data"]["visit_id"].startswith(prefix + "-")]
            return mine if len({e["value"]["data"]["visit_id"] for e in mine}) == 240 else None

        mine = await eventually(published, timeout=30)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await relay.close()
    plain = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, enable_idempotence=True)
    await plain.start()
    try:
        where = {k: (await plain.send_and_wait(settings.topic("visit-recorded"), b"{}", key=k.encode())).partition
                 for k in keys}
    finally:
        await plain.stop()
    for key in keys:
        of_key = sorted((e for e in mine if e["key"] == key), key=lambda e: (e["partition"], e["offset"]))
        assert {e["partition"] for e in of_key} == {where[key]}
        ids = [e["value"]["data"]["visit_id"] for e in of_key]
        assert ids == sorted(ids) and len(set(ids)) == 30
        assert all(e["headers"]["event_type"] == b"visit-recorded" for e in of_key)
        assert all(e["headers"]["event_id"] == e["value"]["event_id"].encode() for e in of_key)
    assert len({where[k] for k in keys}) > 1      # the keys spread over partitions: the check has teeth


async def test_a_batch_counts_a_packed_row_s_events_and_ends_with_the_row_that_fills_it(scratch, settings):
    """Calls of PACK_FROM (50) events and more are one row each; the relay counts their events toward
    relay_batch, sends such a row whole, and deletes exactly what it sent."""
    prefix, sizes = "packed", [2, 60, 2, 55]
    async with scratch.acquire() as conn:
        await conn.execute("DELETE FROM outbox")
    n = 0
    for size in sizes:
        async with scratch.acquire() as conn, conn.transaction():
            await add_events(conn, [visit_event(f"{prefix}-{n + i:03d}") for i in range(size)])
        n += size
    dsn = settings.database_dsn(SCRATCH)
    relay = OutboxRelay(settings.model_copy(update={"relay_batch": 50}), dsn)
    relay.producer = make_producer(settings)
    await relay.producer.start()
    conn = await asyncpg.connect(dsn)
    try:
        assert [r[0] for r in await conn.fetch("SELECT events FROM outbox ORDER BY id")] == [None, None, 60,
                                                                                              None, None, 55]
        # The relay reads below the snapshot's xmin: a transaction open elsewhere on the server (another
        # run's) holds it back, so wait until all six rows are below it.
        async def all_visible():
            return await conn.fetchval("SELECT count(*) FROM outbox WHERE txid < pg_snapshot_xmin(pg_current_snapshot())") == 6

        await eventually(all_visible, timeout=30)
        # 2 rows (2 events) are under 50, so the packed row goes too: 62; then 2 + 55.
        assert [await relay.publish_once(conn) for _ in range(3)] == [62, 57, 0]
        assert await conn.fetchval("SELECT count(*) FROM outbox") == 0
    finally:
        await conn.close()
        await relay.close()
    ids = [e["value"]["data"]["visit_id"] for e in await read_topic("visit-recorded")]
    assert sorted(i for i in ids if i.startswith(prefix + "-")) == [f"{prefix}-{i:03d}" for i in range(n)]


async def _produce_visits(scratch, settings, prefix: str, n: int) -> None:
    async with scratch.acquire() as conn, conn.transaction():
        await add_events(conn, [visit_event(f"{prefix}-{i}") for i in range(n)])
    relay = OutboxRelay(settings, settings.database_dsn(SCRATCH))
    task = asyncio.create_task(relay.run())

    async def drained():
        async with scratch.acquire() as conn:
            return await conn.fetchval("SELECT count(*) FROM outbox") == 0

    await eventually(drained, timeout=30)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await relay.close()


def _recording_apply(name: str, prefix: str, crash_on: set[str] | None = None):
    """A projection that appends a row per message applied (so a double apply would show) and can crash once."""
    crash_on = set(crash_on or ())

    async def apply(conn: asyncpg.Connection, events: list[Event]) -> None:
        mine = [e for e in events if e.data.visit_id.startswith(prefix + "-")]
        await conn.executemany(
            'INSERT INTO applied (event_id, visit_id, consumer, partition, "offset") VALUES ($1, $2, $3, $4, $5)',
            [(e.envelope.event_id, e.data.visit_id, name, e.partition, e.offset) for e in mine])
        hit = crash_on & {e.data.visit_id for e in mine}
        if hit:
            crash_on.clear()
            raise RuntimeError(f"simulated crash in the middle of a batch at {hit}")

    return apply


async def _counts(scratch, prefix) -> tuple[int, int]:
    """(messages applied more than once, distinct events applied). The relay publishes at least once,
    so an event may sit on the topic twice after a relay retry (the projections key on natural ids);
    what the consumer must never do is apply one message twice, or lose an event."""
    async with scratch.acquire() as conn:
        row = await conn.fetchrow(
            """SELECT count(*) - count(DISTINCT (partition, "offset")) AS twice, count(DISTINCT visit_id) AS events
               FROM applied WHERE visit_id LIKE $1""", prefix + "-%")
    return row["twice"], row["events"]


async def _all_applied(scratch, prefix, n: int, timeout: float) -> tuple[int, int]:
    """Waits until `n` distinct events of `prefix` are applied; returns _counts then."""
    async def check():
        twice, events = await _counts(scratch, prefix)
        return (twice, events) if events == n else None

    return await eventually(check, timeout=timeout)


async def test_consumer_crash_mid_batch_and_restart_applies_each_event_once(scratch, settings):
    prefix = "crash"
    await _produce_visits(scratch, settings, prefix, 3000)
    group = f"g-{prefix}"
    first = BatchConsumer(settings, scratch, group=group, topics=["visit-recorded"],
                          apply=_recording_apply("first", prefix, crash_on={f"{prefix}-1500"}), max_records=700)
    task = asyncio.create_task(first.run())

    async def some_applied():
        _, events = await _counts(scratch, prefix)
        return events >= 1000

    await eventually(some_applied, timeout=30)
    task.cancel()  # the process dies: whatever batch was in flight is rolled back
    await asyncio.gather(task, return_exceptions=True)

    second = BatchConsumer(settings, scratch, group=group, topics=["visit-recorded"],
                           apply=_recording_apply("second", prefix))
    task = asyncio.create_task(second.run())

    twice, events = await _all_applied(scratch, prefix, 3000, timeout=30)
    assert twice == 0

    async def caught_up():
        if second.consumer is None:
            return None       # the restarted first may have applied everything before this one joined
        return sum(p["lag"] for p in await second.lag()) == 0

    await eventually(caught_up, timeout=30)
    assert await _counts(scratch, prefix) == (0, 3000)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


class _PoolDownAtFirst:
    """The service's pool, with the database unreachable for the first `failures` acquisitions."""

    def __init__(self, pool: asyncpg.Pool, failures: int):
        self.pool, self.failures = pool, failures

    def acquire(self):
        if self.failures:
            self.failures -= 1
            raise ConnectionRefusedError(111, "Connection refused")
        return self.pool.acquire()


async def test_the_database_down_when_partitions_are_assigned_delays_but_loses_nothing(scratch, settings):
    """The stored offsets cannot be read when the group hands this instance its partitions (the
    database is down then): once it is back, every event is applied, once."""
    prefix = "down"
    await _produce_visits(scratch, settings, prefix, 500)
    consumer = BatchConsumer(settings, _PoolDownAtFirst(scratch, failures=1), group=f"g-{prefix}",
                             topics=["visit-recorded"], apply=_recording_apply("c", prefix), max_records=100)
    task = asyncio.create_task(consumer.run())

    assert await _all_applied(scratch, prefix, 500, timeout=30) == (0, 500)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_a_batch_that_finds_its_rows_changed_meanwhile_is_applied_again_in_place(scratch, settings):
    """A projection that reads without locking raises ChangedMeanwhile when another transaction
    changed what it read: the batch's writes are rolled back and the batch is applied again by the same
    client (no restart, no rejoin), each event once."""
    prefix = "meanwhile"
    await _produce_visits(scratch, settings, prefix, 500)
    record = _recording_apply("c", prefix)
    conflicts = []

    async def apply(conn, events):
        await record(conn, events)               # written, then found stale: must not stay
        if not conflicts:
            conflicts.append(consumer.consumer)
            raise ChangedMeanwhile("a row changed since it was read")

    consumer = BatchConsumer(settings, scratch, group=f"g-{prefix}", topics=["visit-recorded"], apply=apply,
                             max_records=100)
    task = asyncio.create_task(consumer.run())
    assert await _all_applied(scratch, prefix, 500, timeout=30) == (0, 500)
    assert conflicts and conflicts[0] is not None and consumer.consumer is conflicts[0]
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_a_consumer_stuck_in_a_batch_is_restarted_and_loses_nothing(scratch, settings):
    """A call that never returns (a hung connection, a lost wakeup) stops the consumer with events
    waiting: the watchdog restarts it, the stuck batch is rolled back, and every event applies once."""
    from services.common.consumer import STALLED

    prefix = "stuck"
    await _produce_visits(scratch, settings, prefix, 500)
    recording = _recording_apply("c", prefix)
    hung = asyncio.Event()

    async def apply_hanging_once(conn, events):
        await recording(conn, events)
        if not hung.is_set() and any(e.data.visit_id.startswith(prefix + "-") for e in events):
            hung.set()
            await asyncio.Event().wait()      # never returns

    stalls = STALLED._value.get()
    consumer = BatchConsumer(settings.model_copy(update={"consumer_stall_seconds": 3.0}), scratch,
                             group=f"g-{prefix}", topics=["visit-recorded"], apply=apply_hanging_once, max_records=100)
    task = asyncio.create_task(consumer.run())

    try:
        assert await _all_applied(scratch, prefix, 500, timeout=40) == (0, 500)
        assert hung.is_set() and STALLED._value.get() == stalls + 1
    finally:
        task.cancel()       # also releases the connection of a batch still hanging
        await asyncio.gather(task, return_exceptions=True)


async def test_a_client_whose_stop_fails_leaves_its_partitions_to_the_other_instance(settings):
    """aiokafka's stop() can fail part way (it first awaits the group coordination task); the client
    must not stay in the group holding partitions that nobody fetches."""
    from aiokafka import AIOKafkaConsumer

    from services.common.consumer import close_consumer

    topic = settings.topic("visit-recorded")

    def client() -> AIOKafkaConsumer:
        return AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=settings.group("g-stopfail"),
                                enable_auto_commit=False, session_timeout_ms=6000, heartbeat_interval_ms=1000)

    first, second = client(), client()
    try:
        await first.start()
        first.subscribe([topic])
        await second.start()
        second.subscribe([topic])

        def owning(*clients):
            async def check():
                for c in clients:
                    await c.getmany(timeout_ms=100)
                return all(c.assignment() for c in clients)
            return check

        await eventually(owning(first, second), timeout=30)      # the partitions are split between them

        async def stop_fails():
            raise RuntimeError("stop failed part way")

        first.stop = stop_fails
        await close_consumer(first, "g-stopfail")

        async def second_owns_all():
            await second.getmany(timeout_ms=100)
            return len(second.assignment()) == get_settings().topic_partitions

        await eventually(second_owns_all, timeout=40)
    finally:
        await second.stop()


async def test_messages_from_before_the_stored_offset_are_not_applied_again(scratch, settings):
    """Whatever the Kafka client hands back from before this instance's position (say, records it
    fetched before a seek) was applied already: it is skipped, and the rest applies once."""
    from types import SimpleNamespace

    from aiokafka import TopicPartition

    prefix = "behind"
    group = f"g-{prefix}"
    consumer = BatchConsumer(settings, scratch, group=group, topics=["visit-recorded"],
                             apply=_recording_apply("c", prefix))
    tp = TopicPartition(settings.topic("visit-recorded"), 0)
    async with scratch.acquire() as conn:
        await conn.execute("""INSERT INTO consumer_offsets (group_id, topic, partition, next_offset)
                              VALUES ($1, 'visit-recorded', 0, 2)""", consumer.group_id)
    consumer._positions[tp] = 2      # as _seek_to_stored leaves it
    messages = [SimpleNamespace(offset=i, key=b"k", value=visit_event(f"{prefix}-{i}").payload, timestamp=0)
                for i in range(5)]
    batches, applied_messages = _batch_metric("count"), _batch_metric("sum")
    await consumer.apply_batch({tp: messages})
    # one batch of the 3 messages it applied, in the metric of how full batches are
    assert (_batch_metric("count") - batches, _batch_metric("sum") - applied_messages) == (1, 3)
    async with scratch.acquire() as conn:
        applied = sorted(r["visit_id"] for r in await conn.fetch(
            "SELECT visit_id FROM applied WHERE visit_id LIKE $1", prefix + "-%"))
        stored = await conn.fetchval("SELECT next_offset FROM consumer_offsets WHERE group_id = $1", consumer.group_id)
    assert applied == [f"{prefix}-2", f"{prefix}-3", f"{prefix}-4"]
    assert stored == 5 and consumer._positions[tp] == 5


def _batch_metric(which: str) -> float:
    return REGISTRY.get_sample_value(f"osms_consumer_batch_events_{which}") or 0.0


async def test_two_instances_share_partitions_and_apply_each_event_once(scratch, settings):
    prefix = "pair"
    group = f"g-{prefix}"
    consumers = [BatchConsumer(settings, scratch, group=group, topics=["visit-recorded"],
                               apply=_recording_apply(name, prefix), max_records=300) for name in ("a", "b")]
    tasks = [asyncio.create_task(c.run()) for c in consumers]
    await asyncio.sleep(3)  # both joined: the partitions are split between them
    await _produce_visits(scratch, settings, prefix, 2000)

    await _all_applied(scratch, prefix, 2000, timeout=40)
    await asyncio.sleep(1)
    assert await _counts(scratch, prefix) == (0, 2000)
    async with scratch.acquire() as conn:
        by_consumer = dict(await conn.fetch(
            "SELECT consumer, count(*) FROM applied WHERE visit_id LIKE $1 GROUP BY consumer", prefix + "-%"))
    assert set(by_consumer) == {"a", "b"}, by_consumer
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def test_malformed_event_is_set_aside_not_lost_and_does_not_block(scratch, settings):
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, enable_idempotence=True)
    await producer.start()
    await producer.send_and_wait(settings.topic("visit-recorded"), b"{not json", key=b"x")
    await producer.stop()
    prefix = "afterbad"
    await _produce_visits(scratch, settings, prefix, 10)
    consumer = BatchConsumer(settings, scratch, group="g-dead", topics=["visit-recorded"],
                             apply=_recording_apply("d", prefix))
    task = asyncio.create_task(consumer.run())

    async def done():
        _, distinct = await _counts(scratch, prefix)
        return distinct == 10

    await eventually(done, timeout=30)
    async with scratch.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM dead_letters WHERE value = $1", b"{not json") == 1
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
