"""contributions SQL: each accepted write is one transaction with its rows, the people's coverage
and their contribution-paid events in the outbox. Set-based: a 10,000-row payroll is a handful of
statements (COPY, one upsert of all the people, the events in one packed outbox row), never a query per row."""
from __future__ import annotations

import asyncio
import hashlib
import uuid
from datetime import date
from decimal import Decimal
from typing import NamedTuple

import asyncpg
import orjson
from asyncpg import BitString

from services.common import clock
from services.common.events import ContributionPaid, OutgoingEvent, event_from_data, event_ids
from services.common.money import money_str
from services.common.outbox import add_events
from services.common.problems import Problem, conflict
from services.contributions import domain
from services.contributions.domain import MASK_BITS, PaymentNotAllowed, PayrollRow
from services.contributions.rules import Month, PeriodRules

PRODUCER = "contributions"
EVENT_TYPE = "contribution-paid"
_ZERO_MASK = BitString.from_int(0, MASK_BITS)
_RETRIES = 4


def body_hash(value: object) -> bytes:
    """sha256 of the canonical (already parsed and normalised) body, minus the reference."""
    return hashlib.sha256(orjson.dumps(value)).digest()


def _mask(value: int) -> BitString:
    return BitString.from_int(value, MASK_BITS, bitorder="little")


# Masks come back as varbit_send() bytes: bit string position p is bit 7 - p % 8 of byte p // 8.
# Reversing the bits of each byte and reading little-endian gives bit p = position p (month p), in C,
# where building asyncpg BitString objects for 10,000 people costs more than the rest of the read.
_REVERSED_BITS = bytes(int(f"{b:08b}"[::-1], 2) for b in range(256))


def _int(sent: bytes) -> int:
    return int.from_bytes(sent[4:].translate(_REVERSED_BITS), "little")


async def _in_transaction(pool: asyncpg.Pool, work):
    """Runs `work(conn)` in a transaction; a deadlock between two writes touching the same people
    in another order, or a serialization failure, rolls back and runs it again."""
    for attempt in range(_RETRIES):
        async with pool.acquire() as conn:
            try:
                async with conn.transaction():
                    return await work(conn)
            except (asyncpg.DeadlockDetectedError, asyncpg.SerializationError):
                if attempt == _RETRIES - 1:
                    raise
        await asyncio.sleep(0.05 * (attempt + 1))


def _reference_conflict(reference: str) -> Problem:
    return conflict("reference_reused",
                    f"reference {reference!r} was already used for a different request")


# --- coverage and events -----------------------------------------------------------------------

_BUMP = """
INSERT INTO person_coverage AS p (iin, covered, nonstate, status_version)
SELECT u.iin, CASE WHEN u.covers THEN $2::bit(256) ELSE $4::bit(256) END,
              CASE WHEN u.covers THEN $3::bit(256) ELSE $4::bit(256) END, 1
FROM unnest($1::text[], $5::bool[]) AS u(iin, covers)
ORDER BY u.iin
ON CONFLICT (iin) DO UPDATE
   SET covered = p.covered | excluded.covered,
       nonstate = p.nonstate | excluded.nonstate,
       status_version = p.status_version + 1,
       updated_at = now()
RETURNING p.iin, varbit_send(p.covered), varbit_send(p.nonstate), p.status_version
"""


async def _bump_coverage(conn: asyncpg.Connection, iins: list[str], covers: list[bool],
                         covered_add: int, nonstate_add: int) -> dict[str, tuple[int, int, int]]:
    """Adds the months to each person's masks (where `covers`), increments status_version; one
    statement for everyone, people locked in IIN order. Returns iin -> (covered, nonstate, version)."""
    rows = await conn.fetch(_BUMP, iins, _mask(covered_add), _mask(nonstate_add), _ZERO_MASK, covers)
    return {r[0]: (_int(r[1]), _int(r[2]), r[3]) for r in rows}


class Change(NamedTuple):
    iin: str
    payer_kind: str
    covered_months: list[str]


def events_of(changes: list[Change], state: dict[str, tuple[int, int, int]], as_of: date) -> list[OutgoingEvent]:
    """One contribution-paid per change. People with the same covered months share one judged and
    validated ContributionPaid (most of a payroll's people do); each event then differs from it only
    in the person's own fields, wrapped by services.common.events.event_from_data (a unit test holds
    the result equal to new_event's)."""
    occurred_at = clock.utc_now().isoformat()
    shared: dict[tuple[int, int], dict] = {}
    out = []
    for ch, eid in zip(changes, event_ids(len(changes))):
        covered, nonstate, version = state[ch.iin]
        template = shared.get((covered, nonstate))
        if template is None:
            template = shared[(covered, nonstate)] = contribution_paid(
                ch, covered, nonstate, version, as_of).model_dump(mode="json", by_alias=True)
        data = {**template, "iin": ch.iin, "payer_kind": ch.payer_kind, "covered_months": ch.covered_months,
                "status_version": version}
        out.append(event_from_data(EVENT_TYPE, data, producer=PRODUCER, key=ch.iin, occurred_at=occurred_at,
                                   event_id=eid))
    return out


