"""contributions SQL: each accepted write is one transaction with its rows, the people's coverage
and their contribution-paid events in the outbox. Set-based: a 10,000-row payroll is a handful of
statements (COPY, one upsert of all the people, the events in one packed outbox row), never a query per row."""
from __future__ import annotations

import asyncio
import hashlib
import re
import uuid
from collections import Counter
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
from services.common.problems import Problem, conflict, invalid
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


# Each event of a write is its template's envelope with the person's own values in it: the envelope is
# serialized once a template (services.common.events.event_from_data, with markers where those values go)
# and made a format string, so that an event costs one str.format, not a dict and a serialization of its own.
_ID_MARK = uuid.UUID(int=0)
_OWN = {"iin": "<<iin>>", "payer_kind": "<<payer_kind>>", "covered_months": "<<covered_months>>",
        "status_version": "<<status_version>>"}
_SLOTS = re.compile(r'"(?:00000000-0000-0000-0000-000000000000|<<(iin|payer_kind|covered_months|status_version)>>)"')


def _format_of(template: dict, occurred_at: str) -> str:
    """The envelope of a template's events as a format string with fields event_id, iin, payer_kind,
    covered_months and status_version (each the JSON of its value)."""
    payload = event_from_data(EVENT_TYPE, {**template, **_OWN}, producer=PRODUCER, key="", occurred_at=occurred_at,
                              event_id=_ID_MARK).payload.decode()
    parts = _SLOTS.split(payload)
    texts = [t.replace("{", "{{").replace("}", "}}") for t in parts[0::2]]
    fields = ["{%s}" % (name or "event_id") for name in parts[1::2]]
    return "".join(t + f for t, f in zip(texts, fields)) + texts[-1]


def events_of(changes: list[Change], state: dict[str, tuple[int, int, int]], as_of: date,
              versions: list[int] | None = None) -> list[OutgoingEvent]:
    """One contribution-paid per change. People with the same covered months share one judged and
    validated ContributionPaid (most of a payroll's people do), serialized once; each event then differs
    from it only in the person's own fields (a unit test holds the payload equal to event_from_data's
    and the data to the model's). `versions`: each change's status_version, when not the state's."""
    occurred_at = clock.utc_now().isoformat()
    shared: dict[tuple[int, int], str] = {}
    dumped: dict[object, str] = {}
    out = []
    for n, (ch, eid) in enumerate(zip(changes, event_ids(len(changes)))):
        covered, nonstate, version = state[ch.iin]
        if versions is not None:
            version = versions[n]
        form = shared.get((covered, nonstate))
        if form is None:
            form = shared[(covered, nonstate)] = _format_of(contribution_paid(
                ch, covered, nonstate, version, as_of).model_dump(mode="json", by_alias=True), occurred_at)
        months = tuple(ch.covered_months)
        payload = form.format(
            event_id=f'"{eid}"', iin=orjson.dumps(ch.iin).decode(),
            payer_kind=dumped.get(ch.payer_kind) or dumped.setdefault(ch.payer_kind, orjson.dumps(ch.payer_kind).decode()),
            covered_months=dumped.get(months) or dumped.setdefault(months, orjson.dumps(months).decode()),
            status_version=version)
        out.append(OutgoingEvent(EVENT_TYPE, ch.iin, eid, payload.encode()))
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


_SET_PERSON_MONTHS = """
INSERT INTO employer_person_months AS e (employer_bin, period, iin, kind, income, employer_deduction,
                                         employee_contribution)
SELECT $1, $2, u.* FROM unnest($3::text[], $4::text[], $5::numeric[], $6::numeric[], $7::numeric[]) AS u
ON CONFLICT (employer_bin, period, iin, kind) DO UPDATE
   SET income = excluded.income, employer_deduction = excluded.employer_deduction,
       employee_contribution = excluded.employee_contribution
"""


