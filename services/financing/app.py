"""financing HTTP routes: a clinic's live figures, lists and region totals, the monthly statement,
consumer lag, and the clinics' reference data (region, name, settlement), which no person event carries.

Every amount is computed when asked, under the capitation version in force on the first day of the
date's month (services.financing.rules), and names that version."""
from __future__ import annotations

import asyncio
import csv
import io
import re
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError
from fastapi import APIRouter, Path as PathParam, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from services.common import clock
from services.common.app import Ctx, Pool, ServiceContext, ServiceSpec, create_app
from services.common.auth import Principal, allow
from services.common.consumer import group_lag
from services.common.kafka import client_options
from services.common.inputs import TEXT_PATTERN, ClinicIdPath, Day, YearMonth
from services.common.money import Money
from services.common.problems import Problem, conflict, conflicts, invalid, not_found
from services.common.rules import InForce, Rules, RuleSnapshot, refuse_far_ahead, rules_fields, RulesUsed
from services.financing import checkpoints, domain, series, statements, store, worklists
from services.financing.consumer import CONSUMER
from services.financing.rules import RULE_TABLES, WORKLISTS, Capitation, WorklistRules, capitation_on
from services.financing.statements import Settlement, SignedMoney, Statement

router = APIRouter(prefix="/v1")
DateQuery = Annotated[Day | None, Query(alias="date", description="YYYY-MM-DD; today when omitted")]
OrderBy = Literal["active_share", "-active_share", "insured_share", "-insured_share", "attached", "-attached",
                  "active", "-active", "insured", "-insured", "clinic_id", "-clinic_id"]



class ClinicFinancing(RulesUsed):
    clinic_id: str
    date: date
    attached: int
    active: int = Field(description="attached people with a non-voided visit within the 365 days up to the date")
    insured: int
    active_share: float
    insured_share: float
    monthly_amount: Money = Field(description="counted on the first day of the date's month, at the base rate "
                                              "of the clinic's settlement (urban when financing does not know it)")


class ClinicList(BaseModel):
    date: date
    region: str | None
    order_by: str
    clinics: list[ClinicFinancing]


class RegionFinancing(RulesUsed):
    region: str
    date: date
    clinics: int
    attached: int = Field(description="the figures of the date, as they are known now (also for a closed month)")
    active: int
    insured: int
    active_share: float
    insured_share: float
    monthly_amount: SignedMoney = Field(description="the sum of the clinics' statements of the date's month, "
                                                    "adjustments included: as frozen when the month is closed")
    adjustments_amount: SignedMoney = Field(description="the part of monthly_amount that corrects closed months")
    closed: bool = Field(description="the date's month is closed: its money is final")


class Closed(BaseModel):
    month: str = Field(description="the month asked to close, YYYY-MM")
    closed_at: datetime
    closed_by: str
    months_closed: list[str] = Field(description="the months this request closed (with every open month before "
                                                 "the one asked); empty when it was closed already")


class ClinicIn(BaseModel):
    region: str = Field(min_length=1, max_length=100, pattern=TEXT_PATTERN)
    name: str = Field(min_length=1, max_length=300, pattern=TEXT_PATTERN)
    settlement: Settlement | None = Field(default=None, description="picks the base rate; when omitted, the "
                                                                    "settlement already known stays")

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"region": "Kyzylorda", "name": "Polyclinic No. 1", "settlement": "urban"}]})


class ClinicOut(ClinicIn):
    clinic_id: str

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"clinic_id": "KZO-0001", "region": "Kyzylorda", "name": "Polyclinic No. 1", "settlement": "urban"}]})
    settlement: Settlement | None = Field(description="the settlement held; null: not known (paid at the urban "
                                                      "base rate)")


class PartitionLag(BaseModel):
    topic: str
    partition: int
    end_offset: int
    applied_offset: int
    lag: int


def capitation(snap: RuleSnapshot, on: date, loc: list) -> InForce[Capitation]:
    """The capitation version a date's month is paid under: the one in force on its first day. A date
    more than 24 months ahead is refused."""
    refuse_far_ahead(on, clock.today(), loc)
    found = capitation_on(snap, domain.month_start(on))
    if found is None:
        raise Problem(503, "Service unavailable", "no capitation version is published: publish one at "
                                                  "POST /v1/rules/capitation")
    return found


