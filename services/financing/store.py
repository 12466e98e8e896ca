"""financing SQL: applies a consumer batch set-based (a fixed handful of statements per batch), and
reads a clinic's figures from the per-clinic calendars.

Calendars are prefix sums kept at three grains so that a date costs a bounded number of rows:
the count on day D = year buckets before D's year + month buckets of D's year before D's month +
day buckets of D's month up to D. `fin_counts` (attached, active, insured) has day precision;
`fin_cells` (people per age-sex-activity-insurance cell, all cells of a bucket in one row) changes
only on the first of a month, the day the monthly amount is counted on, so it has year and month
grains.
"""
from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import date

import asyncpg

from services.common.consumer import ChangedMeanwhile, Event
from services.common.native import osms_native
from services.common.problems import conflict
from services.financing import checkpoints, closing, worklists
from services.financing.domain import CELLS, month_after
from services.financing.projection import PersonState, deltas, fold, reduce_batch

# Shared by the migration and by the rebuild, which builds the same tables in a fresh schema.
# The projection's tables (their layout: the migrations); the rebuild makes copies of them.
PROJECTION_TABLES = ("fin_clinics", "fin_persons", "fin_visits", "fin_counts", "fin_cells", "fin_clinic_people",
                     "fin_count_marks", "fin_month_cells")


# --- applying a batch -----------------------------------------------------------------------------

