"""registry: the integrity state of recorded visits (padded records, приписки): held, cleared, voided.

A recorded visit is clear unless it has a row in `visit_integrity`. Every change (a hold at intake or
later, an operator's clear or void, and whatever else decides: a patient's confirmation or denial) goes
through this module, inside the caller's transaction: it locks the visit, records the change with who,
when and why (`integrity_changes`), and adds its `visit-held` / `visit-cleared` event to the outbox, so
the change and its event commit together. Each change raises the visit's `integrity_version` (the
intake's state is version 0), which consumers use to keep the newest state whatever the order.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from typing import Any

import asyncpg
from prometheus_client import Counter

from services.common.events import VisitCleared, VisitHeld, new_event
from services.common.outbox import add_events

from services.registry.domain import CLEAR, HELD, VOID

PRODUCER = "registry"
# Counted when written, inside the caller's transaction: a rolled-back one is counted too (rare).
CHANGES = Counter("osms_integrity_changes_total",
                  "Visits' integrity changes written (held at intake or later, cleared, voided), by the state "
                  "reached and the reason that made it (the last listed)", ["state", "reason"])


@dataclass(frozen=True)
class IntegrityState:
    clinic_id: str
    visit_id: str
    iin: str
    date: date
    state: str                 # clear, held or void
    reasons: tuple[str, ...]
    version: int
    practitioner_id: str | None = None


class NotHeld(Exception):
    """A decision on a visit that is not held (clear already, or voided)."""

    def __init__(self, state: IntegrityState):
        super().__init__(f"the visit is {state.state}")
        self.state = state


async def _lock(conn: asyncpg.Connection, keys: list[tuple[str, str]]) -> dict[tuple[str, str], IntegrityState]:
    """The current state of these recorded visits, each visit row locked (a visit's changes are
    serialized on it), in key order (the lock order); unknown visits are left out."""
    keys = sorted(set(keys))
    rows = await conn.fetch(
        """SELECT v.clinic_id, v.visit_id, v.iin, v.date, v.practitioner_id, coalesce(i.state, 'clear') AS state,
                  coalesce(i.reasons, '{}') AS reasons, coalesce(i.version, 0) AS version
           FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS k(clinic_id, visit_id, n)
           JOIN visits v USING (clinic_id, visit_id)
           LEFT JOIN visit_integrity i USING (clinic_id, visit_id)
           ORDER BY k.n FOR UPDATE OF v""",
        [k[0] for k in keys], [k[1] for k in keys])
    return {(r["clinic_id"], r["visit_id"]): IntegrityState(r["clinic_id"], r["visit_id"], r["iin"], r["date"],
                                                            r["state"], tuple(r["reasons"]), r["version"],
                                                            r["practitioner_id"])
            for r in rows}


async def state_of(conn: asyncpg.Connection, clinic_id: str, visit_id: str) -> IntegrityState | None:
    return (await _lock(conn, [(clinic_id, visit_id)])).get((clinic_id, visit_id))


async def _write(conn: asyncpg.Connection, changes: list[IntegrityState], actor: str, note: str | None) -> None:
    """Stores the new states and their history rows; the callers publish their events."""
    if not changes:
        return
    cols = ([c.clinic_id for c in changes], [c.visit_id for c in changes], [c.iin for c in changes],
            [c.date for c in changes], [c.state for c in changes],
            # text[] per row: PostgreSQL arrays of arrays must be rectangular, so each as a literal
            ["{" + ",".join(f'"{r}"' for r in c.reasons) + "}" for c in changes], [c.version for c in changes],
            [c.practitioner_id for c in changes])
    await conn.execute(
        """INSERT INTO visit_integrity AS t (clinic_id, visit_id, iin, date, state, reasons, version, practitioner_id,
                                             changed_by, note)
           SELECT c, v, i, d, s, r::text[], n, p, $9, $10
           FROM unnest($1::text[], $2::text[], $3::text[], $4::date[], $5::text[], $6::text[], $7::int[], $8::text[])
                AS u(c, v, i, d, s, r, n, p)
           ON CONFLICT (clinic_id, visit_id) DO UPDATE
             SET state = excluded.state, reasons = excluded.reasons, version = excluded.version,
                 changed_at = now(), changed_by = excluded.changed_by, note = excluded.note""",
        *cols, actor, note)
    await conn.execute(
        """INSERT INTO integrity_changes (clinic_id, visit_id, version, state, reasons, changed_by, note)
           SELECT c, v, n, s, r::text[], $6, $7
           FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::text[]) AS u(c, v, n, s, r)""",
        cols[0], cols[1], cols[6], cols[4], cols[5], actor, note)
    for c in changes:
        CHANGES.labels(c.state, c.reasons[-1] if c.reasons else "").inc()


def _held_event(s: IntegrityState, detail: dict[str, Any] | None = None):
    data = VisitHeld(clinic_id=s.clinic_id, visit_id=s.visit_id, iin=s.iin, date=s.date, reasons=list(s.reasons),
                     integrity_version=s.version, voided=s.state == VOID, **(detail or {}))
    return new_event("visit-held", data, producer=PRODUCER, key=s.iin)


async def record_intake(conn: asyncpg.Connection, held: list[tuple[str, str, str, date, str | None, list[str]]],
                        actor: str) -> None:
    """The visits the intake's checks held, (clinic_id, visit_id, iin, date, practitioner_id, reasons) of
    visits inserted in this transaction: version 0, published by their own visit-recorded (integrity: held)."""
    await _write(conn, [IntegrityState(c, v, i, d, HELD, tuple(r), 0, p) for c, v, i, d, p, r in held], actor, None)


async def hold(conn: asyncpg.Connection, keys: list[tuple[str, str]], reasons: list[str], actor: str,
               note: str | None = None, detail: dict[str, Any] | None = None) -> list[IntegrityState]:
    """Holds these recorded visits for `reasons`: a clear one becomes held, a held one gains the
    reasons it lacked (published again, with all of them); a voided one and one already held for all of
    them are left as they are. Returns the changes made. `detail`: extra fields of these visit-held
    events (a patient's denial carries the clinic's region for feedback's complaint)."""
    changes = []
    for s in (await _lock(conn, keys)).values():
        if s.state == VOID:
            continue
        merged = tuple(dict.fromkeys(s.reasons + tuple(reasons))) if s.state == HELD else tuple(reasons)
        if s.state == HELD and merged == s.reasons:
            continue
        changes.append(replace(s, state=HELD, reasons=merged, version=s.version + 1))
    await _write(conn, changes, actor, note)
    if changes:
        await add_events(conn, [_held_event(c, detail) for c in changes])
    return changes


async def _decide(conn: asyncpg.Connection, clinic_id: str, visit_id: str, to: str, actor: str,
                  note: str | None) -> IntegrityState | None:
    s = await state_of(conn, clinic_id, visit_id)
    if s is None:
        return None
    if s.state != HELD:
        raise NotHeld(s)
    new = replace(s, state=to, version=s.version + 1)
    await _write(conn, [new], actor, note)
    if to == CLEAR:
        event = new_event("visit-cleared", VisitCleared(clinic_id=clinic_id, visit_id=visit_id, iin=s.iin,
                                                        date=s.date, integrity_version=new.version),
                          producer=PRODUCER, key=s.iin)
    else:
        event = _held_event(new)
    await add_events(conn, [event])
    return new


async def clear(conn: asyncpg.Connection, clinic_id: str, visit_id: str, actor: str,
                note: str | None = None) -> IntegrityState | None:
    """Clears a held visit: it counts again (publishes visit-cleared). None for an unknown visit;
    NotHeld when it is not held."""
    return await _decide(conn, clinic_id, visit_id, CLEAR, actor, note)


async def void(conn: asyncpg.Connection, clinic_id: str, visit_id: str, actor: str,
               note: str | None = None) -> IntegrityState | None:
    """Voids a held visit for good: it never counts (publishes visit-held with `voided`, which
    financing applies as it applies a hold; nothing clears a void). None for an unknown visit; NotHeld
    when it is not held."""
    return await _decide(conn, clinic_id, visit_id, VOID, actor, note)


async def history(conn: asyncpg.Connection, clinic_id: str, visit_id: str) -> list[dict]:
    """Every change of a visit's integrity, oldest first: version, state, reasons, who, when, why."""
    rows = await conn.fetch(
        """SELECT version, state, reasons, changed_at, changed_by, note FROM integrity_changes
           WHERE clinic_id = $1 AND visit_id = $2 ORDER BY version""", clinic_id, visit_id)
    return [dict(r) for r in rows]


# ---------------------------------------------------------------- review and risk lists (operators)

async def held_page(conn: asyncpg.Connection, *, clinic_id: str | None, reason: str | None, since: date | None,
                    until: date | None, after: tuple[date, str, str] | None, limit: int,
                    hide: list[str] | None = None) -> list[dict]:
    """Held visits (not cleared, not voided), by visit date, clinic and id (a keyset page after `after`),
    with why, since when and by whom they are held; without those held for any of the reasons `hide`."""
    rows = await conn.fetch(
        """SELECT i.date, i.clinic_id, i.visit_id, i.iin, v.kind, v.practitioner_id, i.reasons,
                  i.changed_at AS held_at, i.changed_by AS held_by
           FROM visit_integrity i JOIN visits v USING (clinic_id, visit_id)
           WHERE i.state = 'held' AND ($1::text IS NULL OR i.clinic_id = $1) AND ($2::text IS NULL OR $2 = ANY(i.reasons))
             AND ($3::date IS NULL OR i.date >= $3) AND ($4::date IS NULL OR i.date <= $4)
             AND ($5::date IS NULL OR (i.date, i.clinic_id, i.visit_id) > ($5, $6, $7))
             AND ($9::text[] IS NULL OR NOT i.reasons && $9)
           ORDER BY i.date, i.clinic_id, i.visit_id LIMIT $8""",
        clinic_id, reason, since, until, *(after or (None, None, None)), limit, hide)
    return [dict(r) for r in rows]


async def risk_rows(conn: asyncpg.Connection, *, region: str | None, clinic_id: str | None, since: date,
                    until: date, volume_limit: int | None, window: int | None, turning: int | None) -> list[dict]:
    """Per clinic (or, with `clinic_id`, per practitioner of that clinic) over visits dated from `since`
    to `until`: visits, held (held or voided) in all and by reason, practitioner-days beyond
    `volume_limit`, the visits landing within `turning` days of the person's previous counted visit (at
    any clinic) growing `window` days old, that is just before the person turns inactive, and the
    patients' answers to confirmation requests for those visits (answered, denied)."""
    group = "v.practitioner_id" if clinic_id is not None else "v.clinic_id"
    async with conn.transaction():
        # Each visit's previous counted visit is found by the person-day index, one probe a visit, and
        # its integrity by the primary key: a hash join inside the probe would read visit_integrity whole
        # for every visit of the period.
        await conn.execute("SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off")
        rows = await conn.fetch(
            f"""WITH v AS (
                    SELECT v.clinic_id, v.visit_id, v.practitioner_id, v.iin, v.date,
                           coalesce(i.state, 'clear') AS state, coalesce(i.reasons, '{{}}') AS reasons
                    FROM visits v JOIN clinics c USING (clinic_id)
                    LEFT JOIN visit_integrity i USING (clinic_id, visit_id)
                    WHERE ($1::text IS NULL OR c.region = $1) AND ($2::text IS NULL OR v.clinic_id = $2)
                      AND v.date BETWEEN $3 AND $4),
                flagged AS (
                    SELECT v.*, $6::int IS NOT NULL AND v.state = 'clear' AND (
                        SELECT max(p.date) FROM visits p
                        WHERE p.iin = v.iin AND p.date < v.date AND p.date > v.date - $6::int
                          AND NOT EXISTS (SELECT 1 FROM visit_integrity pi
                                          WHERE pi.clinic_id = p.clinic_id AND pi.visit_id = p.visit_id
                                            AND pi.state <> 'clear')
                    ) <= v.date - ($6::int - $7::int) AS turning
                    FROM v),
                days AS (
                    SELECT {group} AS k, count(*) FILTER (WHERE n > $5) AS outliers FROM (
                        SELECT v.clinic_id, v.practitioner_id, v.date, count(*) AS n FROM v
                        WHERE v.practitioner_id IS NOT NULL GROUP BY 1, 2, 3) v GROUP BY 1),
                reasons AS (
                    SELECT k, jsonb_object_agg(reason, n) AS by_reason FROM (
                        SELECT {group} AS k, r.reason, count(*) AS n FROM v, unnest(v.reasons) AS r(reason)
                        WHERE v.state <> 'clear' GROUP BY 1, 2) x GROUP BY k),
                answers AS (
                    SELECT {group} AS k, count(v.answer)::int AS answered,
                           count(*) FILTER (WHERE v.answer = 'denied')::int AS denied
                    FROM visit_confirmations v JOIN clinics c USING (clinic_id)
                    WHERE ($1::text IS NULL OR c.region = $1) AND ($2::text IS NULL OR v.clinic_id = $2)
                      AND v.date BETWEEN $3 AND $4 GROUP BY 1),
                totals AS (
                    SELECT {group} AS k, count(*)::int AS visits,
                           count(*) FILTER (WHERE v.state <> 'clear')::int AS held,
                           count(*) FILTER (WHERE v.turning)::int AS turning_inactive
                    FROM flagged v GROUP BY 1)
                SELECT t.k, t.visits, t.held, t.turning_inactive, coalesce(d.outliers, 0)::int AS volume_outliers,
                       coalesce(r.by_reason::text, '{{}}') AS held_by_reason,
                       coalesce(a.answered, 0) AS answered, coalesce(a.denied, 0) AS denied
                FROM totals t LEFT JOIN days d ON d.k IS NOT DISTINCT FROM t.k
                LEFT JOIN reasons r ON r.k IS NOT DISTINCT FROM t.k
                LEFT JOIN answers a ON a.k IS NOT DISTINCT FROM t.k""",
            region, clinic_id, since, until, volume_limit if volume_limit is not None else 2**31 - 1, window,
            turning)
    return [dict(r) for r in rows]
