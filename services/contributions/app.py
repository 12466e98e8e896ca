"""contributions HTTP routes: payrolls, payments and state contributions in, insured status out."""
from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Path as PathParam, Query, Request
from pydantic import BaseModel, Field, ValidationError

from services.common import clock
from services.common.app import Pool, ServiceSpec, create_app
from services.common.auth import Auth, allow
from services.common.ids import BIN, IIN, bin_problem, born_by_problem, iin_problem
from services.common.inputs import Day, YearMonth
from services.common.logs import get_logger
from services.common.money import Money
from services.common.problems import invalid
from services.contributions import domain, store
from services.contributions.domain import PaymentNotAllowed
from services.common.rules import Rules, RuleSnapshot, RulesUsed
from services.contributions.rules import FIRST_MONTH, RULE_TABLES, PeriodRules, rules_on, state_categories

log = get_logger(__name__)
router = APIRouter(prefix="/v1")

MAX_PAYROLL_ROWS = 50_000
MAX_STATE_PERSONS = 50_000
_REFERENCE = Field(min_length=1, max_length=200, description="the sender's idempotency reference")
_FIRST = domain.month_str(FIRST_MONTH)


class PayrollRowIn(BaseModel):
    iin: str = Field(description="the employee's IIN (checked per row)")
    income: Money
    kind: Literal["employee", "civil_contract"]


class PayrollIn(BaseModel):
    employer_bin: BIN
    period: YearMonth
    reference: str = _REFERENCE
    rows: list[PayrollRowIn] = Field(min_length=1, max_length=MAX_PAYROLL_ROWS)


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
    payer_kind: Literal["self", "entrepreneur", "platform"]
    amount: Money
    paid_on: Day
    reference: str = _REFERENCE


class PaymentOut(RulesUsed):
    payment_id: str
    covered_months: list[str]


class StateContributionIn(BaseModel):
    budget: Literal["republican", "local"]
    category: str = Field(min_length=1, max_length=64)
    period: YearMonth
    reference: str = _REFERENCE
    iins: list[str] = Field(min_length=1, max_length=MAX_STATE_PERSONS)


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


IinPath = Annotated[str, PathParam(description="the person's IIN")]


@router.post("/payrolls", status_code=201, response_model=PayrollOut,
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/json": {"schema": _inline_schema(PayrollIn)}}}},
             responses={409: {"description": "the reference was used for a different payroll"},
                        422: {"description": "invalid; every bad row is named by index"}})
