"""registry's FHIR intake: POST /fhir/Bundle, a batch of Encounters from a clinic information system,
each read as a visit and judged by the same intake as POST /v1/visits, answered as a batch-response
Bundle with an OperationOutcome per entry."""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from fastapi import APIRouter, Request, Response
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.encounter import Encounter
from pydantic import ValidationError

from services.common.app import Pool
from services.common.auth import Auth, Principal
from services.common.fhir import (CLINIC_SYSTEM, IIN_SYSTEM, PRACTITIONER_SYSTEM, RULES_VERSION_SYSTEM,
                                  VISIT_KIND_SYSTEM, VISIT_SYSTEM, FhirRoute, fhir_response, identifier_value, issue,
                                  outcome, validate_resource)
from services.common.inputs import FHIR_BODY_TYPES
from services.common.problems import Problem, invalid
from services.common.rules import Rules, RuleSnapshot
from services.registry.domain import VisitIn

MAX_ENTRIES = 1000
# Encounters that did not take place are no visits.
_NOT_HELD = {"planned", "cancelled", "entered-in-error"}
_STATUS_LINES = {201: "201 Created", 200: "200 OK", 400: "400 Bad Request", 403: "403 Forbidden",
                 422: "422 Unprocessable Entity"}

Intake = Callable[[list[VisitIn], Any, Principal, RuleSnapshot], Awaitable[tuple[list[dict], Any]]]

EXAMPLE = {"resourceType": "Bundle", "type": "batch", "entry": [{
    "request": {"method": "POST", "url": "Encounter"},
    "resource": {
        "resourceType": "Encounter", "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "identifier": [{"system": VISIT_SYSTEM, "value": "V-0001"}],
        "type": [{"coding": [{"system": VISIT_KIND_SYSTEM, "code": "consultation"}]}],
        "subject": {"identifier": {"system": IIN_SYSTEM, "value": "900315400017"}},
        "serviceProvider": {"identifier": {"system": CLINIC_SYSTEM, "value": "KZO-0001"}},
        "participant": [{"individual": {"identifier": {"system": PRACTITIONER_SYSTEM, "value": "DOC-17"}}}],
        "period": {"start": "2026-12-03T10:30:00+05:00"}}}]}
_BODY_SCHEMA = {"type": "object", "required": ["resourceType", "type", "entry"],
                "description": "FHIR R4 Bundle of type batch; each entry a POST of an Encounter",
                "additionalProperties": True,
                "properties": {"resourceType": {"type": "string", "enum": ["Bundle"]},
                               "type": {"type": "string", "enum": ["batch"]},
                               "entry": {"type": "array", "minItems": 1, "maxItems": MAX_ENTRIES,
                                         "items": {"type": "object"}}}}


def encounter_item(resource: object, index: int) -> dict:
    """The /v1/visits item an Encounter stands for; a Problem (422) naming what is missing otherwise."""
    loc = ("entry", index, "resource")
    enc = validate_resource(resource, Encounter, loc)
    missing = []
    visit_id = next((i.value for i in enc.identifier or () if i.system == VISIT_SYSTEM and i.value), None)
    clinic_id = identifier_value(enc.serviceProvider, CLINIC_SYSTEM)
    iin = identifier_value(enc.subject, IIN_SYSTEM)
    start = enc.period.start if enc.period else None
    kind = next((c.code for t in enc.type or () for c in t.coding or () if c.system == VISIT_KIND_SYSTEM and c.code),
                None)
    for value, where, what in ((visit_id, "identifier", f"an identifier of system {VISIT_SYSTEM}"),
                               (clinic_id, "serviceProvider", f"an identifier of system {CLINIC_SYSTEM}"),
                               (iin, "subject", f"an identifier of system {IIN_SYSTEM}"),
                               (start, "period", "period.start, the day of the visit"),
                               (kind, "type", f"a coding of system {VISIT_KIND_SYSTEM}")):
        if value is None:
            missing.append({"loc": ["body", *loc, where], "msg": f"needs {what}"})
    if missing:
        raise invalid("the Encounter does not name a visit", errors=missing)
    if enc.status in _NOT_HELD:
        raise invalid(f"an Encounter that is {enc.status} is not a visit",
                      errors=[{"loc": ["body", *loc, "status"], "msg": "the encounter did not take place"}])
    practitioner = next((identifier_value(p.individual, PRACTITIONER_SYSTEM) for p in enc.participant or ()
                         if identifier_value(p.individual, PRACTITIONER_SYSTEM)), None)
    day = start.date() if hasattr(start, "date") else start  # a dateTime: the day as the clinic wrote it
    return {"visit_id": visit_id, "clinic_id": clinic_id, "iin": iin, "date": day.isoformat(), "kind": kind,
            "practitioner_id": practitioner}


def _entry(status: int, *issues: dict) -> dict:
    return {"response": {"status": _STATUS_LINES.get(status, str(status)), "outcome": outcome(*issues)}}