# The payrolls that open their employers' months, in one statement for all of them (one round trip
# where a statement each, or COPY and separate statements, cost more than the rows of the common payroll
# of a few people): the declarations created, the payrolls, their rows and the people's months written,
# their coverage bumped (a person in several of them once, the version moved by each). A month already
# declared is only locked (its payroll goes the general way), and a payroll whose reference is taken is
# not written. Rows out: ('p', payroll ord) written, ('f', ord) month opened, ('c', iin, masks, version)
# a person's coverage, ('w', employer) an employer with bank records that matched nothing yet.
_OPEN_MONTHS = """
WITH p AS (
    SELECT * FROM unnest($1::text[], $2::date[], $3::numeric[], $4::date[], $5::date[], $7::uuid[], $8::text[],
                         $9::bytea[], $10::int[], $11::numeric[], $12::numeric[], $13::text[], $14::bool[],
                         $15::int[], $16::bit(256)[])
        WITH ORDINALITY AS p(employer_bin, period, declared, due_on, counts_until, payroll_id, reference, digest,
                             nrows, ed_total, ec_total, rules_version, provisional, carried_from, month_mask, ord)
), decl AS (
    INSERT INTO declarations AS d (employer_bin, period, declared, due_on, counts_until, first_received_on)
    SELECT employer_bin, period, declared, due_on, counts_until, $6 FROM p ORDER BY employer_bin, period
    ON CONFLICT (employer_bin, period) DO UPDATE SET declared = d.declared
    RETURNING d.employer_bin, d.period, xmax = 0 AS fresh
), opened AS (
    SELECT p.* FROM p JOIN decl USING (employer_bin, period) WHERE decl.fresh
), payroll AS (
    INSERT INTO payrolls (payroll_id, employer_bin, reference, body_sha256, period, received_on, rows,
                          employer_deduction_total, employee_contribution_total, rules_version, rules_provisional,
                          rules_carried_from)
    SELECT payroll_id, employer_bin, reference, digest, period, $6, nrows, ed_total, ec_total, rules_version,
           provisional, carried_from FROM opened
    ON CONFLICT (employer_bin, reference) DO NOTHING
    RETURNING payroll_id
), person_rows AS (
    SELECT u.row_no, u.iin, u.kind, u.income::numeric AS income, u.ed::numeric AS ed, u.ec::numeric AS ec, u.covers,
           o.payroll_id, o.employer_bin, o.period, o.month_mask
    FROM unnest($17::int[], $18::int[], $19::text[], $20::text[], $21::text[], $22::text[], $23::text[],
                $24::bool[]) AS u(ord, row_no, iin, kind, income, ed, ec, covers)
    JOIN opened o USING (ord) JOIN payroll USING (payroll_id)
), written_rows AS (
    INSERT INTO payroll_rows (payroll_id, row_no, iin, kind, income, employer_deduction, employee_contribution)
    SELECT payroll_id, row_no, iin, kind, income, ed, ec FROM person_rows
), written_months AS (
    INSERT INTO employer_person_months (employer_bin, period, iin, kind, income, employer_deduction,
                                        employee_contribution)
    SELECT employer_bin, period, iin, kind, income, ed, ec FROM person_rows
), people AS (
    SELECT iin, bit_or(CASE WHEN covers THEN month_mask ELSE $25::bit(256) END) AS adds, count(*)::int AS n
    FROM person_rows GROUP BY iin
), bumped AS (
    INSERT INTO person_coverage AS c (iin, covered, nonstate, status_version)
    SELECT iin, adds, adds, n FROM people ORDER BY iin
    ON CONFLICT (iin) DO UPDATE
       SET covered = c.covered | excluded.covered, nonstate = c.nonstate | excluded.nonstate,
           status_version = c.status_version + excluded.status_version, updated_at = now()
    RETURNING c.iin, varbit_send(c.covered) AS covered, varbit_send(c.nonstate) AS nonstate, c.status_version
)
SELECT 'p', o.ord::text, NULL::bytea, NULL::bytea, NULL::bigint FROM opened o JOIN payroll USING (payroll_id)
UNION ALL
SELECT 'f', ord::text, NULL, NULL, NULL FROM opened
UNION ALL
SELECT 'c', iin, covered, nonstate, status_version FROM bumped
UNION ALL
SELECT DISTINCT 'w', b.payer_bin, NULL::bytea, NULL::bytea, NULL::bigint FROM bank_records b
WHERE b.period IS NULL AND b.payer_bin IN (SELECT employer_bin FROM opened)
"""


async def _person_months(conn: asyncpg.Connection, employer_bin: str, period_day: date,
                         iins: list[str]) -> dict[domain.PersonKey, domain.PersonMonth]:
    rows = await conn.fetch(
        """SELECT iin, kind, income, employer_deduction, employee_contribution FROM employer_person_months
           WHERE employer_bin = $1 AND period = $2 AND iin = ANY($3::text[])""", employer_bin, period_day, iins)
    return {(r[0], r[1]): domain.PersonMonth(r[2], r[3], r[4]) for r in rows}


async def _set_person_months(conn: asyncpg.Connection, employer_bin: str, period_day: date,
                             months: list[tuple[str, str, domain.PersonMonth]]) -> None:
    await conn.execute(_SET_PERSON_MONTHS, employer_bin, period_day, [m[0] for m in months], [m[1] for m in months],
                       [m[2].income for m in months], [m[2].employer_deduction for m in months],
                       [m[2].employee_contribution for m in months])


async def _held_payroll(conn: asyncpg.Connection, employer_bin: str, reference: str, digest: bytes) -> dict | None:
    """The answer to a payroll sent again under its reference; 409 for another body under it."""
    held = await conn.fetchrow("SELECT * FROM payrolls WHERE employer_bin = $1 AND reference = $2",
                               employer_bin, reference)
    if held is None:
        return None
    if bytes(held["body_sha256"]) != digest:
        raise _reference_conflict(reference)
    return _payroll_answer(held)


class NewPayroll(NamedTuple):
    """A payroll checked and priced as its month's first (the rules of its period and its due dates)."""
    employer_bin: str
    period: Month
    reference: str
    rows: list[PayrollRow]
    rules: PeriodRules
    due: date
    counts_until: date

    @property
    def digest(self) -> bytes:
        return body_hash([self.employer_bin, self.period, [(r.iin, str(r.income), r.kind) for r in self.rows]])


class _Opened(NamedTuple):
    """What the one statement did for the payrolls that open their months."""
    written: set[int]            # the payrolls written (indexes into the list given)
    fresh: set[int]              # the months opened (written, or their reference was taken)
    state: dict[str, tuple[int, int, int]]   # iin -> (covered, nonstate, status_version) after
    waiting: list[str]           # employers with bank records that matched nothing so far


async def _open_months(conn: asyncpg.Connection, payrolls: list[NewPayroll], amounts: list[list[tuple[Decimal, Decimal]]],
                       ids: list[uuid.UUID], today: date) -> _Opened:
    """_OPEN_MONTHS for payrolls of distinct months and distinct references, priced as their months' first.
    The rows' amounts go as text (exact decimals all the same), which asyncpg encodes far faster than numeric."""
    rows = [(k, i, r, a) for k, (p, am) in enumerate(zip(payrolls, amounts), 1) for i, (r, a) in enumerate(zip(p.rows, am))]
    totals = [(sum((a for a, _ in am), Decimal("0.00")), sum((b for _, b in am), Decimal("0.00"))) for am in amounts]
    found = await conn.fetch(
        _OPEN_MONTHS, [p.employer_bin for p in payrolls], [domain.first_day(p.period) for p in payrolls],
        [ed + ec for ed, ec in totals], [p.due for p in payrolls], [p.counts_until for p in payrolls], today, ids,
        [p.reference for p in payrolls], [p.digest for p in payrolls], [len(p.rows) for p in payrolls],
        [ed for ed, _ in totals], [ec for _, ec in totals], [p.rules.version for p in payrolls],
        [p.rules.provisional for p in payrolls], [p.rules.carried_from for p in payrolls],
        [_mask(domain.bit(p.period)) for p in payrolls],
        [k for k, _, _, _ in rows], [i for _, i, _, _ in rows], [r.iin for _, _, r, _ in rows],
        [r.kind for _, _, r, _ in rows], [str(r.income) for _, _, r, _ in rows], [str(a[0]) for _, _, _, a in rows],
        [str(a[1]) for _, _, _, a in rows], [a[0] + a[1] > 0 for _, _, _, a in rows], _ZERO_MASK)
    out = _Opened(set(), set(), {}, [])
    for tag, text, covered, nonstate, version in found:
        if tag == "p":
            out.written.add(int(text) - 1)
        elif tag == "f":
            out.fresh.add(int(text) - 1)
        elif tag == "c":
            out.state[text] = (_int(covered), _int(nonstate), version)
        else:
            out.waiting.append(text)
    return out


