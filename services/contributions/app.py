"""contributions HTTP routes: payrolls, payments and state contributions in, insured status out."""
from __future__ import annotations

import asyncio
import csv
import io
import uuid
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Path as PathParam, Query, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.common import clock
from services.common.app import Pool, ServiceContext, ServiceSpec, create_app
from services.common.auth import Auth, Principal, allow
from services.common.ids import BIN, BIN_SCHEMA, IIN, IIN_SCHEMA, IinItem, bin_problem, born_by_problem, iin_problem
from services.common.inputs import Day, YearMonth
from services.common.logs import get_logger
from services.common.money import Money, money_str
from services.common.problems import Problem, conflict, conflicts, invalid, not_found
from services.contributions import domain, fhir, store
from services.contributions.domain import PaymentNotAllowed
from services.common.rules import Rules, RuleSnapshot, RulesUsed, refuse_far_ahead
from services.contributions.rules import (FIRST_MONTH, RULE_TABLES, PaymentTerms, PeriodRules, payment_terms, rules_on,
                                          state_categories)

log = get_logger(__name__)
router = APIRouter(prefix="/v1")

MAX_PAYROLL_ROWS = 50_000
MAX_STATE_PERSONS = 50_000
_REFERENCE = Field(min_length=1, max_length=200, description="the sender's idempotency reference")
_FIRST = domain.month_str(FIRST_MONTH)


class PayrollRowIn(BaseModel):
    iin: IinItem = Field(description="the employee's IIN (checked per row)")
    income: Money
    kind: Literal["employee", "civil_contract"]


class PayrollIn(BaseModel):
    employer_bin: BIN
    period: YearMonth
    reference: str = _REFERENCE
    rows: list[PayrollRowIn] = Field(min_length=1, max_length=MAX_PAYROLL_ROWS)

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"employer_bin": "150440000013", "period": "2026-11", "reference": "payroll-2026-11",
         "rows": [{"iin": "900315400017", "income": "450000.00", "kind": "employee"},
                  {"iin": "850722300011", "income": "380000.00", "kind": "civil_contract"}]}]})


class _PayrollHeader(BaseModel):
    employer_bin: BIN
    period: YearMonth
    reference: str = _REFERENCE


class PayrollOut(RulesUsed):
    payroll_id: str
    rows: int
    employer_deduction_total: str
    employee_contribution_total: str


class PaymentIn(BaseModel):
    iin: IIN
    payer_kind: Literal["self", "entrepreneur", "platform", "single_payment"]
    amount: Money
    paid_on: Day
    reference: str = _REFERENCE

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"iin": "900315400017", "payer_kind": "self", "amount": "4250.00", "paid_on": "2026-12-07",
         "reference": "gw-2026-12-07-000123"}]})


class PaymentOut(RulesUsed):
    payment_id: str
    covered_months: list[str]


class StateContributionIn(BaseModel):
    budget: Literal["republican", "local"]
    category: str = Field(min_length=1, max_length=64)
    period: YearMonth
    reference: str = _REFERENCE
    iins: list[IinItem] = Field(min_length=1, max_length=MAX_STATE_PERSONS)

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"budget": "republican", "category": "pensioner", "period": "2026-11", "reference": "rb-2026-11-pensioners",
         "iins": ["900315400017", "850722300011"]}]})


class StateContributionOut(RulesUsed):
    contribution_id: str
    budget: str
    category: str
    period: str
    persons: int
    amount_per_person: str
    total: str


class StatusOut(BaseModel):
    iin: str
    date: date
    status: Literal["insured", "grace", "not_insured"]
    reason: str
    insured_until: date | None
    last_covered_month: str | None


class ContributionItem(BaseModel):
    month: str
    payer_kind: str
    amount: str
    employer_deduction: str | None = None
    employee_contribution: str | None = None
    source: Literal["payroll", "payment", "state"]
    source_id: str
    employer_bin: str | None = None
    category: str | None = None


class PersonContributionsOut(BaseModel):
    iin: str
    covered_months: list[str]
    state_only_months: list[str]
    contributions: list[ContributionItem]


class EmployerPayroll(PayrollOut):
    period: str
    reference: str
    received_on: date
    rules_version: str


class EmployerPayrollsOut(BaseModel):
    employer_bin: str
    payrolls: list[EmployerPayroll]


def _pydantic_errors(exc: ValidationError, prefix: tuple) -> list[dict[str, Any]]:
    return [{"loc": ["body", *prefix, *e["loc"]], "msg": e["msg"]} for e in exc.errors()]


def _period_rules(period_text: str, today: date, field: str, snap: RuleSnapshot) -> tuple[int, PeriodRules]:
    period = domain.parse_month(period_text)
    assert period is not None  # the model's pattern checked it
    if period > domain.month_of(today):
        raise invalid(f"period {period_text} is in the future",
                      errors=[{"loc": ["body", field], "msg": "period is in the future"}])
    rules = rules_on(snap, domain.first_day(period)) if period >= FIRST_MONTH else None
    if rules is None:
        raise invalid(f"no contribution rules for period {period_text}; the service takes periods from {_FIRST}",
                      errors=[{"loc": ["body", field], "msg": "period without rules"}])
    return period, rules