async def apply_events(conn: asyncpg.Connection, events: list[Event], *, closed_months: bool = True) -> None:
    """Applies one batch inside the consumer's transaction. Lock order (statement state, clinics, visits,
    persons, calendars; each sorted) keeps two instances sharing the partitions from deadlocking.

    With `closed_months` (not in a rebuild, which has no statements), what the batch changes on a closed
    month's counting day is recorded as adjustments of the first open month, in the same transaction.

    Histories are read without locking them and written back only where they still hold what was
    read (another instance may share a person: after a rebalance, or through an appeal's partition);
    otherwise ChangedMeanwhile rolls the batch back to be applied again. Locking each history as it was
    read (SELECT ... FOR UPDATE) cost a WAL record and a dirtied page per person."""
    # Plans for these statements' actual arrays, not a generic one cached while the tables were small
    # (a rebuild fills a fresh schema; a young system has few people). And people are found by key,
    # one by one (the primary key, or the row version's address): with hash joins allowed, large
    # batches hashed the whole of fin_persons for a few thousand people (docs/performance.md).
    await conn.execute("SET LOCAL plan_cache_mode = force_custom_plan; SET LOCAL enable_hashjoin = off; "
                       "SET LOCAL enable_mergejoin = off")
    # Shared with other batches; a closing waits for this batch (and this batch for it): the batch's
    # changes are either in the statements it freezes or adjustments of the month after.
    closed_through = await conn.fetchval("SELECT closed_through FROM fin_statement_state FOR KEY SHARE") \
        if closed_months else None
    batch = reduce_batch(events)
    added: dict[str, list[int]] = defaultdict(list)
    removed: dict[str, list[int]] = defaultdict(list)
    if batch.references:  # the registry's clinic data; the newest version wins, a repeat changes nothing
        ids = sorted(batch.references)
        await conn.execute(
            """INSERT INTO fin_clinics AS t (clinic_id, region, name, ref_version, settlement)
               SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[])
               ON CONFLICT (clinic_id) DO UPDATE
                 SET region = excluded.region, name = excluded.name, ref_version = excluded.ref_version,
                     settlement = excluded.settlement
                 WHERE t.ref_version < excluded.ref_version""",
            ids, [batch.references[i][1] for i in ids], [batch.references[i][2] for i in ids],
            [batch.references[i][0] for i in ids], [batch.references[i][3] for i in ids])
    if batch.clinics:
        numbers = await _ensure_clinics(conn, batch.clinics)
        # The worklists' per-clinic index: who has been attached where (attachments are few in a batch).
        await worklists.record_members(conn, {(numbers[c], iin) for iin, p in batch.persons.items() if p.versions
                                              for c, _ in p.versions.values() if c is not None})
    if batch.visits:
        # In key order (the lock order), each column the text of an array literal; days as ordinals. A
        # visit recorded held takes that state unless a later integrity change came first.
        held = sorted(batch.held_at_intake)
        rows = await conn.fetch(
            """INSERT INTO fin_visits AS t (clinic_id, visit_id, iin, day, held)
               SELECT c, v, i, date '0001-01-01' + (d - 1),
                      (c, v) IN (SELECT * FROM unnest($5::text[], $6::text[]))
               FROM unnest($1::text::text[], $2::text::text[], $3::text::text[], $4::text::int[]) AS u(c, v, i, d)
               ON CONFLICT (clinic_id, visit_id) DO UPDATE SET iin = excluded.iin, day = excluded.day,
                   held = CASE WHEN t.integrity_version = 0 THEN excluded.held ELSE t.held END
                 WHERE t.iin IS NULL
               RETURNING t.iin, t.day - date '0001-01-01' + 1, t.voided OR t.held""",
            *osms_native.visit_key_columns(batch.visits), [k[0] for k in held], [k[1] for k in held])
        # Returned: a new visit, or one whose void or integrity change came first (then it counts only
        # when neither keeps it out).
        for iin, day, out in rows:
            if not out:
                added[iin].append(day)
    moved: dict[tuple[str, str], tuple[str, int, int]] = {}
    if batch.integrity:
        moved = await _apply_integrity(conn, batch.integrity)
        for iin, day, sign in moved.values():
            (added if sign > 0 else removed)[iin].append(day)
    voided: dict[tuple[str, str], tuple[str, int]] = {}
    if batch.voids:
        keys = sorted(batch.voids)
        rows = await conn.fetch(
            """INSERT INTO fin_visits AS t (clinic_id, visit_id, voided)
               SELECT a, b, true FROM unnest($1::text[], $2::text[]) AS u(a, b)
               ON CONFLICT (clinic_id, visit_id) DO UPDATE SET voided = true WHERE NOT t.voided
               RETURNING t.iin, t.day, t.clinic_id, t.visit_id, t.held""",
            [k[0] for k in keys], [k[1] for k in keys])
        for iin, day, clinic_id, visit_id, was_held in rows:
            if iin is not None and not was_held:    # a held visit did not count: nothing to take away
                removed[iin].append(day.toordinal())
                voided[(clinic_id, visit_id)] = (iin, day.toordinal())
    iins = sorted(set(batch.persons) | set(added) | set(removed))
    if not iins:
        return
    held = await _read_persons(conn, iins)
    found = {r[0] for r in held}
    missing = [i for i in iins if i not in found]
    changes = deltas()
    if missing:
        # New people: insert their first history; one that another instance created meanwhile
        # is read and folded like the others.
        first = {i: fold(PersonState(), i, batch.persons.get(i), added.get(i, []), removed.get(i, []))
                 for i in missing}
        created = {r["iin"] for r in await conn.fetch(
            """INSERT INTO fin_persons (iin, history)
               SELECT * FROM unnest($1::text[], $2::bytea[])
               ON CONFLICT DO NOTHING RETURNING iin""",
            missing, [first[i].dumps() for i in missing])}
        for iin in created:
            changes.diff(PersonState(), first[iin])
        raced = [i for i in missing if i not in created]
        if raced:
            held += await _read_persons(conn, raced)
    else:
        first, created = {}, set()
    # Each history read is folded, its calendar difference added and its new bytes made, in one native
    # call for the batch (projection.fold and deltas()); a duplicate or a stale status changes nothing,
    # whatever another instance wrote since (versions, the status version and visits only grow; a void's
    # visit is in what was read), and is not written.
    count, tids, xmins, news = changes.step_rows(held, batch.persons, added, removed)
    if count:
        # By the row version's address (no index lookup), and only where that version is still the
        # current one: a version another transaction replaced meanwhile is skipped, whether the writer
        # committed before this statement or while it waited (then PostgreSQL rechecks the newest
        # version, which is at another address; xmin is checked too, in case a server does not
        # recheck the address). Both cases: test_financing_concurrent_writes.
        written = await conn.fetchval(
            """WITH w AS (UPDATE fin_persons p SET history = u.h
                          FROM unnest($1::text::tid[], $2::text::xid[], $3::bytea[]) AS u(t, x, h)
                          WHERE p.ctid = u.t AND p.xmin = u.x RETURNING 1)
               SELECT count(*) FROM w""",
            tids, xmins, news)
        if written != count:
            raise ChangedMeanwhile(f"{count - written} of {count} histories changed since they were read")
    earliest = await _add_to_calendars(conn, changes, earliest_month=closed_through is not None)
    if closed_through is not None:
        await _adjust_closed_months(conn, events, batch, closed_through, earliest, held, first, created, added,
                                    removed, voided, moved)