def _answer(payroll_id: uuid.UUID, p: NewPayroll, ed_total: Decimal, ec_total: Decimal) -> dict:
    return {"payroll_id": str(payroll_id), "rows": len(p.rows), "employer_deduction_total": money_str(ed_total),
            "employee_contribution_total": money_str(ec_total), **p.rules.answer_fields()}


def _opening_round(order: list[int], payrolls: list[NewPayroll]) -> tuple[list[int], list[int]]:
    """The payrolls one _OPEN_MONTHS can take (the first of each employer's month and of each employer's
    reference, in the order given), and the rest, for the next round."""
    months, references, now, later = set(), set(), [], []
    for i in order:
        p = payrolls[i]
        if (p.employer_bin, p.period) in months or (p.employer_bin, p.reference) in references:
            later.append(i)
        else:
            months.add((p.employer_bin, p.period))
            references.add((p.employer_bin, p.reference))
            now.append(i)
    return now, later


async def _write_payrolls(conn: asyncpg.Connection, payrolls: list[NewPayroll], today: date
                          ) -> tuple[list[dict | Problem], list[OutgoingEvent]]:
    """Payrolls written in the caller's transaction, in (employer, period) order so that two writers lock
    in one order: per payroll its answer, or its problem (a reference used for another body: 409); and
    the people's events (the caller adds them to the outbox). The employer's declaration for the month
    grows by each payroll; the declaration's row is the lock of the employer's month: a further payroll of
    the month is charged on each person's total income from the employer (the caps apply to the total),
    less what the month already holds. The same reference again: the first answer. Bank records of the
    employer that matched nothing so far are matched again once it declares a new month."""
    results: list[dict | Problem] = [{}] * len(payrolls)
    events: list[OutgoingEvent] = []
    waiting: set[str] = set()
    pending = sorted(range(len(payrolls)), key=lambda i: (payrolls[i].employer_bin, payrolls[i].period))
    while pending:
        now, pending = _opening_round(pending, payrolls)
        chosen = [payrolls[i] for i in now]
        amounts = [domain.payroll_amounts(p.rows, p.rules) for p in chosen]
        ids = [uuid.uuid4() for _ in chosen]
        opened = await _open_months(conn, chosen, amounts, ids, today)
        waiting.update(opened.waiting)
        changes: list[Change] = []
        for k in sorted(opened.written):
            p, am = chosen[k], amounts[k]
            results[now[k]] = _answer(ids[k], p, sum((a for a, _ in am), Decimal("0.00")),
                                      sum((b for _, b in am), Decimal("0.00")))
            paid = [domain.month_str(p.period)]
            changes += [Change(r.iin, r.kind, paid if a + b > 0 else []) for r, (a, b) in zip(p.rows, am)]
        events += events_of(changes, opened.state, today, _versions_of(changes, opened.state))
        for k, (i, p) in enumerate(zip(now, chosen)):
            if k in opened.written:
                continue
            if k in opened.fresh:  # the reference is another month's payroll: the month opened for nothing goes
                await conn.execute("DELETE FROM declarations WHERE employer_bin = $1 AND period = $2",
                                   p.employer_bin, domain.first_day(p.period))
            try:
                results[i], evs = await _write_further_payroll(conn, p, today)
            except Problem as exc:
                results[i] = exc
                continue
            events += evs
    if waiting:
        await _republish_months(conn, await _match_waiting(conn, sorted(waiting), today), today)
    return results, events


def _versions_of(changes: list[Change], state: dict[str, tuple[int, int, int]]) -> list[int]:
    """Each change's status_version: a person in several payrolls of one statement has the masks after all
    of them and a version each, the last the stored one."""
    left = Counter(ch.iin for ch in changes)
    out = []
    for ch in changes:
        left[ch.iin] -= 1
        out.append(state[ch.iin][2] - left[ch.iin])
    return out


