"""registry HTTP routes: clinics, people (attachments, deaths) and visits pushed by clinic systems."""
from __future__ import annotations

import base64
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Path as PathParam, Query, Request, Response
import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.common import clock
from services.common.app import Pool, ServiceSpec, create_app
from services.common.auth import Auth, Principal, allow
from services.common.logs import get_logger, mask_iin
from services.common.ids import IIN, IinItem
from services.common.inputs import TEXT_PATTERN, ClinicId, ClinicIdPath, Day
from services.common.native import osms_native
from services.common.problems import Problem, conflict, conflicts, invalid, not_found
from services.common.rules import InForce, Rules, RuleSnapshot, refuse_far_ahead, rules_fields, RulesUsed
from services.registry import confirmations_api, domain, fhir, integrity, store
from services.registry.consumer import CONSUMER
from services.registry.domain import AttachmentRequest, Backdating, VisitIn
from services.registry.rules import (RULE_TABLES, VisitRules, attachment_rules, confirmation_rules, visit_rules,
                                     visit_rules_for, volume_limits)

log = get_logger(__name__)
visits_body = osms_native.visits_body
router = APIRouter(prefix="/v1")

_TEXT = TEXT_PATTERN
IinPath = Annotated[IIN, PathParam(description="the person's IIN (12 digits, check digit verified)")]


class ClinicIn(BaseModel):
    name: str = Field(min_length=1, max_length=300, pattern=_TEXT)
    region: str = Field(min_length=1, max_length=100, pattern=_TEXT)
    settlement: Literal["urban", "rural"]

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"name": "Polyclinic No. 1", "region": "Kyzylorda", "settlement": "urban"}]})


class Clinic(ClinicIn):
    clinic_id: str

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"clinic_id": "KZO-0001", "name": "Polyclinic No. 1", "region": "Kyzylorda", "settlement": "urban"}]})


class ClinicPage(BaseModel):
    clinics: list[Clinic]
    next_after: str | None = Field(description="pass as `after` for the next page; null on the last one")



class AttachmentIn(BaseModel):
    iin: IIN
    clinic_id: ClinicId
    reason: Literal["choice", "address_change", "newborn", "campaign"]
    effective_date: Day
    backdate_reason: str | None = Field(
        default=None, min_length=3, max_length=1000, pattern=_TEXT,
        description="why an admin's attachment takes effect further back than a clinic's may (the "
                    "attachment rules' `clinic_backdate_days`); required then, and recorded with the attachment")

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"iin": "900315400017", "clinic_id": "KZO-0001", "reason": "choice", "effective_date": "2026-12-07"}]})


class Attachment(RulesUsed):
    attachment_id: str
    iin: str
    clinic_id: str
    previous_clinic_id: str | None = Field(description="the clinic the person was detached from; always null "
                                                       "to a clinic's key: that clinic learns it from its events "
                                                       "and lists, not from another clinic's answer")


class AttachmentHistoryItem(BaseModel):
    attachment_id: str
    clinic_id: str
    previous_clinic_id: str | None
    reason: str
    effective_date: date
    ended_on: date | None
    requested_by: str = Field(description="role:key_id of the key that asked for it (empty before 2026-12)")
    backdate_reason: str | None = Field(description="an admin's reason for an effective date further back "
                                                    "than a clinic's may be")


class Person(BaseModel):
    iin: str
    birth_date: date
    sex: Literal["M", "F"]
    clinic_id: str | None = Field(description="the clinic in force today")
    attached_since: date | None
    died_on: date | None
    history: list[AttachmentHistoryItem] = Field(description="every attachment, oldest first")


class DeathIn(BaseModel):
    date: Day

    model_config = ConfigDict(json_schema_extra={"examples": [{"date": "2026-12-01"}]})


class VisitItem(BaseModel):
    visit_id: str = Field(min_length=1, max_length=64, pattern=_TEXT)
    clinic_id: str = Field(min_length=1, max_length=64, pattern=_TEXT,
                           description="an unregistered clinic rejects that visit only")
    iin: IinItem = Field(max_length=32, description="checked per visit: a bad IIN rejects that visit only")
    date: Day
    kind: str = Field(min_length=1, max_length=64, pattern=_TEXT,
                      description="one of the visit kinds of the rule table; another rejects that visit only")
    practitioner_id: str | None = Field(default=None, max_length=64, pattern=_TEXT, description="empty means none")