def _clinic_financing(f: store.Figures, on: date, rules: InForce[Capitation],
                      amount: Decimal | None = None) -> ClinicFinancing:
    """`amount`: the month's, when known; else figured from the figures' cells."""
    return ClinicFinancing(
        clinic_id=f.clinic_id, date=on, attached=f.attached, active=f.active, insured=f.insured,
        active_share=domain.share(f.active, f.attached), insured_share=domain.share(f.insured, f.attached),
        monthly_amount=domain.monthly_amount(rules.values, f.settlement, f.cells or {}) if amount is None else amount,
        **rules_fields(rules))


_DATE_LOC = ["query", "date"]
_FAR_AHEAD = {422: {"description": "invalid, or a date more than 24 months after today"}}


@router.get("/clinics/{clinic_id}/financing", response_model=ClinicFinancing,
            dependencies=[allow("operator", "clinic", scope_param="clinic_id")],
            responses={404: {"description": "no event and no reference data names this clinic"}, **_FAR_AHEAD})
async def get_clinic_financing(clinic_id: ClinicIdPath, db: Pool, snap: Rules, on: DateQuery = None) -> ClinicFinancing:
    """A clinic's live figures on a date: attached, active, insured, the two shares and the monthly amount.

    Any date, past or future (up to 24 months ahead); the amount is counted on the month's first day by
    the capitation rules of that month, named in `rules_version`. A clinic's key reads its own clinic."""
    on = on or clock.today()
    rules = capitation(snap, on, _DATE_LOC)
    async with db.acquire() as conn:
        found = await store.clinic(conn, clinic_id)
        if found is None:
            raise not_found("clinic", f"financing knows no clinic {clinic_id}")
        (f,) = await store.figures(conn, [found], on)
    return _clinic_financing(f, on, rules)


_COUNT_COLUMNS = {"attached": 3, "active": 4, "insured": 5}     # in checkpoints.clinic_counts' rows


@router.get("/clinics", response_model=ClinicList, dependencies=[allow("operator")], responses=_FAR_AHEAD,
            description="Clinics with their figures; by default the lowest active share first, the "
                        "operators' call list. A leading '-' in order_by sorts descending.")