async def _write_further_payroll(conn: asyncpg.Connection, p: NewPayroll, today: date
                                 ) -> tuple[dict, list[OutgoingEvent]]:
    """A payroll of a month already declared (its declaration locked by _OPEN_MONTHS), or one sent again."""
    digest = p.digest  # incomes quantized
    rows, rules = p.rows, p.rules
    period_day = domain.first_day(p.period)
    held_payroll = await _held_payroll(conn, p.employer_bin, p.reference, digest)
    if held_payroll is not None:
        return held_payroll, []
    payroll_id = uuid.uuid4()
    lapsed_on = await conn.fetchval("SELECT lapsed_on FROM declarations WHERE employer_bin = $1 AND period = $2",
                                    p.employer_bin, period_day)
    held = await _person_months(conn, p.employer_bin, period_day, [r.iin for r in rows])
    added = domain.added_rows(rows, held, rules)
    ed_total = sum((a for _, a, _ in added), Decimal("0.00"))
    ec_total = sum((b for _, _, b in added), Decimal("0.00"))
    if await conn.fetchval(
            """INSERT INTO payrolls (payroll_id, employer_bin, reference, body_sha256, period, received_on, rows,
                                     employer_deduction_total, employee_contribution_total, rules_version,
                                     rules_provisional, rules_carried_from)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
               ON CONFLICT (employer_bin, reference) DO NOTHING RETURNING payroll_id""",
            payroll_id, p.employer_bin, p.reference, digest, period_day, today, len(rows),
            ed_total, ec_total, rules.version, rules.provisional, rules.carried_from) is None:
        # the reference was taken meanwhile by a payroll of another month (committed: the conflict saw it)
        held_payroll = await _held_payroll(conn, p.employer_bin, p.reference, digest)
        assert held_payroll is not None
        return held_payroll, []
    await conn.copy_records_to_table(
        "payroll_rows",
        records=[(payroll_id, i, r.iin, r.kind, r.income, a, b) for i, (r, (_, a, b)) in enumerate(zip(rows, added))],
        columns=["payroll_id", "row_no", "iin", "kind", "income", "employer_deduction", "employee_contribution"])
    await _set_person_months(conn, p.employer_bin, period_day, [(r.iin, r.kind, m) for r, (m, _, _) in zip(rows, added)])
    await conn.execute("UPDATE declarations SET declared = declared + $3 WHERE employer_bin = $1 AND period = $2",
                       p.employer_bin, period_day, ed_total + ec_total)
    # A lapsed month (declared, unpaid past its grace) covers no one until it is paid.
    covers = [m.covers and lapsed_on is None for m, _, _ in added]
    state = await _bump_coverage(conn, [r.iin for r in rows], covers, domain.bit(p.period), domain.bit(p.period))
    paid = [domain.month_str(p.period)]
    changes = [Change(r.iin, r.kind, paid if c else []) for r, c in zip(rows, covers)]
    return _answer(payroll_id, p, ed_total, ec_total), events_of(changes, state, today)


async def record_payroll(pool: asyncpg.Pool, payroll: NewPayroll, today: date) -> dict:
    async def work(conn: asyncpg.Connection) -> dict:
        (answer,), events = await _write_payrolls(conn, [payroll], today)
        if isinstance(answer, Problem):
            raise answer
        await add_events(conn, events)
        return answer

    return await _in_transaction(pool, work)


async def record_payrolls(pool: asyncpg.Pool, payrolls: list[NewPayroll], today: date) -> list[dict]:
    """Many employers' payrolls in one transaction (a gateway's batch): each accepted, or refused alone
    (a reference used for another body: its problem in place of its answer); the events of all of
    them in one outbox write."""

    async def work(conn: asyncpg.Connection) -> list[dict]:
        answers, events = await _write_payrolls(conn, payrolls, today)
        await add_events(conn, events)
        return [{"status": a.status, "rule": a.extra.get("rule"), "detail": a.detail} if isinstance(a, Problem)
                else {"status": 201, **a} for a in answers]

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


# --- recomputing coverage ------------------------------------------------------------------------

# Every contribution that covers a month of these people, with whether its payer is other than the
# state. An employer's month counts while its declaration has not lapsed.
_SOURCES = """
SELECT e.iin, e.period, true FROM employer_person_months e JOIN declarations d USING (employer_bin, period)
WHERE e.iin = ANY($1::text[]) AND e.employer_deduction + e.employee_contribution > 0 AND d.lapsed_on IS NULL
UNION ALL
SELECT iin, unnest(covered_months), true FROM payments WHERE iin = ANY($1::text[])
UNION ALL
SELECT sp.iin, s.period, false FROM state_contribution_persons sp JOIN state_contributions s USING (contribution_id)
WHERE sp.iin = ANY($1::text[])
"""

_SET_COVERAGE = """
INSERT INTO person_coverage AS p (iin, covered, nonstate, status_version)
SELECT u.iin, u.covered, u.nonstate, 1 FROM unnest($1::text[], $2::bit(256)[], $3::bit(256)[]) AS u(iin, covered, nonstate)
ORDER BY u.iin
ON CONFLICT (iin) DO UPDATE
   SET covered = excluded.covered, nonstate = excluded.nonstate, status_version = p.status_version + 1,
       updated_at = now()
RETURNING p.iin, varbit_send(p.covered), varbit_send(p.nonstate), p.status_version
"""


async def _recompute_coverage(conn: asyncpg.Connection, iins: list[str]) -> dict[str, tuple[int, int, int]]:
    """Each person's masks rebuilt from every contribution that still covers a month (a month some
    other contribution covers stays covered when one is corrected away or lapses); status_version
    incremented. People locked in IIN order before their contributions are read."""
    iins = sorted(set(iins))
    await conn.execute("SELECT 1 FROM person_coverage WHERE iin = ANY($1::text[]) ORDER BY iin FOR UPDATE", iins)
    months: dict[str, list[tuple[Month, bool]]] = {i: [] for i in iins}
    for iin, day, other_than_state in await conn.fetch(_SOURCES, iins):
        months[iin].append((domain.month_of(day), other_than_state))
    masks = [domain.masks_of(months[i]) for i in iins]
    rows = await conn.fetch(_SET_COVERAGE, iins, [_mask(c) for c, _ in masks], [_mask(n) for _, n in masks])
    return {r[0]: (_int(r[1]), _int(r[2]), r[3]) for r in rows}


async def _month_people(conn: asyncpg.Connection, declarations: list[tuple[str, date]]) -> list[tuple[str, str]]:
    """(iin, kind) of everyone in these employers' months, one a person."""
    rows = await conn.fetch(
        """SELECT DISTINCT ON (e.iin) e.iin, e.kind FROM employer_person_months e
           JOIN unnest($1::text[], $2::date[]) AS d(employer_bin, period) USING (employer_bin, period)
           ORDER BY e.iin""", [b for b, _ in declarations], [p for _, p in declarations])
    return [(r[0], r[1]) for r in rows]


