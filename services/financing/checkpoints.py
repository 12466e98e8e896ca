"""financing's checkpoints: region-wide answers (region totals, the clinic list, a region's series) read a
row or two per clinic instead of its calendar rows and its people by cell.

A checkpoint is a cache of the calendars, kept exact:
- `fin_count_marks (clinic_no, day)`: the sums of the clinic's count deltas dated up to `day`. The counts
  on D are the mark of D itself, or else the mark of D - 1 plus the day row of D; a batch's new visits are
  dated today, so the marks of yesterday stay valid while they arrive. Both are figured together.
- `fin_month_cells (clinic_no, month)`: the clinic's people by cell on the month's first day, and their
  amount under one capitation version and settlement (an amount figured in Python per clinic was most of
  a region's answer).

A region reads its clinics' checkpoints in one statement, each table as one range of an index (migration
0009) hash-joined to the region's clinics: the marks of the date, and only when some are not held, the
marks of its eve and the day rows too. Only the clinics it finds no checkpoint for go the per-clinic way
below (`counts_on`, `amounts_of`), which figures them.

A batch deletes, in its own transaction, every checkpoint its deltas reach (`forget`: those of a clinic
from the earliest day or month the batch changed). A checkpoint is written only under the statement
state's row lock FOR UPDATE, which waits for the batches in flight (each holds it FOR KEY SHARE until
it commits) and holds back the next: so it is figured from calendars no batch is changing, and a batch
that comes later deletes it if it reaches it. The rebuild's schema has the tables too (empty).
"""
from __future__ import annotations

from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import asyncpg

from services.common.rules import InForce
from services.financing import domain, store
from services.financing.domain import CELLS
from services.financing.rules import Capitation

# Deletes the checkpoints a batch's calendar rows reach; $1..$3: the clinic, grain and bucket columns
# (array literals) of the rows the batch adds.
# In key order, as the calendars' rows are locked: two instances never wait on each other in a circle.
FORGET_COUNTS = """
DELETE FROM fin_count_marks WHERE ctid IN (
  SELECT m.ctid FROM fin_count_marks m
  JOIN (SELECT c, min(b) AS b FROM unnest($1::text::int[], $2::text::int2[], $3::text::int[]) AS u(c, g, b)
        WHERE g = 2 GROUP BY c) u ON m.clinic_no = u.c AND m.day >= date '0001-01-01' + (u.b - 1)
  ORDER BY m.clinic_no, m.day FOR UPDATE OF m)"""
FORGET_CELLS = """
DELETE FROM fin_month_cells WHERE ctid IN (
  SELECT m.ctid FROM fin_month_cells m
  JOIN (SELECT c, min(b) AS b FROM unnest($1::text::int[], $2::text::int2[], $3::text::int[]) AS u(c, g, b)
        WHERE g = 1 GROUP BY c) u ON m.clinic_no = u.c AND m.month >= date '0001-01-01' + (u.b - 1)
  ORDER BY m.clinic_no, m.month FOR UPDATE OF m)"""

_FILL_ROUNDS = 3     # a checkpoint deleted between its fill and its read is filled again; then calendars


async def _lock_out_batches(conn: asyncpg.Connection) -> None:
    await conn.execute("SELECT 1 FROM fin_statement_state FOR UPDATE")