class VisitsIn(BaseModel):
    visits: list[VisitItem] = Field(min_length=1, max_length=1000)

    model_config = ConfigDict(json_schema_extra={"examples": [{"visits": [
        {"visit_id": "V-0001", "clinic_id": "KZO-0001", "iin": "900315400017", "date": "2026-12-03",
         "kind": "consultation", "practitioner_id": "DOC-17"}]}]})


class VisitResult(BaseModel):
    visit_id: str
    status: Literal["recorded", "duplicate", "rejected"]
    errors: list[str]
    integrity: Literal["clear", "held"] | None = Field(
        default=None, description="of a recorded visit (and a duplicate's, as it stands now): a held visit "
                                  "does not count towards activity until an operator clears it")
    reasons: list[str] | None = Field(default=None, description="why it is held: kind_sex, kind_age, "
                                                                "practitioner_volume, after_death, repeated_visit")


class VisitsOut(RulesUsed):
    results: list[VisitResult]


class PractitionerVolume(BaseModel):
    practitioner_id: str | None
    visits: int
    patients: int
    over_norm: bool


class PractitionerVolumes(RulesUsed):
    clinic_id: str
    date: date
    daily_norm: int
    practitioners: list[PractitionerVolume]


def _published(found: InForce | None, table: str) -> InForce:
    # Only before migration 0004 seeded the table (versions are never deleted): not the caller's fault.
    if found is None:
        raise Problem(503, "Service unavailable", f"no {table} rules are published", headers={"Retry-After": "60"})
    return found


# ---------------------------------------------------------------- clinics

@router.put("/clinics/{clinic_id}", response_model=Clinic, status_code=200, dependencies=[allow()],
            responses={201: {"model": Clinic, "description": "created"}})
async def register_clinic(clinic_id: ClinicIdPath, body: ClinicIn, db: Pool, response: Response) -> Clinic:
    """Registers a clinic under the Fund's code, or changes its name, region or settlement (admin).

    201 when the code is new, 200 when it was known; financing learns the clinic from
    `clinic-registered`."""
    async with db.acquire() as conn:
        clinic, created = await store.upsert_clinic(conn, clinic_id, body.name, body.region, body.settlement)
    response.status_code = 201 if created else 200
    return Clinic(**clinic)


@router.get("/clinics/{clinic_id}", response_model=Clinic,
            dependencies=[allow("operator", "clinic", scope_param="clinic_id")], responses={404: {"description": "unknown clinic"}})
async def get_clinic(clinic_id: ClinicIdPath, db: Pool) -> Clinic:
    """A registered clinic: its name, region and settlement.

    A clinic's key reads its own clinic only."""
    async with db.acquire() as conn:
        clinic = await store.get_clinic(conn, clinic_id)
    if clinic is None:
        raise not_found("clinic")
    return Clinic(**clinic)


@router.get("/clinics", response_model=ClinicPage, dependencies=[allow("operator")])
async def list_clinics(db: Pool, region: Annotated[str | None, Query(max_length=100, pattern=_TEXT)] = None,
                       limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                       after: Annotated[str | None, Query(max_length=64, pattern=_TEXT)] = None) -> ClinicPage:
    """Registered clinics, by code, a page at a time (operators).

    Filter by region; pass the answer's `next_after` as `after` for the next page."""
    async with db.acquire() as conn:
        rows = await store.list_clinics(conn, region, after, limit)
    return ClinicPage(clinics=[Clinic(**r) for r in rows],
                      next_after=rows[-1]["clinic_id"] if len(rows) == limit else None)


@router.get("/clinics/{clinic_id}/practitioner-volumes", response_model=PractitionerVolumes,
            dependencies=[allow("operator", "clinic", scope_param="clinic_id")],
            responses={404: {"description": "unknown clinic"}},
            summary="Visits and patients per practitioner on a day (padded-records checks)")
async def get_practitioner_volumes(clinic_id: ClinicIdPath, db: Pool, snap: Rules,
                                   on: Annotated[Day | None, Query(alias="date")] = None) -> PractitionerVolumes:
    """Over the norm: more patients than the practitioner's daily norm of the visit rules in force that day.
    A clinic's key reads its own clinic only."""
    today = clock.today()
    on = on or today
    refuse_far_ahead(on, today, ["query", "date"])
    rules = _published(visit_rules(snap, on), "visits")
    norm = rules.values.practitioner_daily_norm
    async with db.acquire() as conn:
        if await store.get_clinic(conn, clinic_id) is None:
            raise not_found("clinic")
        rows = await store.practitioner_volumes(conn, clinic_id, on)
    return PractitionerVolumes(clinic_id=clinic_id, date=on, daily_norm=norm, practitioners=[
        PractitionerVolume(**r, over_norm=r["patients"] > norm) for r in rows], **rules_fields(rules))