async def _republish_months(conn: asyncpg.Connection, declarations: list[tuple[str, date]], today: date) -> int:
    """The people of these employers' months (which now count again, or stopped counting) get their
    coverage recomputed and a contribution-paid (its status and periods say what changed)."""
    people = await _month_people(conn, declarations) if declarations else []
    if not people:
        return 0
    state = await _recompute_coverage(conn, [iin for iin, _ in people])
    await add_events(conn, events_of([Change(iin, kind, []) for iin, kind in people], state, today))
    return len(people)


# --- corrections ---------------------------------------------------------------------------------

class PayrollHeader(NamedTuple):
    payroll_id: uuid.UUID
    employer_bin: str
    period: Month
    version: int


async def payroll_header(conn: asyncpg.Connection, payroll_id: uuid.UUID) -> PayrollHeader | None:
    row = await conn.fetchrow("SELECT employer_bin, period, version FROM payrolls WHERE payroll_id = $1", payroll_id)
    return PayrollHeader(payroll_id, row[0], domain.month_of(row[1]), row[2]) if row else None


def _correction_answer(row, differences: list[dict]) -> dict:
    return {"payroll_id": str(row["payroll_id"]), "version": row["version"], "reference": row["reference"],
            "rows": row["rows"], "employer_deduction_total": money_str(row["employer_deduction_total"]),
            "employee_contribution_total": money_str(row["employee_contribution_total"]),
            "employer_deduction_difference": money_str(row["employer_deduction_difference"]),
            "employee_contribution_difference": money_str(row["employee_contribution_difference"]),
            "differences": differences, **_rules_answer(row)}


async def _correction_differences(conn: asyncpg.Connection, payroll_id: uuid.UUID, version: int) -> list[dict]:
    rows = await conn.fetch(
        """SELECT iin, kind, income_before, income_after, employer_deduction_difference,
                  employee_contribution_difference
           FROM payroll_correction_persons WHERE payroll_id = $1 AND version = $2 ORDER BY iin, kind""",
        payroll_id, version)
    return [{"iin": r[0], "kind": r[1], "income_before": money_str(r[2]), "income_after": money_str(r[3]),
             "employer_deduction_difference": money_str(r[4]), "employee_contribution_difference": money_str(r[5])}
            for r in rows]


async def record_correction(pool: asyncpg.Pool, header: PayrollHeader, reference: str, rows: list[PayrollRow],
                            rules: PeriodRules, today: date) -> dict:
    """A new version of the payroll: its rows replaced by `rows` (none: a reversal). Each person's month
    with the employer is recounted on its new total income (caps across all the month's payrolls), the
    difference per person recorded, the declaration changed by the sum of the differences, and the
    people of either version get their coverage recomputed and a contribution-paid."""
    digest = body_hash([str(header.payroll_id), [(r.iin, str(r.income), r.kind) for r in rows]])
    period_day = domain.first_day(header.period)

    async def work(conn: asyncpg.Connection) -> dict:
        await conn.execute("SELECT 1 FROM declarations WHERE employer_bin = $1 AND period = $2 FOR UPDATE",
                           header.employer_bin, period_day)
        payroll = await conn.fetchrow("SELECT * FROM payrolls WHERE payroll_id = $1 FOR UPDATE", header.payroll_id)
        held = await conn.fetchrow("SELECT * FROM payroll_corrections WHERE payroll_id = $1 AND reference = $2",
                                   header.payroll_id, reference)
        if held is not None:
            if bytes(held["body_sha256"]) != digest:
                raise _reference_conflict(reference)
            return _correction_answer(held, await _correction_differences(conn, header.payroll_id, held["version"]))
        if payroll["reference"] == reference:
            raise _reference_conflict(reference)
        version = payroll["version"] + 1
        old_rows = await conn.fetch(
            """SELECT iin, kind, income, employer_deduction, employee_contribution FROM payroll_rows
               WHERE payroll_id = $1 AND version = $2""", header.payroll_id, payroll["version"])
        old_income = {(r[0], r[1]): r[2] for r in old_rows}
        old_amounts = {(r[0], r[1]): (r[3], r[4]) for r in old_rows}
        keys = old_income.keys() | {(r.iin, r.kind) for r in rows}
        months = await _person_months(conn, header.employer_bin, period_day, sorted({k[0] for k in keys}))
        diffs = domain.corrected_months(old_income, rows, months, rules)
        by_key = {(d.iin, d.kind): d for d in diffs}
        ed_diff = sum((d.employer_deduction for d in diffs), Decimal("0.00"))
        ec_diff = sum((d.employee_contribution for d in diffs), Decimal("0.00"))
        ed_total = payroll["employer_deduction_total"] + ed_diff
        ec_total = payroll["employee_contribution_total"] + ec_diff
        # The version's rows: each person's amounts in the payroll moved by the person's difference.
        new_rows = []
        for i, r in enumerate(rows):
            d = by_key[(r.iin, r.kind)]
            a, b = old_amounts.get((r.iin, r.kind), (Decimal("0.00"), Decimal("0.00")))
            new_rows.append((header.payroll_id, version, i, r.iin, r.kind, r.income, a + d.employer_deduction,
                             b + d.employee_contribution))
        await conn.copy_records_to_table(
            "payroll_rows", records=new_rows,
            columns=["payroll_id", "version", "row_no", "iin", "kind", "income", "employer_deduction",
                     "employee_contribution"])
        await conn.copy_records_to_table(
            "payroll_correction_persons",
            records=[(header.payroll_id, version, d.iin, d.kind, d.before.income, d.after.income,
                      d.employer_deduction, d.employee_contribution) for d in diffs],
            columns=["payroll_id", "version", "iin", "kind", "income_before", "income_after",
                     "employer_deduction_difference", "employee_contribution_difference"])
        await _set_person_months(conn, header.employer_bin, period_day, [(d.iin, d.kind, d.after) for d in diffs])
        correction = await conn.fetchrow(
            """INSERT INTO payroll_corrections (payroll_id, version, reference, body_sha256, received_on, rows,
                   employer_deduction_total, employee_contribution_total, employer_deduction_difference,
                   employee_contribution_difference, rules_version, rules_provisional, rules_carried_from)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING *""",
            header.payroll_id, version, reference, digest, today, len(rows), ed_total, ec_total, ed_diff, ec_diff,
            rules.version, rules.provisional, rules.carried_from)
        await conn.execute(
            """UPDATE payrolls SET version = $2, rows = $3, employer_deduction_total = $4,
                                   employee_contribution_total = $5 WHERE payroll_id = $1""",
            header.payroll_id, version, len(rows), ed_total, ec_total)
        month = [domain.month_str(header.period)]
        changes = {d.iin: Change(d.iin, d.kind, month if d.after.covers else []) for d in diffs}
        if await _change_declared(conn, header.employer_bin, period_day, ed_diff + ec_diff):
            for iin, kind in await _month_people(conn, [(header.employer_bin, period_day)]):
                changes.setdefault(iin, Change(iin, kind, month))
        state = await _recompute_coverage(conn, list(changes))
        await add_events(conn, events_of(sorted(changes.values()), state, today))
        return _correction_answer(correction, await _correction_differences(conn, header.payroll_id, version))

    return await _in_transaction(pool, work)


