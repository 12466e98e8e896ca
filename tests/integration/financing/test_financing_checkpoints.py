"""The checkpoints behind region-wide answers, against the real PostgreSQL: the counts of any date and
the month's amounts read through them equal a brute-force reference, before and after late events that
change the past (backdated visits, moves and insured timelines), a new capitation version and a changed
settlement; a checkpoint is never figured while a batch is in flight (it waits, then counts the batch).
A region read at once (its clinics' counts, their sums and amounts, the list's order) equals its clinics
read one by one, whether their checkpoints are held, missing or stale."""
from __future__ import annotations

import asyncio
import itertools
import random
from datetime import date, timedelta
from decimal import Decimal

import pytest

from services.financing import app as financing_app, checkpoints, domain, store
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
    assert marks == len(DATES) * 3 * 2 and months > 0     # each date's own mark and its eve's
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


def _listed(figures: list, order_by: str, limit: int) -> list[str]:
    """The list's order as the route made it before region reads: by clinic_id, then a stable sort by the key."""
    key, desc = order_by.lstrip("-"), order_by.startswith("-")
    ordered = sorted(figures, key=lambda f: f.clinic_id)
    shares = {"active_share": lambda f: domain.share(f.active, f.attached),
              "insured_share": lambda f: domain.share(f.insured, f.attached)}
    ordered.sort(key=shares.get(key, lambda f: getattr(f, key)), reverse=desc)
    return [f.clinic_id for f in ordered[:limit]]


async def test_a_region_read_at_once_equals_its_clinics_read_one_by_one(projection):
    pool = projection
    rng = random.Random()
    clinics = [clinic_id() for _ in range(4)]
    events = random_population(rng, iins(80), clinics)
    await apply(pool, events)
    region = f"r-{clinics[0]}"
    nobody = [clinic_id() for _ in range(3)]     # nobody attached: shares of 0, ties in the list
    other = capitation_on(snapshot((date(2020, 1, 1), capitation_values(urban="1500.00"))), date(2026, 1, 1))
    async with pool.acquire() as conn:
        for n, c in enumerate(clinics + nobody):
            await store.put_clinic(conn, c, region, f"Clinic {n}", "rural" if n % 2 else None)
        await store.put_clinic(conn, clinic_id(), f"other-{region}", "Elsewhere", None)
        found = await store.clinics(conn, region)
        # Days with day rows (a date's counts are its eve's mark and its day row), and others.
        days = DATES[::3] + [r[0] for r in await conn.fetch(
            "SELECT DISTINCT bucket FROM fin_counts WHERE grain = 2 ORDER BY 1 LIMIT 12")]
        for step in ("nothing held", "some held", "all held", "another version", "a settlement changed"):
            if step == "some held":     # the dates' own marks of some clinics, both marks of others
                await conn.execute("DELETE FROM fin_count_marks WHERE clinic_no % 2 = 0 AND day = ANY($1::date[])",
                                   days)
                await conn.execute("DELETE FROM fin_count_marks WHERE clinic_no % 3 = 0")
                await conn.execute("DELETE FROM fin_month_cells WHERE clinic_no % 3 = 0")
            if step == "a settlement changed":
                await store.put_clinic(conn, clinics[0], region, "Clinic 0", "rural")
                found = await store.clinics(conn, region)
            rules = other if step == "another version" else RULES
            for k, on in enumerate(days):     # each of the two first, in turn: it meets what is not held
                if k % 2:
                    rows = await checkpoints.clinic_counts(conn, region, on)
                sums = await checkpoints.region_sums(conn, region, on, rules)
                if not k % 2:
                    rows = await checkpoints.clinic_counts(conn, region, on)
                one_by_one = await checkpoints.counts_on(conn, found, on)
                amounts = await checkpoints.amounts_of(conn, found, on.replace(day=1), rules)
                assert [r[:6] for r in rows] == sorted(
                    ((f.clinic_no, f.clinic_id, f.settlement, f.attached, f.active, f.insured) for f in one_by_one),
                    key=lambda r: r[1]), (step, on)
                assert (sums.clinics, sums.attached, sums.active, sums.insured, sums.amount) == (
                    len(found), sum(f.attached for f in one_by_one), sum(f.active for f in one_by_one),
                    sum(f.insured for f in one_by_one), sum(amounts.values(), Decimal("0.00"))), (step, on)
    on = DATES[len(DATES) // 2]
    async with pool.acquire() as conn:
        one_by_one = await checkpoints.counts_on(conn, found, on)
    for order_by in ("active_share", "-active_share", "insured_share", "-insured_share", "attached", "-attached",
                     "clinic_id", "-clinic_id"):
        for limit in (3, 100):
            page = await financing_app.list_clinic_financing(pool, SNAP, on, region, order_by, limit)
            assert [c.clinic_id for c in page.clinics] == _listed(one_by_one, order_by, limit), order_by