# ---------------------------------------------------------------- people

@router.post("/attachments", response_model=Attachment, status_code=201,
             responses={**conflicts("already_attached", "campaign_closed", "campaign_effective_date",
                                    "clinic_backdate_limit", "effective_date_before_current",
                                    "effective_date_in_future", "newborn_not_first_attachment", "newborn_too_old",
                                    "person_deceased", "unknown_clinic", "voluntary_change_limit",
                                    description="a rule forbids it; `rule` names the rule. To a clinic's key the "
                                                "words and fields tell nothing of another clinic or of the "
                                                "person's death or other attachments; an admin's also gets "
                                                "those facts"),
                        422: {"description": "invalid input, among it an IIN born after the effective date and an "
                                             "admin's attachment further back than a clinic's may be without a "
                                             "`backdate_reason`"}})
async def attach_person(body: AttachmentIn, db: Pool, principal: Auth, snap: Rules) -> Attachment:
    """Attaches a person by the attachment rules in force on the effective date; a repeat of an
    accepted request answers the same attachment again. A clinic's attachment takes effect at most
    `clinic_backdate_days` before today (the rules in force today); further back is an admin's
    correction with a `backdate_reason`."""
    principal.require("clinic", scope=body.clinic_id)  # a clinic attaches people to itself only
    today = clock.today()
    refuse_far_ahead(body.effective_date, today, ["body", "effective_date"])
    rules = _published(attachment_rules(snap, body.effective_date), "attachment")
    intake = attachment_rules(snap, today)
    correction = principal.role == "admin"
    backdating = Backdating(intake.values.clinic_backdate_days if intake else None, correction, body.backdate_reason)
    req = AttachmentRequest(body.iin, body.clinic_id, body.reason, body.effective_date)
    async with db.acquire() as conn:
        result = await store.attach(conn, req, rules, today, backdating=backdating, intake=intake,
                                    requested_by=f"{principal.role}:{principal.key_id}", discreet=not correction)
    log.info("attachment", iin=mask_iin(body.iin), clinic_id=body.clinic_id, reason=body.reason,
             previous_clinic_id=result["previous_clinic_id"])
    return Attachment(**result)


@router.get("/persons/{iin}", response_model=Person, dependencies=[allow("operator")], responses={404: {"description": "unknown person"}})
async def get_person(iin: IinPath, db: Pool) -> Person:
    """A person: birth date and sex (from the IIN), the clinic in force today, the date of death.

    With every attachment, oldest first (operators)."""
    async with db.acquire() as conn:
        person = await store.get_person(conn, iin, clock.today())
    if person is None:
        raise not_found("person")
    return Person(**person)


@router.post("/persons/{iin}/death", response_model=Person, dependencies=[allow()],
             responses={**conflicts("death_already_recorded", description="another date of death is recorded"),
                        422: {"description": "a date in the future or before birth"}})
async def record_death(iin: IinPath, body: DeathIn, db: Pool, principal: Auth) -> Person:
    """Records a death: detaches the person on that date, and holds the visits already recorded after
    it (`after_death`). The same date again answers the same."""
    async with db.acquire() as conn:
        person = await store.record_death(conn, iin, body.date, clock.today(),
                                          actor=f"{principal.role}:{principal.key_id}")
    log.info("death recorded", iin=mask_iin(iin), date=str(body.date))
    return Person(**person)


# ---------------------------------------------------------------- visits