async def list_clinic_financing(db: Pool, snap: Rules, on: DateQuery = None,
                       region: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
                       order_by: OrderBy = "active_share",
                       limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> ClinicList:
    on = on or clock.today()
    rules = capitation(snap, on, _DATE_LOC)
    key, desc = order_by.lstrip("-"), order_by.startswith("-")
    async with db.acquire() as conn:
        rows = await checkpoints.clinic_counts(conn, region, on)     # in clinic_id order
        # A stable sort: equal keys stay in clinic_id order, also descending.
        if key == "clinic_id":
            order = range(len(rows) - 1, -1, -1) if desc else range(len(rows))
        else:
            if key in ("active_share", "insured_share"):
                part = 4 if key == "active_share" else 5
                keys = [domain.share(r[part], r[3]) for r in rows]
            else:
                keys = [r[_COUNT_COLUMNS[key]] for r in rows]
            order = sorted(range(len(rows)), key=keys.__getitem__, reverse=desc)
        page = [store.Figures(*rows[i][:6]) for i in order[:limit]]
        # The amounts only for the page.
        amounts = await checkpoints.amounts_of(
            conn, [{"clinic_no": f.clinic_no, "settlement": f.settlement} for f in page], domain.month_start(on), rules)
    return ClinicList(date=on, region=region, order_by=order_by,
                      clinics=[_clinic_financing(f, on, rules, amounts[f.clinic_no]) for f in page])


@router.get("/regions/{region}/financing", response_model=RegionFinancing, dependencies=[allow("operator")],
            responses={404: {"description": "no clinic has this region in the reference data"}, **_FAR_AHEAD})
async def get_region_financing(region: Annotated[str, PathParam(min_length=1, max_length=100)], db: Pool,
                           snap: Rules, on: DateQuery = None) -> RegionFinancing:
    """A region's totals on a date: its clinics' attached, active and insured people, shares and amount.

    Each clinic at the base rate of its own settlement; closed months give the frozen amounts, with the
    adjustments landing in the month (operators)."""
    on = on or clock.today()
    rules = capitation(snap, on, _DATE_LOC)
    async with db.acquire() as conn:
        # Each clinic at the base rate of its own settlement.
        sums, money = await statements.region_figures(conn, snap, region, on, rules)
    if not sums.clinics:
        raise not_found("region", f"no clinic is registered in region {region}")
    return RegionFinancing(region=region, date=on, clinics=sums.clinics, attached=sums.attached, active=sums.active,
                           insured=sums.insured, active_share=domain.share(sums.active, sums.attached),
                           insured_share=domain.share(sums.insured, sums.attached), monthly_amount=money.amount,
                           adjustments_amount=money.adjustments, closed=money.closed, **rules_fields(rules))


RegionPath = Annotated[str, PathParam(min_length=1, max_length=100)]
FromMonth = Annotated[YearMonth, Query(alias="from", description="the first month, YYYY-MM")]
ToMonth = Annotated[YearMonth, Query(alias="to", description="the last month, YYYY-MM (at most 36 months "
                                                              "from `from`, at most 24 months after today)")]
_SERIES_ERRORS = {422: {"description": "not months, `to` before `from`, more than 36 months, or `to` more than 24 "
                                       "months after today"}}


def _series_rules(snap: RuleSnapshot, first: str, last: str) -> tuple[list[date], list[InForce[Capitation]]]:
    months = series.months_between(first, last)
    return months, [capitation(snap, m, ["query", "to"]) for m in months]


@router.get("/clinics/{clinic_id}/financing/series", response_model=series.ClinicSeries,
            dependencies=[allow("operator", "clinic", scope_param="clinic_id")],
            responses={404: {"description": "unknown clinic"}, **_SERIES_ERRORS})
async def clinic_series(clinic_id: ClinicIdPath, first: FromMonth, last: ToMonth, db: Pool,
                        snap: Rules) -> series.ClinicSeries:
    """The clinic's figures month by month, each counted on the month's first day, with the month's money:
    a closed month's as frozen in its statement (adjustments included), an open month's figured now."""
    months, rules = _series_rules(snap, first, last)
    async with db.acquire() as conn:
        found = await store.clinic(conn, clinic_id)
        if found is None:
            raise not_found("clinic", f"financing knows no clinic {clinic_id}")
        points = await series.series(conn, snap, [found], months, rules)
    return series.ClinicSeries(clinic_id=clinic_id, months=points)


@router.get("/regions/{region}/financing/series", response_model=series.RegionSeries,
            dependencies=[allow("operator")],
            responses={404: {"description": "no clinic has this region in the reference data"}, **_SERIES_ERRORS})
async def region_series(region: RegionPath, first: FromMonth, last: ToMonth, db: Pool,
                        snap: Rules) -> series.RegionSeries:
    """The region's figures month by month (its clinics summed), each counted on the month's first day,
    with the money of its clinics' statements: frozen for a closed month, figured now for an open one."""
    months, rules = _series_rules(snap, first, last)
    async with db.acquire() as conn:
        found = await store.clinics(conn, region)
        if not found:
            raise not_found("region", f"no clinic is registered in region {region}")
        points = await series.region_series(conn, snap, region, months, rules)
    return series.RegionSeries(region=region, clinics=len(found), months=points)


class WorklistPerson(BaseModel):
    iin: str
    birth_date: date | None
    sex: Literal["M", "F"] | None
    last_visit: date | None = Field(description="the last visit on or before the date (any PHC clinic)")
    active_until: date | None = Field(description="the last day that visit keeps the person active")
    insured_until: date | None = Field(description="the last day of the insured time (grace included) holding "
                                                   "the date, or of the last one before it")


class Worklist(RulesUsed):
    clinic_id: str
    kind: worklists.Kind
    date: date
    horizon_days: int = Field(description="how far ahead turning_inactive and grace_ending look")
    order_by: str
    total: int = Field(description="people in the whole list")
    offset: int
    limit: int
    people: list[WorklistPerson]


_CSV_COLUMNS = ("iin", "birth_date", "sex", "last_visit", "active_until", "insured_until")


@router.get("/clinics/{clinic_id}/worklists/{kind}", response_model=Worklist,
            dependencies=[allow("operator", "clinic", scope_param="clinic_id")],
            responses={200: {"content": {"text/csv": {}}, "description": "the list (CSV with format=csv)"},
                       404: {"description": "unknown clinic"},
                       422: {"description": "an unknown kind, order or format, or paging out of range"}})
async def clinic_worklist(
        clinic_id: ClinicIdPath, kind: worklists.Kind, db: Pool, snap: Rules, on: DateQuery = None,
        order_by: worklists.SortKey | None = None,
        limit: Annotated[int | None, Query(ge=1, le=1000, description="100 when omitted; CSV: all")] = None,
        offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
        format: Literal["json", "csv"] = "json") -> Worklist | Response:
    """The clinic's attached people on the date (today when omitted) who are inactive, who turn inactive
    within the horizon, who are not insured, or whose insured time (grace included) ends within it. Each
    list has its own default order (who needs a call first); format=csv gives the same columns as text/csv,
    the whole list unless limit is given. The people are the clinic's own patients: a clinic key reads its
    own clinic's lists only."""
    on = on or clock.today()
    refuse_far_ahead(on, clock.today(), _DATE_LOC)
    horizon: InForce[WorklistRules] | None = snap.in_force(WORKLISTS, on) or next(
        (InForce(v) for v in snap.all(WORKLISTS)[:1]), None)
    if horizon is None:
        raise Problem(503, "Service unavailable", "no worklists version is published: publish one at "
                                                  "POST /v1/rules/worklists")
    days = horizon.values.horizon_days
    order_by = order_by or worklists.DEFAULT_SORT[kind]
    async with db.acquire() as conn:
        found = await store.clinic(conn, clinic_id)
        if found is None:
            raise not_found("clinic", f"financing knows no clinic {clinic_id}")
        entries = await worklists.worklist(conn, found["clinic_no"], clinic_id, kind, on, days)
    entries = worklists.sort_entries(entries, order_by)
    size = limit if limit is not None else (len(entries) if format == "csv" else 100)
    page = entries[offset:offset + size]
    if format == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(_CSV_COLUMNS)
        for e in page:
            writer.writerow(["" if getattr(e, c) is None else str(getattr(e, c)) for c in _CSV_COLUMNS])
        return Response(out.getvalue(), media_type="text/csv", headers={
            "Content-Disposition": f'attachment; filename="{clinic_id}-{kind}-{on}.csv"'})
    return Worklist(clinic_id=clinic_id, kind=kind, date=on, horizon_days=days, order_by=order_by,
                    total=len(entries), offset=offset, limit=size,
                    people=[WorklistPerson(**{c: getattr(e, c) for c in _CSV_COLUMNS}) for e in page],
                    **rules_fields(horizon))


def _month(text: str, loc: list) -> date:
    m = re.fullmatch(r"(\d{4})-(\d{2})", text)
    if not m or not 1 <= int(m.group(2)) <= 12 or int(m.group(1)) < 1900:
        raise invalid("month must be YYYY-MM", errors=[{"loc": loc, "msg": "expected YYYY-MM"}])
    return date(int(m.group(1)), int(m.group(2)), 1)


@router.get("/clinics/{clinic_id}/statements/{month}", response_model=Statement,
            dependencies=[allow("operator", "clinic", scope_param="clinic_id")],
            description="The month's statement: its lines (people by cell on the month's first day) and the "
                        "adjustments landing in it (corrections of closed months). Once the month is closed "
                        "the statement is the one frozen then, and never changes.",
            responses={404: {"description": "unknown clinic"}, 422: {"description": "not a month, or one more "
                                                                               "than 24 months after today"}})
async def get_clinic_statement(clinic_id: ClinicIdPath, month: str, ctx: Ctx, snap: Rules) -> Statement | Response:
    counted_on = _month(month, ["path", "month"])
    rules = capitation(snap, counted_on, ["path", "month"])
    await statements.close_when_due(ctx.pool, snap, clock.today(), clock.now())
    async with ctx.pool.acquire() as conn:
        found = await store.clinic(conn, clinic_id)
        if found is None:
            raise not_found("clinic", f"financing knows no clinic {clinic_id}")
        answer = await statements.statement(conn, snap, found, counted_on, rules)
    if isinstance(answer, str):     # frozen: the very JSON answered when the month closed
        return Response(answer, media_type="application/json")
    return answer


@router.post("/statements/{month}/close", response_model=Closed, status_code=201,
             description="Closes the month's statements of every clinic, and those of every open month before "
                         "it, before the rule table's close day. 201 when this request closed it, 200 when it "
                         "was closed already (the same answer as then).",
             responses={200: {"model": Closed, "description": "closed already"},
                        **conflicts("month_not_ended", description="the month has not ended"),
                        422: {"description": "not a month"}})
async def close_statements(month: str, ctx: Ctx, snap: Rules, response: Response,
                           principal: Annotated[Principal, allow("operator")]) -> Closed:
    asked = _month(month, ["path", "month"])
    today = clock.today()
    if not domain.has_ended(asked, today):
        raise conflict("month_not_ended", f"{month} has not ended: a month closes once it is over")
    done = await statements.close_through(ctx.pool, snap, asked, f"key {principal.key_id} ({principal.role})",
                                          clock.now())
    if not done.months_closed:
        response.status_code = 200
    return Closed(month=month, closed_at=done.closed_at, closed_by=done.closed_by,
                  months_closed=[m.strftime("%Y-%m") for m in done.months_closed])


@router.put("/clinics/{clinic_id}", response_model=ClinicOut, status_code=200, dependencies=[allow()],
            responses={201: {"model": ClinicOut, "description": "the region given for the first time"},
                       **conflicts("clinic_from_registry", description="the clinic's data came from the registry")},
            summary="Sets a clinic's region, name and settlement where the registry gave none (admin)",
            description="Reference data: the clinic's region, name and settlement (the registry's clinic-registered "
                        "event gives them too; person events carry none). 201 when the region is given for the "
                        "first time, 200 otherwise; the same body again changes nothing.")
async def register_clinic(clinic_id: ClinicIdPath, body: ClinicIn, db: Pool, response: Response) -> ClinicOut:
    async with db.acquire() as conn:
        created, settlement = await store.put_clinic(conn, clinic_id, body.region, body.name, body.settlement)
    if created:
        response.status_code = 201
    return ClinicOut(clinic_id=clinic_id, region=body.region, name=body.name, settlement=settlement)


@router.get("/consumer-lag", response_model=list[PartitionLag], dependencies=[allow("operator")])
async def get_consumer_lag(ctx: Ctx) -> list[PartitionLag]:
    """Per topic and partition, the events on the broker not yet applied to the projection. Works
    whether the consumer runs in this process or in a worker process."""
    probe = ctx.extra.get("lag_probe")
    try:
        if probe is None:
            probe = AIOKafkaConsumer(**client_options(ctx.settings), group_id=None,
                                     request_timeout_ms=5000)
            await asyncio.wait_for(probe.start(), timeout=5)
            ctx.extra["lag_probe"] = probe
        (consumer,) = ctx.spec.consumers     # this app's own (a test may give it another group)
        rows = await asyncio.wait_for(group_lag(ctx.settings, ctx.pool, consumer.group, consumer.topics, probe), 5)
    except (KafkaError, TimeoutError, OSError):
        ctx.extra.pop("lag_probe", None)
        raise Problem(503, "Service unavailable", "Kafka is not reachable", headers={"Retry-After": "2"}) from None
    return [PartitionLag(**x) for x in rows]

async def _close_on_schedule(ctx: ServiceContext) -> None:
    ctx.tasks.append(asyncio.create_task(statements.close_on_schedule(ctx)))


spec = ServiceSpec(
    name="financing",
    title="osms financing",
    description="Live per-clinic attached population, active and insured shares, and per-capita amounts.",
    routers=[router],
    migrations=Path(__file__).parent / "migrations",
    relay=False,
    consumers=[CONSUMER],
    rule_tables=RULE_TABLES,
    count_records=store.visits_on_or_after,
    on_startup=_close_on_schedule,
)
app = create_app(spec)