def _iin_path(iin: str) -> str:
    problem = iin_problem(iin)
    if problem:
        raise invalid("invalid IIN", errors=[{"loc": ["path", "iin"], "msg": problem}])
    return iin


def _inline_schema(model: type[BaseModel]) -> dict:
    """The model's JSON schema with its $defs inlined, for a body the route parses itself."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def resolve(node):
        if isinstance(node, dict):
            ref = node.get("$ref")
            if ref and ref.startswith("#/$defs/"):
                return resolve(defs[ref.rsplit("/", 1)[1]])
            return {k: resolve(v) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    return resolve(schema)


IinPath = Annotated[str, PathParam(description="the person's IIN", json_schema_extra=IIN_SCHEMA)]
BinPath = Annotated[str, PathParam(description="the employer's BIN", json_schema_extra=BIN_SCHEMA)]


@router.post("/payrolls", status_code=201, response_model=PayrollOut,
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/json": {"schema": _inline_schema(PayrollIn)}}}},
             responses={**conflicts("reference_reused", description="the reference was used for a different payroll"),
                        422: {"description": "invalid; every bad row is named by index"}})
async def create_payroll(request: Request, db: Pool, principal: Auth, snap: Rules) -> dict:
    """Submits an employer's monthly payroll (a declaration), priced by the rules of its period.

    One employer's monthly payroll: all rows accepted, or none (every bad row named by index).
    The body is parsed here rather than by a model: a 10,000-row payroll is the common case, and the
    rejection must name every bad row, including an IIN that repeats."""
    principal.require("employer")  # its own payrolls only: the BIN is checked below
    payroll = _new_payroll(await _json_object(request), principal, snap, clock.today())
    result = await store.record_payroll(db, payroll, clock.today())
    log.info("payroll accepted", employer=payroll.employer_bin, period=domain.month_str(payroll.period),
             rows=len(payroll.rows))
    return result


def _new_payroll(body: object, principal: Principal | None, snap: RuleSnapshot, today: date,
                 periods: dict[str, tuple[int, PeriodRules, PaymentTerms]] | None = None) -> store.NewPayroll:
    """A payroll's body checked (422 naming every bad row; 403 for another employer's, unless
    `principal` is None: a gateway's, which sends any employer's) and priced. `periods`: the rules of
    the periods met so far in the request (a batch's payrolls are mostly of one month)."""
    if not isinstance(body, dict):
        raise invalid("a payroll must be a JSON object")
    errors: list[dict[str, Any]] = []
    header = None
    try:
        header = _PayrollHeader.model_validate({k: body.get(k) for k in ("employer_bin", "period", "reference")})
    except ValidationError as exc:
        errors += _pydantic_errors(exc, ())
    if header is not None and principal is not None:
        principal.require("employer", scope=header.employer_bin)
    month = domain.parse_month(header.period) if header is not None else None
    rows, row_errors = _payroll_rows(body.get("rows"), month, allow_none=False)
    _refuse(errors + row_errors)
    assert header is not None
    known = periods.get(header.period) if periods is not None else None
    if known is None:
        period, rules = _period_rules(header.period, today, "period", snap)
        known = (period, rules, _terms(snap, period))
        if periods is not None:
            periods[header.period] = known
    period, rules, terms = known
    return store.NewPayroll(header.employer_bin, period, header.reference, rows, rules,
                            domain.due_on(period, terms), domain.counts_until(period, today, terms))


MAX_BATCH_PAYROLLS = 1_000


class PayrollBatchResult(BaseModel):
    status: int = Field(description="201 accepted (or accepted before under its reference), 409, 422 or 403")
    payroll_id: str | None = None
    rows: int | None = None
    employer_deduction_total: str | None = None
    employee_contribution_total: str | None = None
    rules_version: str | None = None
    rules_provisional: bool | None = None
    rules_carried_from: int | None = None
    rule: str | None = None
    detail: str | None = None
    errors: list[dict[str, Any]] | None = None


class PayrollBatchOut(BaseModel):
    results: list[PayrollBatchResult]


@router.post("/payroll-batches", response_model=PayrollBatchOut, response_model_exclude_none=True,
             dependencies=[allow("payment_gateway")],
             openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                 "schema": {"type": "object", "required": ["payrolls"], "properties": {"payrolls": {
                     "type": "array", "minItems": 1, "maxItems": MAX_BATCH_PAYROLLS,
                     "items": _inline_schema(PayrollIn)}}},
                 "example": {"payrolls": [PayrollIn.model_json_schema()["examples"][0]]}}}}},
             responses={422: {"description": "not a list of payrolls, or more rows than a batch takes"}})
