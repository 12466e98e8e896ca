"""What the relay puts on the wire besides the value (CloudEvents binary-mode headers, the event's
occurred_at as the record's timestamp) and how old its outbox is, against the real PostgreSQL and Kafka."""
from __future__ import annotations

import asyncio
import uuid
from datetime import date, datetime, timedelta, timezone

import orjson
import pytest

from services.common.events import VisitRecorded, new_event
from services.common.outbox import OLDEST_AGE, PACK_FROM, OutboxRelay, add_events
from services.common.settings import Settings
from tests.support import scratch_schema
from tests.support.inproc import eventually
from tests.support.kafka import read_topic
from tests.support.people import iin

SCRATCH = "platform_obs"


@pytest.fixture(scope="module")
async def scratch(settings: Settings):
    pool = await scratch_schema.scratch_pool(settings, SCRATCH, scratch_schema.OUTBOX + scratch_schema.OUTBOX_PACKING
                                             + scratch_schema.OUTBOX_TRACEPARENT, max_size=4)
    yield pool
    await pool.close()


def visits(prefix: str, n: int, occurred: datetime):
    out = []
    for i in range(n):
        person = iin()
        out.append(new_event("visit-recorded", VisitRecorded(clinic_id="C-OBS", visit_id=f"{prefix}-{i}", iin=person,
                                                             date=date(2026, 3, 1), kind="x"),
                             producer="registry", key=person, occurred_at=occurred))
    return out


async def test_every_message_carries_cloudevents_headers_and_its_occurrence_as_timestamp(scratch, settings):
    run = uuid.uuid4().hex[:6]
    occurred = datetime.now(timezone.utc) - timedelta(seconds=2)
    single = visits(f"ce-one-{run}", 2, occurred)                 # a row each
    packed = visits(f"ce-packed-{run}", PACK_FROM, occurred)      # one packed row
    async with scratch.acquire() as conn, conn.transaction():
        await add_events(conn, single)
    async with scratch.acquire() as conn, conn.transaction():
        await add_events(conn, packed)
    relay = OutboxRelay(settings, settings.database_dsn(SCRATCH), "registry")
    task = asyncio.create_task(relay.run())
    try:
        async def published():
            mine = [e for e in await read_topic("visit-recorded")
                    if e["value"]["data"]["visit_id"].startswith("ce-") and run in e["value"]["data"]["visit_id"]]
            return mine if len(mine) == len(single) + len(packed) else None
        mine = await eventually(published, timeout=30)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await relay.close()
    sent = {str(e.event_id): e for e in single + packed}
    for message in mine:
        h, value = message["headers"], message["value"]
        assert h["ce_specversion"] == b"1.0"
        assert h["ce_id"] == h["event_id"] == value["event_id"].encode()
        assert h["ce_type"] == b"kz.osms.visit-recorded"
        assert h["ce_source"] == b"/osms/registry"
        assert h["ce_time"] == value["occurred_at"].encode() == occurred.isoformat().encode()
        assert message["timestamp"] == int(occurred.timestamp() * 1000)
        assert value == orjson.loads(sent[value["event_id"]].payload)   # the value unchanged


async def test_the_outbox_s_oldest_row_age_grows_while_kafka_is_away(scratch, settings):
    async with scratch.acquire() as conn:
        await conn.execute("DELETE FROM outbox")
        await conn.execute("""INSERT INTO outbox (topic, key, event_id, payload, created_at)
                              VALUES ('visit-recorded', 'k', gen_random_uuid(), '{}', now() - interval '90 seconds')""")
    away = settings.model_copy(update={"kafka_bootstrap": "127.0.0.1:1"})   # nothing listens there
    relay = OutboxRelay(away, settings.database_dsn(SCRATCH), "registry")
    relay.age_check_seconds = 0.1
    task = asyncio.create_task(relay.run())
    try:
        await eventually(lambda: _true(OLDEST_AGE._value.get() >= 90), timeout=10)
        async with scratch.acquire() as conn:
            await conn.execute("DELETE FROM outbox")
        await eventually(lambda: _true(OLDEST_AGE._value.get() == 0), timeout=10)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await relay.close()


async def _true(value: bool) -> bool:
    return value