def contribution_paid(ch: Change, covered: int, nonstate: int, version: int, as_of: date) -> ContributionPaid:
    tl = domain.timeline(covered, nonstate)
    st = domain.status_on(covered, nonstate, as_of, tl)
    return ContributionPaid(
        iin=ch.iin, payer_kind=ch.payer_kind, covered_months=ch.covered_months, status=st.status,
        reason=st.reason, status_as_of=as_of, insured_until=st.insured_until,
        last_covered_month=domain.month_str(st.last_covered_month) if st.last_covered_month else None,
        status_version=version,
        insured_periods=[{"from": a, "until": b} for a, b in domain.insured_periods(covered, nonstate, tl)])


# --- payrolls ----------------------------------------------------------------------------------

def _rules_answer(row) -> dict:
    return {"rules_version": row["rules_version"], "rules_provisional": row["rules_provisional"],
            "rules_carried_from": row["rules_carried_from"]}


def _payroll_answer(row) -> dict:
    return {"payroll_id": str(row["payroll_id"]), "rows": row["rows"],
            "employer_deduction_total": money_str(row["employer_deduction_total"]),
            "employee_contribution_total": money_str(row["employee_contribution_total"]), **_rules_answer(row)}


async def record_payroll(pool: asyncpg.Pool, employer_bin: str, period: Month, reference: str,
                         rows: list[PayrollRow], amounts: list[tuple[Decimal, Decimal]], rules: PeriodRules,
                         today: date) -> dict:
    digest = body_hash([employer_bin, period, [(r.iin, str(r.income), r.kind) for r in rows]])  # incomes quantized
    employer_total = sum((a for a, _ in amounts), Decimal("0.00"))
    employee_total = sum((b for _, b in amounts), Decimal("0.00"))
    period_day = domain.first_day(period)
    month = domain.month_str(period)

    async def work(conn: asyncpg.Connection) -> dict:
        payroll_id = uuid.uuid4()
        inserted = await conn.fetchval(
            """INSERT INTO payrolls (payroll_id, employer_bin, reference, body_sha256, period, received_on, rows,
                                     employer_deduction_total, employee_contribution_total, rules_version,
                                     rules_provisional, rules_carried_from)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
               ON CONFLICT (employer_bin, reference) DO NOTHING RETURNING payroll_id""",
            payroll_id, employer_bin, reference, digest, period_day, today, len(rows),
            employer_total, employee_total, rules.version, rules.provisional, rules.carried_from)
        if inserted is None:
            held = await conn.fetchrow("SELECT * FROM payrolls WHERE employer_bin = $1 AND reference = $2",
                                       employer_bin, reference)
            if bytes(held["body_sha256"]) != digest:
                raise _reference_conflict(reference)
            return _payroll_answer(held)
        await conn.copy_records_to_table(
            "payroll_rows",
            records=[(payroll_id, i, r.iin, r.kind, r.income, a, b)
                     for i, (r, (a, b)) in enumerate(zip(rows, amounts))],
            columns=["payroll_id", "row_no", "iin", "kind", "income", "employer_deduction",
                     "employee_contribution"])
        # A month is covered only by a contribution: a row whose amounts round to nothing covers nothing.
        covers = [a + b > 0 for a, b in amounts]
        state = await _bump_coverage(conn, [r.iin for r in rows], covers, domain.bit(period), domain.bit(period))
        paid, unpaid = [month], []
        changes = [Change(r.iin, r.kind, paid if c else unpaid) for r, c in zip(rows, covers)]
        await add_events(conn, events_of(changes, state, today))
        return {"payroll_id": str(payroll_id), "rows": len(rows),
                "employer_deduction_total": money_str(employer_total),
                "employee_contribution_total": money_str(employee_total), **rules.answer_fields()}

    return await _in_transaction(pool, work)


