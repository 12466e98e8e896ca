"""registry SQL of patients' confirmations: the requests drawn at intake (in the visits' transaction), the
answers (with the visit's hold or clear in the same transaction), and the wrong-code limiter.

The denial rate among confirmations, per clinic and practitioner, is read from `visit_confirmations`:
    SELECT clinic_id, practitioner_id, count(*) FILTER (WHERE answer = 'denied') AS denied,
           count(answer) AS answered, count(*) AS asked
    FROM visit_confirmations WHERE requested_on BETWEEN $1 AND $2 GROUP BY clinic_id, practitioner_id
"""
from __future__ import annotations

import hmac
import math
from dataclasses import dataclass
from datetime import date, timedelta

import asyncpg

from services.common import clock
from services.common.events import OutgoingEvent, event_from_data
from services.common.native import osms_native
from services.common.outbox import add_packed
from services.common.rules import InForce
from services.registry import confirmations, integrity
from services.registry.confirmations import Answer
from services.registry.domain import PATIENT_DENIED, VisitIn
from services.registry.rules import ConfirmationValues

PRODUCER = "registry"
PATIENT = "patient"


async def _flagged(conn: asyncpg.Connection, visits: list[VisitIn],
                   since: date) -> dict[tuple[str, str | None], tuple[bool, bool]]:
    """(clinic flagged, practitioner flagged) of those of these visits' (clinic, practitioner) pairs whose
    clinic is flagged: a visit of theirs dated from `since` on is held or voided. Each clinic is looked at
    once, and its practitioners only when it is flagged (rarely)."""
    # The columns as array literals made natively, as the intake passes its visits: asyncpg checks every
    # element of a list argument in Python, and a fifth of a request's visits may pass here.
    columns = osms_native.visit_columns(visits)
    rows = await conn.fetch(
        # Each EXISTS one probe of a partial index on the clinic's holds (migration 0009).
        """WITH k AS (SELECT DISTINCT c, p FROM unnest($1::text::text[], $2::text::text[]) AS k(c, p)),
                flagged AS (SELECT c FROM (SELECT DISTINCT c FROM k) d
                            WHERE EXISTS (SELECT 1 FROM visit_integrity i
                                          WHERE i.clinic_id = d.c AND i.date >= $3 AND i.state <> 'clear'))
           SELECT k.c, k.p, k.p IS NOT NULL AND EXISTS (
                      SELECT 1 FROM visit_integrity i
                      WHERE i.clinic_id = k.c AND i.practitioner_id = k.p AND i.date >= $3 AND i.state <> 'clear')
           FROM k JOIN flagged USING (c)""",
        columns[1], columns[5], since)
    return {(r[0], r[1]): (True, r[2]) for r in rows}


async def request_confirmations(conn: asyncpg.Connection, visits: list[VisitIn], held: dict[int, list[str]],
                                rules: InForce[ConfirmationValues] | None, today: date) -> int:
    """Draws the sample among visits recorded in this transaction, whose outbox row is written already
    (`held`: those the intake held, by index), and asks each sampled patient: a confirmation row (the
    code's hash) and its visit-confirmation-requested event (the code). Returns how many were asked."""
    if rules is None or not visits:
        return 0
    v = rules.values
    rates = confirmations.rates_of(v)
    chosen, undecided = confirmations.split(rates, confirmations.draws(rates, len(visits), held), held)
    if undecided:
        flagged = await _flagged(conn, [visits[k] for k, _ in undecided], today - timedelta(days=v.flag_window_days))
        for k, u in undecided if flagged else ():    # usually none is flagged
            clinic, practitioner = flagged.get((visits[k].clinic_id, visits[k].practitioner_id), (False, False))
            why = confirmations.sampled(rates, u, held=k in held, clinic_flagged=clinic,
                                        practitioner_flagged=practitioner)
            if why is not None:
                chosen.append((k, why))
    if not chosen:
        return 0
    expires = today + timedelta(days=v.code_valid_days)
    codes = [confirmations.new_code() for _ in chosen]
    asked = [visits[k] for k, _ in chosen]
    await conn.execute(
        """INSERT INTO visit_confirmations (code_sha256, clinic_id, visit_id, practitioner_id, date, requested_on,
                                           expires_on, sampled_as, rules_version)
           SELECT h, c, v, p, d, $6, $7, s, $8
           FROM unnest($1::bytea[], $2::text[], $3::text[], $4::text[], $5::date[], $9::text[]) AS u(h, c, v, p, d, s)""",
        [confirmations.code_hash(c) for c in codes], [a.clinic_id for a in asked], [a.visit_id for a in asked],
        [a.practitioner_id for a in asked], [a.date for a in asked], today, expires, rules.version.version,
        [why for _, why in chosen])
    events = confirmation_events(asked, codes, expires, clock.utc_now().isoformat())
    # One packed row whatever the count (add_events packs from 50 on): a request's few events as rows each
    # cost PostgreSQL and the relay several times the visits' own packed row. The visits' own row has
    # woken the relay (this is called only for visits recorded in this transaction).
    await add_packed(conn, "visit-confirmation-requested", len(events),
                     osms_native.outbox_pack([(e.key, e.event_id.bytes, e.payload) for e in events]), notify=False)
    return len(chosen)