async def _apply_integrity(conn: asyncpg.Connection, changes: dict[tuple[str, str], tuple[str, int, int, bool]]
                           ) -> dict[tuple[str, str], tuple[str, int, int]]:
    """Applies the batch's newest visit-held / visit-cleared per visit, where newer than the state held
    (a repeat or a stale one changes nothing); a change that arrives before its visit-recorded brings the
    visit's person and day. Returns (clinic_id, visit_id) -> (iin, day, +1 or -1) of the visits that now
    count, or no longer count, towards activity."""
    keys = sorted(changes)
    clinics, visit_ids = [k[0] for k in keys], [k[1] for k in keys]
    # Locked first, in key order, in a statement of its own: a row the upsert below changes would be
    # invisible to a locking read in the same statement.
    before = {(r[0], r[1]): r[2] for r in await conn.fetch(
        """SELECT t.clinic_id, t.visit_id, t.iin IS NOT NULL AND NOT t.voided AND NOT t.held
           FROM unnest($1::text[], $2::text[]) AS u(c, v) JOIN fin_visits t ON t.clinic_id = u.c AND t.visit_id = u.v
           ORDER BY t.clinic_id, t.visit_id FOR UPDATE OF t""", clinics, visit_ids)}
    rows = await conn.fetch(
        """INSERT INTO fin_visits AS t (clinic_id, visit_id, iin, day, held, integrity_version)
           SELECT c, v, i, date '0001-01-01' + (d - 1), h, n
           FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::bigint[], $6::bool[]) AS u(c, v, i, d, n, h)
           ON CONFLICT (clinic_id, visit_id) DO UPDATE
             SET held = excluded.held, integrity_version = excluded.integrity_version,
                 iin = coalesce(t.iin, excluded.iin), day = coalesce(t.day, excluded.day)
             WHERE t.integrity_version < excluded.integrity_version
           RETURNING t.clinic_id, t.visit_id, t.iin, t.day - date '0001-01-01' + 1, NOT t.voided AND NOT t.held""",
        clinics, visit_ids, [changes[k][0] for k in keys], [changes[k][1] for k in keys],
        [changes[k][2] for k in keys], [changes[k][3] for k in keys])
    return {(r[0], r[1]): (r[2], r[3], 1 if r[4] else -1) for r in rows if r[4] != before.get((r[0], r[1]), False)}


