"""feedback HTTP routes: register appeals, move them through their lifecycle, list and count them."""
from __future__ import annotations

import hashlib
import uuid
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, Header, Query, Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from services.common import clock
from services.common.app import Pool, ServiceSpec, create_app
from services.common.auth import Principal, allow
from services.common.ids import IIN
from services.common.inputs import ClinicId
from services.common.logs import get_logger
from services.common.problems import Problem, conflicts, invalid, not_found
from services.common.inputs import Day
from services.common.rules import Rules
from services.feedback import domain, store
from services.feedback.consumer import CONSUMER
from services.feedback.denials import DENIALS
from services.feedback.rules import RULE_TABLES, appeal_rules

log = get_logger(__name__)
router = APIRouter(prefix="/v1")

Channel = Literal["call_center", "mobile_app", "website", "telegram", "clinic_desk"]
Kind = Literal["consultation", "complaint"]
Category = Literal["quality_of_care", "refusal_of_care", "refusal_of_medicines", "charged_for_free_service",
                   "service_not_provided", "other"]
Status = Literal["registered", "in_review", "extended", "resolved_on_spot", "withdrawn", "upheld", "rejected",
                 "answered"]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=10_000)]
Region = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
VisitId = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Key = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Operator = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]

IdempotencyKey = Annotated[Key | None, Header(alias="Idempotency-Key",
                                              description="same key and body: the same answer, nothing added")]
# The Fund's operators register and work appeals (admin too); who acted defaults to the key's id.
OperatorKey = Annotated[Principal, allow("operator")]
OperatorHeader = Annotated[Operator | None, Header(alias="X-Operator", description="who acts (until auth comes)")]


class AppealBody(BaseModel):
    channel: Channel
    kind: Kind
    category: Category | None = Field(default=None, description="complaints only, and required for them")
    region: Region
    iin: IIN | None = Field(default=None, description="required for complaints; a consultation may be anonymous")
    clinic_id: ClinicId | None = None
    visit_id: VisitId | None = Field(default=None, description="the disputed visit, with its clinic_id")
    text: Text
    reference: Key | None = Field(default=None, description="idempotency reference (or the Idempotency-Key header)")

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"channel": "call_center", "kind": "complaint", "category": "service_not_provided", "region": "Kyzylorda",
         "iin": "900315400017", "clinic_id": "KZO-0001", "visit_id": "V-0001",
         "text": "The clinic recorded a visit I never made", "reference": "1414-2026-12-07-0042"}]})


class RulesUsed(BaseModel):
    rules_version: str = Field(description="the calendar versions and the deadline rule the due date was counted "
                                           "with ('' for appeals registered before the rule tables)")
    rules_provisional: bool = Field(description="true when a year on the way had no published calendar: its days "
                                                "were counted by weekends only")


class Registered(RulesUsed):
    appeal_id: str
    registration_number: str
    status: Literal["registered"]
    due_date: date
    due_date_provisional: bool = Field(description="the same as rules_provisional")


class TransitionBody(BaseModel):
    to: Status
    note: Annotated[str, StringConstraints(max_length=4000)] | None = Field(
        default=None, description="required for `extended`: the notice sent to the applicant")
    by: Operator | None = Field(default=None, description="the operator (or the X-Operator header)")
    due_date: Day | None = Field(default=None, description="`extended` only; default and maximum: two months "
                                                               "from registration")

    model_config = ConfigDict(json_schema_extra={"examples": [{"to": "in_review", "note": "taken by the regional office"}]})


class Transition(BaseModel):
    from_: Status | None = Field(alias="from", serialization_alias="from")
    to: Status
    by: str
    at: datetime
    note: str | None
    due_date: date | None


class AppealSummary(RulesUsed):
    appeal_id: str
    registration_number: str
    kind: Kind
    category: Category | None
    channel: Channel
    region: str
    clinic_id: str | None
    visit_id: str | None
    status: Status
    registered_on: date
    due_date: date
    due_date_provisional: bool
    extension_limit: date = Field(description="the latest date an extension may set (the deadline rule in force "
                                              "at registration)")
    extended_due_date: date | None
    resolved_on: date | None
    overdue: bool


class Appeal(AppealSummary):
    iin: str | None
    text: str
    registered_at: datetime
    transitions: list[Transition]