def _inline_schema(model: type[BaseModel]) -> dict:
    """The model's JSON schema with its $defs inlined, for an OpenAPI body declared by hand."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def resolve(node):
        if isinstance(node, dict):
            if "$ref" in node:
                return resolve(defs[node["$ref"].rsplit("/", 1)[-1]])
            return {k: resolve(v) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    return resolve(schema)


def visits_of(raw: bytes) -> list[VisitIn]:
    """The request's visits. A body in the native reader's strict subset of the schema is read there
    (osms_native.visits_body: the same values in half the time, tuples made included); any other is
    validated by the model, which answers the 422."""
    rows = visits_body(raw)
    if rows is None:
        try:
            body = VisitsIn.model_validate_json(raw)
        except ValidationError as exc:
            raise invalid("the request does not match the schema", errors=[
                {"loc": ["body", *e["loc"]], "msg": e["msg"], "type": e["type"]} for e in exc.errors()]) from None
        rows = [(v.visit_id, v.clinic_id, v.iin, v.date, v.kind, v.practitioner_id) for v in body.visits]
    return [VisitIn(a, b, c, d, e, f or None) for a, b, c, d, e, f in rows]  # an empty practitioner: none


@router.post("/visits", response_model=VisitsOut,
             responses={422: {"description": "the body does not match the schema"}},
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/json": {"schema": _inline_schema(VisitsIn)}}}})
async def record_visits(request: Request, db: Pool, principal: Auth, snap: Rules) -> Response:
    """Records a clinic's visits, each judged alone: recorded, duplicate or rejected.

    Up to 1,000 visits; each is judged alone and answered in order, its kind by the visit rules in
    force on its date. The answer names the versions used. A clinic reports visits at most
    `clinic_report_days` old (`report_window_passed`); an admin's request is a correction, not bound
    by it. A visit after the person's death is rejected as `visit_after_death`, without a date, and
    only when nothing else rejects it and its id is new.

    The hot path of the service (clinic systems push all day), so the body is validated straight
    from bytes and the answer serialized with orjson, without a model per visit."""
    principal.require("clinic")
    results, rules = await intake(visits_of(await request.body()), db, principal, snap)
    return Response(store.encode_results(results, rules), media_type="application/json")


async def intake(visits: list[VisitIn], db: Pool, principal: Principal, snap: RuleSnapshot
                 ) -> tuple[list[dict], VisitRules]:
    """Judges and records visits, one result each in order: the one way in for /v1/visits and FHIR
    Encounters."""
    if principal.role == "clinic":  # a clinic pushes its own visits only: a request naming another is refused
        foreign = sorted({v.clinic_id for v in visits} - {principal.scope})
        if foreign:
            principal.require("clinic", scope=foreign[0])
    today = clock.today()
    rules = visit_rules_for(snap, today, {v.date for v in visits})
    async with db.acquire() as conn:
        results = await store.record_visits(conn, visits, rules, today, correction=principal.role == "admin",
                                            actor=f"{principal.role}:{principal.key_id}",
                                            confirm=confirmation_rules(snap, today))
    return results, rules


def visit_of(item: dict) -> VisitIn:
    """One visit as /v1/visits takes it (the same constraints); pydantic's ValidationError otherwise."""
    v = VisitItem.model_validate(item)
    return VisitIn(v.visit_id, v.clinic_id, v.iin, v.date, v.kind, v.practitioner_id or None)


# ---------------------------------------------------------------- integrity (padded records)

ReasonCode = Literal["kind_sex", "kind_age", "practitioner_volume", "after_death", "repeated_visit",
                     "patient_denied"]
_RISK_DAYS = 90      # the risk lists' default period: the last 90 days


class HeldVisit(BaseModel):
    clinic_id: str
    visit_id: str
    iin: str
    date: date
    kind: str
    practitioner_id: str | None
    reasons: list[str]
    held_at: datetime
    held_by: str = Field(description="role:key_id of the key whose request held it, or what held it")


class HeldPage(BaseModel):
    visits: list[HeldVisit]
    next_after: str | None = Field(description="pass as `after` for the next page; null on the last one")


class DecisionIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"decision": "clear", "note": "the screening was the patient's; her sex was miskeyed in the clinic's system"}]})
    decision: Literal["clear", "void"]
    note: str = Field(min_length=1, max_length=2000, pattern=_TEXT, description="why: recorded with the decision")


class Decision(BaseModel):
    clinic_id: str
    visit_id: str
    integrity: Literal["clear", "void"]
    reasons: list[str] = Field(description="why it was held")
    integrity_version: int
    decided_by: str
    note: str


class RiskRow(BaseModel):
    clinic_id: str | None = None
    practitioner_id: str | None = None
    visits: int
    held: int = Field(description="held or voided visits")
    held_share: float
    held_by_reason: dict[str, float] = Field(description="held visits by reason, as shares of the visits")
    confirmations: int = Field(description="patients' answers to confirmation requests of these visits")
    denial_rate: float | None = Field(description="denials among the answers; null without answers")
    volume_outliers: int = Field(description="practitioner-days beyond the daily norm × tolerance")
    turning_inactive: int = Field(description="counting visits landing within the rule's days before the person "
                                              "would turn inactive (the previous counted visit nearly a window old)")
    turning_inactive_share: float
    risk: float = Field(description="the turning-inactive share beyond the region's, plus the denial rate: a "
                                    "signal for review, never a hold")