async def post_payroll(request: Request, db: Pool, principal: Auth, snap: Rules) -> dict:
    """One employer's monthly payroll: all rows accepted, or none (every bad row named by index).
    The body is parsed here rather than by a model: a 10,000-row payroll is the common case, and the
    rejection must name every bad row, including an IIN that repeats."""
    principal.require("employer")  # its own payrolls only: the BIN is checked below
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise invalid("the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise invalid("the body must be a JSON object")
    errors: list[dict[str, Any]] = []
    header = None
    try:
        header = _PayrollHeader.model_validate({k: body.get(k) for k in ("employer_bin", "period", "reference")})
    except ValidationError as exc:
        errors += _pydantic_errors(exc, ())
    if header is not None:
        principal.require("employer", scope=header.employer_bin)
    raw_rows = body.get("rows")
    rows: list[domain.PayrollRow] = []
    if not isinstance(raw_rows, list) or not raw_rows:
        errors.append({"loc": ["body", "rows"], "msg": "rows must be a non-empty list"})
    elif len(raw_rows) > MAX_PAYROLL_ROWS:
        errors.append({"loc": ["body", "rows"], "msg": f"at most {MAX_PAYROLL_ROWS} rows a payroll"})
    else:
        month = domain.parse_month(header.period) if header is not None else None
        born_by = domain.last_day(month) if month is not None and month >= FIRST_MONTH else None
        rows, row_errors = domain.parse_payroll_rows(raw_rows, born_by)
        errors += row_errors
    if errors or header is None:
        bad_rows = len({e["loc"][2] for e in errors if len(e["loc"]) > 2 and e["loc"][1] == "rows"})
        raise invalid(f"the payroll is rejected: {bad_rows} bad rows; nothing was accepted"
                      if bad_rows else "the payroll is rejected; nothing was accepted", errors=errors)
    today = clock.today()
    period, rules = _period_rules(header.period, today, "period", snap)
    amounts = domain.payroll_amounts(rows, rules)
    result = await store.record_payroll(db, header.employer_bin, period, header.reference, rows, amounts,
                                        rules, today)
    log.info("payroll accepted", employer=header.employer_bin, period=header.period, rows=len(rows))
    return result


@router.post("/payments", status_code=201, response_model=PaymentOut, dependencies=[allow("payment_gateway")],
             responses={409: {"description": "the reference was used for a different payment, or the months "
                                             "cannot be covered"}})
async def post_payment(body: PaymentIn, db: Pool, snap: Rules) -> dict:
    """A self-payer's, entrepreneur's or platform worker's payment. Self-payers and entrepreneurs
    pay whole months (arrears first, then the current month, then ahead); a platform contribution
    covers the month it is paid in."""
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
    try:
        return await store.record_payment(db, body.iin, body.payer_kind, body.amount, body.paid_on,
                                          body.reference, rules)
    except PaymentNotAllowed as exc:
        raise invalid(str(exc), errors=[{"loc": ["body", "amount"], "msg": str(exc)}]) from None


@router.post("/state-contributions", status_code=201, response_model=StateContributionOut,
             dependencies=[allow("state_budget")],
             responses={409: {"description": "the reference was used for a different request"}})
async def post_state_contribution(body: StateContributionIn, db: Pool, snap: Rules) -> dict:
    """The republican or a local budget pays for a category of people for one month."""
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
async def get_status(iin: IinPath, db: Pool,
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


MAX_STATUS_CHECKS = 1000


class StatusChecksIn(BaseModel):
    iins: list[Annotated[str, Field(max_length=64)]] = Field(min_length=1, max_length=MAX_STATUS_CHECKS,
                                                             description="the people to check, each judged alone")
    date: Day | None = Field(default=None, description="YYYY-MM-DD; defaults to today")


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
async def post_status_checks(body: StatusChecksIn, db: Pool) -> dict:
    """For a clinic's desk: each person's status and the last day it holds if nothing more is paid;
    nothing of the contributions behind it (no reason, no months, no payer). An invalid IIN, or a
    person not yet born on the date, is answered alone with `errors`."""
    on = body.date or clock.today()
    problems = {iin: iin_problem(iin) or born_by_problem(iin, on) for iin in set(body.iins)}
    async with db.acquire() as conn:
        found = await store.coverages(conn, [iin for iin, problem in problems.items() if problem is None])
    results = []
    for iin in body.iins:
        if problems[iin]:
            results.append({"iin": iin, "status": None, "insured_until": None, "errors": [problems[iin]]})
            continue
        st = domain.status_on(*found.get(iin, (0, 0)), on)
        results.append({"iin": iin, "status": st.status, "insured_until": st.insured_until})
    return {"date": on, "results": results}


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
async def get_employer_payrolls(employer_bin: Annotated[str, PathParam(description="the employer's BIN")],
                                db: Pool, limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict:
    """The employer's payrolls, newest period first (for operators)."""
    problem = bin_problem(employer_bin)
    if problem:
        raise invalid("invalid BIN", errors=[{"loc": ["path", "employer_bin"], "msg": problem}])
    async with db.acquire() as conn:
        payrolls = await store.employer_payrolls(conn, employer_bin, limit)
    return {"employer_bin": employer_bin, "payrolls": payrolls}


spec = ServiceSpec(
    name="contributions",
    title="osms contributions",
    description="Payrolls, payments and state contributions; decides each person's insured status and "
                "publishes contribution-paid.",
    routers=[router],
    migrations=Path(__file__).parent / "migrations",
    rule_tables=RULE_TABLES,
    count_records=store.records_on_or_after,
)
app = create_app(spec)
