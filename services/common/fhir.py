"""HL7 FHIR R4 at the edge (registry's Encounter bundles, contributions' eligibility): the identifier
systems, reading a resource with fhir.resources, and every error of a /fhir route answered as an
OperationOutcome. The rules behind stay those of the /v1 routes."""
from __future__ import annotations

import orjson
from fastapi import Request, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError

from services.common.problems import invalid

MEDIA_TYPE = "application/fhir+json"

# Identifier systems and code systems of osms (docs/fhir.md).
IIN_SYSTEM = "https://osms.kz/fhir/sid/iin"
CLINIC_SYSTEM = "https://osms.kz/fhir/sid/clinic"
VISIT_SYSTEM = "https://osms.kz/fhir/sid/visit"
PRACTITIONER_SYSTEM = "https://osms.kz/fhir/sid/practitioner"
VISIT_KIND_SYSTEM = "https://osms.kz/fhir/CodeSystem/visit-kind"
RULE_SYSTEM = "https://osms.kz/fhir/CodeSystem/rule"
RULES_VERSION_SYSTEM = "https://osms.kz/fhir/CodeSystem/rules-version"

# The OperationOutcome issue type (http://hl7.org/fhir/issue-type) of a problem's HTTP status.
_ISSUE_CODES = {400: "invalid", 401: "login", 403: "forbidden", 404: "not-found", 405: "not-supported",
                409: "business-rule", 413: "too-long", 415: "not-supported", 422: "invalid", 503: "transient"}

OUTCOME_SCHEMA = {
    "type": "object", "description": "FHIR R4 OperationOutcome: what went wrong, an issue each",
    "required": ["resourceType", "issue"],
    "properties": {"resourceType": {"type": "string", "enum": ["OperationOutcome"]},
                   "issue": {"type": "array", "items": {"type": "object", "required": ["severity", "code"],
                                                        "properties": {
                       "severity": {"type": "string", "enum": ["fatal", "error", "warning", "information"]},
                       "code": {"type": "string"}, "diagnostics": {"type": "string"},
                       "details": {"type": "object"}, "expression": {"type": "array", "items": {"type": "string"}}}}}},
}


def issue(severity: str, code: str, diagnostics: str, rule: str | None = None,
          expression: list[str] | None = None) -> dict:
    found: dict = {"severity": severity, "code": code, "diagnostics": diagnostics}
    if rule:
        found["details"] = {"coding": [{"system": RULE_SYSTEM, "code": rule}]}
    if expression:
        found["expression"] = expression
    return found


def outcome(*issues: dict) -> dict:
    return {"resourceType": "OperationOutcome", "issue": list(issues)}


def fhir_response(resource: dict, status: int = 200, headers: dict | None = None) -> Response:
    return Response(orjson.dumps(resource), status_code=status, media_type=MEDIA_TYPE, headers=headers)


def identifier_value(reference: object, system: str) -> str | None:
    """The value of a Reference's (or a resource's) identifier of `system`, if it has one."""
    if reference is None:
        return None
    identifiers = getattr(reference, "identifier", None)
    for ident in identifiers if isinstance(identifiers, list) else [identifiers]:
        if ident is not None and ident.system == system and ident.value:
            return ident.value
    return None


def _expression(loc: tuple | list) -> str:
    return ".".join(str(p) for p in loc)


def read_resource(raw: bytes, model: type[BaseModel], loc: tuple[str, ...] = ()):
    """A resource of `model`'s type read and validated (a 422 naming every bad element otherwise)."""
    try:
        data = orjson.loads(raw) if isinstance(raw, bytes | str) else raw
    except orjson.JSONDecodeError:
        raise invalid("the body is not valid JSON") from None
    return validate_resource(data, model, loc)


def validate_resource(data: object, model: type[BaseModel], loc: tuple = ()):
    name = model.__name__
    if not isinstance(data, dict) or data.get("resourceType") != name:
        raise invalid(f"a {name} resource is expected",
                      errors=[{"loc": ["body", *loc, "resourceType"], "msg": f"must be {name}"}])
    nulls = list(_nulls(data, ("body", *loc)))
    if nulls:  # FHIR's JSON has no nulls; fhir.resources would take one for a required element
        raise invalid(f"not a valid FHIR R4 {name}: null is not a value in FHIR",
                      errors=[{"loc": list(at), "msg": "null is not allowed"} for at in nulls[:20]])
    try:
        return model.model_validate(data)
    except (ValidationError, ValueError, TypeError) as exc:
        errors = exc.errors() if isinstance(exc, ValidationError) else [{"loc": (), "msg": str(exc)}]
        raise invalid(f"not a valid FHIR R4 {name}", errors=[
            {"loc": ["body", *loc, *e["loc"]], "msg": e["msg"]} for e in errors]) from None


def _nulls(node: object, loc: tuple):
    if isinstance(node, dict):
        for key, value in node.items():
            if value is None:
                yield (*loc, key)
            else:
                yield from _nulls(value, (*loc, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _nulls(value, (*loc, i))


def problem_outcome(status: int, problem: dict) -> dict:
    """The OperationOutcome of a problem+json body: one issue per error it names, else one for it."""
    code = _ISSUE_CODES.get(status, "processing" if status < 500 else "exception")
    detail = problem.get("detail") or problem.get("title") or "error"
    errors = problem.get("errors") or []
    issues = [issue("error", code, f"{detail}: {e.get('msg', '')}", problem.get("rule"),
                    [_expression(e.get("loc", ())[1:] or ("body",))]) for e in errors]
    return outcome(*(issues or [issue("error", code, detail, problem.get("rule"))]))


class FhirRoute(APIRoute):
    """A /fhir route: whatever the service would answer as problem+json (a bad key, a bad resource, a
    rule's refusal, a dependency down) leaves as an OperationOutcome, by the same exception handlers."""

    def get_route_handler(self):
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as exc:
                handle = next((request.app.exception_handlers[c] for c in type(exc).__mro__
                               if c in request.app.exception_handlers and c is not Exception), None)
                if handle is None:
                    raise
                problem = await handle(request, exc)
                headers = {k: v for k, v in problem.headers.items()
                           if k.lower() not in ("content-type", "content-length")}
                return fhir_response(problem_outcome(problem.status_code, orjson.loads(problem.body)),
                                     problem.status_code, headers)

        return answer