async def _change_declared(conn: asyncpg.Connection, employer_bin: str, period_day: date, change: Decimal) -> bool:
    """A correction moves the declared sum; a lapsed month whose declaration is now paid in full counts
    again: True when it did (the caller recomputes its people)."""
    return await conn.fetchval(
        """UPDATE declarations d SET declared = d.declared + $3,
                  lapsed_on = CASE WHEN d.paid >= d.declared + $3 THEN NULL ELSE d.lapsed_on END
           FROM declarations old WHERE old.employer_bin = d.employer_bin AND old.period = d.period
             AND d.employer_bin = $1 AND d.period = $2
           RETURNING old.lapsed_on IS NOT NULL AND d.lapsed_on IS NULL""", employer_bin, period_day, change)


async def payroll_versions(conn: asyncpg.Connection, payroll_id: uuid.UUID) -> dict | None:
    payroll = await conn.fetchrow("SELECT * FROM payrolls WHERE payroll_id = $1", payroll_id)
    if payroll is None:
        return None
    first = await conn.fetchrow(
        """SELECT sum(employer_deduction) AS ed, sum(employee_contribution) AS ec, count(*) AS n
           FROM payroll_rows WHERE payroll_id = $1 AND version = 1""", payroll_id)
    versions = [{"version": 1, "reference": payroll["reference"], "received_on": payroll["received_on"],
                 "rows": first["n"], "employer_deduction_total": money_str(first["ed"] or Decimal(0)),
                 "employee_contribution_total": money_str(first["ec"] or Decimal(0)),
                 "employer_deduction_difference": None, "employee_contribution_difference": None}]
    for c in await conn.fetch("SELECT * FROM payroll_corrections WHERE payroll_id = $1 ORDER BY version", payroll_id):
        versions.append({"version": c["version"], "reference": c["reference"], "received_on": c["received_on"],
                         "rows": c["rows"], "employer_deduction_total": money_str(c["employer_deduction_total"]),
                         "employee_contribution_total": money_str(c["employee_contribution_total"]),
                         "employer_deduction_difference": money_str(c["employer_deduction_difference"]),
                         "employee_contribution_difference": money_str(c["employee_contribution_difference"])})
    rows = await conn.fetch(
        """SELECT iin, kind, income, employer_deduction, employee_contribution FROM payroll_rows
           WHERE payroll_id = $1 AND version = $2 ORDER BY row_no""", payroll_id, payroll["version"])
    return {"payroll_id": str(payroll_id), "employer_bin": payroll["employer_bin"],
            "period": domain.month_str(domain.month_of(payroll["period"])), "version": payroll["version"],
            "versions": versions,
            "rows": [{"iin": r[0], "kind": r[1], "income": money_str(r[2]), "employer_deduction": money_str(r[3]),
                      "employee_contribution": money_str(r[4])} for r in rows]}


# --- declared against paid -----------------------------------------------------------------------

class BankRecord(NamedTuple):
    payer_bin: str
    paid_on: date
    amount: Decimal
    purpose: str
    reference: str


def _bank_answer(row) -> dict:
    period = row["period"]
    return {"reference": row["reference"], "record_id": str(row["record_id"]),
            "status": "matched" if period is not None else "unmatched",
            "period": domain.month_str(domain.month_of(period)) if period is not None else None}


async def _match(conn: asyncpg.Connection, payer_bin: str, purpose: str, amount: Decimal
                 ) -> tuple[date | None, bool]:
    """The payer's declaration a bank record pays (domain.match_period), its paid sum grown by the record:
    (its period's first day, or None: it matches nothing; whether a lapsed month paid in full counts again)."""
    declared = await conn.fetch(
        """SELECT period, declared - paid FROM declarations WHERE employer_bin = $1
           ORDER BY period FOR UPDATE""", payer_bin)
    period = domain.match_period(purpose, {domain.month_of(r[0]): r[1] for r in declared})
    if period is None:
        return None, False
    period_day = domain.first_day(period)
    counts_again = await conn.fetchval(
        """UPDATE declarations d SET paid = d.paid + $3,
                  lapsed_on = CASE WHEN d.paid + $3 >= d.declared THEN NULL ELSE d.lapsed_on END
           FROM declarations old WHERE old.employer_bin = d.employer_bin AND old.period = d.period
             AND d.employer_bin = $1 AND d.period = $2
           RETURNING old.lapsed_on IS NOT NULL AND d.lapsed_on IS NULL""",
        payer_bin, period_day, amount)
    return period_day, counts_again


