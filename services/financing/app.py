"""financing HTTP routes: a clinic's live figures, lists and region totals, the monthly statement,
consumer lag, and the clinics' reference data (region, name), which no event carries."""
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
from services.common.money import Money
from services.common.problems import Problem, invalid, not_found
from services.financing import domain, store
from services.financing.consumer import CONSUMER

router = APIRouter(prefix="/v1")
_CLINIC_PATTERN = r"^[A-Za-z0-9_.:-]+$"
ClinicIdPath = Annotated[str, PathParam(min_length=1, max_length=64, pattern=_CLINIC_PATTERN)]
DateQuery = Annotated[date | None, Query(alias="date", description="YYYY-MM-DD; today when omitted")]
OrderBy = Literal["active_share", "-active_share", "insured_share", "-insured_share", "attached", "-attached",
                  "active", "-active", "insured", "-insured", "clinic_id", "-clinic_id"]


class ClinicFinancing(BaseModel):
    clinic_id: str
    date: date
    attached: int
    active: int = Field(description="attached people with a non-voided visit within the 365 days up to the date")
    insured: int
    active_share: float
    insured_share: float
    monthly_amount: Money = Field(description="counted on the first day of the date's month")
    rules_version: str


class ClinicList(BaseModel):
    date: date
    region: str | None
    order_by: str
    clinics: list[ClinicFinancing]


class RegionFinancing(BaseModel):
    region: str
    date: date
    clinics: int
    attached: int
    active: int
    insured: int
    active_share: float
    insured_share: float
    monthly_amount: Money
    rules_version: str


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


class Statement(BaseModel):
    clinic_id: str
    month: str
    counted_on: date
    rules_version: str
    base_rate: Money
    people: int
    monthly_amount: Money = Field(description="the sum of the lines' amounts")
    lines: list[StatementLine]


class ClinicIn(BaseModel):
    region: str = Field(min_length=1, max_length=100)
    name: str = Field(min_length=1, max_length=300)


class ClinicOut(ClinicIn):
    clinic_id: str


class PartitionLag(BaseModel):
    topic: str
    partition: int
    end_offset: int
    applied_offset: int
    lag: int


def _clinic_financing(f: store.Figures, on: date) -> ClinicFinancing:
    rules = domain.rules_on(domain.month_start(on))
    return ClinicFinancing(
        clinic_id=f.clinic_id, date=on, attached=f.attached, active=f.active, insured=f.insured,
        active_share=domain.share(f.active, f.attached), insured_share=domain.share(f.insured, f.attached),
        monthly_amount=domain.monthly_amount(rules, f.cells or {}), rules_version=rules.version)


@router.get("/clinics/{clinic_id}/financing", response_model=ClinicFinancing,
            dependencies=[allow("operator", "clinic", scope_param="clinic_id")],
            responses={404: {"description": "no event and no reference data names this clinic"}})
async def clinic_financing(clinic_id: ClinicIdPath, db: Pool, on: DateQuery = None) -> ClinicFinancing:
    on = on or clock.today()
    async with db.acquire() as conn:
        found = await store.clinic(conn, clinic_id)
        if found is None:
            raise not_found("clinic", f"financing knows no clinic {clinic_id}")
        (f,) = await store.figures(conn, [found], on)
    return _clinic_financing(f, on)


@router.get("/clinics", response_model=ClinicList, dependencies=[allow("operator")],
            description="Clinics with their figures; by default the lowest active share first, the "
                        "operators' call list. A leading '-' in order_by sorts descending.")
async def list_clinics(db: Pool, on: DateQuery = None,
                       region: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
                       order_by: OrderBy = "active_share",
                       limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> ClinicList:
    on = on or clock.today()
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
            conn, [{"clinic_no": f.clinic_no, "clinic_id": f.clinic_id} for f in page], on)}
    return ClinicList(date=on, region=region, order_by=order_by,
                      clinics=[_clinic_financing(with_cells[f.clinic_no], on) for f in page])


