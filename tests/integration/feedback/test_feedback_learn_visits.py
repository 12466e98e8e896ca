"""Feedback stores each visit it learns once: a batch is copied in, and a batch holding a visit already
known (the relay delivers at least once) or the same visit twice is stored without them, within the
consumer's transaction, which goes on to store its offsets."""
from __future__ import annotations

import uuid

import pytest

from services.common.consumer import Event
from services.feedback import store
from services.feedback.app import app
from tests.support import people
from tests.support.inproc import running


@pytest.fixture(scope="module")
async def pool():
    async with running(app):
        yield app.state.ctx.pool


def batch(*visits: tuple[str, str, str]) -> list[Event]:
    return [Event("visit-recorded", 0, offset, None, v) for offset, v in enumerate(visits)]


async def held(conn, clinic: str) -> list[tuple[str, str]]:
    rows = await conn.fetch("SELECT visit_id, iin FROM recorded_visits WHERE clinic_id = $1 ORDER BY visit_id", clinic)
    return [(r["visit_id"], r["iin"]) for r in rows]


async def test_a_batch_of_new_visits_is_stored(pool):
    clinic, (a, b) = people.clinic_id(), people.iins(2)
    async with pool.acquire() as conn:
        async with conn.transaction():
            await store.learn_visits(conn, batch((clinic, "v-1", a), (clinic, "v-2", b)))
        assert await held(conn, clinic) == [("v-1", a), ("v-2", b)]


async def test_visits_known_or_repeated_are_stored_once_and_the_first_event_stands(pool):
    clinic, (a, b, c, other) = people.clinic_id(), people.iins(4)
    first = f"v-{uuid.uuid4().hex[:6]}"
    async with pool.acquire() as conn:
        async with conn.transaction():
            await store.learn_visits(conn, batch((clinic, first, a)))
        async with conn.transaction():
            # Known already (claimed for another person this time), new, new twice in the same batch.
            await store.learn_visits(conn, batch((clinic, "v-new", b), (clinic, first, other),
                                                 (clinic, "v-twice", c), (clinic, "v-twice", c)))
            # The batch's transaction is still usable: the consumer stores its offsets in it next.
            assert await conn.fetchval("SELECT count(*) FROM recorded_visits WHERE clinic_id = $1", clinic) == 3
        assert await held(conn, clinic) == sorted([(first, a), ("v-new", b), ("v-twice", c)])
        # The same batch again (a replay) changes nothing.
        async with conn.transaction():
            await store.learn_visits(conn, batch((clinic, "v-new", b), (clinic, "v-twice", c)))
        assert await held(conn, clinic) == sorted([(first, a), ("v-new", b), ("v-twice", c)])