async def _adjust_closed_months(conn: asyncpg.Connection, events: list[Event], batch, closed_through: date,
                                earliest: int | None, held: list, first: dict, created: set, added: dict,
                                removed: dict, voided: dict, moved: dict) -> None:
    """Records as adjustments of the first open month what the batch changed on the counting day of a
    closed month (services.financing.closing). Most batches touch no day that early and cost a test
    per person. `earliest`: the first month (ordinal) whose cells the batch changed."""
    cutoff = closed_through.toordinal()
    sure, maybe = closing.touched_early(batch, added, removed, cutoff)
    if maybe and not sure and (earliest is None or earliest > cutoff):
        # New insured timelines (most statuses: one more month paid) and births need the history held to
        # compare with, a cost per person; when the batch changed no closed month's cells, they changed
        # none (unless two of them cancel exactly, clinic, month and cell: then no money moves either).
        maybe = set()
    if not sure and not maybe:
        return
    people: dict[str, tuple[PersonState, PersonState]] = {}
    for iin in created:
        if iin in sure:     # a new person's insured timeline alone counts nowhere
            people[iin] = (PersonState(), first[iin])
    for row in held:
        iin = row[0]
        if iin in sure or iin in maybe:
            old = PersonState.loads(row[3])
            if iin in sure or closing.may_differ_early(old, batch.persons[iin], cutoff):
                people[iin] = (old, fold(old, iin, batch.persons.get(iin), added.get(iin, []),
                                         removed.get(iin, [])))
    lines = closing.adjustments(events, people, cutoff, added, voided, moved) if people else []
    if not lines:
        return
    numbers = await _ensure_clinics(conn, {x.clinic_id for x in lines})
    lands_in = month_after(closed_through)
    # An event applied once is never applied again (the consumer's offsets); the key only makes sure.
    await conn.executemany(
        """INSERT INTO fin_adjustments (lands_in, clinic_no, corrects, iin, cell_before, cell_after, topic,
                                        partition, "offset", event_day, visit_clinic, visit_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT DO NOTHING""",
        [(lands_in, numbers[x.clinic_id], date.fromordinal(x.corrects), x.iin, x.cell_before, x.cell_after, x.topic,
          x.partition, x.offset, date.fromordinal(x.event_day) if x.event_day else None, x.visit_clinic,
          x.visit_id) for x in lines])


async def _read_persons(conn: asyncpg.Connection, iins: list[str]) -> list[asyncpg.Record]:
    """(iin, the row version's address and xmin as text, the stored history) of the people found."""
    # A join, not `iin = ANY($1)`: a plan that scans the table (chosen while it was small, as in a
    # rebuild's fresh schema) would test each row against the whole array: 83 s for one batch was seen.
    return await conn.fetch("""SELECT p.iin, p.ctid::text, p.xmin::text, p.history
                               FROM unnest($1::text::text[]) AS k(iin) JOIN fin_persons p ON p.iin = k.iin""",
                            _iin_array(iins))


def _iin_array(iins: list[str]) -> str:
    """The text of a text[] literal of IINs (12 ASCII digits: nothing to quote). The store sends its big
    arrays as literals for PostgreSQL to parse: the driver's encoding costs more, element by element."""
    digits = "".join(iins)
    if len(digits) != 12 * len(iins) or not (digits.isascii() and digits.isdigit()):
        raise ValueError("IINs are 12 digits")    # they are checked when their events are read
    return "{" + ",".join(iins) + "}"


async def _ensure_clinics(conn: asyncpg.Connection, clinic_ids) -> dict[str, int]:
    ids = sorted(set(clinic_ids))
    await conn.execute(
        """INSERT INTO fin_clinics (clinic_id) SELECT * FROM unnest($1::text[])
           ON CONFLICT (clinic_id) DO NOTHING""", ids)
    rows = await conn.fetch("SELECT clinic_id, clinic_no FROM fin_clinics WHERE clinic_id = ANY($1::text[])", ids)
    return {r["clinic_id"]: r["clinic_no"] for r in rows}


async def _add_to_calendars(conn: asyncpg.Connection, changes, *, earliest_month: bool = False) -> int | None:
    """Adds a batch's calendar deltas (projection.deltas()), rows sorted by key: the lock order. With
    `earliest_month`, returns the first month (its first day's ordinal) whose cells change, if any."""
    ids = changes.clinic_ids()
    if not ids:
        return None
    numbers = await _ensure_clinics(conn, ids)
    rows, counts = changes.count_arrays(numbers)    # each column the text of an array literal
    if rows:
        await conn.execute(
            """INSERT INTO fin_counts AS t (clinic_no, grain, bucket, attached, active, insured)
               SELECT c, g, date '0001-01-01' + (b - 1), x, y, z   -- b: the bucket's day ordinal
               FROM unnest($1::text::int[], $2::text::int2[], $3::text::int[], $4::text::int[], $5::text::int[],
                           $6::text::int[]) AS u(c, g, b, x, y, z)
               ON CONFLICT (clinic_no, grain, bucket) DO UPDATE
                 SET attached = t.attached + excluded.attached, active = t.active + excluded.active,
                     insured = t.insured + excluded.insured""",
            *counts)
        await conn.execute(checkpoints.FORGET_COUNTS, *counts[:3])
    rows, cells = changes.cell_arrays(numbers)
    if rows:
        # Each row's cells come as the text of an int[] literal, parsed by PostgreSQL row by row.
        await conn.execute(
            f"""INSERT INTO fin_cells AS t (clinic_no, grain, bucket, people)
               SELECT c, g, date '0001-01-01' + (b - 1), p::int[]
               FROM unnest($1::text::int[], $2::text::int2[], $3::text::int[], $4::text::text[]) AS u(c, g, b, p)
               ON CONFLICT (clinic_no, grain, bucket) DO UPDATE SET people = {_ADD_CELLS}""",
            *cells)
        await conn.execute(checkpoints.FORGET_CELLS, *cells[:3])
        if earliest_month:      # the month rows' buckets (grain 1), read off the literals sent
            grains, buckets = cells[1][1:-1].split(","), cells[2][1:-1].split(",")
            return min((int(b) for g, b in zip(grains, buckets) if g == "1"), default=None)
    return None