def confirmation_events(asked: list[VisitIn], codes: list[str], expires: date, occurred_at: str) -> list[OutgoingEvent]:
    """The visit-confirmation-requested events of these visits, each with its code: the data as
    VisitConfirmationRequested dumps it, without a model each (the visits were judged by the intake
    already); a unit test holds the two equal."""
    expires_on = expires.isoformat()
    return [event_from_data("visit-confirmation-requested",
                            {"iin": a.iin, "clinic_id": a.clinic_id, "visit_id": a.visit_id, "date": a.date.isoformat(),
                             "kind": a.kind, "code": code, "expires_on": expires_on},
                            producer=PRODUCER, key=a.iin, occurred_at=occurred_at) for a, code in zip(asked, codes)]


# ---------------------------------------------------------------- answers

@dataclass(frozen=True)
class Answered:
    clinic_id: str
    visit_id: str
    date: date
    answer: str
    integrity: str          # the visit's state after the answer: clear, held or void


async def answer(conn: asyncpg.Connection, code: str, given: Answer, rules: ConfirmationValues,
                 today: date) -> Answered | None:
    """Records a patient's answer under a code good today, once, and holds or clears the visit in the same
    transaction; None for a code unknown, used or expired alike (one statement decides all three)."""
    digest = confirmations.code_hash(code)
    async with conn.transaction():
        row = await conn.fetchrow(
            """UPDATE visit_confirmations SET answer = $2, answered_at = now()
               WHERE code_sha256 = $1 AND answer IS NULL AND expires_on >= $3
               RETURNING code_sha256, clinic_id, visit_id, date""", digest, given, today)
        # The index found it by the digest; compared again in constant time, as the house compares secrets.
        if row is None or not hmac.compare_digest(bytes(row["code_sha256"]), digest):
            return None
        clinic_id, visit_id = row["clinic_id"], row["visit_id"]
        state = await integrity.state_of(conn, clinic_id, visit_id)
        assert state is not None   # a confirmation refers to its recorded visit (foreign key)
        action = confirmations.action_for(given, state.state, state.reasons, rules)
        after = state.state
        if action == "hold":
            region = await conn.fetchval("SELECT region FROM clinics WHERE clinic_id = $1", clinic_id)
            changed = await integrity.hold(conn, [(clinic_id, visit_id)], [PATIENT_DENIED], PATIENT,
                                           "denied in answer to a confirmation request", detail={"region": region})
            after = changed[0].state if changed else after
        elif action == "clear":
            after = (await integrity.clear(conn, clinic_id, visit_id, PATIENT,
                                           "confirmed in answer to a confirmation request")).state
    return Answered(clinic_id, visit_id, row["date"], given, after)


# ---------------------------------------------------------------- the wrong-code limiter

async def refused_for(conn: asyncpg.Connection, client: str, rules: ConfirmationValues) -> int | None:
    """Seconds until this client address may answer again, when it has tried the rules' number of wrong
    codes in the current window; None when it may answer now. Kept in PostgreSQL, so every registry
    process counts the same tries."""
    row = await conn.fetchrow(
        """SELECT failures, extract(epoch FROM window_start + make_interval(mins => $2) - now())
           FROM confirmation_failures WHERE client = $1 AND window_start > now() - make_interval(mins => $2)""",
        client, rules.wrong_codes_window_minutes)
    if row is None or row[0] < rules.wrong_codes_allowed:
        return None
    return max(1, math.ceil(row[1]))


async def record_failure(conn: asyncpg.Connection, client: str, rules: ConfirmationValues) -> None:
    """Counts a wrong code of this client in its window (a new window once the last one ended); rows of
    windows that ended go at the same time, so the table holds only the clients trying now."""
    await conn.execute(
        """WITH ended AS (DELETE FROM confirmation_failures
                          WHERE window_start <= now() - make_interval(mins => $2) AND client <> $1)
           INSERT INTO confirmation_failures AS f (client, window_start, failures) VALUES ($1, now(), 1)
           ON CONFLICT (client) DO UPDATE SET
             failures = CASE WHEN f.window_start > now() - make_interval(mins => $2) THEN f.failures + 1 ELSE 1 END,
             window_start = CASE WHEN f.window_start > now() - make_interval(mins => $2) THEN f.window_start
                                 ELSE now() END""",
        client, rules.wrong_codes_window_minutes)