class RiskList(RulesUsed):
    region: str | None
    clinic_id: str | None = None
    from_: date = Field(alias="from")
    to: date
    region_turning_inactive_share: float
    rows: list[RiskRow]


def _after_key(after: str | None) -> tuple[date, str, str] | None:
    if after is None:
        return None
    try:
        day, clinic_id, visit_id = orjson.loads(base64.urlsafe_b64decode(after.encode()))
        return date.fromisoformat(day), str(clinic_id), str(visit_id)
    except (ValueError, TypeError):
        raise invalid("`after` is not a page key this service gave",
                      errors=[{"loc": ["query", "after"], "msg": "not a page key"}]) from None


@router.get("/integrity/held", response_model=HeldPage, summary="Held visits to review (padded-records checks)",
            responses={403: {"description": "a clinic's key asking for another clinic's held visits"}})
async def list_held_visits(db: Pool, principal: Auth,
                           clinic_id: Annotated[str | None, Query(max_length=64, pattern=_TEXT)] = None,
                           reason: ReasonCode | None = None, from_: Annotated[Day | None, Query(alias="from")] = None,
                           to: Annotated[Day | None, Query()] = None, limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                           after: Annotated[str | None, Query(max_length=400)] = None) -> HeldPage:
    """Visits held and not yet decided, oldest visit date first, with why, since when and by whom.
    A clinic's key reads its own clinic's only (without `clinic_id`, its own), and not those a patient
    denied or a complaint names: who denied a visit is not for the clinic to know."""
    hide = None
    if principal.role == "clinic":
        clinic_id = clinic_id or principal.scope
        hide = [domain.PATIENT_DENIED, domain.COMPLAINT_UPHELD]
    principal.require("operator", "clinic", scope=clinic_id)
    async with db.acquire() as conn:
        rows = await integrity.held_page(conn, clinic_id=clinic_id, reason=reason, since=from_, until=to,
                                         after=_after_key(after), limit=limit, hide=hide)
    last = rows[-1] if len(rows) == limit else None
    return HeldPage(visits=[HeldVisit(**r) for r in rows], next_after=None if last is None else
                    base64.urlsafe_b64encode(orjson.dumps([last["date"], last["clinic_id"], last["visit_id"]])).decode())


@router.post("/integrity/held/{clinic_id}/{visit_id:path}/decision", response_model=Decision,
             dependencies=[allow("operator")],
             responses={404: {"description": "no such recorded visit"},
                        **conflicts("visit_not_held", description="the visit is not held: clear, or voided")})
async def decide_held_visit(clinic_id: ClinicIdPath, visit_id: Annotated[str, PathParam(max_length=64, pattern=_TEXT)],
                        body: DecisionIn, db: Pool, principal: Auth) -> Decision:
    """An operator's decision on a held visit: `clear` (it counts towards activity again; visit-cleared)
    or `void` (it never counts; visit-held with `voided`, which financing applies as a hold for good).
    Recorded with the operator's key, the time and the note."""
    actor = f"{principal.role}:{principal.key_id}"
    decide = integrity.clear if body.decision == "clear" else integrity.void
    async with db.acquire() as conn:
        try:
            async with conn.transaction():
                done = await decide(conn, clinic_id, visit_id, actor, body.note)
        except integrity.NotHeld as exc:
            raise conflict("visit_not_held", f"the visit is {exc.state.state}, not held") from None
    if done is None:
        raise not_found("visit")
    log.info("integrity decision", clinic_id=clinic_id, decision=body.decision, actor=actor)
    return Decision(clinic_id=clinic_id, visit_id=visit_id, integrity=done.state, reasons=list(done.reasons),
                    integrity_version=done.version, decided_by=actor, note=body.note)


RiskOrder = Literal["risk", "held_share", "turning_inactive_share", "volume_outliers", "visits"]


