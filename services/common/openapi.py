"""The OpenAPI document an integrator generates a client from, made once from the routes when first
asked for: operation ids from the route functions' names, a tag per resource from the path, summary
and description from the docstring, an example on every request body, the rule codes of each 409,
the key scheme on every operation that needs a key and `security: []` on the open ones. A route adds
only its docstring (and problems.conflicts(...) for its 409) to be documented like the others."""
from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from services.common.auth import authenticate
from services.common.errors import openapi_with_problems
from services.common.fhir import MEDIA_TYPE, OUTCOME_SCHEMA
from services.common.settings import CONSOLE_PORT, SERVICE_PORTS

# What each resource (the first segment of a path after /v1/) is, for the document's tag list.
TAG_DESCRIPTIONS = {
    "attachments": "A person's attachment to a primary-care clinic",
    "bank-statements": "The bank's records of employers' payments, matched to their declarations",
    "clinics": "Primary-care clinics: registration, figures, statements, volumes",
    "consumer-lag": "How far the consumers are behind the topics",
    "employers": "Employers' payrolls, accounts and refunds",
    "fhir": "HL7 FHIR R4 intake for clinic information systems (application/fhir+json)",
    "health": "Liveness, readiness and Prometheus metrics; no key",
    "integrity": "Padded records: visits held, operators' decisions, risk lists",
    "payments": "Payments of self-payers, entrepreneurs and platform workers",
    "payroll-batches": "Many employers' payrolls forwarded by a gateway",
    "payrolls": "Employers' monthly payrolls and their corrections",
    "persons": "People: insured status, contributions, attachment, death",
    "regions": "Region totals",
    "rules": "Rule values the Fund publishes, versioned with their legal basis",
    "state-contributions": "Contributions the republican and local budgets pay for people",
    "statements": "Monthly per-capita statements",
    "status-checks": "Point-of-care eligibility for clinics",
    "visits": "Visits pushed by clinic information systems",
    "visit-confirmations": "A patient's answer to a visit confirmation; the one-time code is the credential",
    "appeals": "Citizens' appeals and their lifecycle",
    "stats": "Appeal statistics the Fund publishes",
}
_OPEN_TAG = {"/healthz": "health", "/readyz": "health", "/metrics": "health"}
KEY_SCHEME = "apiKey"


def operation_id(route: APIRoute) -> str:
    """camelCase of the route function's name (`create_payroll` -> `createPayroll`): a generated
    client's method reads as the operation, so name the function by what it does."""
    head, *rest = route.name.split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest)


def servers_of(service: str) -> list[dict[str, Any]]:
    port = CONSOLE_PORT if service == "console" else SERVICE_PORTS[service]
    return [{"url": "/", "description": "the server that serves this document"},
            {"url": "http://{host}:{port}", "description": f"osms {service} as `make up` runs it",
             "variables": {"host": {"default": "127.0.0.1"}, "port": {"default": str(port)}}}]


def _summary_and_description(op: dict[str, Any], route_name: str) -> None:
    """From the docstring, when the route gives no summary: its first paragraph is the summary when
    more follow (PEP 257), else its first sentence; the description is the rest, or the whole
    docstring when it is one paragraph."""
    text = (op.get("description") or "").strip()
    if op.get("summary") != route_name.replace("_", " ").title() or not text:  # FastAPI's default: none given
        return
    first, _, rest = text.partition("\n\n")
    if rest.strip():
        op["summary"], op["description"] = " ".join(first.split()).rstrip("."), rest.strip()
    else:
        op["summary"] = re.split(r"(?<=[.:;])\s", " ".join(first.split()), maxsplit=1)[0].rstrip(".:;")


def _needs_key(dependant: Dependant) -> bool:
    return any(d.call is authenticate or _needs_key(d) for d in dependant.dependencies)


def _tag(path: str) -> str:
    if path in _OPEN_TAG:
        return _OPEN_TAG[path]
    parts = [p for p in path.split("/") if p]
    if parts[0] == "fhir":
        return "fhir"
    return parts[1] if parts[0].startswith("v") and len(parts) > 1 else parts[0]


def _example_of(schema: dict, components: dict) -> Any:
    ref = schema.get("$ref")
    if ref:
        schema = components.get(ref.rsplit("/", 1)[-1], {})
    examples = schema.get("examples")
    return examples[0] if isinstance(examples, list) and examples else None


def integrator_openapi(app: FastAPI, service: str) -> dict:
    if app.openapi_schema:
        return app.openapi_schema
    # Each route as included (prefix and the include's dependencies, the key among them).
    routes = [c for c in iter_route_contexts(app.routes)
              if isinstance(c.original_route, APIRoute) and c.original_route.include_in_schema]
    names = {(r.path_format, m.lower()): r.name for r in routes for m in r.methods}
    open_ops = {(r.path_format, m.lower()) for r in routes for m in r.methods if not _needs_key(r.dependant)}
    schema = openapi_with_problems(app, open_ops, KEY_SCHEME)
    schema["servers"] = servers_of(service)
    components = schema.get("components", {}).get("schemas", {})
    used_tags: set[str] = set()
    for path, ops in schema.get("paths", {}).items():
        for method, op in ops.items():
            _summary_and_description(op, names[(path, method)])
            op.setdefault("tags", [_tag(path)])
            used_tags.update(op["tags"])
            if (path, method) in open_ops:
                op["security"] = []
            for media in op.get("requestBody", {}).get("content", {}).values():
                example = None if "example" in media or "examples" in media else \
                    _example_of(media.get("schema", {}), components)
                if example is not None:
                    media["example"] = example
            if path.startswith("/fhir/"):  # FhirRoute answers its errors as OperationOutcome
                schemas = schema["components"]["schemas"]
                schemas.setdefault("OperationOutcome", OUTCOME_SCHEMA)
                for code, resp in op.get("responses", {}).items():
                    if code.startswith(("4", "5")):
                        resp["content"] = {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/OperationOutcome"}}}
            conflict = op.get("responses", {}).get("409")
            if conflict and conflict.get("x-rules"):
                rules = conflict["x-rules"]
                conflict["description"] += " (`rule`: " + ", ".join(f"`{r}`" for r in rules) + ")"
                conflict["content"] = {"application/problem+json": {"schema": {"allOf": [
                    {"$ref": "#/components/schemas/Problem"},
                    {"type": "object", "properties": {"rule": {"type": "string", "enum": rules}}}]}}}
    schema["tags"] = [{"name": t, **({"description": TAG_DESCRIPTIONS[t]} if t in TAG_DESCRIPTIONS else {})}
                      for t in sorted(used_tags)]
    return schema


SERVICES = ("contributions", "registry", "financing", "feedback")


def documents() -> dict[str, dict]:
    """The four services' documents, as their apps serve them at /openapi.json."""
    import importlib

    return {name: importlib.import_module(f"services.{name}.app").app.openapi() for name in SERVICES}


def main() -> None:
    """Writes docs/openapi/<service>.json (make openapi); a test holds them equal to the apps."""
    import json
    import sys
    from pathlib import Path

    out = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/openapi")
    out.mkdir(parents=True, exist_ok=True)
    for name, doc in documents().items():
        (out / f"{name}.json").write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
