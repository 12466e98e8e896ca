"""financing's monthly statements: a clinic's lines for a month and the adjustments landing in it, figured
when asked while the month is open and frozen when it closes; closing months, by an operator or on the
statements rule table's close day (a task of the HTTP process, the clock read there).

A closed statement is the JSON answered when its month closed, stored and never figured again. Its money
is final: what later changes that month's counting day is an adjustment of the first open month
(services.financing.closing). Figures for a date (attached, active, insured) stay those of the projection.
"""
from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

import asyncpg
from pydantic import BaseModel, Field, PlainSerializer, WithJsonSchema

from services.common import clock
from services.common.logs import get_logger
from services.common.money import Money, money_str
from services.common.problems import Problem
from services.common.rules import InForce, RulesUsed, RuleSnapshot, rules_fields
from services.financing import checkpoints, domain, store
from services.financing.rules import STATEMENTS, Capitation, capitation_on, close_day_of

log = get_logger(__name__)

Settlement = Literal["urban", "rural"]
# An amount answered, never read from a request: it may be negative (a correction).
SignedMoney = Annotated[Decimal, PlainSerializer(money_str, return_type=str),
                        WithJsonSchema({"type": "string", "pattern": r"^-?\d+\.\d{2}$", "examples": ["-812.17"]})]


class StatementLine(BaseModel):
    age_group: str
    sex: Literal["M", "F"]
    active: bool
    insured: bool
    people: int
    age_sex_coefficient: Decimal
    activity_coefficient: Decimal
    insurance_coefficient: Decimal
    amount: Money = Field(description="people x base_rate x the three coefficients, to the tiyn")


class CountedAs(BaseModel):
    age_group: str
    sex: Literal["M", "F"]
    active: bool
    insured: bool


Day = date     # the field below is named date


class AdjustmentEvent(BaseModel):
    type: str = Field(description="the event's type (its topic)")
    ref: str = Field(description="where the event is on Kafka: topic/partition/offset")
    date: Day | None = Field(description="the day the event is about: an attachment's effective date, a "
                                          "detachment's date, a visit's date (also for its void); null for a "
                                          "payment, and for a visit to another clinic")
    visit_id: str | None = Field(description="the visit, when it was recorded by this clinic")


class Adjustment(BaseModel):
    iin: str
    corrects: str = Field(description="the closed month corrected, YYYY-MM")
    event: AdjustmentEvent
    before: CountedAs | None = Field(description="how the person counted for this clinic on the corrected "
                                                 "month's first day in its closed statement; null: not counted")
    after: CountedAs | None = Field(description="how they count now; null: no longer counted here")
    rules_version: str = Field(description="the capitation version the corrected month was figured under")
    amount: SignedMoney = Field(description="what the person counts now minus what they counted, one person "
                                            "at the corrected month's rates, to the tiyn")
    recorded_at: datetime


class Statement(RulesUsed):
    clinic_id: str
    month: str
    counted_on: date
    settlement: Settlement | None = Field(description="the clinic's settlement as financing knows it; null: not "
                                                      "known, paid at the urban base rate")
    base_rate: Money = Field(description="the base rate of the clinic's settlement")
    people: int
    lines: list[StatementLine]
    adjustments: list[Adjustment] = Field(description="corrections of closed months landing in this one, "
                                                      "line by line")
    adjustments_amount: SignedMoney = Field(description="the sum of the adjustments' amounts")
    monthly_amount: SignedMoney = Field(description="the sum of the lines' amounts and of the adjustments'")
    closed: bool = Field(description="closed: this statement is final and never changes")
    closed_at: datetime | None
    closed_by: str | None = Field(description="the key that closed the month, or the rule table's close day")


# --- figuring --------------------------------------------------------------------------------------

def _recorded(snap: RuleSnapshot, rules_json: str | None, month: date) -> InForce[Capitation]:
    """The capitation version a closed month was figured under (recorded when it closed); for a month no
    closing recorded (before any data), the version in force on its first day."""
    if rules_json is not None:
        held = json.loads(rules_json)
        for v in snap.all("capitation"):
            if v.version == held["rules_version"]:
                return InForce(v, held["rules_provisional"], held.get("rules_carried_from"))
    return _capitation(snap, month)


def _counted_as(cell: int | None) -> CountedAs | None:
    if cell is None:
        return None
    c = domain.decode_cell(cell)
    return CountedAs(age_group=domain.band_label(c.band), sex=c.sex, active=c.active, insured=c.insured)