def _problem_entry(exc: Problem) -> dict:
    errors = exc.errors or [{"loc": ["body"], "msg": exc.detail}]
    return _entry(exc.status, *(issue("error", "invalid", f"{exc.detail}: {e['msg']}",
                                      expression=[".".join(str(p) for p in e["loc"][1:])]) for e in errors))


def result_entry(result: dict) -> dict:
    """A /v1/visits result as a batch-response entry."""
    if result["status"] == "recorded":
        return _entry(201, issue("information", "informational", "recorded"))
    if result["status"] == "duplicate":
        return _entry(200, issue("information", "duplicate", "duplicate: recorded before"))
    return _entry(422, *(issue("error", "business-rule", error, rule=error.split(":", 1)[0])
                         for error in result["errors"]))


def bundle_router(intake: Intake, visit_of: Callable[[dict], VisitIn]) -> APIRouter:
    """The route, given the service's visit intake and its reader of one visit (registry/app.py)."""
    router = APIRouter(prefix="/fhir", route_class=FhirRoute)

    @router.post("/Bundle", response_class=Response, responses={
        200: {"description": "a batch-response Bundle: an entry a request entry, in order, each with its status "
                             "and an OperationOutcome",
              "content": {"application/fhir+json": {"schema": {"type": "object"}}}},
        422: {"description": "not a batch Bundle, or more than 1,000 entries"}},
        openapi_extra={"requestBody": {"required": True, "content": {
            media: {"schema": _BODY_SCHEMA, "example": EXAMPLE} for media in FHIR_BODY_TYPES}}})
    async def submit_encounter_bundle(request: Request, db: Pool, principal: Auth, snap: Rules) -> Response:
        """Records a clinic's visits sent as FHIR R4 Encounters (a batch Bundle), as POST /v1/visits does.

        Each entry is a POST of an Encounter: its identifier of system `https://osms.kz/fhir/sid/visit` is the
        clinic's visit id, `serviceProvider.identifier` (`https://osms.kz/fhir/sid/clinic`) the clinic,
        `subject.identifier` (`https://osms.kz/fhir/sid/iin`) the person's IIN, `period.start` the day,
        `type.coding` (`https://osms.kz/fhir/CodeSystem/visit-kind`) the visit kind of the rule table, and a
        participant's `individual.identifier` (`https://osms.kz/fhir/sid/practitioner`) the practitioner.
        Each is judged alone by the visit rules, as /v1/visits judges them: 201 recorded, 200 a duplicate,
        422 rejected with an issue per broken rule (`details.coding` of `https://osms.kz/fhir/CodeSystem/rule`).
        A clinic's key sends its own clinic's visits only. Body: application/fhir+json or application/json."""
        principal.require("clinic")
        data = _bundle(await request.body())
        entries = data.get("entry") or []
        answers: list[dict | None] = [None] * len(entries)
        visits: list[VisitIn] = []
        slots: list[int] = []
        for i, entry in enumerate(entries):
            try:
                req = entry.get("request") or {}
                if req.get("method") != "POST" or str(req.get("url", "")).split("?")[0] != "Encounter":
                    raise invalid("a batch entry here is a POST of an Encounter",
                                  errors=[{"loc": ["body", "entry", i, "request"], "msg": "must be POST Encounter"}])
                item = encounter_item(entry.get("resource"), i)
                try:
                    visits.append(visit_of(item))
                except ValidationError as exc:
                    raise invalid("the Encounter's visit does not match /v1/visits' schema", errors=[
                        {"loc": ["body", "entry", i, "resource", *e["loc"]], "msg": e["msg"]}
                        for e in exc.errors()]) from None
                slots.append(i)
            except Problem as exc:
                answers[i] = _problem_entry(exc)
        meta = {}
        if visits:
            results, rules = await intake(visits, db, principal, snap)
            for i, result in zip(slots, results):
                answers[i] = result_entry(result)
            meta = {"meta": {"tag": [{"system": RULES_VERSION_SYSTEM, "code": rules.fields["rules_version"]}]}}
        return fhir_response({"resourceType": "Bundle", "type": "batch-response", **meta, "entry": answers})

    return router


def _bundle(raw: bytes) -> dict:
    """The request's batch Bundle, its envelope checked by fhir.resources (the entries one by one after)."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise invalid("the body is not valid JSON") from None
    entries = data.get("entry") if isinstance(data, dict) else None
    if not isinstance(entries, list) or not 1 <= len(entries) <= MAX_ENTRIES \
            or not all(isinstance(e, dict) for e in entries):
        raise invalid(f"a Bundle with 1 to {MAX_ENTRIES} entries is expected",
                      errors=[{"loc": ["body", "entry"], "msg": f"1 to {MAX_ENTRIES} entries"}])
    envelope = {**data, "entry": [{k: v for k, v in e.items() if k != "resource"} for e in entries]}
    validate_resource(envelope, Bundle)
    if data.get("type") != "batch":
        raise invalid("a batch Bundle is expected", errors=[{"loc": ["body", "type"], "msg": "must be batch"}])
    return data
