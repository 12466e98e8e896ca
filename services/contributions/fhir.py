"""contributions' FHIR eligibility: POST /fhir/CoverageEligibilityRequest, a clinic information system
asking whether a person is insured, answered as a CoverageEligibilityResponse by the same status rules
as POST /v1/status-checks."""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

from fastapi import APIRouter, Request, Response
from fhir.resources.R4B.coverageeligibilityrequest import CoverageEligibilityRequest

from services.common import clock
from services.common.app import Pool
from services.common.auth import Auth
from services.common.fhir import (CLINIC_SYSTEM, IIN_SYSTEM, FhirRoute, fhir_response, identifier_value,
                                  read_resource)
from services.common.inputs import FHIR_BODY_TYPES
from services.common.problems import invalid

Statuses = Callable[[Any, list[str], date], Awaitable[list[dict]]]

# The person's status in words of this project (insured, grace, not_insured) beside FHIR's `inforce`.
STATUS_EXTENSION = "https://osms.kz/fhir/StructureDefinition/insured-status"
COVERAGE = {"display": "ОСМС / МӘМС: compulsory social health insurance of Kazakhstan"}

EXAMPLE = {
    "resourceType": "CoverageEligibilityRequest", "id": "elig-0001", "status": "active",
    "purpose": ["validation"], "created": "2026-12-07T09:00:00+05:00", "servicedDate": "2026-12-07",
    "patient": {"identifier": {"system": IIN_SYSTEM, "value": "900315400017"}},
    "provider": {"identifier": {"system": CLINIC_SYSTEM, "value": "KZO-0001"}},
    "insurer": {"display": "Social Health Insurance Fund"},
}
_BODY_SCHEMA = {"type": "object", "required": ["resourceType", "status", "purpose", "patient", "created", "insurer"],
                "description": "FHIR R4 CoverageEligibilityRequest; the patient by an identifier of system "
                               f"{IIN_SYSTEM}",
                "additionalProperties": True,
                "properties": {"resourceType": {"type": "string", "enum": ["CoverageEligibilityRequest"]},
                               "id": {"type": "string"}, "status": {"type": "string", "enum": ["active"]},
                               "purpose": {"type": "array", "items": {"type": "string"}},
                               "created": {"type": "string"}, "insurer": {"type": "object"},
                               "patient": {"type": "object"}, "provider": {"type": "object"},
                               "servicedDate": {"type": "string", "format": "date"}}}


def _serviced_on(req: CoverageEligibilityRequest, today: date) -> date:
    on = req.servicedDate or (req.servicedPeriod.start if req.servicedPeriod else None) or today
    return on.date() if hasattr(on, "date") else on


# The required bindings fhir.resources leaves unchecked; only an active request asks anything.
_PURPOSES = ("auth-requirements", "benefits", "discovery", "validation")


def _check_codes(req: CoverageEligibilityRequest) -> None:
    errors = [{"loc": ["body", "purpose", i], "msg": f"one of {', '.join(_PURPOSES)}"}
              for i, p in enumerate(req.purpose) if p not in _PURPOSES]
    if req.status != "active":
        errors.append({"loc": ["body", "status"], "msg": "only an active request is answered"})
    if errors:
        raise invalid("not a CoverageEligibilityRequest this service answers", errors=errors)


def eligibility_response(req: CoverageEligibilityRequest, iin: str, on: date, status: str, until: date | None,
                         created: str) -> dict:
    request_ref = ({"reference": f"CoverageEligibilityRequest/{req.id}"} if req.id else
                   {"identifier": req.identifier[0].model_dump(mode="json", exclude_none=True)} if req.identifier
                   else {"display": "the request this answers"})
    benefit = {"benefitPeriod": {"end": until.isoformat()}} if until else {}
    return {
        "resourceType": "CoverageEligibilityResponse", "status": "active",
        "extension": [{"url": STATUS_EXTENSION, "valueCode": status}],
        "purpose": list(req.purpose), "patient": {"identifier": {"system": IIN_SYSTEM, "value": iin}},
        "servicedDate": on.isoformat(), "created": created, "request": request_ref, "outcome": "complete",
        "insurer": req.insurer.model_dump(mode="json", exclude_none=True),
        "disposition": f"{status} until {until}" if until else status,
        "insurance": [{"coverage": COVERAGE, "inforce": status != "not_insured", **benefit}],
    }


def eligibility_router(statuses_on: Statuses) -> APIRouter:
    """The route, given the service's status look-up (contributions/app.py)."""
    router = APIRouter(prefix="/fhir", route_class=FhirRoute)

    @router.post("/CoverageEligibilityRequest", response_class=Response, responses={
        200: {"description": "a CoverageEligibilityResponse",
              "content": {"application/fhir+json": {"schema": {"type": "object"}}}},
        422: {"description": "not a valid CoverageEligibilityRequest, no IIN, an invalid IIN, or a person not "
                             "yet born on the date"}},
        openapi_extra={"requestBody": {"required": True, "content": {
            media: {"schema": _BODY_SCHEMA, "example": EXAMPLE} for media in FHIR_BODY_TYPES}}})
    async def check_coverage_eligibility(request: Request, db: Pool, principal: Auth) -> Response:
        """Whether a person is insured on a day, as FHIR R4 CoverageEligibilityRequest and Response.

        The patient is named by `patient.identifier` of system `https://osms.kz/fhir/sid/iin`; the day is
        `servicedDate` (or `servicedPeriod.start`; today when neither). The answer is what POST
        /v1/status-checks answers: `insurance[0].inforce` (insured or grace), `benefitPeriod.end` the last
        day the status holds if nothing more is paid, and the status itself (insured, grace, not_insured) in
        the extension `https://osms.kz/fhir/StructureDefinition/insured-status`. A clinic's key may name
        only its own clinic as `provider` (identifier system `https://osms.kz/fhir/sid/clinic`). Body:
        application/fhir+json or application/json."""
        principal.require("operator", "clinic")
        req = read_resource(await request.body(), CoverageEligibilityRequest)
        _check_codes(req)
        provider = identifier_value(req.provider, CLINIC_SYSTEM)
        if provider is not None:
            principal.require("operator", "clinic", scope=provider)
        iin = identifier_value(req.patient, IIN_SYSTEM)
        if iin is None:
            raise invalid("the patient is named by an IIN", errors=[
                {"loc": ["body", "patient", "identifier"], "msg": f"needs an identifier of system {IIN_SYSTEM}"}])
        on = _serviced_on(req, clock.today())
        (found,) = await statuses_on(db, [iin], on)
        if found.get("errors"):
            raise invalid(found["errors"][0], errors=[{"loc": ["body", "patient", "identifier", "value"],
                                                       "msg": found["errors"][0]}])
        return fhir_response(eligibility_response(req, iin, on, found["status"], found["insured_until"],
                                                  clock.now().isoformat(timespec="seconds")))

    return router
