"""Strict input, one behaviour everywhere: dates, months, identifiers and request bodies are checked
here, money in money.py, IINs and BINs in ids.py. Every service's models use these types."""
from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated

from fastapi import Path
from pydantic import BeforeValidator, StringConstraints, WithJsonSchema

_DATE_RE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_MONTH_RE = re.compile(r"^([0-9]{4})-(0[1-9]|1[0-2])$")


def parse_day(value: object) -> date:
    """Exactly YYYY-MM-DD, a real calendar date (no time part, no other form)."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _DATE_RE.fullmatch(value):
        raise ValueError("a date is written YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError("not a calendar date") from None


def _month(value: object) -> str:
    if not isinstance(value, str) or not _MONTH_RE.fullmatch(value):
        raise ValueError("a month is written YYYY-MM")
    return value


Day = Annotated[date, BeforeValidator(parse_day),
                WithJsonSchema({"type": "string", "format": "date", "pattern": _DATE_RE.pattern})]
YearMonth = Annotated[str, BeforeValidator(_month),
                      WithJsonSchema({"type": "string", "pattern": _MONTH_RE.pattern, "examples": ["2026-10"]})]

# Free text stored in PostgreSQL: no control characters (a NUL cannot be stored in text at all).
TEXT_PATTERN = r"^[^\x00-\x1f\x7f]*$"

# A clinic's code: ASCII letters, digits and . _ : -, not dots alone (a dot segment would change a
# URL's path), so that it stands in a URL as it is.
CLINIC_ID_PATTERN = r"^[A-Za-z0-9._:-]*[A-Za-z0-9_:-][A-Za-z0-9._:-]*$"
CLINIC_ID_MAX = 64
# In a body or a query (constraints only), and in a path.
ClinicId = Annotated[str, StringConstraints(min_length=1, max_length=CLINIC_ID_MAX, pattern=CLINIC_ID_PATTERN)]
ClinicIdPath = Annotated[str, Path(min_length=1, max_length=CLINIC_ID_MAX, pattern=CLINIC_ID_PATTERN,
                                   description="the Fund's clinic code")]


# --- request bodies -------------------------------------------------------------------------------

JSON_TYPES = ("application/json",)
# HL7 FHIR routes (/fhir/...) take FHIR's own media type as well.
FHIR_BODY_TYPES = ("application/fhir+json", "application/json")


def body_problem(headers: list[tuple[bytes, bytes]], json_types: tuple[str, ...] = JSON_TYPES) -> str | None:
    """Why a request with a body cannot be read (415), or None: a body must be one of `json_types`
    and must not be encoded (gzip and the like are not accepted: their size limit would not hold)."""
    content_type = encoding = None
    for name, value in headers:
        if name == b"content-type":
            content_type = value.decode("latin-1").split(";", 1)[0].strip().lower()
        elif name == b"content-encoding":
            encoding = value.decode("latin-1").strip().lower()
    if encoding not in (None, "", "identity"):
        return f"Content-Encoding {encoding!r} is not accepted: send the body unencoded"
    if content_type not in json_types:
        return f"the body must be {' or '.join(json_types)}" + (f", not {content_type}" if content_type else "")
    return None


def has_body(scope: dict) -> bool:
    if scope["method"] not in ("POST", "PUT", "PATCH"):
        return False
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            return value.strip() not in (b"0", b"")
        if name == b"transfer-encoding":
            return True
    return False