async def create_payroll_batch(request: Request, db: Pool, snap: Rules) -> dict:
    """Submits many employers' payrolls at once, each accepted or refused alone (a payroll gateway).

    Many employers' payrolls in one request, as a payroll gateway forwards small employers' payrolls:
    `{"payrolls": [payroll, ...]}`, each as POST /v1/payrolls takes it, each accepted or refused alone
    (one result each, in order: 201 with its answer, or its problem's status, rule, detail and errors)."""
    body = await _json_object(request)
    items = body.get("payrolls")
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_BATCH_PAYROLLS:
        raise invalid(f"payrolls must be a list of 1 to {MAX_BATCH_PAYROLLS} payrolls",
                      errors=[{"loc": ["body", "payrolls"], "msg": "a list of payrolls"}])
    if sum(len(p["rows"]) for p in items if isinstance(p, dict) and isinstance(p.get("rows"), list)) \
            > MAX_PAYROLL_ROWS:
        raise invalid(f"at most {MAX_PAYROLL_ROWS} rows a batch",
                      errors=[{"loc": ["body", "payrolls"], "msg": "too many rows"}])
    today = clock.today()
    results: list[dict[str, Any] | None] = [None] * len(items)
    accepted: list[tuple[int, store.NewPayroll]] = []
    periods: dict[str, tuple[int, PeriodRules, PaymentTerms]] = {}
    for i, item in enumerate(items):
        try:
            accepted.append((i, _new_payroll(item, None, snap, today, periods)))
        except Problem as exc:
            errors = [{**e, "loc": ["body", "payrolls", i, *e["loc"][1:]]} for e in exc.errors or ()]
            results[i] = {"status": exc.status, "detail": exc.detail, "errors": errors or None}
    if accepted:
        written = await store.record_payrolls(db, [p for _, p in accepted], today)
        for (i, _), answer in zip(accepted, written):
            results[i] = answer
    log.info("payroll batch", payrolls=len(items), accepted=sum(1 for r in results if r and r["status"] == 201))
    return {"results": results}


async def _json_object(request: Request) -> dict:
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise invalid("the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise invalid("the body must be a JSON object")
    return body


def _payroll_rows(raw_rows: object, month: int | None, *, allow_none: bool
                  ) -> tuple[list[domain.PayrollRow], list[dict[str, Any]]]:
    """A payroll's rows checked (a correction's may be none: a reversal), every bad row named by index.
    `month`: the period, when known (a person must be born by its last day)."""
    if not isinstance(raw_rows, list) or (not raw_rows and not allow_none):
        return [], [{"loc": ["body", "rows"], "msg": "rows must be a list" if allow_none else
                     "rows must be a non-empty list"}]
    if len(raw_rows) > MAX_PAYROLL_ROWS:
        return [], [{"loc": ["body", "rows"], "msg": f"at most {MAX_PAYROLL_ROWS} rows a payroll"}]
    born_by = domain.last_day(month) if month is not None and month >= FIRST_MONTH else None
    return domain.parse_payroll_rows(raw_rows, born_by)


def _refuse(errors: list[dict[str, Any]]) -> None:
    if errors:
        bad_rows = len({e["loc"][2] for e in errors if len(e["loc"]) > 2 and e["loc"][1] == "rows"})
        raise invalid(f"the payroll is rejected: {bad_rows} bad rows; nothing was accepted"
                      if bad_rows else "the payroll is rejected; nothing was accepted", errors=errors)


def _terms(snap: RuleSnapshot, period: int) -> PaymentTerms:
    """The payment terms of a period's contributions: those in force when they fall due."""
    found = payment_terms(snap, domain.first_day(period + 1))
    if found is None:
        raise invalid(f"no payment terms for period {domain.month_str(period)}",
                      errors=[{"loc": ["body", "period"], "msg": "period without rules"}])
    return found.values


def _id_path(value: str, what: str) -> uuid.UUID:
    """An id in a path; one that is not a UUID names nothing (404)."""
    try:
        return uuid.UUID(value)
    except ValueError:
        raise not_found(what) from None


class CorrectionIn(BaseModel):
    reference: str = _REFERENCE
    rows: list[PayrollRowIn] = Field(max_length=MAX_PAYROLL_ROWS, description="the corrected rows; none: a reversal")

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"reference": "payroll-2026-11-fix-1", "rows": [{"iin": "900315400017", "income": "470000.00", "kind": "employee"}]}]})


class PersonDifferenceOut(BaseModel):
    iin: str
    kind: str
    income_before: str = Field(description="the person's income from the employer in the month, before")
    income_after: str
    employer_deduction_difference: str
    employee_contribution_difference: str


class CorrectionOut(RulesUsed):
    payroll_id: str
    version: int
    reference: str
    rows: int
    employer_deduction_total: str
    employee_contribution_total: str
    employer_deduction_difference: str
    employee_contribution_difference: str
    differences: list[PersonDifferenceOut]


@router.post("/payrolls/{payroll_id}/corrections", status_code=201, response_model=CorrectionOut,
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/json": {"schema": _inline_schema(CorrectionIn)}}}},
             responses={403: {"description": "another employer's payroll"}, 404: {"description": "no such payroll"},
                        **conflicts("reference_reused", description="the reference was used for a different correction"),
                        422: {"description": "invalid; every bad row is named by index"}})
