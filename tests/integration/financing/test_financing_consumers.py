"""The financing consumer against the real servers: an instance killed in the middle of a batch and a
new one resuming, and two instances sharing the partitions, both end with the exact figures."""
from __future__ import annotations

import asyncio
import random
from datetime import date, timedelta
from pathlib import Path

import asyncpg
import pytest

from services.common.consumer import BatchConsumer
from services.common.db import create_pool, prepare_database
from services.common.settings import Settings
from services.financing import store
from services.financing.consumer import TOPICS
from tests.support import financing_oracle as oracle
from tests.support.financing_events import publish, random_population
from tests.support.inproc import eventually
from tests.support.people import clinic_id, iins

MIGRATIONS = Path(store.__file__).parent / "migrations"
DATES = [date(2025, 1, 1) + timedelta(days=k) for k in range(0, 1100, 91)]


async def fresh_projection(settings: Settings, name: str) -> tuple[Settings, asyncpg.Pool]:
    """A financing database of its own (still under this run's prefix, so it is dropped afterwards)."""
    own = settings.model_copy(update={"db_prefix": f"{settings.db_prefix}{name}_"})
    await prepare_database(own, "financing", MIGRATIONS)
    return own, await create_pool(own, "financing")


async def run(consumer: BatchConsumer) -> asyncio.Task:
    return asyncio.create_task(consumer.run())


async def stop(*tasks: asyncio.Task) -> None:
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def caught_up(consumer: BatchConsumer) -> None:
    async def done():
        try:
            return sum(p["lag"] for p in await consumer.lag()) == 0
        except RuntimeError:
            return False
    await eventually(done, timeout=40, interval=0.2)


async def assert_figures_exact(pool: asyncpg.Pool, clinics: list[str], events) -> None:
    async with pool.acquire() as conn:
        for clinic in clinics:
            found = await store.clinic(conn, clinic)
            for on in DATES:
                (f,) = await store.figures(conn, [found], on)
                want = oracle.figures(events, clinic, on)
                assert (f.attached, f.active, f.insured, f.cells) == \
                       (want.attached, want.active, want.insured, want.cells), (clinic, on)


@pytest.fixture
async def population():
    clinics = [clinic_id() for _ in range(3)]
    events = random_population(random.Random(), iins(500), clinics)
    await publish(events, duplicate_every=3)
    return clinics, events


async def test_an_instance_killed_mid_batch_is_resumed_by_a_new_one_exactly(settings, population):
    clinics, events = population
    own, pool = await fresh_projection(settings, "restart")
    batches = 0
    dying = asyncio.Event()

    async def apply_then_die(conn, batch):
        nonlocal batches
        batches += 1
        if batches == 4:
            await store.apply_events(conn, batch[: len(batch) // 2])   # half of the batch is written...
            dying.set()
            await asyncio.Event().wait()                               # ...when the process is killed
        await store.apply_events(conn, batch)

    try:
        first = BatchConsumer(own, pool, group="financing", topics=TOPICS, apply=apply_then_die, max_records=150)
        task = await run(first)
        await asyncio.wait_for(dying.wait(), timeout=30)
        await stop(task)
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT sum(next_offset) FROM consumer_offsets") > 0   # some batches committed
        second = BatchConsumer(own, pool, group="financing", topics=TOPICS, apply=store.apply_events, max_records=150)
        task = await run(second)
        await caught_up(second)
        await stop(task)
        await assert_figures_exact(pool, clinics, events)
    finally:
        await pool.close()


async def test_two_instances_in_one_group_share_the_partitions_and_give_the_figures_of_one(settings, population):
    clinics, events = population
    own, pool = await fresh_projection(settings, "twins")
    try:
        twins = [BatchConsumer(own, pool, group="financing", topics=TOPICS, apply=store.apply_events, max_records=100)
                 for _ in range(2)]
        tasks = [await run(t) for t in twins]

        async def both_assigned():
            return all(t.consumer is not None and t.consumer.assignment() and t._positions for t in twins)
        await eventually(both_assigned, timeout=30, interval=0.2)
        # More events while both run: the partitions of one person's topics may sit on different instances.
        more_clinics = [clinic_id() for _ in range(2)]
        more = random_population(random.Random(), iins(300), more_clinics)
        await publish(more, duplicate_every=5)
        await caught_up(twins[0])
        owned = [{(tp.topic, tp.partition) for tp in t.consumer.assignment()} for t in twins]
        assert owned[0] and owned[1] and not owned[0] & owned[1]
        await stop(*tasks)
        await assert_figures_exact(pool, clinics, events)
        await assert_figures_exact(pool, more_clinics, more)
    finally:
        await pool.close()
