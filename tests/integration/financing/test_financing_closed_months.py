"""Closed months against the real servers: an operator closes a month (role checks, idempotent, 409 for a
month not yet over); late events that land in closed months (an admin's backdated move, a death, a voided
visit, a late visit, a late payment) become adjustments of the first open month, line by line, while the
closed statements answer exactly as before; the same events again add nothing; region totals include
the adjustments; a clinic key sees only its own statement and its own lines; figures for past dates
stay exact; and the rule table's close day closes the open month with its adjustments.

Closing is global, so this module runs a financing of its own (its database and consumer group)."""
from __future__ import annotations

import asyncio
import dataclasses
import json
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest

from services.common import clock
from services.common.app import create_app
from services.financing import app as financing, domain, statements
from services.financing.consumer import CONSUMER
from services.financing.rules import Capitation
from tests.support.financing_events import attached, caught_up, clinic, detached, paid, publish, upheld, visit
from tests.support.inproc import key_headers, running
from tests.support.people import clinic_id, iin

TODAY = clock.today()
THIS = TODAY.replace(day=1)
OPEN = domain.month_after(THIS, -1)          # the first open month once CLOSED is closed
CLOSED = domain.month_after(THIS, -2)
EARLIER = domain.month_after(THIS, -3)
LONG_AGO = domain.month_after(THIS, -14)


def ym(month: date) -> str:
    return month.strftime("%Y-%m")


@pytest.fixture(scope="module")
async def own(settings):
    """A financing app with its own database and consumer group."""
    mine = settings.model_copy(update={"db_prefix": f"{settings.db_prefix}closes_"})
    spec = dataclasses.replace(financing.spec, consumers=[dataclasses.replace(CONSUMER, group="financing-closes")])
    app = create_app(spec, mine)
    async with running(app) as client:
        yield app, client


def _cell(person: str, month: date, active: bool, insured: bool) -> dict:
    from services.common.ids import iin_birth_date_sex

    born, sex = iin_birth_date_sex(person)
    band = domain.band_of(domain.age_on(born, month))
    return {"age_group": domain.band_label(band), "sex": sex, "active": active, "insured": insured}