async def correct_payroll(payroll_id: Annotated[str, PathParam(description="the payroll's id")], request: Request,
                          db: Pool, principal: Auth, snap: Rules) -> dict:
    """Corrects a payroll: a new version of its rows, or a reversal.

    A new version of the payroll with its rows corrected (no rows: a reversal), for the same employer
    and period. Each person's month with the employer is recounted on the new total (caps across all
    the month's payrolls); the difference per person is in the answer; the people's statuses are
    recomputed and published."""
    principal.require("employer")
    pid = _id_path(payroll_id, "payroll")
    async with db.acquire() as conn:
        header = await store.payroll_header(conn, pid)
    if header is None:
        raise not_found("payroll")
    principal.require("employer", scope=header.employer_bin)
    body = await _json_object(request)
    errors: list[dict[str, Any]] = []
    reference = body.get("reference")
    if not isinstance(reference, str) or not 1 <= len(reference) <= 200:
        errors.append({"loc": ["body", "reference"], "msg": "a reference of 1 to 200 characters is required"})
    rows, row_errors = _payroll_rows(body.get("rows"), header.period, allow_none=True)
    _refuse(errors + row_errors)
    today = clock.today()
    _, rules = _period_rules(domain.month_str(header.period), today, "period", snap)
    result = await store.record_correction(db, header, reference, rows, rules, today)
    log.info("payroll corrected", employer=header.employer_bin, version=result["version"], rows=len(rows))
    return result


class PayrollVersionOut(BaseModel):
    version: int
    reference: str
    received_on: date
    rows: int
    employer_deduction_total: str
    employee_contribution_total: str
    employer_deduction_difference: str | None = Field(description="the change a correction made; None: version 1")
    employee_contribution_difference: str | None


class PayrollRowOut(BaseModel):
    iin: str
    kind: str
    income: str
    employer_deduction: str
    employee_contribution: str


class PayrollVersionsOut(BaseModel):
    payroll_id: str
    employer_bin: str
    period: str
    version: int = Field(description="the current version")
    versions: list[PayrollVersionOut]
    rows: list[PayrollRowOut] = Field(description="the current version's rows")


@router.get("/payrolls/{payroll_id}", response_model=PayrollVersionsOut,
            responses={403: {"description": "another employer's payroll"}, 404: {"description": "no such payroll"}})
async def get_payroll(payroll_id: Annotated[str, PathParam(description="the payroll's id")], db: Pool,
                      principal: Auth) -> dict:
    """A payroll's versions (as submitted, then each correction) and its current rows."""
    principal.require("operator", "employer")
    async with db.acquire() as conn:
        found = await store.payroll_versions(conn, _id_path(payroll_id, "payroll"))
    if found is None:
        raise not_found("payroll")
    principal.require("operator", "employer", scope=found["employer_bin"])
    return found


@router.post("/payments", status_code=201, response_model=PaymentOut, dependencies=[allow("payment_gateway")],
             responses={**conflicts("months_not_payable", "reference_reused",
                                    description="the reference was used for a different payment, or the months "
                                                "cannot be covered")})
async def create_payment(body: PaymentIn, db: Pool, snap: Rules) -> dict:
    """A self-payer's, entrepreneur's or platform worker's payment, or a single payment (ЕП) for a
    worker. Self-payers and entrepreneurs pay whole months (arrears first, then the current month, then
    ahead); a platform contribution covers the month it is paid in, and so does a single payment whose
    share to ОСМС (the rule table's) is something."""
    today = clock.today()
    if body.paid_on > today:
        raise invalid("paid_on is in the future", errors=[{"loc": ["body", "paid_on"], "msg": "date in the future"}])
    unborn = born_by_problem(body.iin, body.paid_on)
    if unborn:
        raise invalid(unborn, errors=[{"loc": ["body", "iin"], "msg": unborn}])
    rules = rules_on(snap, body.paid_on)
    if rules is None:
        raise invalid(f"no contribution rules for {body.paid_on}; the service takes payments from {_FIRST}",
                      errors=[{"loc": ["body", "paid_on"], "msg": "date without rules"}])
    share = None
    if body.payer_kind == "single_payment":
        found = snap.in_force("single_payment", body.paid_on)
        if found is None:
            raise invalid(f"no single payment (ЕП) on {body.paid_on} under the rules in force",
                          errors=[{"loc": ["body", "payer_kind"], "msg": "no single payment on that date"}])
        share = found.values.osms_share
    try:
        return await store.record_payment(db, body.iin, body.payer_kind, body.amount, body.paid_on,
                                          body.reference, rules, share)
    except PaymentNotAllowed as exc:
        raise invalid(str(exc), errors=[{"loc": ["body", "amount"], "msg": str(exc)}]) from None


@router.post("/state-contributions", status_code=201, response_model=StateContributionOut,
             dependencies=[allow("state_budget")],
             responses={**conflicts("reference_reused", description="the reference was used for a different request")})