class AppealPage(BaseModel):
    appeals: list[AppealSummary]
    next: str | None = Field(description="pass as `after` for the next page; null on the last page")


class Stats(BaseModel):
    appeals: int
    by_kind: dict[str, int]
    by_category: dict[str, int]
    by_status: dict[str, int]
    resolved_on_spot_or_withdrawn_share: float | None = Field(description="of complaints, in [0, 1]")
    by_category_share: dict[str, float | None] = Field(description="each category's share of complaints")
    overdue: int


def _hash(body: BaseModel, exclude: set[str]) -> bytes:
    return hashlib.sha256(orjson.dumps(body.model_dump(mode="json", exclude=exclude),
                                       option=orjson.OPT_SORT_KEYS)).digest()


def _view(row: dict, today: date) -> dict:
    row = {**row, "appeal_id": str(row["appeal_id"])}
    row["overdue"] = domain.is_overdue(row["status"], row["due_date"], row["extended_due_date"], today)
    return row


@router.post("/appeals", status_code=201, response_model=Registered,
             responses={**conflicts("idempotency_key_reused", description="the idempotency key was used for another appeal"),
                        422: {"description": "invalid appeal"}})
async def register_appeal(body: AppealBody, db: Pool, response: Response, principal: OperatorKey, snap: Rules,
                      idempotency_key: IdempotencyKey = None, operator: OperatorHeader = None) -> dict:
    """Registers a citizen's appeal (a consultation or a complaint) with its registration number.

    The due date is 15 working days after registration by the published calendar. The same reference (or
    Idempotency-Key) again answers the same appeal (operators)."""
    a = domain.AppealIn(body.channel, body.kind, body.category, body.region, body.iin, body.clinic_id,
                        body.visit_id, body.text)
    now = clock.now()
    registered_on = now.date()
    errors = domain.appeal_errors(a, registered_on)
    if errors:
        raise invalid("the appeal breaks a rule", errors)
    if body.reference and idempotency_key and body.reference != idempotency_key:
        raise invalid("`reference` and the Idempotency-Key header differ",
                      [{"loc": ["body", "reference"], "msg": "differs from the Idempotency-Key header"}])
    rules = appeal_rules(snap, registered_on)
    if rules is None:  # the seed publishes one from 2021; only a broken database lacks it
        raise Problem(503, "Service unavailable", f"no deadline rule is in force on {registered_on}",
                      headers={"Retry-After": "60"})
    due = domain.due_date(registered_on, rules.calendars, rules.deadline)
    async with db.acquire() as conn:
        result, replayed = await store.register(
            conn, a, registered_at=now, registered_on=registered_on, due=due,
            by=operator or f"key:{principal.key_id}", idempotency_key=body.reference or idempotency_key,
            request_hash=_hash(body, {"reference"}))
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    else:
        # Texts and IINs are personal data: the id and the number only.
        log.info("appeal registered", appeal_id=result["appeal_id"],
                 registration_number=result["registration_number"], provisional_due=due.provisional)
        if due.provisional:
            log.warning("no published calendar for a year on the way; due date counts weekends only",
                        appeal_id=result["appeal_id"], due_date=str(due.due_date))
    return result


@router.get("/appeals/{appeal_id}", response_model=Appeal, response_model_by_alias=True,
            responses={404: {"description": "unknown appeal"}})
async def get_appeal(appeal_id: uuid.UUID, db: Pool, _: OperatorKey) -> dict:
    """An appeal: its status, due date, whether it is overdue, and every transition.

    Operators only: an appeal's text and IIN are personal data."""
    async with db.acquire() as conn:
        row = await store.get_appeal(conn, appeal_id)
    if row is None:
        raise not_found("appeal")
    return _view(row, clock.today())


@router.post("/appeals/{appeal_id}/transitions", response_model=Appeal, response_model_by_alias=True,
             responses={404: {"description": "unknown appeal"},
                        **conflicts("appeal_closed", "deadline_passed", "disputed_visit_not_known",
                                    "disputed_visit_not_the_complainants", "due_date_only_on_extension",
                                    "extension_beyond_limit", "extension_needs_notice", "extension_not_later",
                                    "idempotency_key_reused", "status_not_for_kind", "transition_not_allowed",
                                    "unknown_status",
                                    description="the lifecycle does not allow it, or an upheld service_not_provided "
                                                "complaint names no visit the registry recorded at that clinic for "
                                                "the complainant (`rule` says which)")})