async def test_late_events_become_adjustments_of_the_open_month_and_closed_statements_never_change(own):
    app, client = own
    a, b = clinic_id(), clinic_id()
    region = f"region-{a}"
    mover, dying, visitor, late_visitor, payer, roamer = (iin(date(1980 + k, 3, 3)) for k in range(6))
    first = [clinic(a, region, "urban"), clinic(b, region, "rural"),
             attached(mover, a, LONG_AGO, 1), attached(dying, a, LONG_AGO, 1), attached(visitor, a, LONG_AGO, 1),
             attached(roamer, a, LONG_AGO, 1),
             attached(late_visitor, b, LONG_AGO, 1), attached(payer, b, LONG_AGO, 1),
             visit(visitor, a, "V-1", EARLIER - timedelta(days=20))]
    await publish(first)
    await caught_up(client)

    operator = await key_headers(app, "operator")
    clinic_a = await key_headers(app, "clinic", a)
    # Who may close, and when.
    r = await client.post(f"/v1/statements/{ym(CLOSED)}/close", headers=clinic_a)
    assert r.status_code == 403, r.text
    r = await client.post(f"/v1/statements/{ym(THIS)}/close", headers=operator)
    assert r.status_code == 409 and r.json()["rule"] == "month_not_ended", r.text
    r = await client.post("/v1/statements/9999-12/close", headers=operator)
    assert r.status_code == 409, r.text
    for bad in ("2026-13", "2026-1", "26-11", "2026-11-01"):
        r = await client.post(f"/v1/statements/{bad}/close", headers=operator)
        assert r.status_code == 422, (bad, r.text)
    r = await client.post(f"/v1/statements/{ym(CLOSED)}/close", headers=operator)
    assert r.status_code == 201, r.text
    closed = r.json()
    assert closed["months_closed"][-1] == ym(CLOSED) and ym(LONG_AGO) in closed["months_closed"]
    assert closed["closed_by"].endswith("(operator)")
    again = await client.post(f"/v1/statements/{ym(CLOSED)}/close", headers=operator)
    assert again.status_code == 200 and again.json() == {**closed, "months_closed": []}
    r = await client.post(f"/v1/statements/{ym(EARLIER)}/close", headers=operator)     # closed with it
    assert r.status_code == 200 and r.json()["closed_at"] == closed["closed_at"]

    async def statement(clinic_: str, month: date, headers=None):
        r = await client.get(f"/v1/clinics/{clinic_}/statements/{ym(month)}", headers=headers)
        assert r.status_code == 200, r.text
        return r

    frozen = {(c, m): (await statement(c, m)).text for c in (a, b) for m in (EARLIER, CLOSED)}
    before_closed = (await statement(a, CLOSED)).json()
    assert before_closed["closed"] is True and before_closed["closed_at"] == closed["closed_at"]
    assert before_closed["people"] == 4 and before_closed["adjustments"] == []
    open_before = (await statement(a, OPEN)).json()
    assert open_before["closed"] is False and open_before["adjustments"] == []
    attached_then = (await client.get(f"/v1/clinics/{a}/financing", params={"date": CLOSED.isoformat()})).json()

    # The late events: an admin moves a person to b from the middle of EARLIER's month before; a death
    # registered late; a visit voided by an upheld complaint; visits recorded late, one of a's people at b;
    # a late payment.
    moved_on = domain.month_after(EARLIER, -1) + timedelta(days=14)
    late = [attached(mover, b, moved_on, 2), detached(dying, a, EARLIER + timedelta(days=4), 2),
            upheld(a, "V-1", appeal_id=f"AP-{a}"), visit(late_visitor, b, "V-9", EARLIER + timedelta(days=2)),
            paid(payer, 1, [(LONG_AGO, TODAY + timedelta(days=90))]), visit(roamer, b, "V-8", EARLIER + timedelta(days=3))]
    await publish(late)
    await caught_up(client)

    # The closed statements answer exactly as before.
    for (c, m), text in frozen.items():
        assert (await statement(c, m)).text == text
    # The open month carries the corrections, line by line.
    got = (await statement(a, OPEN)).json()
    assert got["closed"] is False
    lines = {(x["iin"], x["corrects"], x["event"]["type"]): x for x in got["adjustments"]}
    assert set(lines) == {(mover, ym(EARLIER), "patient-attached"), (mover, ym(CLOSED), "patient-attached"),
                          (dying, ym(CLOSED), "patient-detached"),
                          (visitor, ym(EARLIER), "appeal-resolved"), (visitor, ym(CLOSED), "appeal-resolved"),
                          (roamer, ym(CLOSED), "visit-recorded")}
    rules = Capitation.model_validate((await client.get("/v1/rules/capitation",
                                                         params={"on": CLOSED.isoformat()})).json()["values"])
    moved = lines[(mover, ym(CLOSED), "patient-attached")]
    assert moved["before"] == _cell(mover, CLOSED, False, False) and moved["after"] is None
    assert moved["event"]["date"] == moved_on.isoformat() and moved["event"]["visit_id"] is None
    assert moved["event"]["ref"].startswith("patient-attached/")
    voided = lines[(visitor, ym(CLOSED), "appeal-resolved")]
    assert (voided["before"], voided["after"]) == (_cell(visitor, CLOSED, True, False),
                                                   _cell(visitor, CLOSED, False, False))
    assert voided["event"]["visit_id"] == "V-1"      # a's own visit
    roamed = lines[(roamer, ym(CLOSED), "visit-recorded")]
    assert (roamed["before"], roamed["after"]) == (_cell(roamer, CLOSED, False, False),
                                                   _cell(roamer, CLOSED, True, False))
    assert roamed["event"]["date"] is None and roamed["event"]["visit_id"] is None    # b's record, not a's
    for x in got["adjustments"]:
        want = domain.person_amount(rules, "urban", _cell_no(x["after"])) - \
            domain.person_amount(rules, "urban", _cell_no(x["before"]))
        assert Decimal(x["amount"]) == want != 0, x
    assert Decimal(got["adjustments_amount"]) == sum(Decimal(x["amount"]) for x in got["adjustments"])
    assert Decimal(got["monthly_amount"]) == sum(Decimal(x["amount"]) for x in got["lines"]) + \
        Decimal(got["adjustments_amount"])

    # b gains the mover (at its rural rate), the late visit, and the payment.
    got_b = (await statement(b, OPEN)).json()
    b_lines = {(x["iin"], x["corrects"], x["event"]["type"]) for x in got_b["adjustments"]}
    assert {(mover, ym(EARLIER), "patient-attached"), (mover, ym(CLOSED), "patient-attached"),
            (late_visitor, ym(CLOSED), "visit-recorded"), (payer, ym(CLOSED), "contribution-paid")} <= b_lines
    assert all(Decimal(x["amount"]) > 0 for x in got_b["adjustments"])
    assert {x["iin"] for x in got_b["adjustments"]} == {mover, late_visitor, payer}
    # The payment corrects every closed month since LONG_AGO.
    assert {m for i, m, t in b_lines if i == payer} == {ym(domain.month_after(LONG_AGO, k)) for k in range(13)}

    # A clinic key: its own statement, only its own people's lines; no other clinic's.
    mine = (await statement(a, OPEN, clinic_a)).json()
    assert mine == got and {x["iin"] for x in mine["adjustments"]} == {mover, dying, visitor, roamer}
    r = await client.get(f"/v1/clinics/{b}/statements/{ym(OPEN)}", headers=clinic_a)
    assert r.status_code == 403

    # Region totals include the adjustments; a closed month's are its frozen money.
    r = await client.get(f"/v1/regions/{region}/financing", params={"date": (OPEN + timedelta(days=3)).isoformat()})
    total = r.json()
    assert total["closed"] is False
    assert Decimal(total["adjustments_amount"]) == \
        Decimal(got["adjustments_amount"]) + Decimal(got_b["adjustments_amount"]) != 0
    assert Decimal(total["monthly_amount"]) == Decimal(got["monthly_amount"]) + Decimal(got_b["monthly_amount"])
    r = await client.get(f"/v1/regions/{region}/financing", params={"date": CLOSED.isoformat()})
    assert r.json()["closed"] is True
    frozen_money = [Decimal((await statement(c, CLOSED)).json()["monthly_amount"]) for c in (a, b)]
    assert Decimal(r.json()["monthly_amount"]) == sum(frozen_money)

    # Figures for a past date stay exact: the projection knows the mover and the dead left a.
    now_then = (await client.get(f"/v1/clinics/{a}/financing", params={"date": CLOSED.isoformat()})).json()
    assert now_then["attached"] == attached_then["attached"] - 2 == 2

    # The same events again (a relay's redelivery under new event ids) change nothing.
    await publish(late)
    await caught_up(client)
    assert (await statement(a, OPEN)).json() == got
    assert (await statement(b, OPEN)).json() == got_b

    # The close day of the rule table closes OPEN (with THIS) on its day, adjustments and all; what comes
    # later lands in the month after.
    due = domain.close_date(THIS, 10)
    done = await statements.close_when_due(app.state.ctx.pool, await app.state.ctx.rules.snapshot(), due,
                                           datetime.combine(due, datetime.min.time(), clock.KZ_TZ))
    assert done is not None and done.month == THIS and done.closed_by.startswith("rule statements@")
    closed_open = (await statement(a, OPEN)).json()
    assert closed_open["closed"] is True
    assert {k: v for k, v in closed_open.items() if k not in ("closed", "closed_at", "closed_by")} == \
        {k: v for k, v in got.items() if k not in ("closed", "closed_at", "closed_by")}
    await publish([attached(dying, b, EARLIER, 3)])       # a registry correction, say
    await caught_up(client)
    landed = (await statement(b, domain.month_after(THIS))).json()
    assert {(x["iin"], x["corrects"]) for x in landed["adjustments"]} >= {(dying, ym(CLOSED)), (dying, ym(OPEN))}


