"""A batch's corrections of closed months, pure: which people a batch may change on a closed month's
counting day (a cheap test on what the batch says, so the consumer's hot path pays almost nothing), and
for those, event by event, the adjustment lines: the person counted in one cell of a clinic on a closed
month's first day and now in another (or no longer, or newly). No I/O, no clock.

The history stays the source of truth: an event already held changes nothing, so an event seen twice
makes no second line, and the lines of a batch add up to exactly the change of the closed months'
cells in the calendars.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Iterable

from services.common.consumer import Event
from services.financing.domain import month_after
from services.financing.projection import (ATTACHED, DETACHED, INTEGRITY, RESOLVED, STATUS, VISIT, BatchChanges,
                                           PersonChanges, PersonState, deltas, reading_of)


@dataclass(frozen=True, slots=True)
class Adjustment:
    clinic_id: str
    corrects: int              # the corrected month's first day (ordinal)
    iin: str
    cell_before: int | None    # None: the person did not count at this clinic that day
    cell_after: int | None
    topic: str
    partition: int
    offset: int
    event_day: int | None      # the day the event is about (effective date, visit day), when it has one
    visit_clinic: str | None
    visit_id: str | None


def touched_early(batch: BatchChanges, added: dict[str, list[int]], removed: dict[str, list[int]],
                  cutoff: int) -> tuple[set[str], set[str]]:
    """(people whose batch changes a day on or before `cutoff`, people it may: a new insured timeline or a
    birth date, to compare with the history held). A visit on day V and an attachment version effective
    on E change the person's days from V or E on, never before (native/src/person.rs)."""
    sure: set[str] = set()
    for days in (added, removed):
        for iin, ds in days.items():
            if min(ds) <= cutoff:
                sure.add(iin)
    maybe: set[str] = set()
    for iin, p in batch.persons.items():
        if iin in sure:
            continue
        if any(day <= cutoff for _, day in p.versions.values()):
            sure.add(iin)
        elif p.status_version or p.birth is not None:
            maybe.add(iin)
    return sure, maybe


def _up_to(periods: Iterable[tuple[int, int]], cutoff: int) -> list[tuple[int, int]]:
    """An insured timeline's [from, until + 1) periods cut at the day after `cutoff`, as given (not merged:
    two spellings of the same days only cost a closer look)."""
    return [(start, min(end, cutoff + 1)) for start, end in periods if start <= cutoff]


def may_differ_early(old: PersonState, changes: PersonChanges, cutoff: int) -> bool:
    """Whether a batch's new insured timeline or birth date may change a day on or before `cutoff` of a
    person whose history was `old` (its attachment versions on or before the cutoff already made them
    sure). A yes is looked at closely; a no is certain."""
    if changes.birth is not None and (changes.birth, changes.sex) != (old.birth, old.sex) \
            and any(day <= cutoff for _, day in old.versions.values()):
        return True
    return changes.status_version > old.status_version and \
        _up_to(old.insured, cutoff) != _up_to(changes.insured, cutoff)


def _iin_of(r: tuple, voided: dict[tuple[str, str], tuple[str, int]]) -> str | None:
    kind = r[0]
    if kind == VISIT or kind == INTEGRITY:
        return r[3]
    if kind in (ATTACHED, DETACHED, STATUS):
        return r[1]
    if kind == RESOLVED:
        hit = voided.get((r[3], r[4]))
        return hit[0] if hit else None
    return None


def adjustments(events: list[Event], people: dict[str, tuple[PersonState, PersonState]], cutoff: int,
                added: dict[str, list[int]], voided: dict[tuple[str, str], tuple[str, int]],
                moved: dict[tuple[str, str], tuple[str, int, int]] | None = None) -> list[Adjustment]:
    """The adjustment lines of a batch for `people` (IIN -> (history before the batch, after it)): each
    person's events are folded one by one, in the batch's order, and what each changes on the first day
    of a month on or before `cutoff` is a line naming it. `added`: the visit days the batch adds (visits
    new to the store, and those an integrity change lets count again); `voided`: (clinic_id, visit_id) ->
    (IIN, day) of the visits the batch's voids hit; `moved`: (clinic_id, visit_id) -> (IIN, day, +1 or
    -1) of the visits the batch's visit-held / visit-cleared made count or stop counting."""
    moved = moved or {}
    mine: dict[str, list[tuple[Event, tuple]]] = {}
    for e in events:
        r: Any = e.data if type(e.data) is tuple else reading_of(e.data)
        iin = _iin_of(r, voided)
        if iin in people:
            mine.setdefault(iin, []).append((e, r))
    out: list[Adjustment] = []
    for iin, own in mine.items():
        state, final = people[iin]
        still_added = list(added.get(iin, ()))
        seen: tuple[set, set, set] = (set(), set(), set())
        for k, (e, r) in enumerate(own):
            changes, plus, minus, day, visit = _one_event(r, still_added, voided, seen, moved)
            after = final if k == len(own) - 1 else state.fold(iin, changes, plus, minus)
            if after != state:
                out += _lines(iin, state, after, cutoff, e, day, visit)
            state = after
    return out


