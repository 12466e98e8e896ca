"""The checkpoints behind region-wide answers, against the real PostgreSQL: the counts of any date and
the month's amounts read through them equal a brute-force reference, before and after late events that
change the past (backdated visits, moves and insured timelines), a new capitation version and a changed
settlement; a checkpoint is never figured while a batch is in flight (it waits, then counts the batch)."""
from __future__ import annotations

import asyncio
import itertools
import random
from datetime import date, timedelta

import pytest

from services.financing import checkpoints, domain, store
from services.financing.rules import capitation_on
from tests.integration.financing.test_financing_concurrent_writes import apply, batch
from tests.integration.financing.test_financing_consumers import fresh_projection
from tests.support import financing_oracle as oracle
from tests.support.financing_events import attached, paid, random_population, visit
from tests.support.financing_rules import capitation_values, snapshot
from tests.support.people import clinic_id, iins

DATES = [date(2025, 1, 1) + timedelta(days=k) for k in range(0, 900, 47)]
SNAP = snapshot((date(2020, 1, 1), capitation_values()))
RULES = capitation_on(SNAP, date(2026, 1, 1))


_names = itertools.count()


@pytest.fixture
async def projection(settings):
    own, pool = await fresh_projection(settings, f"checkpoints{next(_names)}")
    yield pool
    await pool.close()


async def _region(pool, clinics: list[str]) -> list:
    async with pool.acquire() as conn:
        return [await store.clinic(conn, c) for c in clinics]


async def _check(pool, found: list, events: list) -> None:
    """Counts on every date and amounts of every month equal the reference's, clinic by clinic."""
    async with pool.acquire() as conn:
        for on in DATES:
            got = {f.clinic_id: (f.attached, f.active, f.insured) for f in await checkpoints.counts_on(conn, found, on)}
            want = {c["clinic_id"]: oracle.figures(events, c["clinic_id"], on) for c in found}
            assert got == {c: (w.attached, w.active, w.insured) for c, w in want.items()}, on
            amounts = await checkpoints.amounts_of(conn, found, on.replace(day=1), RULES)
            for c in found:
                assert amounts[c["clinic_no"]] == domain.monthly_amount(
                    RULES.values, c["settlement"], want[c["clinic_id"]].cells), (on, c["clinic_id"])


async def test_region_answers_through_checkpoints_stay_exact_after_late_events(projection):
    pool = projection
    rng = random.Random()
    clinics = [clinic_id() for _ in range(3)]
    people = iins(90)
    first = random_population(rng, people, clinics)
    await apply(pool, first)
    found = await _region(pool, clinics)
    await _check(pool, found, first)
    async with pool.acquire() as conn:
        marks = await conn.fetchval("SELECT count(*) FROM fin_count_marks")
        months = await conn.fetchval("SELECT count(*) FROM fin_month_cells WHERE amount IS NOT NULL")
    assert marks == len(DATES) * 3 and months > 0
    await _check(pool, found, first)        # again, from the checkpoints

    # Late events: the past changes for many people (visits dated back, moves dated back, new timelines).
    late = []
    for n, person in enumerate(people[:40]):
        day = date(2025, 1, 1) + timedelta(days=rng.randint(0, 700))
        late.append(visit(person, rng.choice(clinics), f"late-{n}", day))
        late.append(paid(person, 50, [(day - timedelta(days=200), day + timedelta(days=rng.randint(0, 300)))]))
        if n % 3 == 0:
            late.append(attached(person, rng.choice(clinics), day - timedelta(days=rng.randint(0, 300)), 50))
    await apply(pool, late)
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM fin_count_marks") < marks
    await _check(pool, found, first + late)


async def test_a_changed_settlement_or_capitation_version_is_figured_anew(projection):
    pool = projection
    c, people = clinic_id(), iins(30)
    events = random_population(random.Random(), people, [c])
    await apply(pool, events)
    (found,) = await _region(pool, [c])
    month = date(2026, 1, 1)
    cells = oracle.figures(events, c, month).cells
    async with pool.acquire() as conn:
        urban = await checkpoints.amounts_of(conn, [found], month, RULES)
        assert urban[found["clinic_no"]] == domain.monthly_amount(RULES.values, None, cells)
        rural = await checkpoints.amounts_of(conn, [{"clinic_no": found["clinic_no"], "settlement": "rural"}],
                                             month, RULES)
        assert rural[found["clinic_no"]] == domain.monthly_amount(RULES.values, "rural", cells) != urban[
            found["clinic_no"]]
        other = capitation_on(snapshot((date(2020, 1, 1), capitation_values(urban="1500.00"))), month)
        again = await checkpoints.amounts_of(conn, [found], month, other)
        assert again[found["clinic_no"]] == domain.monthly_amount(other.values, None, cells)


async def test_a_checkpoint_waits_for_the_batch_in_flight_and_counts_it(projection):
    pool = projection
    c, (person,) = clinic_id(), iins(1)
    await apply(pool, [attached(person, c, date(2025, 1, 1), 1)])
    (found,) = await _region(pool, [c])
    on = date(2026, 3, 10)
    async with pool.acquire() as conn, conn.transaction():
        # A batch in flight: a visit dated before the date, not yet committed.
        await store.apply_events(conn, batch(visit(person, c, "v-1", date(2026, 3, 1))))

        async def read():
            async with pool.acquire() as other:
                (f,) = await checkpoints.counts_on(other, [found], on)
                return f.active
        reading = asyncio.create_task(read())
        await asyncio.sleep(0.5)
        assert not reading.done()
    assert await reading == 1
