"""financing's clinic worklists: the attached people a clinic should reach (inactive, turning inactive,
uninsured, whose insured time ends soon) on a date, read from their histories through the per-clinic
index `fin_clinic_people`, which the consumer keeps in the batch that brings an attachment.

`entry_of` is the rule, pure (dates as arguments); `worklist` reads a clinic's people. A list never
scans the nation: it reads the histories of the people ever attached to the one clinic.
"""
from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from datetime import date
from typing import Literal

import asyncpg

from services.financing.domain import ACTIVITY_WINDOW_DAYS
from services.financing.projection import PersonState, daily_states

Kind = Literal["inactive", "turning_inactive", "uninsured", "grace_ending"]
KINDS: tuple[str, ...] = ("inactive", "turning_inactive", "uninsured", "grace_ending")


@dataclass(frozen=True, slots=True)
class Entry:
    iin: str
    birth_date: date | None
    sex: str | None
    last_visit: date | None       # the last non-voided visit on or before the date
    active_until: date | None     # the last day that visit keeps the person active
    insured_until: date | None    # the last day of the insured time holding the date (or the last one before)


def entry_of(iin: str, state: PersonState, clinic_id: str, kind: str, on: date, horizon_days: int) -> Entry | None:
    """The person's line in the clinic's `kind` list on `on`, or None when they are not in it (not
    attached to the clinic on `on`, or not of that kind). `horizon_days`: how far ahead "turning
    inactive" and "grace ending" look (the worklists rule table)."""
    day = on.toordinal()
    states = daily_states(state)
    i = bisect_right([d for d, _ in states], day) - 1
    held = states[i][1] if i >= 0 else None
    if held is None or held[0] != clinic_id:
        return None
    _, active, insured = held
    visits = state.visits
    j = bisect_right(visits, day) - 1
    last_visit = visits[j] if j >= 0 else None
    active_until = last_visit + ACTIVITY_WINDOW_DAYS - 1 if last_visit is not None else None
    insured_until = None
    for start, end in sorted(state.insured):    # [start, until + 1)
        if start <= day:
            insured_until = end - 1
    horizon = day + horizon_days
    if kind == "inactive":
        chosen = not active
    elif kind == "turning_inactive":
        chosen = active and active_until is not None and active_until < horizon
    elif kind == "uninsured":
        chosen = not insured
    else:   # grace_ending: insured (in grace or not) today, and nothing paid keeps it past the horizon
        chosen = insured and insured_until is not None and insured_until < horizon
    if not chosen:
        return None
    return Entry(iin, date.fromordinal(state.birth) if state.birth else None, state.sex,
                 _day(last_visit), _day(active_until), _day(insured_until))


def _day(ordinal: int | None) -> date | None:
    return date.fromordinal(ordinal) if ordinal is not None else None


SortKey = Literal["iin", "-iin", "last_visit", "-last_visit", "active_until", "-active_until",
                  "insured_until", "-insured_until", "birth_date", "-birth_date"]
# Each list's own order: who needs a call first.
DEFAULT_SORT: dict[str, str] = {"inactive": "last_visit", "turning_inactive": "active_until",
                                "uninsured": "insured_until", "grace_ending": "insured_until"}


def sort_entries(entries: list[Entry], order_by: str) -> list[Entry]:
    """Sorted by a column (a leading '-': descending), empty values first, then by IIN."""
    key, desc = order_by.lstrip("-"), order_by.startswith("-")
    out = sorted(entries, key=lambda e: e.iin)
    out.sort(key=lambda e: (getattr(e, key) is not None, getattr(e, key) or date.min)
             if key != "iin" else e.iin, reverse=desc)
    return out


# --- the store ------------------------------------------------------------------------------------

async def record_members(conn: asyncpg.Connection, pairs: set[tuple[int, str]]) -> None:
    """The batch's (clinic_no, iin) attachments into the per-clinic index, in key order (the lock order)."""
    if not pairs:
        return
    rows = sorted(pairs)
    await conn.execute(
        """INSERT INTO fin_clinic_people (clinic_no, iin)
           SELECT * FROM unnest($1::int[], $2::text[]) ON CONFLICT DO NOTHING""",
        [r[0] for r in rows], [r[1] for r in rows])


async def worklist(conn: asyncpg.Connection, clinic_no: int, clinic_id: str, kind: str, on: date,
                   horizon_days: int) -> list[Entry]:
    """The clinic's `kind` list on `on`, unsorted: the histories of the people ever attached to it."""
    rows = await conn.fetch(
        """SELECT m.iin, p.history FROM fin_clinic_people m JOIN fin_persons p ON p.iin = m.iin
           WHERE m.clinic_no = $1""", clinic_no)
    out = []
    for iin, history in rows:
        e = entry_of(iin, PersonState.loads(history), clinic_id, kind, on, horizon_days)
        if e is not None:
            out.append(e)
    return out