async def employer_payrolls(conn: asyncpg.Connection, employer_bin: str, limit: int) -> list[dict]:
    rows = await conn.fetch(
        """SELECT payroll_id, period, reference, rows, employer_deduction_total, employee_contribution_total,
                  received_on, rules_version, rules_provisional, rules_carried_from
           FROM payrolls WHERE employer_bin = $1 ORDER BY period DESC, created_at DESC LIMIT $2""",
        employer_bin, limit)
    return [{**_payroll_answer(r), "period": domain.month_str(domain.month_of(r["period"])),
             "reference": r["reference"], "received_on": r["received_on"]}
            for r in rows]


# --- payments ----------------------------------------------------------------------------------

async def record_payment(pool: asyncpg.Pool, iin: str, payer_kind: str, amount: Decimal, paid_on: date,
                         reference: str, rules: PeriodRules) -> dict:
    digest = body_hash([iin, payer_kind, money_str(amount), paid_on.isoformat()])
    pay_month = domain.month_of(paid_on)
    if payer_kind == "platform":
        platform_month = domain.platform_month(amount, paid_on, rules)
        months_paid, monthly = 1, amount
    else:
        monthly = rules.fixed_monthly(payer_kind)
        months_paid = domain.whole_months(amount, monthly)

    async def work(conn: asyncpg.Connection) -> dict:
        payment_id = uuid.uuid4()
        inserted = await conn.fetchval(
            """INSERT INTO payments (payment_id, reference, body_sha256, iin, payer_kind, amount, paid_on,
                                     covered_months, monthly_amount, rules_version, rules_provisional,
                                     rules_carried_from)
               VALUES ($1, $2, $3, $4, $5, $6, $7, '{}', $8, $9, $10, $11)
               ON CONFLICT (reference) DO NOTHING RETURNING payment_id""",
            payment_id, reference, digest, iin, payer_kind, amount, paid_on, monthly, rules.version,
            rules.provisional, rules.carried_from)
        if inserted is None:
            held = await conn.fetchrow("SELECT * FROM payments WHERE reference = $1", reference)
            if bytes(held["body_sha256"]) != digest:
                raise _reference_conflict(reference)
            return {"payment_id": str(held["payment_id"]),
                    "covered_months": [domain.month_str(domain.month_of(d)) for d in held["covered_months"]],
                    **_rules_answer(held)}
        # The person's row is the lock: allocation reads the months other writes may be adding.
        await conn.execute(
            """INSERT INTO person_coverage (iin, covered, nonstate, status_version) VALUES ($1, $2, $2, 0)
               ON CONFLICT DO NOTHING""", iin, _ZERO_MASK)
        held_mask = _int(await conn.fetchval(
            "SELECT varbit_send(covered) FROM person_coverage WHERE iin = $1 FOR UPDATE", iin))
        if payer_kind == "platform":
            months = [platform_month]
        else:
            try:
                months = domain.allocate_months(held_mask, pay_month, months_paid)
            except PaymentNotAllowed as exc:
                raise conflict("months_not_payable", str(exc)) from None
        add = 0
        for m in months:
            add |= domain.bit(m)
        await conn.execute("UPDATE payments SET covered_months = $2 WHERE payment_id = $1",
                           payment_id, [domain.first_day(m) for m in months])
        state = await _bump_coverage(conn, [iin], [True], add, add)
        covered_months = [domain.month_str(m) for m in months]
        await add_events(conn, events_of([Change(iin, payer_kind, covered_months)], state, paid_on))
        return {"payment_id": str(payment_id), "covered_months": covered_months, **rules.answer_fields()}

    return await _in_transaction(pool, work)


# --- state contributions -----------------------------------------------------------------------

def _state_answer(row) -> dict:
    return {"contribution_id": str(row["contribution_id"]), "budget": row["budget"], "category": row["category"],
            "period": domain.month_str(domain.month_of(row["period"])), "persons": row["persons"],
            "amount_per_person": money_str(row["amount_per_person"]), "total": money_str(row["total"]),
            **_rules_answer(row)}