async def create_state_contribution(body: StateContributionIn, db: Pool, snap: Rules) -> dict:
    """Records what the republican or a local budget pays for a category of people for one month.

    The amount per person is the rule table's for the category and period (the average wage two years
    earlier); every IIN is checked, and a bad one rejects the request naming it by index."""
    errors: list[dict[str, Any]] = []
    period = domain.parse_month(body.period)
    categories = state_categories(snap, domain.first_day(period)) if period >= FIRST_MONTH else None
    allowed = getattr(categories, body.budget) if categories else []
    if body.category not in allowed:
        errors.append({"loc": ["body", "category"],
                       "msg": f"{body.budget} budget categories: {', '.join(allowed) or 'none for this period'}"})
    seen: dict[str, int] = {}
    period_end = domain.last_day(period) if period >= FIRST_MONTH else None
    for i, iin in enumerate(body.iins):
        problem = iin_problem(iin)
        if problem is None and period_end is not None:
            problem = born_by_problem(iin, period_end)
        if problem is None and iin in seen:
            problem = f"the same IIN is already at index {seen[iin]}"
        if problem:
            errors.append({"loc": ["body", "iins", i], "msg": problem})
        else:
            seen[iin] = i
    if errors:
        raise invalid("the state contribution is rejected; nothing was accepted", errors=errors)
    today = clock.today()
    period, rules = _period_rules(body.period, today, "period", snap)
    if rules.state_per_person is None:
        raise invalid(f"no state contribution rate for {body.period} (no average wage two years earlier)",
                      errors=[{"loc": ["body", "period"], "msg": "period without rules"}])
    result = await store.record_state_contribution(db, body.budget, body.category, period, body.reference,
                                                   body.iins, rules, today)
    log.info("state contribution accepted", budget=body.budget, category=body.category, persons=len(body.iins))
    return result


@router.get("/persons/{iin}/status", response_model=StatusOut, dependencies=[allow("operator")])
async def get_person_status(iin: IinPath, db: Pool,
                     on: Annotated[Day | None, Query(alias="date", description="YYYY-MM-DD; defaults to today")] = None
                     ) -> dict:
    """Insured, grace or not insured on a date, why, and until when if nothing more is paid."""
    iin = _iin_path(iin)
    on = on or clock.today()
    unborn = born_by_problem(iin, on)
    if unborn:
        raise invalid(unborn, errors=[{"loc": ["query", "date"], "msg": unborn}])
    async with db.acquire() as conn:
        covered, nonstate = await store.coverage(conn, iin)
    st = domain.status_on(covered, nonstate, on)
    return {"iin": iin, "date": on, "status": st.status, "reason": st.reason, "insured_until": st.insured_until,
            "last_covered_month": domain.month_str(st.last_covered_month) if st.last_covered_month else None}


class QuoteOut(RulesUsed):
    iin: str
    on: date
    payer_kind: Literal["self"]
    amount: str = Field(description="what to pay now; 0.00 when already insured (or in grace) on that date")
    monthly_amount: str
    months: list[str] = Field(description="the months the amount pays, as a payment made today allocates them")
    status_after: Literal["insured", "grace"]
    insured_until: date | None


@router.get("/persons/{iin}/quote", response_model=QuoteOut, dependencies=[allow("operator", "payment_gateway")],
            responses={**conflicts("months_not_payable",
                                   description="no payment made today makes the person insured on that date")})
async def get_person_quote(iin: IinPath, db: Pool, snap: Rules,
                    on: Annotated[Day, Query(description="the date to be insured on, YYYY-MM-DD, today or later")]
                    ) -> dict:
    """What a self-payer must pay today, and for which months, to be insured (or in grace) on a date:
    the fewest whole months, allocated as a payment is (arrears first, this month, then ahead)."""
    iin = _iin_path(iin)
    today = clock.today()
    if on < today:
        raise invalid("the date is in the past: a quote is for today or later",
                      errors=[{"loc": ["query", "on"], "msg": "date in the past"}])
    refuse_far_ahead(on, today, ["query", "on"])
    unborn = born_by_problem(iin, today)
    if unborn:
        raise invalid(unborn, errors=[{"loc": ["path", "iin"], "msg": unborn}])
    rules = rules_on(snap, today)
    assert rules is not None  # the tables start in 2020
    async with db.acquire() as conn:
        covered, nonstate = await store.coverage(conn, iin)
    months = domain.quote_months(covered, nonstate, domain.month_of(today), on)
    if months is None:
        raise conflict("months_not_payable", f"no payment made today makes the person insured on {on}: "
                                             "months cannot be paid that far ahead")
    add = sum(domain.bit(m) for m in months)
    after = domain.status_on(covered | add, nonstate | add, on)
    return {"iin": iin, "on": on, "payer_kind": "self", "amount": money_str(rules.self_monthly * len(months)),
            "monthly_amount": money_str(rules.self_monthly), "months": [domain.month_str(m) for m in months],
            "status_after": after.status, "insured_until": after.insured_until, **rules.answer_fields()}


MAX_STATUS_CHECKS = 1000


class StatusChecksIn(BaseModel):
    iins: list[Annotated[IinItem, Field(max_length=64)]] = Field(min_length=1, max_length=MAX_STATUS_CHECKS,
                                                             description="the people to check, each judged alone")
    date: Day | None = Field(default=None, description="YYYY-MM-DD; defaults to today")

    model_config = ConfigDict(json_schema_extra={"examples": [{"iins": ["900315400017", "850722300011"]}]})