async def record_bank_statement(pool: asyncpg.Pool, records: list[BankRecord], today: date) -> list[dict]:
    """Each bank record is kept once (its reference is its key) and matched to the payer's declaration
    (domain.match_period) or kept unmatched, to be matched when the payer declares a month. A lapsed month
    paid in full counts again: its people get their coverage recomputed and a contribution-paid. All
    records or none (a reused reference: 409)."""

    async def work(conn: asyncpg.Connection) -> list[dict]:
        out = []
        restored: list[tuple[str, date]] = []
        for index, rec in enumerate(records):
            digest = body_hash([rec.payer_bin, rec.paid_on.isoformat(), money_str(rec.amount), rec.purpose])
            held = await conn.fetchrow("SELECT * FROM bank_records WHERE reference = $1", rec.reference)
            if held is not None:
                if bytes(held["body_sha256"]) != digest:
                    raise conflict("reference_reused", f"record {index}: reference {rec.reference!r} was already "
                                                       "used for a different record", index=index)
                out.append({**_bank_answer(held), "duplicate": True})
                continue
            period_day, counts_again = await _match(conn, rec.payer_bin, rec.purpose, rec.amount)
            row = await conn.fetchrow(
                """INSERT INTO bank_records (record_id, reference, body_sha256, payer_bin, paid_on, amount, purpose,
                                            period, received_on)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING *""",
                uuid.uuid4(), rec.reference, digest, rec.payer_bin, rec.paid_on, rec.amount, rec.purpose,
                period_day, today)
            if counts_again:
                restored.append((rec.payer_bin, period_day))
            out.append({**_bank_answer(row), "duplicate": False})
        await _republish_months(conn, restored, today)
        return out

    return await _in_transaction(pool, work)


async def _match_waiting(conn: asyncpg.Connection, payer_bins: list[str], today: date) -> list[tuple[str, date]]:
    """The bank records of these payers that matched nothing so far, matched again in the order they were
    paid (a payer has declared a month since); the months that count again for it."""
    restored = []
    waiting = await conn.fetch(
        """SELECT record_id, payer_bin, purpose, amount FROM bank_records
           WHERE payer_bin = ANY($1::text[]) AND period IS NULL ORDER BY payer_bin, paid_on, created_at
           FOR UPDATE""", payer_bins)
    for record_id, payer_bin, purpose, amount in waiting:
        period_day, counts_again = await _match(conn, payer_bin, purpose, amount)
        if period_day is not None:
            await conn.execute("UPDATE bank_records SET period = $2 WHERE record_id = $1", record_id, period_day)
            if counts_again:
                restored.append((payer_bin, period_day))
    return restored


# --- refunds -------------------------------------------------------------------------------------

def _refund_answer(row) -> dict:
    return {"refund_id": str(row["refund_id"]), "reference": row["reference"], "amount": money_str(row["amount"]),
            "reason": row["reason"], "refunded_on": row["refunded_on"],
            "uncovered_months": [domain.month_str(domain.month_of(d)) for d in row["months"]]}


async def _held_refund(conn: asyncpg.Connection, reference: str, digest: bytes) -> dict | None:
    held = await conn.fetchrow("SELECT * FROM refunds WHERE reference = $1", reference)
    if held is None:
        return None
    if bytes(held["body_sha256"]) != digest:
        raise _reference_conflict(reference)
    return _refund_answer(held)


def _refund_too_large(amount: Decimal, refundable: Decimal) -> Problem:
    return conflict("refund_exceeds_paid", f"a refund of {money_str(amount)} is more than the "
                                           f"{money_str(refundable)} paid and not yet refunded",
                    refundable=money_str(refundable))


async def refund_declaration(pool: asyncpg.Pool, employer_bin: str, period: Month, amount: Decimal, reason: str,
                             reference: str, today: date) -> dict | None:
    """Money paid for an employer's month given back (an overpayment, or after a reversal). What it leaves
    unpaid is owed again; past the day the month counts until, the month lapses at once. None: no such
    declaration."""
    period_day = domain.first_day(period)
    digest = body_hash(["declaration", employer_bin, period, money_str(amount), reason])

    async def work(conn: asyncpg.Connection) -> dict | None:
        held = await _held_refund(conn, reference, digest)
        if held is not None:
            return held
        d = await conn.fetchrow("""SELECT declared, paid, counts_until, lapsed_on FROM declarations
                                   WHERE employer_bin = $1 AND period = $2 FOR UPDATE""", employer_bin, period_day)
        if d is None:
            return None
        if amount > d["paid"]:
            raise _refund_too_large(amount, d["paid"])
        paid = d["paid"] - amount
        lapse = d["lapsed_on"] is None and domain.lapses(d["declared"], paid, d["counts_until"], today)
        await conn.execute(
            """UPDATE declarations SET paid = $3, lapsed_on = CASE WHEN $4 THEN $5 ELSE lapsed_on END
               WHERE employer_bin = $1 AND period = $2""", employer_bin, period_day, paid, lapse, today)
        row = await conn.fetchrow(
            """INSERT INTO refunds (refund_id, reference, body_sha256, employer_bin, period, amount, reason,
                                    refunded_on, months)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING *""",
            uuid.uuid4(), reference, digest, employer_bin, period_day, amount, reason, today,
            [period_day] if lapse else [])
        if lapse:
            await _republish_months(conn, [(employer_bin, period_day)], today)
        return _refund_answer(row)

    return await _in_transaction(pool, work)


