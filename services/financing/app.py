"""financing HTTP routes: a clinic's live figures, lists and region totals, the monthly statement,
consumer lag, and the clinics' reference data (region, name, settlement), which no person event carries.

Every amount is computed when asked, under the capitation version in force on the first day of the
date's month (services.financing.rules), and names that version."""
from __future__ import annotations

import asyncio
import re
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError
from fastapi import APIRouter, Path as PathParam, Query, Response
from pydantic import BaseModel, Field

from services.common import clock
from services.common.app import Ctx, Pool, ServiceSpec, create_app
from services.common.auth import allow
from services.common.consumer import group_lag
from services.common.kafka import client_options
from services.common.inputs import CLINIC_ID_PATTERN
from services.common.money import Money
from services.common.problems import Problem, invalid, not_found
from services.common.rules import InForce, Rules, RuleSnapshot, refuse_far_ahead, rules_fields, RulesUsed
from services.financing import domain, store
from services.financing.consumer import CONSUMER
from services.financing.rules import RULE_TABLES, Capitation, capitation_on

router = APIRouter(prefix="/v1")
_CLINIC_PATTERN = CLINIC_ID_PATTERN
ClinicIdPath = Annotated[str, PathParam(min_length=1, max_length=64, pattern=_CLINIC_PATTERN)]
DateQuery = Annotated[date | None, Query(alias="date", description="YYYY-MM-DD; today when omitted")]
OrderBy = Literal["active_share", "-active_share", "insured_share", "-insured_share", "attached", "-attached",
                  "active", "-active", "insured", "-insured", "clinic_id", "-clinic_id"]


Settlement = Literal["urban", "rural"]



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
    attached: int
    active: int
    insured: int
    active_share: float
    insured_share: float
    monthly_amount: Money = Field(description="the sum of the clinics' amounts")


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


class Statement(RulesUsed):
    clinic_id: str
    month: str
    counted_on: date
    settlement: Settlement | None = Field(description="the clinic's settlement as financing knows it; null: not "
                                                      "known, paid at the urban base rate")
    base_rate: Money = Field(description="the base rate of the clinic's settlement")
    people: int
    monthly_amount: Money = Field(description="the sum of the lines' amounts")
    lines: list[StatementLine]


class ClinicIn(BaseModel):
    region: str = Field(min_length=1, max_length=100)
    name: str = Field(min_length=1, max_length=300)
    settlement: Settlement | None = Field(default=None, description="picks the base rate; when omitted, the "
                                                                    "settlement already known stays")


class ClinicOut(ClinicIn):
    clinic_id: str
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


def _clinic_financing(f: store.Figures, on: date, rules: InForce[Capitation]) -> ClinicFinancing:
    return ClinicFinancing(
        clinic_id=f.clinic_id, date=on, attached=f.attached, active=f.active, insured=f.insured,
        active_share=domain.share(f.active, f.attached), insured_share=domain.share(f.insured, f.attached),
        monthly_amount=domain.monthly_amount(rules.values, f.settlement, f.cells or {}), **rules_fields(rules))


_DATE_LOC = ["query", "date"]
_FAR_AHEAD = {422: {"description": "invalid, or a date more than 24 months after today"}}


@router.get("/clinics/{clinic_id}/financing", response_model=ClinicFinancing,
            dependencies=[allow("operator", "clinic", scope_param="clinic_id")],
            responses={404: {"description": "no event and no reference data names this clinic"}, **_FAR_AHEAD})
async def clinic_financing(clinic_id: ClinicIdPath, db: Pool, snap: Rules, on: DateQuery = None) -> ClinicFinancing:
    on = on or clock.today()
    rules = capitation(snap, on, _DATE_LOC)
    async with db.acquire() as conn:
        found = await store.clinic(conn, clinic_id)
        if found is None:
            raise not_found("clinic", f"financing knows no clinic {clinic_id}")
        (f,) = await store.figures(conn, [found], on)
    return _clinic_financing(f, on, rules)


@router.get("/clinics", response_model=ClinicList, dependencies=[allow("operator")], responses=_FAR_AHEAD,
            description="Clinics with their figures; by default the lowest active share first, the "
                        "operators' call list. A leading '-' in order_by sorts descending.")