class StatusCheck(BaseModel):
    iin: str
    status: Literal["insured", "grace", "not_insured"] | None = Field(description="null when `errors` says why")
    insured_until: date | None
    errors: list[str] = Field(default_factory=list)


class StatusChecksOut(BaseModel):
    date: date
    results: list[StatusCheck] = Field(description="one a requested IIN, in the request's order")


@router.post("/status-checks", response_model=StatusChecksOut, dependencies=[allow("operator", "clinic")],
             summary="Point-of-care eligibility: insured status and until when, for up to 1,000 people")
async def check_statuses(body: StatusChecksIn, db: Pool) -> dict:
    """For a clinic's desk: each person's status and the last day it holds if nothing more is paid;
    nothing of the contributions behind it (no reason, no months, no payer). An invalid IIN, or a
    person not yet born on the date, is answered alone with `errors`."""
    on = body.date or clock.today()
    return {"date": on, "results": await statuses_on(db, body.iins, on)}


async def statuses_on(db: Pool, iins: list[str], on: date) -> list[dict]:
    """Each person's status on a date and until when, in order; an invalid IIN, or one not yet born
    then, answered alone with `errors`. For status checks and FHIR eligibility requests alike."""
    problems = {iin: iin_problem(iin) or born_by_problem(iin, on) for iin in set(iins)}
    async with db.acquire() as conn:
        found = await store.coverages(conn, [iin for iin, problem in problems.items() if problem is None])
    results = []
    for iin in iins:
        if problems[iin]:
            results.append({"iin": iin, "status": None, "insured_until": None, "errors": [problems[iin]]})
            continue
        st = domain.status_on(*found.get(iin, (0, 0)), on)
        results.append({"iin": iin, "status": st.status, "insured_until": st.insured_until})
    return results


@router.get("/persons/{iin}/contributions", response_model=PersonContributionsOut, dependencies=[allow("operator")])
async def get_person_contributions(iin: IinPath, db: Pool) -> dict:
    """Every contribution received for the person, by month, with its payer (for operators)."""
    iin = _iin_path(iin)
    async with db.acquire() as conn:
        covered, nonstate = await store.coverage(conn, iin)
        items = await store.person_contributions(conn, iin)
    return {"iin": iin, "covered_months": [domain.month_str(m) for m in domain.months_of(covered)],
            "state_only_months": [domain.month_str(m) for m in domain.months_of(covered & ~nonstate)],
            "contributions": items}


@router.get("/employers/{employer_bin}/payrolls", response_model=EmployerPayrollsOut,
            dependencies=[allow("operator", "employer", scope_param="employer_bin")])