# --- reading figures ------------------------------------------------------------------------------

@dataclass
class Figures:
    clinic_no: int
    clinic_id: str
    settlement: str | None = None     # None: not known (paid at the urban rate)
    attached: int = 0
    active: int = 0
    insured: int = 0
    # people by cell on the first day of the date's month (only when asked for)
    cells: dict[int, int] | None = None


_COUNTS_SQL = """
SELECT clinic_no, sum(attached)::int AS attached, sum(active)::int AS active, sum(insured)::int AS insured
FROM (
    SELECT clinic_no, attached, active, insured FROM fin_counts
     WHERE clinic_no = ANY($1::int[]) AND grain = 0 AND bucket < $2
    UNION ALL
    SELECT clinic_no, attached, active, insured FROM fin_counts
     WHERE clinic_no = ANY($1::int[]) AND grain = 1 AND bucket >= $2 AND bucket < $3
    UNION ALL
    SELECT clinic_no, attached, active, insured FROM fin_counts
     WHERE clinic_no = ANY($1::int[]) AND grain = 2 AND bucket >= $3 AND bucket <= $4
) x GROUP BY clinic_no
"""

# Cell arrays added and summed element by element, written out: plain expressions and aggregates
# that PostgreSQL evaluates natively (an unnest / array_agg round per row costs several times more).
_ADD_CELLS = "ARRAY[" + ", ".join(f"t.people[{i}] + excluded.people[{i}]" for i in range(1, CELLS + 1)) + "]"
_CELLS_SQL = """
SELECT clinic_no, """ + ", ".join(f"sum(people[{i}])::int" for i in range(1, CELLS + 1)) + """
FROM (
    SELECT clinic_no, people FROM fin_cells
     WHERE clinic_no = ANY($1::int[]) AND grain = 0 AND bucket < $2
    UNION ALL
    SELECT clinic_no, people FROM fin_cells
     WHERE clinic_no = ANY($1::int[]) AND grain = 1 AND bucket >= $2 AND bucket <= $3
) x GROUP BY clinic_no
"""


async def clinic(conn: asyncpg.Connection, clinic_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT clinic_no, clinic_id, region, name, settlement FROM fin_clinics "
                               "WHERE clinic_id = $1", clinic_id)


async def clinics(conn: asyncpg.Connection, region: str | None) -> list[asyncpg.Record]:
    if region is None:
        return await conn.fetch("SELECT clinic_no, clinic_id, settlement FROM fin_clinics ORDER BY clinic_id")
    return await conn.fetch("SELECT clinic_no, clinic_id, settlement FROM fin_clinics WHERE region = $1 "
                            "ORDER BY clinic_id", region)