async def counts_on(conn: asyncpg.Connection, found: list, on: date) -> list[store.Figures]:
    """Counts on `on` of the clinics `found` (rows or dicts with clinic_no, clinic_id, settlement), as
    store.figures(..., cells=False) gives them."""
    out = {r["clinic_no"]: store.Figures(r["clinic_no"], r["clinic_id"], r["settlement"]) for r in found}
    if on == date.min:      # no day before it: nothing to sum up to
        return await store.figures(conn, found, on, cells=False)
    eve = on - timedelta(days=1)
    missing = set(out)
    for _ in range(_FILL_ROUNDS):
        if not missing:
            break
        # One statement, one snapshot: the mark and the day row are of the same moment.
        for no, attached, active, insured in await conn.fetch(
                """SELECT m.clinic_no, m.attached + coalesce(d.attached, 0), m.active + coalesce(d.active, 0),
                          m.insured + coalesce(d.insured, 0)
                   FROM fin_count_marks m
                   LEFT JOIN fin_counts d ON d.clinic_no = m.clinic_no AND d.grain = 2 AND d.bucket = $3
                   WHERE m.clinic_no = ANY($1::int[]) AND m.day = $2""", sorted(missing), eve, on):
            f = out[no]
            f.attached, f.active, f.insured = attached, active, insured
            missing.discard(no)
        if missing:
            async with conn.transaction():
                await _lock_out_batches(conn)
                sums = await store.figures(conn, [{"clinic_no": no, "clinic_id": "", "settlement": None}
                                                  for no in sorted(missing)], eve, cells=False)
                await conn.execute(
                    """INSERT INTO fin_count_marks (clinic_no, day, attached, active, insured)
                       SELECT c, $2, x, y, z FROM unnest($1::int[], $3::int[], $4::int[], $5::int[]) AS u(c, x, y, z)
                       ON CONFLICT DO NOTHING""",
                    [f.clinic_no for f in sums], eve, [f.attached for f in sums], [f.active for f in sums],
                    [f.insured for f in sums])
                # And the date's own, the sums up to it: while no batch reaches its day, a region reads its
                # counts on the date from the marks alone, not the day rows.
                await conn.execute(
                    """INSERT INTO fin_count_marks (clinic_no, day, attached, active, insured)
                       SELECT m.clinic_no, $3, m.attached + coalesce(d.attached, 0), m.active + coalesce(d.active, 0),
                              m.insured + coalesce(d.insured, 0)
                       FROM fin_count_marks m
                       LEFT JOIN fin_counts d ON d.clinic_no = m.clinic_no AND d.grain = 2 AND d.bucket = $3
                       WHERE m.clinic_no = ANY($1::int[]) AND m.day = $2
                       ON CONFLICT DO NOTHING""", sorted(missing), eve, on)
    if missing:     # still reached by batches each round: from the calendars
        for f in await store.figures(conn, [{"clinic_no": no, "clinic_id": out[no].clinic_id,
                                             "settlement": out[no].settlement} for no in sorted(missing)], on,
                                     cells=False):
            out[f.clinic_no].attached, out[f.clinic_no].active, out[f.clinic_no].insured = \
                f.attached, f.active, f.insured
    return list(out.values())


async def amounts_of(conn: asyncpg.Connection, found: list, month: date,
                     rules: InForce[Capitation]) -> dict[int, Decimal]:
    """Each clinic's own amount for `month` (its statement's lines, without adjustments) under `rules`,
    by clinic_no."""
    settlement = {r["clinic_no"]: r["settlement"] for r in found}
    version = rules.version.version
    out: dict[int, Decimal] = {}
    missing = set(settlement)
    for _ in range(_FILL_ROUNDS):
        if not missing:
            break
        figured = []
        # Two scans of one table, no join: joined to the clinics' array, a table not yet analysed (a fresh
        # checkpoint) was planned as a nested loop of clinics × rows (docs/performance.md). The people
        # only where the amount held is not this version's or settlement's.
        held = await conn.fetch("SELECT clinic_no, amount, rules_version, settlement FROM fin_month_cells "
                                "WHERE month = $1 AND clinic_no = ANY($2::int[])", month, sorted(missing))
        stale = []
        for no, amount, held_version, held_settlement in held:
            if amount is not None and held_version == version and held_settlement == settlement[no]:
                out[no] = amount
                missing.discard(no)
            else:
                stale.append(no)
        if stale:
            for no, people in await conn.fetch("SELECT clinic_no, people FROM fin_month_cells "
                                               "WHERE month = $1 AND clinic_no = ANY($2::int[])", month, stale):
                out[no] = domain.monthly_amount(rules.values, settlement[no],
                                                {c: n for c, n in enumerate(people) if n})
                figured.append((no, people, out[no]))
                missing.discard(no)
        if figured:
            # For the next reader, where the people are still those figured from; a row a batch is deleting
            # is skipped, not waited for (a reader never waits on a batch, nor a batch on a reader). Each row is
            # updated at the address it was locked at: a month just figured, estimated at a row or so, was
            # planned as a join of its clinics with themselves by nested loop.
            await conn.execute(
                """UPDATE fin_month_cells m SET rules_version = $3, amount = f.a, settlement = f.s
                   FROM (SELECT m.ctid AS t, u.a, u.s FROM fin_month_cells m
                         JOIN unnest($1::int[], $4::text[], $5::numeric[], $6::text[]) AS u(c, p, a, s)
                           ON m.clinic_no = u.c AND m.month = $2 AND m.people = u.p::int[]
                         FOR UPDATE OF m SKIP LOCKED) f
                   WHERE m.ctid = f.t""",
                [x[0] for x in figured], month, version, [_literal(x[1]) for x in figured],
                [x[2] for x in figured], [settlement[x[0]] for x in figured])
        if missing:
            async with conn.transaction():
                await _lock_out_batches(conn)
                nos = sorted(missing)
                cells = await store.cells_on(conn, nos, month)
                await conn.execute(
                    """INSERT INTO fin_month_cells (clinic_no, month, people)
                       SELECT c, $2, p::int[] FROM unnest($1::int[], $3::text[]) AS u(c, p) ON CONFLICT DO NOTHING""",
                    nos, month, [_literal(_vector(cells[no])) for no in nos])
    if missing:
        cells = await store.cells_on(conn, sorted(missing), month)
        for no in missing:
            out[no] = domain.monthly_amount(rules.values, settlement[no], cells[no])
    return out


