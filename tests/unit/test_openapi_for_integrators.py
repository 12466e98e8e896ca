"""The four OpenAPI documents, as an integrator generating a client reads them: every operation named,
tagged, summarised, described, with an example body, the rule codes of its 409 and its security; IIN
and BIN fields with their pattern; docs/openapi/ equal to what the services serve (make openapi)."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from openapi_spec_validator import validate

from services.common.openapi import KEY_SCHEME, SERVICES, documents

DOCS = Path(__file__).resolve().parents[2] / "docs" / "openapi"
_HTTP_VERBS = ("post", "put", "patch", "delete")
_IDENTIFIERS = {"iin", "iins", "employer_bin", "payer_bin"}
_TWELVE_DIGITS = "^[0-9]{12}$"


@pytest.fixture(scope="module")
def docs() -> dict[str, dict]:
    return documents()


def _operations(doc: dict):
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            yield path, method, op


@pytest.mark.parametrize("service", SERVICES)
def test_every_operation_is_named_tagged_summarised_and_described(docs, service):
    doc = docs[service]
    validate(doc)
    ids = [op["operationId"] for _, _, op in _operations(doc)]
    assert len(ids) == len(set(ids))
    for path, method, op in _operations(doc):
        where = f"{method.upper()} {path}"
        op_id = op["operationId"]
        assert re.fullmatch(r"[a-z]+(?:[A-Z0-9][a-z0-9]*)*", op_id), f"{where}: {op_id} is not camelCase"
        assert not op_id.startswith(_HTTP_VERBS), f"{where}: {op_id} names the HTTP method, not the operation"
        assert op.get("tags"), where
        default = " ".join(w.title() for w in re.findall(r"[a-z0-9]+|[A-Z][a-z0-9]*", op_id))
        assert op.get("summary") and op["summary"] != default, f"{where}: no summary (a docstring)"
        assert op.get("description") and op["description"] != op["summary"], f"{where}: no description"
        for media, content in op.get("requestBody", {}).get("content", {}).items():
            assert "example" in content or "examples" in content, f"{where}: no example of its {media} body"
        conflict = op["responses"].get("409")
        if conflict:
            assert conflict.get("x-rules"), f"{where}: its 409 names no rule codes"
            rule = conflict["content"]["application/problem+json"]["schema"]["allOf"][1]["properties"]["rule"]
            assert rule["enum"] == conflict["x-rules"]
    described = {t["name"] for t in doc["tags"] if t.get("description")}
    assert {t for _, _, op in _operations(doc) for t in op["tags"]} == described


# The probes, and a citizen's answer to a visit confirmation (the one-time code is the credential).
OPEN_PATHS = {"/healthz", "/readyz", "/metrics", "/v1/visit-confirmations/{code}"}


@pytest.mark.parametrize("service", SERVICES)
def test_open_endpoints_say_so_and_the_others_need_a_key(docs, service):
    doc = docs[service]
    assert doc["servers"] and all(s["url"] for s in doc["servers"])
    assert doc["components"]["securitySchemes"][KEY_SCHEME]["scheme"] == "bearer"
    for path, _method, op in _operations(doc):
        if path in OPEN_PATHS:
            assert op["security"] == [], path
            assert not {"401", "403"} & set(op["responses"]), path
        else:
            assert op["security"] == [{KEY_SCHEME: []}], path
            assert {"401", "403"} <= set(op["responses"]), path


def _identifier_schemas(node, components: dict, name=None, seen=()):
    """(field name, string schema) of every IIN or BIN field under a request body's schema."""
    if isinstance(node, list):
        for v in node:
            yield from _identifier_schemas(v, components, name, seen)
        return
    if not isinstance(node, dict):
        return
    ref = node.get("$ref")
    if ref and ref not in seen:
        yield from _identifier_schemas(components[ref.rsplit("/", 1)[-1]], components, name, (*seen, ref))
        return
    if name in _IDENTIFIERS and node.get("type") == "string":
        yield name, node
    for key, sub in node.get("properties", {}).items():
        yield from _identifier_schemas(sub, components, key, seen)
    for key in ("items", "anyOf", "allOf"):
        if key in node:
            yield from _identifier_schemas(node[key], components, name, seen)


@pytest.mark.parametrize("service", SERVICES)
def test_iins_and_bins_carry_their_pattern(docs, service):
    """In paths and in request bodies: what an integrator sends."""
    doc = docs[service]
    components = doc["components"]["schemas"]
    found = []
    for path, method, op in _operations(doc):
        for param in op.get("parameters", []):
            if param["name"] in _IDENTIFIERS:
                found.append((f"{method} {path} {param['name']}", param["schema"]))
        for content in op.get("requestBody", {}).get("content", {}).values():
            found += [(f"{method} {path} {name}", schema)
                      for name, schema in _identifier_schemas(content["schema"], components)]
    assert found or service == "financing"  # financing names no person or employer
    for where, schema in found:
        assert schema.get("pattern") == _TWELVE_DIGITS, where


@pytest.mark.parametrize("service", SERVICES)
def test_docs_openapi_equals_what_the_service_serves(docs, service):
    written = json.loads((DOCS / f"{service}.json").read_text(encoding="utf-8"))
    assert written == json.loads(json.dumps(docs[service])), "run `make openapi` and commit docs/openapi/"


@pytest.mark.parametrize("service", SERVICES)
def test_every_rule_code_a_service_raises_as_a_409_is_documented(docs, service):
    """The codes written out in `conflict("...")` in a service's modules (and the rule tables' shared
    one) each appear on some operation's 409 of that service."""
    root = Path(__file__).resolve().parents[2] / "services"
    sources = [*(root / service).glob("*.py"), root / "common" / "rules.py"]
    raised = {code for path in sources for code in re.findall(r'conflict\(\s*"([a-z_]+)"', path.read_text())}
    documented = {r for _, _, op in _operations(docs[service]) for r in op["responses"].get("409", {}).get("x-rules", [])}
    assert raised and raised <= documented, raised - documented