async def get_employer_payrolls(employer_bin: BinPath,
                                db: Pool, limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict:
    """The employer's payrolls, newest period first (for operators)."""
    problem = bin_problem(employer_bin)
    if problem:
        raise invalid("invalid BIN", errors=[{"loc": ["path", "employer_bin"], "msg": problem}])
    async with db.acquire() as conn:
        payrolls = await store.employer_payrolls(conn, employer_bin, limit)
    return {"employer_bin": employer_bin, "payrolls": payrolls}


class BankRecordIn(BaseModel):
    payer_bin: BIN
    date: Day = Field(description="the day the bank credited the payment")
    amount: Money
    purpose: str = Field(min_length=1, max_length=500,
                         description='the payment\'s purpose; a month "YYYY-MM" in it names the period it pays')
    reference: str = Field(min_length=1, max_length=200, description="the bank's reference of the record, unique")


MAX_BANK_RECORDS = 10_000
BANK_CSV_COLUMNS = ("payer_bin", "date", "amount", "purpose", "reference")


class BankStatementIn(BaseModel):
    """The records as JSON objects, or as the bank's CSV export (`csv`): a header line naming the columns
    payer_bin, date, amount, purpose, reference (in any order, comma-separated, fields quoted as CSV
    quotes them), then a line a record. One of the two."""
    records: list[BankRecordIn] | None = Field(default=None, min_length=1, max_length=MAX_BANK_RECORDS)
    csv: str | None = Field(default=None, min_length=1, max_length=5_000_000,
                            description="the records as CSV text, with a header line: " + ", ".join(BANK_CSV_COLUMNS))

    model_config = ConfigDict(json_schema_extra={"examples": [{"records": [
        {"payer_bin": "150440000013", "date": "2026-12-05", "amount": "41500.00",
         "purpose": "ОСМС за 2026-11", "reference": "bank-2026-12-05-0001"}]}]})


def _csv_records(text: str) -> list[BankRecordIn]:
    """A CSV statement's records, checked like JSON ones: 422 naming each bad field by its record's index
    (0: the first line after the header)."""
    lines = csv.DictReader(io.StringIO(text, newline=""), restkey="_extra")
    missing = [c for c in BANK_CSV_COLUMNS if c not in (lines.fieldnames or [])]
    if missing:
        raise invalid(f"the CSV header must name {', '.join(BANK_CSV_COLUMNS)}",
                      errors=[{"loc": ["body", "csv", "header"], "msg": f"missing columns: {', '.join(missing)}"}])
    records: list[BankRecordIn] = []
    errors: list[dict[str, Any]] = []
    try:
        for i, line in enumerate(lines):
            if i == MAX_BANK_RECORDS:
                raise invalid(f"at most {MAX_BANK_RECORDS} records a statement",
                              errors=[{"loc": ["body", "csv"], "msg": "too many records"}])
            if line.get("_extra") or any(line[c] is None for c in BANK_CSV_COLUMNS):
                errors.append({"loc": ["body", "csv", i], "msg": f"a record has {len(BANK_CSV_COLUMNS)} fields"})
                continue
            try:
                records.append(BankRecordIn.model_validate({c: line[c] for c in BANK_CSV_COLUMNS}))
            except ValidationError as exc:
                errors += _pydantic_errors(exc, ("csv", i))
    except csv.Error as exc:
        errors.append({"loc": ["body", "csv"], "msg": f"not CSV: {exc}"})
    if not records and not errors:
        errors.append({"loc": ["body", "csv"], "msg": "no records after the header"})
    if errors:
        raise invalid("the statement is rejected; nothing was accepted", errors=errors)
    return records


class BankRecordResult(BaseModel):
    reference: str
    record_id: str
    status: Literal["matched", "unmatched"]
    period: str | None = Field(description="the employer's month the record pays; None: unmatched")
    duplicate: bool = Field(description="the same record was imported before; nothing changed")


class BankStatementOut(BaseModel):
    results: list[BankRecordResult]


@router.post("/bank-statements", response_model=BankStatementOut, dependencies=[allow("payment_gateway")],
             responses={**conflicts("reference_reused", description="a record's reference was used for a different record")})
async def import_bank_statement(body: BankStatementIn, db: Pool) -> dict:
    """Imports a bank statement: employers' payments matched to their declarations.

    The bank's records of employers' payments, as JSON records or the bank's CSV export (`csv`). Each is
    matched to a declaration of its payer: the month "YYYY-MM" its purpose names, when declared; without
    one, the payer's oldest month not paid in full. A record matching nothing is kept as unmatched
    (GET /v1/bank-statements/unmatched) and matched when its payer declares a month. A lapsed month paid
    in full counts again and its people's statuses are republished. One result a record, in order."""
    today = clock.today()
    if (body.records is None) == (body.csv is None):
        raise invalid("a statement is either records or csv",
                      errors=[{"loc": ["body"], "msg": "give records or csv, one of the two"}])
    field, given = ("records", body.records) if body.records is not None else ("csv", _csv_records(body.csv or ""))
    errors = [{"loc": ["body", field, i, "date"], "msg": "date in the future"}
              for i, r in enumerate(given) if r.date > today]
    refs: dict[str, int] = {}
    for i, r in enumerate(given):
        if r.reference in refs:
            errors.append({"loc": ["body", field, i, "reference"],
                           "msg": f"the same reference is already at index {refs[r.reference]}"})
        refs.setdefault(r.reference, i)
    if errors:
        raise invalid("the statement is rejected; nothing was accepted", errors=errors)
    records = [store.BankRecord(r.payer_bin, r.date, r.amount, r.purpose, r.reference) for r in given]
    results = await store.record_bank_statement(db, records, today)
    log.info("bank statement imported", records=len(records),
             unmatched=sum(1 for r in results if r["status"] == "unmatched"))
    return {"results": results}


class UnmatchedRecord(BaseModel):
    record_id: str
    reference: str
    payer_bin: str
    date: date
    amount: str
    purpose: str
    received_on: date


class UnmatchedOut(BaseModel):
    records: list[UnmatchedRecord]


@router.get("/bank-statements/unmatched", response_model=UnmatchedOut, dependencies=[allow("operator")])
async def list_unmatched_bank_records(db: Pool, limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                                      offset: Annotated[int, Query(ge=0, le=10_000_000,
                                                                   description="records to skip")] = 0) -> dict:
    """Bank records that matched no declaration, oldest first (for the Fund's accountants).

    A record leaves the list when its payer declares the month it pays."""
    async with db.acquire() as conn:
        return {"records": await store.unmatched_bank_records(conn, limit, offset)}


class AccountPeriod(BaseModel):
    period: str
    declared: str
    paid: str
    balance: str = Field(description="declared less paid: owed when positive, overpaid when negative")
    due_on: date
    counts_until: date = Field(description="the declared months count until this day without the money")
    status: Literal["paid", "due", "overdue", "lapsed"]
    days_late: int
    penalty: str = Field(description="пеня so far: each day late, the unpaid amount at the base rate x multiplier")


class AccountOut(BaseModel):
    employer_bin: str
    date: date
    debt: str = Field(description="the sum of the positive balances")
    penalty: str
    periods: list[AccountPeriod]


@router.get("/employers/{employer_bin}/account", response_model=AccountOut,
            dependencies=[allow("operator", "employer", scope_param="employer_bin")])
async def get_employer_account(employer_bin: BinPath, db: Pool,
                      snap: Rules) -> dict:
    """An employer's account: per declared month, what was declared and paid, and the penalty.

    Per declared month, newest first: declared, paid, the balance, and the penalty for paying late."""
    problem = bin_problem(employer_bin)
    if problem:
        raise invalid("invalid BIN", errors=[{"loc": ["path", "employer_bin"], "msg": problem}])
    today = clock.today()
    async with db.acquire() as conn:
        declarations = await store.employer_declarations(conn, employer_bin)
    base_rates = [(v.effective_from, v.values.rate) for v in snap.all("base_rate")]
    periods = []
    for d in declarations:
        terms = _terms(snap, d.period)
        fine, late = domain.penalty(d.declared, d.payments, d.due_on, today, terms, base_rates)
        status = ("paid" if d.paid >= d.declared else "lapsed" if d.lapsed_on is not None
                  else "due" if today <= d.due_on else "overdue")
        periods.append({"period": domain.month_str(d.period), "declared": money_str(d.declared),
                        "paid": money_str(d.paid), "balance": money_str(d.declared - d.paid), "due_on": d.due_on,
                        "counts_until": d.counts_until, "status": status, "days_late": late,
                        "penalty": money_str(fine)})
    return {"employer_bin": employer_bin, "date": today,
            "debt": money_str(sum((max(d.declared - d.paid, Decimal(0)) for d in declarations), Decimal(0))),
            "penalty": money_str(sum((Decimal(p["penalty"]) for p in periods), Decimal(0))), "periods": periods}


class RefundIn(BaseModel):
    amount: Money
    reason: str = Field(min_length=1, max_length=500, description="why the money goes back")
    reference: str = _REFERENCE

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"amount": "4250.00", "reason": "paid twice", "reference": "refund-2026-12-0002"}]})


