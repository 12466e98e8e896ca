"""Errors and the OpenAPI document: every error a service answers is application/problem+json
(RFC 9457), and the document says so for every operation."""
from __future__ import annotations

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.common.edge import BodyTooLarge
from services.common.logs import get_logger
from services.common.problems import Problem, problem_response

log = get_logger(__name__)

# A dependency is down or a connection broke under us (asyncpg's InternalClientError: a pooled
# connection left mid-operation when the server died). The request can be retried: 503.
UNAVAILABLE = (OSError, asyncpg.PostgresConnectionError, asyncpg.CannotConnectNowError,
               asyncpg.TooManyConnectionsError, asyncpg.InterfaceError, asyncpg.InternalClientError,
               TimeoutError)


_PROBLEM_SCHEMA = {
    "type": "object",
    "description": "RFC 9457 problem details",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
        "detail": {"type": "string"}, "instance": {"type": "string"}, "rule": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object", "properties": {
            "loc": {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
            "msg": {"type": "string"}, "type": {"type": "string"}}}},
    },
    "additionalProperties": True,
}
_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
_COMMON_ERRORS = {
    "401": "no valid bearer key",
    "403": "the key's role or scope does not allow this",
    "413": "the request body is too large",
    "415": "the body is not application/json, or is encoded (Content-Encoding)",
    "422": "invalid input (problem+json with errors[])",
    "503": "a dependency is unavailable; retry after Retry-After seconds",
}
def openapi_with_problems(app: FastAPI, open_operations: set[tuple[str, str]], key_scheme: str) -> dict:
    """The OpenAPI document with every error documented as application/problem+json; every operation
    but the `open_operations` (path, method) needs a key (401, 403)."""
    if app.openapi_schema:
        return app.openapi_schema
    from fastapi.openapi.utils import get_openapi

    schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas["Problem"] = _PROBLEM_SCHEMA
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    components["securitySchemes"] = {key_scheme: {
        "type": "http", "scheme": "bearer",
        "description": "an osms API key, `Authorization: Bearer osms_<key_id>_<secret>`; its role and scope "
                       "(an employer's BIN, a clinic's code) decide what it may do"}}
    for path, ops in schema.get("paths", {}).items():
        for method, op in ops.items():
            responses = op.setdefault("responses", {})
            keyless = (path, method) in open_operations
            if not keyless or "requestBody" in op:
                if not keyless:
                    op["security"] = [{key_scheme: []}]
                for code, text in _COMMON_ERRORS.items():
                    if code in ("413", "415") and "requestBody" not in op or keyless and code in ("401", "403"):
                        continue
                    responses.setdefault(code, {"description": text})
            else:
                responses.setdefault("503", {"description": _COMMON_ERRORS["503"]})
            for code, resp in responses.items():
                if code.startswith(("4", "5")):
                    resp["content"] = {"application/problem+json": {"schema": _PROBLEM_REF}}
    app.openapi_schema = schema
    return schema


def install_error_handlers(app: FastAPI) -> None:
    """Every error leaves as application/problem+json; a dependency that is down is a 503, never a 500."""
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return exc.response(instance=request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
                  for e in exc.errors()]
        return problem_response(422, "Invalid request", "the request does not match the schema",
                                type_="https://osms.kz/problems/validation", errors=errors,
                                instance=request.url.path)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:  # FastAPI's answer to a body it cannot decode (not UTF-8, not JSON)
            return problem_response(422, "Invalid request", "the body is not valid UTF-8 JSON",
                                    type_="https://osms.kz/problems/validation",
                                    errors=[{"loc": ["body"], "msg": str(exc.detail), "type": "json_invalid"}],
                                    instance=request.url.path)
        titles = {404: "Not found", 405: "Method not allowed", 401: "Unauthorized", 403: "Forbidden"}
        return problem_response(exc.status_code, titles.get(exc.status_code, "Error"), str(exc.detail),
                                headers=getattr(exc, "headers", None), instance=request.url.path)

    async def _data_error(request: Request, exc: Exception) -> JSONResponse:
        # A value the database cannot take (a NUL byte in text, a number out of range): it came
        # from the request, so it is the caller's to fix. Routes validate first; this is the net.
        log.warning("input refused by the database", path=request.url.path, error=type(exc).__name__)
        return problem_response(422, "Invalid request", "a value in the request cannot be stored or searched",
                                type_="https://osms.kz/problems/validation",
                                errors=[{"loc": ["request"], "msg": type(exc).__name__, "type": "value_error"}],
                                instance=request.url.path)

    async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
        log.warning("dependency unavailable", path=request.url.path, error=type(exc).__name__)
        return problem_response(503, "Service unavailable", "a dependency is unavailable; retry",
                                headers={"Retry-After": "2"}, instance=request.url.path)

    async def _too_large(request: Request, exc: Exception) -> JSONResponse:
        return problem_response(413, "Request too large", str(exc), instance=request.url.path)

    # Handlers by class run inside the app (the catch-all below would also log a traceback).
    app.add_exception_handler(BodyTooLarge, _too_large)
    app.add_exception_handler(asyncpg.DataError, _data_error)
    for cls in UNAVAILABLE:
        app.add_exception_handler(cls, _unavailable)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        request_id = getattr(request.state, "request_id", None)
        log.exception("unhandled error", path=request.url.path, request_id=request_id)
        return problem_response(500, "Internal error", "an unexpected error; it has been logged",
                                instance=request.url.path,
                                headers={"X-Request-ID": request_id} if request_id else None)