async def record_state_contribution(pool: asyncpg.Pool, budget: str, category: str, period: Month,
                                    reference: str, iins: list[str], rules: PeriodRules, today: date) -> dict:
    digest = body_hash([budget, category, period, iins])
    per_person, used = rules.state_per_person, rules.state_rules
    assert per_person is not None and used is not None
    total = per_person * len(iins)
    month = domain.month_str(period)

    async def work(conn: asyncpg.Connection) -> dict:
        contribution_id = uuid.uuid4()
        inserted = await conn.fetchval(
            """INSERT INTO state_contributions (contribution_id, reference, body_sha256, budget, category, period,
                                               received_on, persons, amount_per_person, total, rules_version,
                                               rules_provisional, rules_carried_from)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
               ON CONFLICT (reference) DO NOTHING RETURNING contribution_id""",
            contribution_id, reference, digest, budget, category, domain.first_day(period), today, len(iins),
            per_person, total, used["rules_version"], used["rules_provisional"], used.get("rules_carried_from"))
        if inserted is None:
            held = await conn.fetchrow("SELECT * FROM state_contributions WHERE reference = $1", reference)
            if bytes(held["body_sha256"]) != digest:
                raise _reference_conflict(reference)
            return _state_answer(held)
        await conn.copy_records_to_table("state_contribution_persons",
                                         records=[(contribution_id, i) for i in iins],
                                         columns=["contribution_id", "iin"])
        # State-paid months are covered, but not non-state: they do not count towards the 60.
        state = await _bump_coverage(conn, iins, [True] * len(iins), domain.bit(period), 0)
        changes = [Change(i, "state", [month]) for i in iins]
        await add_events(conn, events_of(changes, state, today))
        return {"contribution_id": str(contribution_id), "budget": budget, "category": category,
                "period": month, "persons": len(iins), "amount_per_person": money_str(per_person),
                "total": money_str(total), "rules_carried_from": None, **used}

    return await _in_transaction(pool, work)


# --- rules ---------------------------------------------------------------------------------------

async def records_on_or_after(conn: asyncpg.Connection, table: str, day: date) -> int:
    """Accepted records a new version effective on `day` would have applied to (they keep their amounts).
    An average wage of year Y is used for the contributions of Y + 2."""
    if table == "average_wage":
        day = date(day.year + 2, 1, 1)
    month = date(day.year, day.month, 1)
    return await conn.fetchval(
        """SELECT (SELECT count(*) FROM payrolls WHERE period >= $2 AND $1 IN ('mzp', 'rates'))
                + (SELECT count(*) FROM payments WHERE paid_on >= $3 AND $1 IN ('mzp', 'rates'))
                + (SELECT count(*) FROM state_contributions
                   WHERE period >= $2 AND $1 IN ('state_rate', 'average_wage', 'state_categories'))""",
        table, month if day.day == 1 else date(day.year + (day.month == 12), day.month % 12 + 1, 1), day)


# --- reads -------------------------------------------------------------------------------------

async def coverage(conn: asyncpg.Connection, iin: str) -> tuple[int, int]:
    row = await conn.fetchrow(
        "SELECT varbit_send(covered), varbit_send(nonstate) FROM person_coverage WHERE iin = $1", iin)
    return (_int(row[0]), _int(row[1])) if row else (0, 0)


async def coverages(conn: asyncpg.Connection, iins: list[str]) -> dict[str, tuple[int, int]]:
    """coverage() of many people in one query; a person with no contribution is absent."""
    rows = await conn.fetch("SELECT iin, varbit_send(covered), varbit_send(nonstate) FROM person_coverage "
                            "WHERE iin = ANY($1::text[])", iins)
    return {r[0]: (_int(r[1]), _int(r[2])) for r in rows}


async def person_contributions(conn: asyncpg.Connection, iin: str) -> list[dict]:
    rows = await conn.fetch(
        """SELECT p.period AS month, r.kind AS payer_kind, r.employer_deduction + r.employee_contribution AS amount,
                  r.employer_deduction, r.employee_contribution, 'payroll' AS source,
                  p.payroll_id::text AS source_id, p.employer_bin, NULL AS category, p.created_at
           FROM payroll_rows r JOIN payrolls p USING (payroll_id)
           WHERE r.iin = $1 AND r.employer_deduction + r.employee_contribution > 0
           UNION ALL
           SELECT m.month, pm.payer_kind, pm.monthly_amount, NULL, NULL, 'payment', pm.payment_id::text, NULL, NULL,
                  pm.created_at
           FROM payments pm CROSS JOIN LATERAL unnest(pm.covered_months) AS m(month)
           WHERE pm.iin = $1
           UNION ALL
           SELECT s.period, 'state_' || s.budget, s.amount_per_person, NULL, NULL, 'state',
                  s.contribution_id::text, NULL, s.category, s.created_at
           FROM state_contribution_persons sp JOIN state_contributions s USING (contribution_id)
           WHERE sp.iin = $1
           ORDER BY 1, 10""", iin)
    return [{"month": domain.month_str(domain.month_of(r["month"])), "payer_kind": r["payer_kind"],
             "amount": money_str(r["amount"]),
             "employer_deduction": money_str(r["employer_deduction"]) if r["employer_deduction"] is not None else None,
             "employee_contribution": (money_str(r["employee_contribution"])
                                       if r["employee_contribution"] is not None else None),
             "source": r["source"], "source_id": r["source_id"], "employer_bin": r["employer_bin"],
             "category": r["category"]} for r in rows]