async def figures(conn: asyncpg.Connection, found: list, on: date, *, cells: bool = True) -> list[Figures]:
    """Counts on `on` and, with `cells`, people by cell on the first of its month, per clinic (`found`:
    rows or dicts with clinic_no, clinic_id and settlement)."""
    out = {r["clinic_no"]: Figures(r["clinic_no"], r["clinic_id"], r["settlement"]) for r in found}
    if not out:
        return []
    nos = list(out)
    year_start, month_start = date(on.year, 1, 1), on.replace(day=1)
    for r in await conn.fetch(_COUNTS_SQL, nos, year_start, month_start, on):
        f = out[r["clinic_no"]]
        f.attached, f.active, f.insured = r["attached"], r["active"], r["insured"]
    if cells:
        by_clinic = await cells_on(conn, nos, month_start)
        for no, f in out.items():
            f.cells = by_clinic[no]
    return list(out.values())


async def cells_on(conn: asyncpg.Connection, nos: list[int], month: date) -> dict[int, dict[int, int]]:
    """People by cell on the first day of `month`, per clinic number (every one of `nos`)."""
    out: dict[int, dict[int, int]] = {no: {} for no in nos}
    for r in await conn.fetch(_CELLS_SQL, nos, date(month.year, 1, 1), month.replace(day=1)):
        own = out[r[0]]
        for cell in range(CELLS):
            if r[cell + 1]:
                own[cell] = r[cell + 1]
    return out


async def put_clinic(conn: asyncpg.Connection, clinic_id: str, region: str, name: str,
                     settlement: str | None) -> tuple[bool, str | None]:
    """Reference data (PUT replaces region and name, and the settlement when given; without one, the
    settlement already known stays). Returns (True when the clinic's region is given for the first
    time, the settlement now held). The same body again changes nothing."""
    async with conn.transaction():
        old = await conn.fetchrow("SELECT region, name, settlement, ref_version FROM fin_clinics "
                                  "WHERE clinic_id = $1 FOR UPDATE", clinic_id)
        if old is not None and (old["region"], old["name"]) == (region, name) \
                and settlement in (None, old["settlement"]):
            return False, old["settlement"]
        if old is not None and old["ref_version"] > 0:
            # The registry is the source of a clinic's data: once its event has come, it is not overridden here.
            raise conflict("clinic_from_registry", "this clinic's region, name and settlement come from the "
                                                   "registry: change them there (PUT /v1/clinics/{id} on the registry)")
        held = await conn.fetchval(
            """INSERT INTO fin_clinics (clinic_id, region, name, settlement) VALUES ($1, $2, $3, $4)
               ON CONFLICT (clinic_id) DO UPDATE SET region = excluded.region, name = excluded.name,
                 settlement = coalesce(excluded.settlement, fin_clinics.settlement)
               RETURNING settlement""",
            clinic_id, region, name, settlement)
        return old is None or old["region"] is None, held


# --- closed months -------------------------------------------------------------------------------

async def statement_state(conn: asyncpg.Connection, *, for_update: bool = False) -> asyncpg.Record:
    """(closed_through: the latest closed month's first day or None, started_on). FOR UPDATE: a closing
    waits for the batches being applied, and later batches wait for it."""
    return await conn.fetchrow("SELECT closed_through, started_on FROM fin_statement_state"
                               + (" FOR UPDATE" if for_update else ""))


async def mark_started(conn: asyncpg.Connection, today: date) -> date:
    """The day financing began keeping statements: `today` the first time."""
    return await conn.fetchval("UPDATE fin_statement_state SET started_on = coalesce(started_on, $1) "
                               "RETURNING started_on", today)


async def earliest_month(conn: asyncpg.Connection) -> date | None:
    """The first month any clinic's calendar holds people in (its year's January: a year row's bucket)."""
    return await conn.fetchval("SELECT min(bucket) FROM fin_cells")


async def record_closed(conn: asyncpg.Connection, months: list[tuple[date, dict]], through: date,
                        closed_at, closed_by: str, statements: list[tuple[int, date, str | None, str]]) -> None:
    """Writes a closing: each month with the rules its statements were figured under, the frozen
    statements (clinic_no, month, settlement, JSON), and the new closed_through."""
    await conn.executemany("INSERT INTO fin_closed_months (month, closed_at, closed_by, rules) "
                           "VALUES ($1, $2, $3, $4::text::jsonb)",
                           [(m, closed_at, closed_by, json.dumps(rules)) for m, rules in months])
    await conn.executemany("INSERT INTO fin_statements (clinic_no, month, settlement, body) "
                           "VALUES ($1, $2, $3, $4::text::jsonb)", statements)
    await conn.execute("UPDATE fin_statement_state SET closed_through = $1", through)


