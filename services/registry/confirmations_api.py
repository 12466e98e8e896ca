"""registry HTTP route of patients' answers to visit confirmation requests: no key, the code is the
credential (the registry's app includes this router without the key check every other route has)."""
from __future__ import annotations

import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from services.common import clock
from services.common.app import Pool
from services.common.logs import get_logger
from services.common.problems import problem_response
from services.common.rules import Rules
from services.registry import confirmations, confirmations_store
from services.registry.rules import confirmation_rules

log = get_logger(__name__)
router = APIRouter(prefix="/v1")


class ConfirmationAnswerIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"answer": "denied"}]})

    answer: Literal["confirmed", "denied"] = Field(description="`denied`: the visit did not happen (it is held, "
                                                             "and a service_not_provided complaint is filed)")


class ConfirmationAnswer(BaseModel):
    answer: Literal["confirmed", "denied"]
    clinic_id: str
    date: datetime.date = Field(description="the visit's date")


def _unknown_code() -> JSONResponse:
    # One answer for a code unknown, used or expired: the same status, body and headers (no `instance`:
    # it would echo the code).
    return problem_response(404, "Not found", "no visit confirmation is waiting under this code",
                            type_="https://osms.kz/problems/not-found")


@router.post("/visit-confirmations/{code}", response_model=ConfirmationAnswer,
             openapi_extra={"security": []},
             responses={404: {"description": "the code is unknown, used or expired (one answer for all three)"},
                        429: {"description": "too many wrong codes from this client address; retry after "
                                             "Retry-After seconds (`too_many_wrong_codes`)"}})
async def answer_visit_confirmation(code: Annotated[str, Path(description="the one-time code of the confirmation "
                                                                    "request (any other string is answered as an "
                                                                    "unknown code)")], body: ConfirmationAnswerIn, request: Request, db: Pool,
                                    snap: Rules) -> ConfirmationAnswer | JSONResponse:
    """A patient confirms or denies a visit with the one-time code of its confirmation request.

    No API key: the code (128 random bits, delivered by the notifier from the visit-confirmation-requested
    event) is the credential, good once, until its expiry day. A denial holds the visit (`patient_denied`)
    and files a service_not_provided complaint in feedback; a confirmation clears a visit held for what the
    patient can witness. A client address that tries too many wrong codes is refused for a while (429)."""
    today = clock.today()
    found = confirmation_rules(snap, today)
    if found is None:
        return _unknown_code()          # no confirmations rules: no code was ever handed out
    rules = found.values
    # The client's address as the server sees it: behind a proxy, uvicorn's --forwarded-allow-ips must
    # name the proxy so that this is the caller's, not the proxy's.
    client = request.client.host if request.client else "unknown"
    async with db.acquire() as conn:
        wait = await confirmations_store.refused_for(conn, client, rules)
        if wait is not None:
            return problem_response(429, "Too many requests", "too many wrong codes from this address; try again "
                                    "later", type_="https://osms.kz/problems/too_many_wrong_codes",
                                    headers={"Retry-After": str(wait)}, rule="too_many_wrong_codes")
        done = None
        if confirmations.well_formed(code):
            done = await confirmations_store.answer(conn, code, body.answer, rules, today)
        if done is None:
            await confirmations_store.record_failure(conn, client, rules)
            return _unknown_code()
    log.info("visit confirmation answered", clinic_id=done.clinic_id, answer=done.answer, integrity=done.integrity)
    return ConfirmationAnswer(answer=done.answer, clinic_id=done.clinic_id, date=done.date)