@router.get("/regions/{region}/financing", response_model=RegionFinancing, dependencies=[allow("operator")],
            responses={404: {"description": "no clinic has this region in the reference data"}})
async def region_financing(region: Annotated[str, PathParam(min_length=1, max_length=100)], db: Pool,
                           on: DateQuery = None) -> RegionFinancing:
    on = on or clock.today()
    async with db.acquire() as conn:
        found = await store.clinics(conn, region)
        if not found:
            raise not_found("region", f"no clinic is registered in region {region}")
        all_figures = await store.figures(conn, found, on)
    rules = domain.rules_on(domain.month_start(on))
    attached = sum(f.attached for f in all_figures)
    active = sum(f.active for f in all_figures)
    insured = sum(f.insured for f in all_figures)
    amount = sum((domain.monthly_amount(rules, f.cells or {}) for f in all_figures), Decimal("0.00"))
    return RegionFinancing(region=region, date=on, clinics=len(all_figures), attached=attached, active=active,
                           insured=insured, active_share=domain.share(active, attached),
                           insured_share=domain.share(insured, attached), monthly_amount=amount,
                           rules_version=rules.version)


@router.get("/clinics/{clinic_id}/statements/{month}", response_model=Statement,
            dependencies=[allow("operator", "clinic", scope_param="clinic_id")],
            responses={404: {"description": "unknown clinic"}})
async def clinic_statement(clinic_id: ClinicIdPath, month: str, db: Pool) -> Statement:
    m = re.fullmatch(r"(\d{4})-(\d{2})", month)
    if not m or not 1 <= int(m.group(2)) <= 12 or int(m.group(1)) < 1900:
        raise invalid("month must be YYYY-MM", errors=[{"loc": ["path", "month"], "msg": "expected YYYY-MM"}])
    counted_on = date(int(m.group(1)), int(m.group(2)), 1)
    async with db.acquire() as conn:
        found = await store.clinic(conn, clinic_id)
        if found is None:
            raise not_found("clinic", f"financing knows no clinic {clinic_id}")
        (f,) = await store.figures(conn, [found], counted_on)
    rules = domain.rules_on(counted_on)
    lines = domain.statement_lines(rules, f.cells or {})
    return Statement(
        clinic_id=clinic_id, month=month, counted_on=counted_on, rules_version=rules.version,
        base_rate=rules.base_rate, people=sum(x.people for x in lines),
        monthly_amount=sum((x.amount for x in lines), Decimal("0.00")),
        lines=[StatementLine.model_validate(x, from_attributes=True) for x in lines])


@router.put("/clinics/{clinic_id}", response_model=ClinicOut, status_code=200, dependencies=[allow()],
            responses={201: {"model": ClinicOut, "description": "the region given for the first time"}},
            description="Reference data: the clinic's region and name (events carry neither). 201 when the "
                        "region is given for the first time, 200 otherwise; the same body again changes nothing.")
async def put_clinic(clinic_id: ClinicIdPath, body: ClinicIn, db: Pool, response: Response) -> ClinicOut:
    async with db.acquire() as conn:
        created = await store.put_clinic(conn, clinic_id, body.region, body.name)
    if created:
        response.status_code = 201
    return ClinicOut(clinic_id=clinic_id, region=body.region, name=body.name)


@router.get("/consumer-lag", response_model=list[PartitionLag], dependencies=[allow("operator")])
async def consumer_lag(ctx: Ctx) -> list[PartitionLag]:
    """Per topic and partition, the events on the broker not yet applied to the projection. Works
    whether the consumer runs in this process or in a worker process."""
    probe = ctx.extra.get("lag_probe")
    try:
        if probe is None:
            probe = AIOKafkaConsumer(bootstrap_servers=ctx.settings.kafka_bootstrap, group_id=None,
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
)
app = create_app(spec)