async def closed_month(conn: asyncpg.Connection, month: date) -> asyncpg.Record | None:
    """The closing that closed `month`: its own row, or for a month before the first one recorded (no
    data then), the first row after it."""
    # The rules as text, as statements._recorded reads them (the pool decodes jsonb into objects).
    return await conn.fetchrow("SELECT month, closed_at, closed_by, rules::text AS rules FROM fin_closed_months "
                               "WHERE month >= $1 ORDER BY month LIMIT 1", month)


async def frozen_statement(conn: asyncpg.Connection, clinic_no: int, month: date) -> str | None:
    return await conn.fetchval("SELECT body::text FROM fin_statements WHERE clinic_no = $1 AND month = $2",
                               clinic_no, month)


async def frozen_totals(conn: asyncpg.Connection, nos: list[int], month: date) -> asyncpg.Record:
    """The sums of the frozen statements' amounts and adjustments of these clinics for a closed month."""
    return await conn.fetchrow(
        """SELECT coalesce(sum((body->>'monthly_amount')::numeric), 0) AS amount,
                  coalesce(sum((body->>'adjustments_amount')::numeric), 0) AS adjustments
           FROM fin_statements WHERE month = $2 AND clinic_no = ANY($1::int[])""", nos, month)


_LANDING = """
SELECT a.clinic_no, a.corrects, a.iin, a.cell_before, a.cell_after, a.topic, a.partition, a."offset",
       a.event_day, a.visit_clinic, a.visit_id, a.recorded_at, c.clinic_id,
       CASE WHEN s.clinic_no IS NULL THEN c.settlement ELSE s.settlement END AS settlement,
       m.rules::text AS rules
FROM fin_adjustments a JOIN fin_clinics c USING (clinic_no)
LEFT JOIN fin_statements s ON s.clinic_no = a.clinic_no AND s.month = a.corrects
LEFT JOIN fin_closed_months m ON m.month = a.corrects
WHERE a.lands_in = $2 AND {clinics}
ORDER BY a.clinic_no, a.corrects, a.recorded_at, a.topic, a.partition, a."offset", a.iin"""
_LANDING_OF_CLINICS = _LANDING.format(clinics="a.clinic_no = ANY($1::int[])")
_LANDING_IN_REGION = _LANDING.format(clinics="c.region = $1")


async def adjustments_landing(conn: asyncpg.Connection, nos: list[int], month: date) -> list[asyncpg.Record]:
    """The adjustment lines landing in `month` for these clinics, each with what its amount is figured
    from: the corrected month's rules (NULL: no closing recorded for it) and the settlement its frozen
    statement had (or the clinic's own, when it had none)."""
    return await conn.fetch(_LANDING_OF_CLINICS, nos, month)


async def adjustments_landing_in(conn: asyncpg.Connection, region: str, month: date) -> list[asyncpg.Record]:
    """adjustments_landing of the region's clinics."""
    return await conn.fetch(_LANDING_IN_REGION, region, month)


# --- rules ---------------------------------------------------------------------------------------

async def visits_on_or_after(conn: asyncpg.Connection, table: str, day: date) -> int:
    """The answer to a statements publication effective `day`: the months closed on or after it (they stay
    closed as they were). The answer to a capitation publication: the visits financing knows dated on or
    after it (voided ones too). Nothing financing computes from the rules is stored: the amounts of
    every month, earlier statements included, are computed when asked, under the version in force on
    the month's first day, so a new version changes the amounts of the months whose first day is on or
    after its date and no other. A scan: no index on the visit day, which every consumed visit would
    have to maintain."""
    if table == "statements":
        return await conn.fetchval("SELECT count(*) FROM fin_closed_months WHERE month >= $1", day)
    return await conn.fetchval("SELECT count(*) FROM fin_visits WHERE day >= $1", day)