def _one_event(r: tuple, still_added: list[int], voided: dict[tuple[str, str], tuple[str, int]],
               seen: tuple[set, set, set], moved: dict[tuple[str, str], tuple[str, int, int]]):
    """(PersonChanges or None, visit days added, removed, the event's day, (clinic_id, visit_id) or None) of
    one event alone. A visit adds its day only when the store took it as new (the first of its key in the
    batch, its day among those added, not recorded held); a void removes the day of the visit it hit,
    once; the integrity change the store applied adds or removes its visit's day, once."""
    kind = r[0]
    if kind == ATTACHED:
        _, _, version, clinic_id, effective, birth, sex = r
        return PersonChanges(birth=birth, sex=sex, versions={version: (clinic_id, effective)}), [], [], effective, None
    if kind == DETACHED:
        return PersonChanges(versions={r[2]: (None, r[3])}), [], [], r[3], None
    if kind == STATUS:
        return PersonChanges(status_version=r[2], insured=r[3]), [], [], None, None
    if kind == INTEGRITY:
        key, day = (r[1], r[2]), r[4]
        hit = moved.get(key)
        if hit is None or key in seen[2]:
            return None, [], [], day, key
        seen[2].add(key)
        if hit[2] > 0:
            if day in still_added:       # among the batch's added days: taken here, not by a visit
                still_added.remove(day)
            return None, [day], [], day, key
        return None, [], [day], day, key
    if kind == VISIT:
        _, clinic_id, visit_id, _, day, held_now = r
        key = (clinic_id, visit_id)
        if not held_now and key not in seen[0] and day in still_added:
            seen[0].add(key)
            still_added.remove(day)
            return None, [day], [], day, key
        return None, [], [], day, key
    key = (r[3], r[4])      # RESOLVED: a void that hit a visit (only those reach here)
    day = voided[key][1]
    if key in seen[1]:
        return None, [], [], day, key
    seen[1].add(key)
    return None, [], [day], day, key


def _lines(iin: str, before: PersonState, after: PersonState, cutoff: int, e: Event, day: int | None,
           visit: tuple[str, str] | None) -> list[Adjustment]:
    """A line per clinic and closed month whose first day counts the person differently after the event.
    The calendar deltas are changes from a month on (prefix sums), so each month's difference is the sum
    of the deltas up to it."""
    d = deltas()
    d.diff(before, after)
    changes = sorted((month, clinic_id, cell, n) for (clinic_id, month, cell), n in d.months().items()
                     if month <= cutoff)
    out: list[Adjustment] = []
    if not changes:
        return out
    differ: dict[tuple[str, int], int] = {}
    k = 0
    month = date.fromordinal(changes[0][0])
    while month.toordinal() <= cutoff:
        while k < len(changes) and changes[k][0] <= month.toordinal():
            _, clinic_id, cell, n = changes[k]
            differ[(clinic_id, cell)] = differ.get((clinic_id, cell), 0) + n
            k += 1
        cells: dict[str, list[int | None]] = {}
        for (clinic_id, cell), n in differ.items():
            if n:
                cells.setdefault(clinic_id, [None, None])[0 if n < 0 else 1] = cell
        for clinic_id, (was, now) in sorted(cells.items()):
            out.append(Adjustment(clinic_id, month.toordinal(), iin, was, now, e.topic, e.partition, e.offset, day,
                                  visit[0] if visit else None, visit[1] if visit else None))
        month = month_after(month)
    return out