# --- a region's clinics at once -------------------------------------------------------------------

# The clinics of region $1 (every clinic when it is NULL) with their counts on the date: _OWN from the
# date's own marks ($2: the date); _EVE from those, else from the eve's marks ($2) and the date's day rows
# ($3: the date). `held`: a mark is held (if not, the counts are NULL).
_OWN = {"from": """FROM fin_clinics c LEFT JOIN fin_count_marks o ON o.clinic_no = c.clinic_no AND o.day = $2
WHERE $1::text IS NULL OR c.region = $1""",
        "attached": "o.attached", "active": "o.active", "insured": "o.insured", "held": "(o.clinic_no IS NOT NULL)"}
_EVE = {"from": """FROM fin_clinics c
LEFT JOIN fin_count_marks o ON o.clinic_no = c.clinic_no AND o.day = $3
LEFT JOIN fin_count_marks m ON m.clinic_no = c.clinic_no AND m.day = $2
LEFT JOIN fin_counts d ON d.clinic_no = c.clinic_no AND d.grain = 2 AND d.bucket = $3
WHERE $1::text IS NULL OR c.region = $1""",
        **{k: f"coalesce(o.{k}, m.{k} + coalesce(d.{k}, 0))" for k in ("attached", "active", "insured")},
        "held": "(o.clinic_no IS NOT NULL OR m.clinic_no IS NOT NULL)"}


def _clinic_counts(x: dict) -> str:
    return f"""SELECT c.clinic_no, c.clinic_id, c.settlement, {x["attached"]}, {x["active"]}, {x["insured"]},
       {x["held"]} AS held
{x["from"]}"""


def _sum_counts(x: dict) -> str:
    return f"""SELECT count(*), coalesce(sum({x["attached"]}), 0), coalesce(sum({x["active"]}), 0),
       coalesce(sum({x["insured"]}), 0), coalesce(array_agg(c.clinic_no) FILTER (WHERE NOT {x["held"]}), '{{}}')
{x["from"]}"""


CLINIC_COUNTS = _clinic_counts(_EVE) + '\nORDER BY c.clinic_id COLLATE "C"'
# No rows unless every clinic's own mark is held: a region read through the eve's marks then does not
# decode its clinics twice.
CLINIC_COUNTS_OWN = f"""WITH r AS ({_clinic_counts(_OWN)})
SELECT * FROM r WHERE NOT EXISTS (SELECT FROM r WHERE NOT r.held) ORDER BY r.clinic_id COLLATE "C" """
SUM_COUNTS_OWN, SUM_COUNTS = _sum_counts(_OWN), _sum_counts(_EVE)
# The sum of the amounts held for month $2 under capitation version $3 and each clinic's own settlement,
# and the clinics whose amount is not held so (their number and settlement).
_HELD = ("coalesce(m.amount IS NOT NULL AND m.rules_version = $3 AND m.settlement IS NOT DISTINCT FROM c.settlement, "
         "false)")