def adjustments_of(snap: RuleSnapshot, rows: list[asyncpg.Record]) -> dict[int, list[Adjustment]]:
    """Adjustment lines by clinic number, with their amounts."""
    out: dict[int, list[Adjustment]] = {}
    versions: dict[tuple[str | None, date], InForce[Capitation]] = {}
    for r in rows:
        key = (r["rules"], r["corrects"])
        if key not in versions:
            versions[key] = _recorded(snap, r["rules"], r["corrects"])
        values, version = versions[key].version.values, versions[key].version.version
        # A visit to another clinic is named by neither its id nor its day: that is the other clinic's record.
        elsewhere = r["visit_clinic"] is not None and r["visit_clinic"] != r["clinic_id"]
        out.setdefault(r["clinic_no"], []).append(Adjustment(
            iin=r["iin"], corrects=r["corrects"].strftime("%Y-%m"),
            event=AdjustmentEvent(type=r["topic"], ref=f"{r['topic']}/{r['partition']}/{r['offset']}",
                                  date=None if elsewhere else r["event_day"],
                                  visit_id=None if elsewhere else r["visit_id"]),
            before=_counted_as(r["cell_before"]), after=_counted_as(r["cell_after"]), rules_version=version,
            amount=domain.adjustment_amount(values, r["settlement"], r["cell_before"], r["cell_after"]),
            recorded_at=r["recorded_at"].astimezone(clock.KZ_TZ)))
    return out


def figure(clinic_id: str, month: date, settlement: str | None, rules: InForce[Capitation],
           cells: dict[int, int], adjustments: list[Adjustment], *, closed_at: datetime | None = None,
           closed_by: str | None = None) -> Statement:
    lines = domain.statement_lines(rules.values, settlement, cells)
    own = sum((x.amount for x in lines), Decimal("0.00"))
    corrections = sum((x.amount for x in adjustments), Decimal("0.00"))
    return Statement(
        clinic_id=clinic_id, month=month.strftime("%Y-%m"), counted_on=month, settlement=settlement,
        base_rate=domain.base_rate(rules.values, settlement), people=sum(x.people for x in lines),
        lines=[StatementLine.model_validate(x, from_attributes=True) for x in lines], adjustments=adjustments,
        adjustments_amount=corrections, monthly_amount=own + corrections, closed=closed_at is not None,
        closed_at=closed_at, closed_by=closed_by, **rules_fields(rules))


def _capitation(snap: RuleSnapshot, month: date) -> InForce[Capitation]:
    found = capitation_on(snap, month)
    if found is None:
        raise Problem(503, "Service unavailable", "no capitation version is published: publish one at "
                                                  "POST /v1/rules/capitation")
    return found


async def statement(conn: asyncpg.Connection, snap: RuleSnapshot, clinic: asyncpg.Record, month: date,
                    rules: InForce[Capitation]) -> str | Statement:
    """A clinic's statement of `month`: the stored JSON when the month is closed, else figured now
    (`rules`: the capitation version in force on its first day)."""
    state = await store.statement_state(conn)
    if state["closed_through"] is not None and month <= state["closed_through"]:
        frozen = await store.frozen_statement(conn, clinic["clinic_no"], month)
        if frozen is not None:
            return frozen
        # Nobody and nothing at this clinic that month when it closed: an empty closed statement.
        closing = await store.closed_month(conn, month)
        if closing is not None and closing["month"] == month:
            rules = _recorded(snap, closing["rules"], month)
        return figure(clinic["clinic_id"], month, clinic["settlement"], rules, {}, [],
                      closed_at=closing["closed_at"].astimezone(clock.KZ_TZ), closed_by=closing["closed_by"])
    cells = await store.cells_on(conn, [clinic["clinic_no"]], month)
    lines = adjustments_of(snap, await store.adjustments_landing(conn, [clinic["clinic_no"]], month))
    return figure(clinic["clinic_id"], month, clinic["settlement"], rules, cells[clinic["clinic_no"]],
                  lines.get(clinic["clinic_no"], []))


@dataclass
class StatementMoney:
    amount: Decimal
    adjustments: Decimal
    closed: bool


async def money_of(conn: asyncpg.Connection, snap: RuleSnapshot, clinics: list, month: date,
                   rules: InForce[Capitation]) -> StatementMoney:
    """The money of these clinics' statements for `month` (`clinics`: rows with clinic_no and settlement):
    the frozen amounts of a closed month; else their lines figured now (from the checkpoints of their
    people by cell) and the adjustments landing in it."""
    nos = [c["clinic_no"] for c in clinics]
    state = await store.statement_state(conn)
    if state["closed_through"] is not None and month <= state["closed_through"]:
        totals = await store.frozen_totals(conn, nos, month)
        return StatementMoney(totals["amount"], totals["adjustments"], True)
    own = sum((await checkpoints.amounts_of(conn, clinics, month, rules)).values(), Decimal("0.00"))
    lines = adjustments_of(snap, await store.adjustments_landing(conn, nos, month))
    corrections = sum((x.amount for xs in lines.values() for x in xs), Decimal("0.00"))
    return StatementMoney(own + corrections, corrections, False)