async def _risk_list(db, snap, region: str | None, clinic_id: str | None, from_: Day | None, to: Day | None,
                     order_by: RiskOrder, limit: int) -> RiskList:
    today = clock.today()
    to = to or today
    from_ = from_ or to - timedelta(days=_RISK_DAYS)
    if from_ > to:
        raise invalid("`from` is after `to`", errors=[{"loc": ["query", "from"], "msg": "after to"}])
    rules = _published(visit_rules(snap, to), "visits")
    limit_, _ = volume_limits(rules.values)
    async with db.acquire() as conn:
        if clinic_id is not None:
            clinic = await store.get_clinic(conn, clinic_id)
            if clinic is None:
                raise not_found("clinic")
            region = clinic["region"]
        # The region's share is of all its visits: the baseline each clinic is compared with.
        rows = await integrity.risk_rows(conn, region=region, clinic_id=None, since=from_, until=to,
                                         volume_limit=limit_, window=rules.values.activity_window_days,
                                         turning=rules.values.turning_inactive_days)
        if clinic_id is not None:
            detail = await integrity.risk_rows(conn, region=None, clinic_id=clinic_id, since=from_, until=to,
                                               volume_limit=limit_, window=rules.values.activity_window_days,
                                               turning=rules.values.turning_inactive_days)
    region_share = domain.share(sum(r["turning_inactive"] for r in rows), sum(r["visits"] for r in rows))
    key = "practitioner_id" if clinic_id is not None else "clinic_id"
    out = []
    for r in (detail if clinic_id is not None else rows):
        by_reason = orjson.loads(r["held_by_reason"])
        denials = domain.share(r["denied"], r["answered"]) if r["answered"] else None
        out.append(RiskRow(**{key: r["k"]}, visits=r["visits"], held=r["held"],
                           held_share=domain.share(r["held"], r["visits"]),
                           held_by_reason={k: domain.share(n, r["visits"]) for k, n in sorted(by_reason.items())},
                           confirmations=r["answered"], denial_rate=denials,
                           volume_outliers=r["volume_outliers"], turning_inactive=r["turning_inactive"],
                           turning_inactive_share=domain.share(r["turning_inactive"], r["visits"]),
                           risk=domain.risk_score(r["visits"], r["turning_inactive"], region_share, denials)))
    out.sort(key=lambda x: (-getattr(x, order_by), x.clinic_id or "", x.practitioner_id or ""))
    return RiskList(region=region, clinic_id=clinic_id, **{"from": from_}, to=to,
                    region_turning_inactive_share=region_share, rows=out[:limit], **rules_fields(rules))


@router.get("/integrity/clinics", response_model=RiskList, response_model_by_alias=True,
            dependencies=[allow("operator")], summary="Clinics by padded-records risk")
async def list_clinics_by_risk(db: Pool, snap: Rules,
                           region: Annotated[str | None, Query(max_length=100, pattern=_TEXT)] = None,
                           from_: Annotated[Day | None, Query(alias="from")] = None,
                           to: Annotated[Day | None, Query()] = None, order_by: RiskOrder = "risk",
                           limit: Annotated[int, Query(ge=1, le=5000)] = 500) -> RiskList:
    """Per clinic over visits dated from `from` to `to` (default: the last 90 days): visits, held share
    by reason, denial rate among confirmations, practitioner-days beyond the norm, and the share of
    visits landing just before the person would turn inactive against the region's (visits rules:
    `turning_inactive_days` of `activity_window_days`). Highest first by `order_by`."""
    return await _risk_list(db, snap, region, None, from_, to, order_by, limit)


@router.get("/integrity/clinics/{clinic_id}/practitioners", response_model=RiskList, response_model_by_alias=True,
            dependencies=[allow("operator")], summary="A clinic's practitioners by padded-records risk",
            responses={404: {"description": "unknown clinic"}})
async def list_practitioners_by_risk(clinic_id: ClinicIdPath, db: Pool, snap: Rules,
                                 from_: Annotated[Day | None, Query(alias="from")] = None,
                                 to: Annotated[Day | None, Query()] = None, order_by: RiskOrder = "risk",
                                 limit: Annotated[int, Query(ge=1, le=5000)] = 500) -> RiskList:
    """The same figures per practitioner of one clinic, against the clinic's region's share."""
    return await _risk_list(db, snap, None, clinic_id, from_, to, order_by, limit)


spec = ServiceSpec(
    name="registry",
    title="osms registry",
    description="Clinics, attachment of people to PHC clinics, deaths, and visits pushed by clinic systems.",
    routers=[router, fhir.bundle_router(intake, visit_of)],
    migrations=Path(__file__).parent / "migrations",
    rule_tables=RULE_TABLES,
    count_records=store.records_on_or_after,
    consumers=[CONSUMER],
)
app = create_app(spec)
app.include_router(confirmations_api.router)   # without the key check: the code is the credential
