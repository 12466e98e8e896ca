"""financing HTTP routes."""
from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Path as PathParam, Query
from pydantic import BaseModel

from services.common import clock
from services.common.app import Ctx, Pool, ServiceSpec, create_app
from services.common.problems import Problem
from services.financing import store
from services.financing.consumer import CONSUMER

router = APIRouter(prefix="/v1")
ClinicIdPath = Annotated[str, PathParam(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]


class ClinicFinancing(BaseModel):
    clinic_id: str
    date: date
    attached: int
    active: int
    active_share: float


class PartitionLag(BaseModel):
    topic: str
    partition: int
    end_offset: int
    applied_offset: int
    lag: int


@router.get("/clinics/{clinic_id}/financing", response_model=ClinicFinancing)
async def clinic_financing(clinic_id: ClinicIdPath, db: Pool,
                           on: Annotated[date | None, Query(alias="date")] = None) -> ClinicFinancing:
    on = on or clock.today()
    async with db.acquire() as conn:
        f = await store.clinic_figures(conn, clinic_id, on)
    share = round(f["active"] / f["attached"], 4) if f["attached"] else 0.0
    return ClinicFinancing(clinic_id=clinic_id, date=on, attached=f["attached"], active=f["active"],
                           active_share=share)


@router.get("/consumer-lag", response_model=list[PartitionLag])
async def consumer_lag(ctx: Ctx) -> list[PartitionLag]:
    consumer = ctx.consumers[0]
    try:
        return [PartitionLag(**x) for x in await consumer.lag()]
    except RuntimeError:
        raise Problem(503, "Service unavailable", "the consumer is not connected to Kafka",
                      headers={"Retry-After": "2"})


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