async def list_clinics(db: Pool, snap: Rules, on: DateQuery = None,
                       region: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
                       order_by: OrderBy = "active_share",
                       limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> ClinicList:
    on = on or clock.today()
    rules = capitation(snap, on, _DATE_LOC)
    key, desc = order_by.lstrip("-"), order_by.startswith("-")
    async with db.acquire() as conn:
        found = await store.clinics(conn, region)
        counted = await store.figures(conn, found, on, cells=False)

        def sort_key(f: store.Figures):
            if key == "active_share":
                return domain.share(f.active, f.attached)
            if key == "insured_share":
                return domain.share(f.insured, f.attached)
            return getattr(f, key)

        counted.sort(key=lambda f: f.clinic_id)
        counted.sort(key=sort_key, reverse=desc)
        page = counted[:limit]
        # The amounts only for the page: they need the cells, the counts do not.
        with_cells = {f.clinic_no: f for f in await store.figures(
            conn, [{"clinic_no": f.clinic_no, "clinic_id": f.clinic_id, "settlement": f.settlement} for f in page],
            on)}
    return ClinicList(date=on, region=region, order_by=order_by,
                      clinics=[_clinic_financing(with_cells[f.clinic_no], on, rules) for f in page])


@router.get("/regions/{region}/financing", response_model=RegionFinancing, dependencies=[allow("operator")],
            responses={404: {"description": "no clinic has this region in the reference data"}, **_FAR_AHEAD})
async def region_financing(region: Annotated[str, PathParam(min_length=1, max_length=100)], db: Pool,
                           snap: Rules, on: DateQuery = None) -> RegionFinancing:
    on = on or clock.today()
    rules = capitation(snap, on, _DATE_LOC)
    async with db.acquire() as conn:
        found = await store.clinics(conn, region)
        if not found:
            raise not_found("region", f"no clinic is registered in region {region}")
        all_figures = await store.figures(conn, found, on)
    attached = sum(f.attached for f in all_figures)
    active = sum(f.active for f in all_figures)
    insured = sum(f.insured for f in all_figures)
    # Each clinic at the base rate of its own settlement.
    amount = sum((domain.monthly_amount(rules.values, f.settlement, f.cells or {}) for f in all_figures),
                 Decimal("0.00"))
    return RegionFinancing(region=region, date=on, clinics=len(all_figures), attached=attached, active=active,
                           insured=insured, active_share=domain.share(active, attached),
                           insured_share=domain.share(insured, attached), monthly_amount=amount,
                           **rules_fields(rules))


@router.get("/clinics/{clinic_id}/statements/{month}", response_model=Statement,
            dependencies=[allow("operator", "clinic", scope_param="clinic_id")],
            responses={404: {"description": "unknown clinic"}, 422: {"description": "not a month, or one more "
                                                                               "than 24 months after today"}})
async def clinic_statement(clinic_id: ClinicIdPath, month: str, db: Pool, snap: Rules) -> Statement:
    m = re.fullmatch(r"(\d{4})-(\d{2})", month)
    if not m or not 1 <= int(m.group(2)) <= 12 or int(m.group(1)) < 1900:
        raise invalid("month must be YYYY-MM", errors=[{"loc": ["path", "month"], "msg": "expected YYYY-MM"}])
    counted_on = date(int(m.group(1)), int(m.group(2)), 1)
    rules = capitation(snap, counted_on, ["path", "month"])
    async with db.acquire() as conn:
        found = await store.clinic(conn, clinic_id)
        if found is None:
            raise not_found("clinic", f"financing knows no clinic {clinic_id}")
        (f,) = await store.figures(conn, [found], counted_on)
    lines = domain.statement_lines(rules.values, f.settlement, f.cells or {})
    return Statement(
        clinic_id=clinic_id, month=month, counted_on=counted_on, settlement=f.settlement,
        base_rate=domain.base_rate(rules.values, f.settlement), people=sum(x.people for x in lines),
        monthly_amount=sum((x.amount for x in lines), Decimal("0.00")),
        lines=[StatementLine.model_validate(x, from_attributes=True) for x in lines], **rules_fields(rules))


@router.put("/clinics/{clinic_id}", response_model=ClinicOut, status_code=200, dependencies=[allow()],
            responses={201: {"model": ClinicOut, "description": "the region given for the first time"}},
            description="Reference data: the clinic's region, name and settlement (the registry's clinic-registered "
                        "event gives them too; person events carry none). 201 when the region is given for the "
                        "first time, 200 otherwise; the same body again changes nothing.")
async def put_clinic(clinic_id: ClinicIdPath, body: ClinicIn, db: Pool, response: Response) -> ClinicOut:
    async with db.acquire() as conn:
        created, settlement = await store.put_clinic(conn, clinic_id, body.region, body.name, body.settlement)
    if created:
        response.status_code = 201
    return ClinicOut(clinic_id=clinic_id, region=body.region, name=body.name, settlement=settlement)


@router.get("/consumer-lag", response_model=list[PartitionLag], dependencies=[allow("operator")])
async def consumer_lag(ctx: Ctx) -> list[PartitionLag]:
    """Per topic and partition, the events on the broker not yet applied to the projection. Works
    whether the consumer runs in this process or in a worker process."""
    probe = ctx.extra.get("lag_probe")
    try:
        if probe is None:
            probe = AIOKafkaConsumer(**client_options(ctx.settings), group_id=None,
                                     request_timeout_ms=5000)
            await asyncio.wait_for(probe.start(), timeout=5)
            ctx.extra["lag_probe"] = probe
        rows = await asyncio.wait_for(group_lag(ctx.settings, ctx.pool, CONSUMER.group, CONSUMER.topics, probe), 5)
    except (KafkaError, TimeoutError, OSError):
        ctx.extra.pop("lag_probe", None)
        raise Problem(503, "Service unavailable", "Kafka is not reachable", headers={"Retry-After": "2"}) from None
    return [PartitionLag(**x) for x in rows]



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
)
app = create_app(spec)