async def refund_payment(pool: asyncpg.Pool, payment_id: uuid.UUID, amount: Decimal, reason: str, reference: str,
                         today: date) -> dict | None:
    """A person's payment given back, in part or whole: a self-payer's or entrepreneur's in whole months
    (its latest months first), a platform contribution's or single payment's month when all of it is.
    The person's coverage is recomputed and published. None: no such payment."""
    digest = body_hash(["payment", str(payment_id), money_str(amount), reason])

    async def work(conn: asyncpg.Connection) -> dict | None:
        held = await _held_refund(conn, reference, digest)
        if held is not None:
            return held
        payment = await conn.fetchrow("SELECT * FROM payments WHERE payment_id = $1 FOR UPDATE", payment_id)
        if payment is None:
            return None
        refunded = await conn.fetchval("SELECT coalesce(sum(amount), 0) FROM refunds WHERE payment_id = $1",
                                       payment_id)
        refundable = payment["amount"] - refunded
        if amount > refundable:
            raise _refund_too_large(amount, refundable)
        months = sorted(domain.month_of(d) for d in payment["covered_months"])
        try:
            uncovered = domain.refunded_months(months, payment["payer_kind"], payment["monthly_amount"], amount,
                                               refundable)
        except PaymentNotAllowed as exc:
            raise invalid(str(exc), errors=[{"loc": ["body", "amount"], "msg": str(exc)}]) from None
        kept = [domain.first_day(m) for m in months if m not in uncovered]
        await conn.execute("UPDATE payments SET covered_months = $2 WHERE payment_id = $1", payment_id, kept)
        row = await conn.fetchrow(
            """INSERT INTO refunds (refund_id, reference, body_sha256, payment_id, amount, reason, refunded_on, months)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING *""",
            uuid.uuid4(), reference, digest, payment_id, amount, reason, today,
            [domain.first_day(m) for m in uncovered])
        state = await _recompute_coverage(conn, [payment["iin"]])
        await add_events(conn, events_of([Change(payment["iin"], payment["payer_kind"], [])], state, today))
        return _refund_answer(row)

    return await _in_transaction(pool, work)


SWEEP_BATCH = 200


async def sweep_lapses(pool: asyncpg.Pool, today: date) -> int:
    """Declarations not paid in full past the day they count until lapse on `today`: their months stop
    counting, their people get their coverage recomputed and a contribution-paid. Several instances
    may sweep at once (SKIP LOCKED). Returns how many declarations lapsed."""
    lapsed = 0
    while True:
        async def work(conn: asyncpg.Connection) -> int:
            due = await conn.fetch(
                """SELECT employer_bin, period, declared, paid, counts_until FROM declarations
                   WHERE lapsed_on IS NULL AND paid < declared AND counts_until < $1
                   ORDER BY counts_until LIMIT $2 FOR UPDATE SKIP LOCKED""", today, SWEEP_BATCH)
            chosen = [(r[0], r[1]) for r in due if domain.lapses(r[2], r[3], r[4], today)]
            if chosen:
                await conn.execute(
                    """UPDATE declarations d SET lapsed_on = $3 FROM unnest($1::text[], $2::date[]) AS u(b, p)
                       WHERE d.employer_bin = u.b AND d.period = u.p""",
                    [b for b, _ in chosen], [p for _, p in chosen], today)
                await _republish_months(conn, chosen, today)
            return len(chosen)

        n = await _in_transaction(pool, work)
        lapsed += n
        if n < SWEEP_BATCH:
            return lapsed


async def unmatched_bank_records(conn: asyncpg.Connection, limit: int, offset: int = 0) -> list[dict]:
    rows = await conn.fetch(
        """SELECT record_id, reference, payer_bin, paid_on, amount, purpose, received_on FROM bank_records
           WHERE period IS NULL ORDER BY created_at, record_id LIMIT $1 OFFSET $2""", limit, offset)
    return [{"record_id": str(r[0]), "reference": r[1], "payer_bin": r[2], "date": r[3], "amount": money_str(r[4]),
             "purpose": r[5], "received_on": r[6]} for r in rows]


class DeclarationRow(NamedTuple):
    period: Month
    declared: Decimal
    paid: Decimal
    due_on: date
    counts_until: date
    lapsed_on: date | None
    payments: list[tuple[date, Decimal]]


async def employer_declarations(conn: asyncpg.Connection, employer_bin: str) -> list[DeclarationRow]:
    # the money in (bank records) and out (refunds, as negative amounts) of each month, by date
    rows = await conn.fetch(
        """SELECT d.period, d.declared, d.paid, d.due_on, d.counts_until, d.lapsed_on,
                  coalesce(m.days, '{}'), coalesce(m.amounts, '{}')
           FROM declarations d
           LEFT JOIN LATERAL (
               SELECT array_agg(day ORDER BY day) AS days, array_agg(amount ORDER BY day) AS amounts
               FROM (SELECT b.paid_on AS day, b.amount FROM bank_records b
                     WHERE b.payer_bin = d.employer_bin AND b.period = d.period
                     UNION ALL
                     SELECT r.refunded_on, -r.amount FROM refunds r
                     WHERE r.employer_bin = d.employer_bin AND r.period = d.period) AS money) AS m ON true
           WHERE d.employer_bin = $1 ORDER BY d.period DESC""", employer_bin)
    return [DeclarationRow(domain.month_of(r[0]), r[1], r[2], r[3], r[4], r[5], list(zip(r[6], r[7]))) for r in rows]


# --- payments ----------------------------------------------------------------------------------

async def record_payment(pool: asyncpg.Pool, iin: str, payer_kind: str, amount: Decimal, paid_on: date,
                         reference: str, rules: PeriodRules, osms_share: Decimal | None = None) -> dict:
    """`osms_share`: for a single payment (ЕП), the share of it that goes to ОСМС."""
    digest = body_hash([iin, payer_kind, money_str(amount), paid_on.isoformat()])
    pay_month = domain.month_of(paid_on)
    if payer_kind == "platform":
        platform_month = domain.platform_month(amount, paid_on, rules)
        months_paid, monthly = 1, amount
    elif payer_kind == "single_payment":
        assert osms_share is not None
        platform_month, monthly = domain.single_payment_month(amount, paid_on, osms_share)
        months_paid = 1
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
        if payer_kind in ("platform", "single_payment"):
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
           WHERE r.iin = $1 AND r.version = p.version AND r.employer_deduction + r.employee_contribution > 0
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
