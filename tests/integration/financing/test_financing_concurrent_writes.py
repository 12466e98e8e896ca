"""Two transactions applying events about the same person at once, against the real PostgreSQL: the
consumer reads histories without locking them, so a history another instance wrote meanwhile must
make the batch fail (ChangedMeanwhile, which the consumer retries) rather than be overwritten; the
retried batch then gives the figures of applying both."""
from __future__ import annotations

import asyncio
import itertools
from datetime import date

import pytest

from services.common.consumer import ChangedMeanwhile, Event
from services.financing import store
from tests.integration.financing.test_financing_consumers import fresh_projection
from tests.support import financing_oracle as oracle
from tests.support.financing_events import attached, paid, upheld, visit
from tests.support.people import clinic_id, iins

ON = date(2026, 6, 15)


def batch(*events) -> list[Event]:
    return [Event("t", 0, i, None, e) for i, e in enumerate(events)]


async def figures(pool, clinic: str, on: date = ON):
    async with pool.acquire() as conn:
        (f,) = await store.figures(conn, [await store.clinic(conn, clinic)], on)
    return f.attached, f.active, f.insured, f.cells


def expected(events, clinic: str, on: date = ON):
    want = oracle.figures(events, clinic, on)
    return want.attached, want.active, want.insured, want.cells


async def apply(pool, events) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await store.apply_events(conn, batch(*events))


async def attached_person(pool):
    """A person attached to a clinic (applied), the status another instance applies, and the visit this
    batch applies: (clinic, first, other, mine)."""
    (iin,), clinic = iins(1), clinic_id()
    first = [attached(iin, clinic, date(2026, 1, 1), 1)]
    await apply(pool, first)
    return (clinic, first, [paid(iin, 1, [(date(2026, 1, 1), date(2026, 12, 31))])],
            [visit(iin, clinic, "v1", date(2026, 5, 1))])


_names = itertools.count()


@pytest.fixture
async def projection(settings):
    own, pool = await fresh_projection(settings, f"concurrent{next(_names)}")
    yield pool
    await pool.close()


async def test_a_history_written_between_read_and_write_fails_the_batch_and_the_retry_counts_both(
        projection, monkeypatch):
    pool = projection
    clinic, first, other, mine = await attached_person(pool)
    read = store._read_persons

    async def read_then_another_instance_writes(conn, wanted):
        held = await read(conn, wanted)
        monkeypatch.setattr(store, "_read_persons", read)        # the other instance reads as usual
        await apply(pool, other)                                 # commits before this batch writes
        return held

    monkeypatch.setattr(store, "_read_persons", read_then_another_instance_writes)
    with pytest.raises(ChangedMeanwhile):
        await apply(pool, mine)
    assert await figures(pool, clinic) == expected(first + other, clinic)   # the failed batch left nothing

    await apply(pool, mine)                                     # the consumer's retry
    assert await figures(pool, clinic) == expected(first + other + mine, clinic)
    assert (await figures(pool, clinic))[1:3] == (1, 1)          # the visit and the cover, both counted


async def test_a_writer_still_open_when_the_batch_writes_is_waited_for_and_fails_the_batch(projection):
    pool = projection
    clinic, first, other, mine = await attached_person(pool)
    async with pool.acquire() as writer:
        open_tx = writer.transaction()
        await open_tx.start()
        await store.apply_events(writer, batch(*other))        # written, not yet committed

        task = asyncio.create_task(apply(pool, mine))
        async with pool.acquire() as watcher:                   # this batch waits for the writer's row lock
            # Only waits of this database's sessions: the server is shared with other runs.
            deadline = asyncio.get_running_loop().time() + 30
            while not await watcher.fetchval(
                    "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                    "WHERE NOT l.granted AND a.datname = current_database()"):
                if asyncio.get_running_loop().time() > deadline:
                    pytest.fail("the batch never waited for the open writer")
                await asyncio.sleep(0.02)
        await open_tx.commit()
        with pytest.raises(ChangedMeanwhile):
            await task
    assert await figures(pool, clinic) == expected(first + other, clinic)

    await apply(pool, mine)
    assert await figures(pool, clinic) == expected(first + other + mine, clinic)


async def test_visit_ids_with_any_printable_characters_are_kept_as_sent_and_found_by_their_void(projection):
    """fin_visits' columns travel as array literals: quotes, backslashes, braces, commas, spaces, the
    word NULL and letters beyond ASCII are stored as sent, a repeat counts once, and a void names them."""
    odd = ['q"uote', "back\\slash", "{brace}", "a,b", " spaced ", "NULL", "Дәрігер №5", "\\\"", "x" * 64]
    people, clinic = iins(len(odd)), 'KZ-"odd", {1}\\'
    events = [attached(p, clinic, date(2026, 1, 1), 1) for p in people]
    events += [visit(p, clinic, name, date(2026, 5, 1)) for p, name in zip(people, odd)]
    await apply(projection, events)
    await apply(projection, [visit(p, clinic, name, date(2026, 5, 1)) for p, name in zip(people, odd)])
    async with projection.acquire() as conn:
        stored = {(r[0], r[1], r[2], r[3]) for r in await conn.fetch(
            "SELECT clinic_id, visit_id, iin, day FROM fin_visits WHERE clinic_id = $1", clinic)}
    assert stored == {(clinic, name, p, date(2026, 5, 1)) for p, name in zip(people, odd)}
    assert await figures(projection, clinic) == expected(events, clinic)
    assert (await figures(projection, clinic))[1] == len(odd)      # each active once, not twice
    voids = [upheld(clinic, name, appeal_id=f"AP-{i}") for i, name in enumerate(odd[:4])]
    await apply(projection, voids)
    assert await figures(projection, clinic) == expected(events + voids, clinic)
    assert (await figures(projection, clinic))[1] == len(odd) - 4