class DeclarationRefundIn(RefundIn):
    period: YearMonth

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"period": "2026-11", "amount": "1000.00", "reason": "overpaid", "reference": "refund-2026-12-0001"}]})


class RefundOut(BaseModel):
    refund_id: str
    reference: str
    amount: str
    reason: str
    refunded_on: date
    uncovered_months: list[str] = Field(description="the months the refund left uncovered")


def _positive(amount: Decimal) -> None:
    if amount <= 0:
        raise invalid("a refund is of a positive amount", errors=[{"loc": ["body", "amount"], "msg": "not positive"}])


_REFUND_RESPONSES = {404: {"description": "nothing paid to refund"},
                     **conflicts("refund_exceeds_paid", "reference_reused",
                                 description="more than was paid, or the reference was used for another refund")}


@router.post("/employers/{employer_bin}/refunds", status_code=201, response_model=RefundOut,
             dependencies=[allow("payment_gateway")], responses=_REFUND_RESPONSES)
async def refund_declaration(employer_bin: BinPath,
                               body: DeclarationRefundIn, db: Pool) -> dict:
    """Money an employer paid for a month given back (an overpayment, or after a reversal), with the reason.
    What it leaves unpaid is owed again, and past the month's grace the month stops counting at once."""
    problem = bin_problem(employer_bin)
    if problem:
        raise invalid("invalid BIN", errors=[{"loc": ["path", "employer_bin"], "msg": problem}])
    _positive(body.amount)
    period = domain.parse_month(body.period)
    assert period is not None
    found = await store.refund_declaration(db, employer_bin, period, body.amount, body.reason, body.reference,
                                           clock.today())
    if found is None:
        raise not_found("declaration", f"no payroll of {employer_bin} for {body.period}")
    return found


@router.post("/payments/{payment_id}/refunds", status_code=201, response_model=RefundOut,
             dependencies=[allow("payment_gateway")], responses=_REFUND_RESPONSES)
async def refund_payment(payment_id: Annotated[str, PathParam(description="the payment's id")],
                              body: RefundIn, db: Pool) -> dict:
    """A person's payment given back in part or whole, with the reason: a self-payer's or entrepreneur's
    in whole months (its latest months first); a platform contribution's or single payment's month is
    uncovered when all of it is. The person's status is recomputed and published."""
    _positive(body.amount)
    found = await store.refund_payment(db, _id_path(payment_id, "payment"), body.amount, body.reason, body.reference, clock.today())
    if found is None:
        raise not_found("payment")
    return found


SWEEP_SECONDS = 60.0


async def _sweep_forever(ctx: ServiceContext) -> None:
    """Lapses the declarations unpaid past their grace, once a minute (every instance may; they skip
    each other's rows)."""
    while True:
        try:
            lapsed = await store.sweep_lapses(ctx.pool, clock.today())
            if lapsed:
                log.info("declarations lapsed", declarations=lapsed)
        except Exception:  # noqa: BLE001 - the next round tries again; the error is logged
            log.exception("declaration sweep failed")
        await asyncio.sleep(SWEEP_SECONDS)


async def _start_sweep(ctx: ServiceContext) -> None:
    ctx.tasks.append(asyncio.create_task(_sweep_forever(ctx)))


spec = ServiceSpec(
    name="contributions",
    title="osms contributions",
    description="Payrolls, payments and state contributions; decides each person's insured status and "
                "publishes contribution-paid.",
    routers=[router, fhir.eligibility_router(statuses_on)],
    migrations=Path(__file__).parent / "migrations",
    rule_tables=RULE_TABLES,
    count_records=store.records_on_or_after,
    on_startup=_start_sweep,
)
app = create_app(spec)
