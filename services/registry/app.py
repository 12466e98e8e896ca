"""registry HTTP routes."""
from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Path as PathParam, Response
from pydantic import BaseModel, Field

from services.common import clock
from services.common.app import Pool, ServiceSpec, create_app
from services.common.ids import IIN
from services.common.problems import conflict, not_found
from services.registry import store
from services.registry.domain import VisitIn

router = APIRouter(prefix="/v1")

_CLINIC_PATTERN = r"^[A-Za-z0-9_.:-]+$"
_CLINIC_ID = Field(min_length=1, max_length=64, pattern=_CLINIC_PATTERN)
ClinicIdPath = Annotated[str, PathParam(min_length=1, max_length=64, pattern=_CLINIC_PATTERN,
                                        description="the Fund's clinic code")]


class ClinicIn(BaseModel):
    name: str = Field(min_length=1, max_length=300)
    region: str = Field(min_length=1, max_length=100)
    settlement: Literal["urban", "rural"]


class Clinic(ClinicIn):
    clinic_id: str


class AttachmentIn(BaseModel):
    iin: IIN
    clinic_id: str = _CLINIC_ID
    reason: Literal["choice", "address_change", "newborn", "campaign"]
    effective_date: date


class Attachment(BaseModel):
    attachment_id: str
    iin: str
    clinic_id: str
    previous_clinic_id: str | None


class VisitItem(BaseModel):
    visit_id: str = Field(min_length=1, max_length=64)
    clinic_id: str = Field(min_length=1, max_length=64)
    iin: str = Field(max_length=32, description="checked per visit: a bad IIN rejects that visit only")
    date: date
    kind: str = Field(min_length=1, max_length=64)
    practitioner_id: str | None = Field(default=None, max_length=64)


class VisitsIn(BaseModel):
    visits: list[VisitItem] = Field(min_length=1, max_length=1000)


class VisitResult(BaseModel):
    visit_id: str
    status: Literal["recorded", "duplicate", "rejected"]
    errors: list[str]


class VisitsOut(BaseModel):
    results: list[VisitResult]


@router.put("/clinics/{clinic_id}", response_model=Clinic, status_code=200,
            responses={201: {"model": Clinic, "description": "created"}})
async def put_clinic(clinic_id: ClinicIdPath, body: ClinicIn, db: Pool, response: Response) -> Clinic:
    async with db.acquire() as conn:
        clinic, created = await store.upsert_clinic(conn, clinic_id, body.name, body.region, body.settlement)
    response.status_code = 201 if created else 200
    return Clinic(**clinic)


@router.get("/clinics/{clinic_id}", response_model=Clinic, responses={404: {"description": "unknown clinic"}})
async def get_clinic(clinic_id: ClinicIdPath, db: Pool) -> Clinic:
    async with db.acquire() as conn:
        clinic = await store.get_clinic(conn, clinic_id)
    if clinic is None:
        raise not_found("clinic")
    return Clinic(**clinic)


@router.post("/attachments", response_model=Attachment, status_code=201,
             responses={409: {"description": "a rule forbids it"}})
async def post_attachment(body: AttachmentIn, db: Pool) -> Attachment:
    async with db.acquire() as conn:
        if await store.get_clinic(conn, body.clinic_id) is None:
            raise conflict("unknown_clinic", "the clinic is not registered")
        result = await store.attach(conn, body.iin, body.clinic_id, body.reason, body.effective_date)
    return Attachment(**result)


@router.post("/visits", response_model=VisitsOut)
async def post_visits(body: VisitsIn, db: Pool) -> VisitsOut:
    visits = [VisitIn(v.visit_id, v.clinic_id, v.iin, v.date, v.kind, v.practitioner_id) for v in body.visits]
    async with db.acquire() as conn:
        results = await store.record_visits(conn, visits, clock.today())
    return VisitsOut(results=[VisitResult(**r) for r in results])


spec = ServiceSpec(
    name="registry",
    title="osms registry",
    description="Clinics, attachment of people to PHC clinics, deaths, and visits pushed by clinic systems.",
    routers=[router],
    migrations=Path(__file__).parent / "migrations",
)
app = create_app(spec)
