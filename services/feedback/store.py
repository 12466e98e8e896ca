"""feedback SQL: each write is one transaction holding its rows and its outbox events."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

import asyncpg

from services.common.consumer import Event
from services.common.events import AppealFiled, AppealResolved, new_event
from services.common.outbox import add_events
from services.common.problems import conflict, not_found
from services.feedback import domain
from services.feedback.domain import AppealIn, AppealState, CountRow, DueDate, TransitionRefused

PRODUCER = "feedback"
_KEY_LOCK_SPACE = 7402  # advisory-lock namespace of appeal idempotency keys

_APPEAL_COLUMNS = """appeal_id, seq, registration_number, kind, category, channel, region, iin, clinic_id,
    visit_id, text, status, registered_at, registered_on, due_date, due_date_provisional,
    due_date_provisional AS rules_provisional, rules_version, extension_limit, extended_due_date, resolved_on"""


def _key(iin: str | None, appeal_id: uuid.UUID) -> str:
    # The contract keys events by IIN; an anonymous consultation has none, so its own id.
    return iin or str(appeal_id)


def _registration(row: asyncpg.Record) -> dict:
    return {"appeal_id": str(row["appeal_id"]), "registration_number": row["registration_number"],
            "status": "registered", "due_date": row["due_date"],
            "due_date_provisional": row["due_date_provisional"], "rules_version": row["rules_version"],
            "rules_provisional": row["due_date_provisional"]}


async def register(conn: asyncpg.Connection, a: AppealIn, *, registered_at: datetime, registered_on: date,
                   due: DueDate, by: str, idempotency_key: str | None,
                   request_hash: bytes) -> tuple[dict, bool]:
    """Registers an appeal (or finds the one registered under the same key): (answer, replayed)."""
    async with conn.transaction():
        if idempotency_key is not None:
            # Two requests with one key wait for each other here instead of racing to the insert.
            # The two-int form keeps these locks apart from the single-bigint ones (relay, migrations).
            await conn.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", _KEY_LOCK_SPACE, idempotency_key)
            held = await conn.fetchrow(
                """SELECT appeal_id, registration_number, due_date, due_date_provisional, rules_version,
                          request_hash
                   FROM appeals WHERE idempotency_key = $1""", idempotency_key)
            if held is not None:
                if bytes(held["request_hash"]) != request_hash:
                    # Keys are shared by every client: the answer names nothing of the appeal that holds it.
                    raise conflict("idempotency_key_reused",
                                   "this idempotency key was used for a different appeal")
                return _registration(held), True
        serial = await conn.fetchval(
            """INSERT INTO registration_counters AS c (year, last_serial) VALUES ($1, 1)
               ON CONFLICT (year) DO UPDATE SET last_serial = c.last_serial + 1
               RETURNING last_serial""", registered_on.year)
        appeal_id = uuid.uuid4()
        row = await conn.fetchrow(
            """INSERT INTO appeals (appeal_id, registration_number, kind, category, channel, region, iin,
                   clinic_id, visit_id, text, status, registered_at, registered_on, due_date,
                   due_date_provisional, rules_version, extension_limit, idempotency_key, request_hash)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'registered', $11, $12, $13, $14, $15, $16,
                       $17, $18)
               RETURNING appeal_id, registration_number, due_date, due_date_provisional, rules_version""",
            appeal_id, domain.registration_number(registered_on.year, serial), a.kind, a.category, a.channel,
            a.region, a.iin, a.clinic_id, a.visit_id, a.text, registered_at, registered_on, due.due_date,
            due.provisional, due.rules_version, due.extension_limit, idempotency_key, request_hash)
        await conn.execute(
            """INSERT INTO appeal_transitions (appeal_id, step, from_status, to_status, by_operator, at)
               VALUES ($1, 1, NULL, 'registered', $2, $3)""", appeal_id, by, registered_at)
        data = AppealFiled(appeal_id=str(appeal_id), registration_number=row["registration_number"],
                           kind=a.kind, category=a.category, channel=a.channel, region=a.region,
                           clinic_id=a.clinic_id, visit_id=a.visit_id, registered_on=registered_on,
                           due_date=due.due_date)
        await add_events(conn, [new_event("appeal-filed", data, producer=PRODUCER, key=_key(a.iin, appeal_id),
                                          occurred_at=registered_at)])
    return _registration(row), False


async def get_appeal(conn: asyncpg.Connection, appeal_id: uuid.UUID) -> dict | None:
    row = await conn.fetchrow(f"SELECT {_APPEAL_COLUMNS} FROM appeals WHERE appeal_id = $1", appeal_id)
    if row is None:
        return None
    steps = await conn.fetch(
        """SELECT from_status, to_status, by_operator, at, note, due_date FROM appeal_transitions
           WHERE appeal_id = $1 ORDER BY step""", appeal_id)
    appeal = dict(row)
    appeal["transitions"] = [
        {"from": s["from_status"], "to": s["to_status"], "by": s["by_operator"], "at": s["at"],
         "note": s["note"], "due_date": s["due_date"]} for s in steps]
    return appeal


@dataclass(frozen=True)
class TransitionIn:
    to: str
    note: str | None
    by: str
    due_date: date | None
    idempotency_key: str | None
    request_hash: bytes


async def transition(conn: asyncpg.Connection, appeal_id: uuid.UUID, t: TransitionIn, *, at: datetime,
                     today: date) -> bool:
    """Moves the appeal to `t.to` if the lifecycle allows it; True when it was a replay (no change)."""
    async with conn.transaction():
        row = await conn.fetchrow(
            """SELECT appeal_id, registration_number, kind, category, region, iin, clinic_id, visit_id,
                      status, registered_on, due_date, extended_due_date, extension_limit
               FROM appeals WHERE appeal_id = $1 FOR UPDATE""", appeal_id)
        if row is None:
            raise not_found("appeal")
        last = await conn.fetchrow(
            """SELECT step, to_status, note, due_date, idempotency_key, request_hash FROM appeal_transitions
               WHERE appeal_id = $1 ORDER BY step DESC LIMIT 1""", appeal_id)
        if t.idempotency_key is not None:
            held = await conn.fetchrow(
                "SELECT request_hash FROM appeal_transitions WHERE appeal_id = $1 AND idempotency_key = $2",
                appeal_id, t.idempotency_key)
            if held is not None:
                if bytes(held["request_hash"]) != t.request_hash:
                    raise conflict("idempotency_key_reused",
                                   "this idempotency key was used for a different transition")
                return True
        elif (last["to_status"] == t.to and last["note"] == t.note
              and (t.due_date is None or last["due_date"] == t.due_date) and last["step"] > 1):
            # The same transition again without a key: a client's retry, answered as done.
            return True
        state = AppealState(row["kind"], row["status"], row["registered_on"], row["due_date"],
                            row["extended_due_date"], row["extension_limit"])
        try:
            decision = domain.decide_transition(state, t.to, t.note, today, t.due_date)
            if domain.needs_recorded_visit(row["category"], decision.to):
                domain.check_disputed_visit(row["iin"], await conn.fetchval(
                    "SELECT iin FROM recorded_visits WHERE clinic_id = $1 AND visit_id = $2",
                    row["clinic_id"], row["visit_id"]))
        except TransitionRefused as refused:
            raise conflict(refused.rule, refused.detail, current_status=row["status"]) from None
        await conn.execute(
            """UPDATE appeals SET status = $2,
                   extended_due_date = coalesce($3, extended_due_date),
                   resolved_on = CASE WHEN $4 THEN $5::date ELSE resolved_on END
               WHERE appeal_id = $1""",
            appeal_id, decision.to, decision.extended_due_date, decision.final, today)
        await conn.execute(
            """INSERT INTO appeal_transitions (appeal_id, step, from_status, to_status, by_operator, at, note,
                   due_date, idempotency_key, request_hash)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)""",
            appeal_id, last["step"] + 1, row["status"], decision.to, t.by, at, t.note,
            decision.extended_due_date, t.idempotency_key, t.request_hash)
        if decision.final:
            data = AppealResolved(appeal_id=str(appeal_id), registration_number=row["registration_number"],
                                  kind=row["kind"], category=row["category"], status=decision.to,
                                  region=row["region"], clinic_id=row["clinic_id"], visit_id=row["visit_id"],
                                  resolved_on=today)
            await add_events(conn, [new_event("appeal-resolved", data, producer=PRODUCER,
                                              key=_key(row["iin"], appeal_id), occurred_at=at)])
    return False


async def learn_visits(conn: asyncpg.Connection, events: list[Event]) -> None:
    """The consumer's batch of visit-recorded events: each visit's clinic, id and person, once (a replay,
    or a visit seen again, leaves the row as the first event made it). The rows are copied in: COPY
    costs the server a fraction of an INSERT ... ON CONFLICT. The relay delivers at least once, so a
    visit may come again; then the copy fails on the key, and the batch is inserted skipping those."""
    rows = [e.data for e in events]
    if not rows:
        return
    try:
        async with conn.transaction():    # a savepoint: a failed copy leaves the batch's transaction usable
            await conn.copy_records_to_table("recorded_visits", records=rows, columns=_VISIT_COLUMNS)
    except asyncpg.UniqueViolationError:
        clinics, visits, iins = zip(*rows)
        await conn.execute(
            """INSERT INTO recorded_visits (clinic_id, visit_id, iin)
               SELECT * FROM unnest($1::text[], $2::text[], $3::text[])
               ON CONFLICT DO NOTHING""",
            list(clinics), list(visits), list(iins))


_VISIT_COLUMNS = ["clinic_id", "visit_id", "iin"]    # the order of the consumer's tuples


@dataclass(frozen=True)
class ListFilter:
    region: str | None = None
    clinic_id: str | None = None
    status: str | None = None
    category: str | None = None
    channel: str | None = None
    kind: str | None = None


# domain.is_overdue in SQL, for lists and counts; $1 is today.
_OVERDUE_SQL = (f"(status IN ({', '.join(repr(s) for s in domain.OPEN_STATUSES)}) "
                "AND coalesce(extended_due_date, due_date) < $1::date)")


async def list_appeals(conn: asyncpg.Connection, f: ListFilter, *, today: date, overdue_first: bool,
                       limit: int, after: tuple | None) -> list[dict]:
    """One page for operators. overdue_first: overdue, then by due date; else registration order.
    `after` is the sort key of the previous page's last row (keyset pagination)."""
    where, args = [], [today]
    for column in ("region", "clinic_id", "status", "category", "channel", "kind"):
        value = getattr(f, column)
        if value is not None:
            args.append(value)
            where.append(f"{column} = ${len(args)}")
    if overdue_first:
        order = f"(NOT {_OVERDUE_SQL})::int, coalesce(extended_due_date, due_date), seq"
        if after is not None:
            args += list(after)
            n = len(args)
            where.append(f"((NOT {_OVERDUE_SQL})::int, coalesce(extended_due_date, due_date), seq) "
                         f"> (${n - 2}::int, ${n - 1}::date, ${n}::bigint)")
    else:
        order = "seq"
        if after is not None:
            args.append(after[-1])
            where.append(f"seq > ${len(args)}::bigint")
    args.append(limit)
    rows = await conn.fetch(
        f"""SELECT {_APPEAL_COLUMNS}, {_OVERDUE_SQL} AS overdue FROM appeals
            {'WHERE ' + ' AND '.join(where) if where else ''}
            ORDER BY {order} LIMIT ${len(args)}""", *args)
    return [dict(r) for r in rows]


async def count_rows(conn: asyncpg.Connection, *, region: str | None, from_: date | None, to: date | None,
                     today: date) -> list[CountRow]:
    """Appeals registered in [from_, to] counted by kind, category, status and overdue: one group-by."""
    rows = await conn.fetch(
        f"""SELECT kind, category, status, {_OVERDUE_SQL} AS overdue, count(*) AS n FROM appeals
            WHERE ($2::text IS NULL OR region = $2)
              AND ($3::date IS NULL OR registered_on >= $3)
              AND ($4::date IS NULL OR registered_on <= $4)
            GROUP BY 1, 2, 3, 4""", today, region, from_, to)
    return [CountRow(r["kind"], r["category"], r["status"], r["overdue"], r["n"]) for r in rows]


# --- rules ---------------------------------------------------------------------------------------

async def records_on_or_after(conn: asyncpg.Connection, table: str, day: date) -> int:
    """Appeals a new version effective on `day` would have applied to; they keep their due dates. A
    calendar: those whose count ran to `day` or later; the deadlines: those registered from `day` on."""
    return await conn.fetchval(
        """SELECT count(*) FROM appeals
           WHERE CASE WHEN $1 = 'calendar' THEN due_date >= $2 ELSE registered_on >= $2 END""", table, day)