async def transition_appeal(appeal_id: uuid.UUID, body: TransitionBody, db: Pool, principal: OperatorKey,
                          idempotency_key: IdempotencyKey = None, operator: OperatorHeader = None) -> dict:
    """Moves an appeal along its lifecycle: review, extension, and the outcome.

    A transition the lifecycle does not allow is a 409 naming the rule; an upheld `service_not_provided`
    complaint voids the disputed visit (`appeal-resolved`)."""
    now = clock.now()
    t = store.TransitionIn(to=body.to, note=body.note, by=body.by or operator or f"key:{principal.key_id}",
                           due_date=body.due_date, idempotency_key=idempotency_key,
                           request_hash=_hash(body, set()))
    async with db.acquire() as conn:
        replayed = await store.transition(conn, appeal_id, t, at=now, today=now.date())
        row = await store.get_appeal(conn, appeal_id)
    if not replayed:
        log.info("appeal moved", appeal_id=str(appeal_id), to=body.to)
    return _view(row, now.date())


def _cursor(row: dict, overdue_first: bool) -> str:
    if overdue_first:
        return f"{int(not row['overdue'])}.{domain.effective_due(row['due_date'], row['extended_due_date'])}." \
               f"{row['seq']}"
    return str(row["seq"])


def _parse_cursor(after: str, overdue_first: bool) -> tuple:
    try:
        if overdue_first:
            flag, due, seq = after.split(".")
            return int(flag), date.fromisoformat(due), int(seq)
        return (int(after),)
    except ValueError:
        raise invalid("`after` is not a cursor from this listing",
                      [{"loc": ["query", "after"], "msg": "not a cursor of this ordering"}]) from None


@router.get("/appeals", response_model=AppealPage)
async def list_appeals(db: Pool, _: OperatorKey, region: Region | None = None, clinic_id: ClinicId | None = None,
                       status: Status | None = None, category: Category | None = None,
                       channel: Channel | None = None, kind: Kind | None = None,
                       overdue_first: bool = True, limit: Annotated[int, Query(ge=1, le=500)] = 50,
                       after: Annotated[str | None, Query(max_length=100)] = None) -> dict:
    """Appeals by region, clinic, status, category, channel or kind, a page at a time.

    Overdue first by default, then by due date; pass the answer's `next` as `after` for the next page."""
    today = clock.today()
    cursor = _parse_cursor(after, overdue_first) if after else None
    f = store.ListFilter(region=region, clinic_id=clinic_id, status=status, category=category,
                         channel=channel, kind=kind)
    async with db.acquire() as conn:
        rows = await store.list_appeals(conn, f, today=today, overdue_first=overdue_first, limit=limit + 1,
                                        after=cursor)
    page = rows[:limit]
    return {"appeals": [_view(r, today) for r in page],
            "next": _cursor(page[-1], overdue_first) if len(rows) > limit else None}


@router.get("/stats", response_model=Stats)
async def get_appeal_stats(db: Pool, _: OperatorKey, region: Region | None = None,
                from_: Annotated[Day | None, Query(alias="from", description="YYYY-MM-DD")] = None,
                to: Annotated[Day | None, Query(description="YYYY-MM-DD")] = None) -> dict:
    """Appeal statistics as the Fund publishes them, for a region and a period of registration.

    Counts by kind, category and status, the share of complaints resolved on the spot or withdrawn, and
    how many are overdue."""
    if from_ and to and from_ > to:
        raise invalid("`from` is after `to`", [{"loc": ["query", "from"], "msg": "after `to`"}])
    async with db.acquire() as conn:
        rows = await store.count_rows(conn, region=region, from_=from_, to=to, today=clock.today())
    return domain.summarize(rows)


spec = ServiceSpec(
    name="feedback",
    title="osms feedback",
    description="Citizens' appeals: registration with statutory deadlines, the lifecycle, lists and statistics.",
    routers=[router],
    migrations=Path(__file__).parent / "migrations",
    consumers=[CONSUMER, DENIALS],
    rule_tables=RULE_TABLES,
    count_records=store.records_on_or_after,
)
app = create_app(spec)