def _cell_no(cell: dict | None) -> int | None:
    if cell is None:
        return None
    band = [domain.band_label(b) for b in range(len(domain.AGE_BAND_BOUNDS))].index(cell["age_group"])
    return domain.cell_of(band, cell["sex"], cell["active"], cell["insured"])


async def test_a_batch_applied_while_a_month_closes_is_either_in_the_statement_or_an_adjustment(settings):
    """The closing waits for a batch being applied (it is in the frozen statement), and a batch that
    starts while a closing is under way waits for it (it becomes an adjustment): never neither, never both."""
    from services.common.consumer import Event
    from services.common.rules import load_snapshot
    from services.financing import store
    from services.financing.rules import RULE_TABLES
    from tests.integration.financing.test_financing_consumers import fresh_projection

    _, pool = await fresh_projection(settings, "closerace")
    try:
        async with pool.acquire() as conn:
            snap = await load_snapshot(conn, RULE_TABLES)
        person, other, place = iin(date(1990, 1, 1)), iin(date(1991, 1, 1)), clinic_id()
        first = Event("patient-attached", 0, 1, None, attached(person, place, LONG_AGO, 1))
        second = Event("patient-attached", 0, 2, None, attached(other, place, LONG_AGO, 1))
        now = clock.now()

        # A batch under way: the closing waits for it, then freezes what it wrote.
        batch = await pool.acquire()
        tx = batch.transaction()
        await tx.start()
        await store.apply_events(batch, [first])
        closing = asyncio.create_task(statements.close_through(pool, snap, EARLIER, "test", now))
        await asyncio.sleep(0.5)
        assert not closing.done()
        await tx.commit()
        await pool.release(batch)
        await closing
        async with pool.acquire() as conn:
            place_row = await store.clinic(conn, place)
            frozen = json.loads(await statements.statement(conn, snap, place_row, EARLIER, None))
        assert frozen["people"] == 1 and frozen["adjustments"] == []

        # A closing under way: the batch waits for it, then records an adjustment.
        closer = await pool.acquire()
        tx = closer.transaction()
        await tx.start()
        await store.statement_state(closer, for_update=True)
        await closer.execute("UPDATE fin_statement_state SET closed_through = $1", CLOSED)
        applying = asyncio.create_task(_apply(pool, [second]))
        await asyncio.sleep(0.5)
        assert not applying.done()
        await tx.commit()
        await pool.release(closer)
        await applying
        async with pool.acquire() as conn:
            rows = await store.adjustments_landing(conn, [place_row["clinic_no"]], OPEN)
        assert {(r["iin"], r["corrects"]) for r in rows} == {(other, domain.month_after(LONG_AGO, k))
                                                              for k in range(13)}
    finally:
        await pool.close()


async def _apply(pool, events) -> None:
    from services.financing import store

    async with pool.acquire() as conn, conn.transaction():
        await store.apply_events(conn, events)