SUM_AMOUNTS = f"""
SELECT coalesce(sum(m.amount) FILTER (WHERE {_HELD}), 0),
       coalesce(array_agg(c.clinic_no) FILTER (WHERE NOT {_HELD}), '{{}}'),
       coalesce(array_agg(c.settlement) FILTER (WHERE NOT {_HELD}), '{{}}')
FROM fin_clinics c LEFT JOIN fin_month_cells m ON m.clinic_no = c.clinic_no AND m.month = $2
WHERE c.region = $1"""


@asynccontextmanager
async def _hash_joins(conn: asyncpg.Connection):
    """A read-only transaction of one snapshot whose joins are hashed: as a nested loop, a region's statement
    probes an index once a clinic (and a checkpoint table not yet analysed was planned so, scanning it once
    a clinic)."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        await conn.execute("SET LOCAL enable_nestloop = off")
        yield


async def clinic_counts(conn: asyncpg.Connection, region: str | None, on: date) -> list[tuple]:
    """Counts on `on` of the clinics of `region` (every clinic: None), as counts_on figures them: rows
    (clinic_no, clinic_id, settlement, attached, active, insured, ...) in the order of clinic_id's code
    points (Python's order of str). Rows, not store.Figures: a list sorts them all for a page of them."""
    if on == date.min:      # no eve to hold a mark of
        return sorted(((f.clinic_no, f.clinic_id, f.settlement, f.attached, f.active, f.insured)
                       for f in await counts_on(conn, await store.clinics(conn, region), on)), key=lambda r: r[1])
    async with _hash_joins(conn):
        rows = await conn.fetch(CLINIC_COUNTS_OWN, region, on)
        if not rows:
            rows = await conn.fetch(CLINIC_COUNTS, region, on - timedelta(days=1), on)
    unmarked = [{"clinic_no": r[0], "clinic_id": r[1], "settlement": r[2]} for r in rows if not r[6]]
    if unmarked:
        figured = {f.clinic_no: (f.clinic_no, f.clinic_id, f.settlement, f.attached, f.active, f.insured)
                   for f in await counts_on(conn, unmarked, on)}
        rows = [figured.get(r[0], r) for r in rows]
    return rows


@dataclass
class RegionSums:
    clinics: int
    attached: int
    active: int
    insured: int
    amount: Decimal | None = None   # the clinics' own amounts for the date's month (no adjustments), when asked


async def region_sums(conn: asyncpg.Connection, region: str, on: date,
                      rules: InForce[Capitation] | None = None) -> RegionSums:
    """The region's clinics counted, their counts on `on` summed and, with `rules`, their own amounts for
    `on`'s month under `rules` summed: counts_on's and amounts_of's figures added up."""
    month = domain.month_start(on)
    amount, stale = Decimal("0.00"), []
    async with _hash_joins(conn):
        if on == date.min:      # no eve to hold a mark of: every clinic figured
            found = await store.clinics(conn, region)
            out, unmarked = RegionSums(len(found), 0, 0, 0), [dict(r) for r in found]
        else:
            clinics, attached, active, insured, nos = await conn.fetchrow(SUM_COUNTS_OWN, region, on)
            if nos:
                clinics, attached, active, insured, nos = await conn.fetchrow(
                    SUM_COUNTS, region, on - timedelta(days=1), on)
            out = RegionSums(clinics, attached, active, insured)
            unmarked = [{"clinic_no": no, "clinic_id": "", "settlement": None} for no in nos]
        if rules is not None:
            amount, nos, settlements = await conn.fetchrow(SUM_AMOUNTS, region, month, rules.version.version)
            stale = [{"clinic_no": no, "settlement": s} for no, s in zip(nos, settlements)]
    for f in await counts_on(conn, unmarked, on) if unmarked else []:
        out.attached += f.attached
        out.active += f.active
        out.insured += f.insured
    if rules is not None:
        figured = (await amounts_of(conn, stale, month, rules)).values() if stale else []
        out.amount = sum(figured, amount)
    return out


def _vector(cells: dict[int, int]) -> list[int]:
    return [cells.get(c, 0) for c in range(CELLS)]


def _literal(people: list[int]) -> str:
    return "{" + ",".join(map(str, people)) + "}"