async def region_figures(conn: asyncpg.Connection, snap: RuleSnapshot, region: str, on: date,
                         rules: InForce[Capitation]) -> tuple[checkpoints.RegionSums, StatementMoney]:
    """The region's counts on `on` summed (checkpoints.region_sums) and the money of its clinics' statements
    for `on`'s month, as money_of gives it, without reading its clinics one by one."""
    month = domain.month_start(on)
    state = await store.statement_state(conn)
    if state["closed_through"] is not None and month <= state["closed_through"]:
        sums = await checkpoints.region_sums(conn, region, on)
        totals = await store.frozen_totals(conn, [c["clinic_no"] for c in await store.clinics(conn, region)], month)
        return sums, StatementMoney(totals["amount"], totals["adjustments"], True)
    sums = await checkpoints.region_sums(conn, region, on, rules)
    lines = adjustments_of(snap, await store.adjustments_landing_in(conn, region, month))
    corrections = sum((x.amount for xs in lines.values() for x in xs), Decimal("0.00"))
    return sums, StatementMoney(sums.amount + corrections, corrections, False)


# --- closing ---------------------------------------------------------------------------------------

@dataclass
class Closing:
    month: date
    closed_at: datetime
    closed_by: str
    months_closed: list[date]


async def close_through(pool: asyncpg.Pool, snap: RuleSnapshot, month: date, closed_by: str,
                        now: datetime) -> Closing:
    """Closes every open month up to `month`, freezing each clinic's statement; a month already closed
    is answered as it was closed (months_closed empty). One transaction, serialized with the consumer's
    batches by the statement state's row lock."""
    async with pool.acquire() as conn, conn.transaction():
        state = await store.statement_state(conn, for_update=True)
        through = state["closed_through"]
        if through is not None and month <= through:
            held = await store.closed_month(conn, month)
            return Closing(month, held["closed_at"].astimezone(clock.KZ_TZ), held["closed_by"], [])
        # From the first open month, skipping those before any data (nothing to freeze there: such a month
        # is answered as closed by the first closing recorded after it).
        earliest = await store.earliest_month(conn)
        first = min(earliest, month) if earliest is not None else month
        if through is not None:
            first = max(first, domain.month_after(through))
        clinics = await store.clinics(conn, None)
        nos = [c["clinic_no"] for c in clinics]
        months, frozen = [], []
        m = first
        while m <= month:
            rules = _capitation(snap, m)
            cells = await store.cells_on(conn, nos, m)
            lines = adjustments_of(snap, await store.adjustments_landing(conn, nos, m))
            for c in clinics:
                no = c["clinic_no"]
                if cells[no] or lines.get(no):
                    s = figure(c["clinic_id"], m, c["settlement"], rules, cells[no], lines.get(no, []),
                               closed_at=now, closed_by=closed_by)
                    frozen.append((no, m, c["settlement"], s.model_dump_json()))
            months.append((m, rules_fields(rules)))
            m = domain.month_after(m)
        await store.record_closed(conn, months, month, now, closed_by, frozen)
    log.info("statements closed", through=month.isoformat(), months=len(months), statements=len(frozen),
             by=closed_by)
    return Closing(month, now, closed_by, [m for m, _ in months])


async def close_when_due(pool: asyncpg.Pool, snap: RuleSnapshot, today: date, now: datetime) -> Closing | None:
    """Closes the months whose close day (the statements rule table) has come, if any."""
    async with pool.acquire() as conn:
        state = await store.statement_state(conn)
        started = state["started_on"] or await store.mark_started(conn, today)
    close_day = close_day_of(snap)
    due = domain.automatic_close(today, started, state["closed_through"], close_day)
    if due is None:
        return None
    version = snap.in_force(STATEMENTS, domain.month_after(due)) or InForce(snap.all(STATEMENTS)[0])
    return await close_through(pool, snap, due, f"rule {version.version.version} (close day "
                                                f"{close_day(domain.month_after(due))})", now)


async def close_on_schedule(ctx, interval: float = 60.0) -> None:
    """The HTTP process's task: closes due months now and then (a close is idempotent; several processes
    doing it at once serialize on the statement state)."""
    while True:
        try:
            await close_when_due(ctx.pool, await ctx.rules.snapshot(), clock.today(), clock.now())
        except asyncio.CancelledError:
            raise
        except Exception as exc:    # the database away for a moment: the next round closes it
            log.warning("closing due statements failed; retrying", error=repr(exc))
        await asyncio.sleep(interval)
