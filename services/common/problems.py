"""RFC 9457 problem details: the only shape an error leaves a service in."""
from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

PROBLEM_MEDIA_TYPE = "application/problem+json"


class Problem(Exception):
    """Raise from a route or a store to answer with problem+json."""

    def __init__(self, status: int, title: str, detail: str | None = None, *,
                 type_: str | None = None, errors: list[dict[str, Any]] | None = None,
                 headers: dict[str, str] | None = None, **extra: Any):
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail
        self.type = type_ or f"https://osms.kz/problems/{title.lower().replace(' ', '-')}"
        self.errors = errors
        self.headers = headers
        self.extra = extra

    def response(self, instance: str | None = None) -> JSONResponse:
        return problem_response(self.status, self.title, self.detail, type_=self.type,
                                errors=self.errors, headers=self.headers, instance=instance, **self.extra)


def problem_response(status: int, title: str, detail: str | None = None, *, type_: str | None = None,
                     errors: list[dict[str, Any]] | None = None, headers: dict[str, str] | None = None,
                     instance: str | None = None, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"type": type_ or "about:blank", "title": title, "status": status}
    if detail is not None:
        body["detail"] = detail
    if instance is not None:
        body["instance"] = instance
    if errors is not None:
        body["errors"] = errors
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def not_found(what: str, detail: str | None = None) -> Problem:
    return Problem(404, "Not found", detail or f"{what} not found", type_="https://osms.kz/problems/not-found")


def conflicts(*rules: str, description: str) -> dict[int | str, dict[str, Any]]:
    """A route's documented 409, with the codes its `rule` may carry: `responses={**conflicts(...)}`
    (the OpenAPI document lists them, services/common/openapi.py)."""
    return {409: {"description": description, "x-rules": sorted(rules)}}


def conflict(rule: str, detail: str, **extra: Any) -> Problem:
    """409 for a rule that forbids the request; `rule` is a machine-readable code."""
    return Problem(409, "Conflict", detail, type_=f"https://osms.kz/problems/{rule}", rule=rule, **extra)


def invalid(detail: str, errors: list[dict[str, Any]] | None = None) -> Problem:
    return Problem(422, "Invalid request", detail, type_="https://osms.kz/problems/validation", errors=errors)
