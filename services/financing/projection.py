"""Events -> projection changes, pure: folds a batch into each person's history and turns a person's
history into what it adds to the per-clinic calendars. No I/O, no clock.

A person's history is kept whole (every attachment version, the newest insured timeline, every
non-voided visit day), so the result does not depend on the order events arrive in, and an event seen
twice changes nothing. Days are proleptic ordinals (date.toordinal()) for speed.

From a history, `timeline` derives:
- day deltas: on each day the person's (clinic, active, insured) changes, -1 from the old clinic's
  counts and +1 to the new one's: the counts of any date are the sum of deltas up to it;
- month deltas: the same for the full cell (age band, sex, active, insured) sampled on the first day
  of each month, which is the day the monthly amount is counted on.
The store adds the difference between a person's timeline before and after a batch (diff_states,
which computes both only from the day the two part).
"""
from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache

import orjson

from services.common.consumer import Event
from services.common.events import (AppealResolved, ClinicRegistered, ContributionPaid, PatientAttached, PatientDetached,
                                    VisitRecorded)
from services.common.ids import iin_birth_date_sex
from services.financing.domain import ACTIVITY_WINDOW_DAYS, AGE_BAND_BOUNDS, band_of

VOIDING_CATEGORY = "service_not_provided"


@dataclass
class PersonState:
    birth: int | None = None                    # ordinal
    sex: str | None = None
    # person_version -> (clinic_id or None for a detachment, effective day)
    versions: dict[int, tuple[str | None, int]] = field(default_factory=dict)
    status_version: int = 0
    insured: list[tuple[int, int]] = field(default_factory=list)   # [from, until + 1)
    visits: list[int] = field(default_factory=list)                 # non-voided visit days, sorted, repeats kept

    def dumps(self) -> bytes:
        return orjson.dumps({"b": self.birth, "s": self.sex,
                             "a": [[v, c, d] for v, (c, d) in sorted(self.versions.items())],
                             "sv": self.status_version, "i": self.insured, "v": self.visits})

    @classmethod
    def loads(cls, data: bytes | str | None) -> "PersonState":
        if not data:
            return cls()
        j = orjson.loads(data)
        return cls(j["b"], j["s"], {v: (c, d) for v, c, d in j["a"]}, j["sv"],
                   [(f, u) for f, u in j["i"]], j["v"])

    def copy(self) -> "PersonState":
        return PersonState(self.birth, self.sex, dict(self.versions), self.status_version,
                           list(self.insured), list(self.visits))


@dataclass
class PersonChanges:
    """What one batch says about one person (before visit de-duplication by the store)."""

    birth: int | None = None
    sex: str | None = None
    versions: dict[int, tuple[str | None, int]] = field(default_factory=dict)
    status_version: int = 0
    insured: list[tuple[int, int]] = field(default_factory=list)


@dataclass
class BatchChanges:
    persons: dict[str, PersonChanges]
    # (clinic_id, visit_id) -> (iin, day): the first one seen in the batch; duplicates are the same visit
    visits: dict[tuple[str, str], tuple[str, int]]
    voids: set[tuple[str, str]]                # (clinic_id, visit_id) of upheld service_not_provided
    clinics: set[str]                          # every clinic the batch names
    # clinic_id -> (clinic_version, region, name): the newest clinic-registered in the batch
    references: dict[str, tuple[int, str, str]] = field(default_factory=dict)


def reduce_batch(events: list[Event]) -> BatchChanges:
    persons: dict[str, PersonChanges] = {}
    visits: dict[tuple[str, str], tuple[str, int]] = {}
    voids: set[tuple[str, str]] = set()
    clinics: set[str] = set()
    references: dict[str, tuple[int, str, str]] = {}

    def person(iin: str) -> PersonChanges:
        p = persons.get(iin)
        if p is None:
            p = persons[iin] = PersonChanges()
        return p

    for e in events:
        d = e.data
        t = type(d)   # exact types: isinstance on pydantic models goes through ABCMeta, slowly
        if t is VisitRecorded:
            visits.setdefault((d.clinic_id, d.visit_id), (d.iin, d.date.toordinal()))
            clinics.add(d.clinic_id)
        elif t is PatientAttached:
            p = person(d.iin)
            p.versions[d.person_version] = (d.clinic_id, d.effective_date.toordinal())
            p.birth, p.sex = d.birth_date.toordinal(), d.sex
            clinics.add(d.clinic_id)
        elif t is PatientDetached:
            person(d.iin).versions[d.person_version] = (None, d.date.toordinal())
        elif t is ContributionPaid:
            p = person(d.iin)
            if d.status_version > p.status_version:
                p.status_version = d.status_version
                p.insured = [(x.from_.toordinal(), x.until.toordinal() + 1) for x in d.insured_periods]
        elif t is AppealResolved:
            if (d.status == "upheld" and d.category == VOIDING_CATEGORY
                    and d.clinic_id and d.visit_id):
                voids.add((d.clinic_id, d.visit_id))
        elif t is ClinicRegistered:
            held = references.get(d.clinic_id)
            if held is None or d.clinic_version > held[0]:
                references[d.clinic_id] = (d.clinic_version, d.region, d.name)
    return BatchChanges(persons, visits, voids, clinics, references)


def fold(state: PersonState, iin: str, changes: PersonChanges | None,
         added_visits: list[int], removed_visits: list[int]) -> PersonState:
    """The person's history after this batch. A version already held is the same event again;
    a lower status_version is stale and dropped."""
    new = state.copy()
    if changes is not None:
        if changes.birth is not None:
            new.birth, new.sex = changes.birth, changes.sex
        for v, entry in changes.versions.items():
            new.versions.setdefault(v, entry)
        if changes.status_version > new.status_version:
            new.status_version, new.insured = changes.status_version, list(changes.insured)
    if new.birth is None:
        born, sex = iin_birth_date_sex(iin)
        new.birth, new.sex = born.toordinal(), sex
    if added_visits or removed_visits:
        visits = sorted(new.visits + added_visits)
        for day in removed_visits:
            i = bisect_right(visits, day) - 1
            if i >= 0 and visits[i] == day:
                del visits[i]
        new.visits = visits
    return new


# --- timeline -------------------------------------------------------------------------------------

@lru_cache(maxsize=200_000)
def _month_index(day: int) -> tuple[int, bool]:
    """(year * 12 + month - 1, whether the day is the 1st) of an ordinal day."""
    d = date.fromordinal(day)
    return d.year * 12 + d.month - 1, d.day == 1


@lru_cache(maxsize=50_000)
def month_start_ordinal(index: int) -> int:
    return date(index // 12, index % 12 + 1, 1).toordinal()


def _attachment_pieces(versions: dict[int, tuple[str | None, int]]) -> list[tuple[int, str | None]]:
    """[(from day, clinic or None)]: on day D the person is where the highest person_version among
    those effective on or before D puts them (a later-dated campaign attachment waits for its date;
    a death recorded after it still wins once its own date comes)."""
    items = sorted(((d, v, c) for v, (c, d) in versions.items()))
    pieces: list[tuple[int, str | None]] = []
    best_v, best_c = -1, None
    i, n = 0, len(items)
    while i < n:
        day = items[i][0]
        while i < n and items[i][0] == day:
            if items[i][1] > best_v:
                best_v, best_c = items[i][1], items[i][2]
            i += 1
        if pieces and pieces[-1][1] == best_c:
            continue
        if not pieces and best_c is None:
            continue
        pieces.append((day, best_c))
    return pieces


def _merge(intervals) -> list[tuple[int, int]]:
    out: list[list[int]] = []
    for s, e in sorted(intervals):
        if e <= s:
            continue
        if out and s <= out[-1][1]:
            if e > out[-1][1]:
                out[-1][1] = e
        else:
            out.append([s, e])
    return [(s, e) for s, e in out]


def _activity(visits: list[int]) -> list[tuple[int, int]]:
    # Active on D iff a visit v with D - window < v <= D: each visit covers [v, v + window).
    out: list[list[int]] = []
    w = ACTIVITY_WINDOW_DAYS
    for v in visits:           # sorted
        if out and v <= out[-1][1]:
            out[-1][1] = v + w
        else:
            out.append([v, v + w])
    return [(s, e) for s, e in out]


State = tuple[str, bool, bool] | None
# Age band by completed years (the cell encoding is domain.cell_of's, inlined for speed).
_BAND_BY_AGE = [band_of(age) for age in range(AGE_BAND_BOUNDS[-1] + 1)]   # (clinic, active, insured) while attached


def daily_states(state: PersonState) -> list[tuple[int, State]]:
    """[(from day, state)]: the person's state changes, in day order (before the first: None)."""
    pieces = _attachment_pieces(state.versions)
    if not pieces:
        return []
    active = _activity(state.visits)
    insured = _merge(state.insured)
    points = {d for d, _ in pieces}
    for s, e in active:
        points.add(s)
        points.add(e)
    for s, e in insured:
        points.add(s)
        points.add(e)
    out: list[tuple[int, State]] = []
    prev: State = None
    ip = ia = ii = 0
    clinic = None
    np_, na, ni = len(pieces), len(active), len(insured)
    for p in sorted(points):
        if p < pieces[0][0]:
            continue
        while ip < np_ and pieces[ip][0] <= p:
            clinic = pieces[ip][1]
            ip += 1
        while ia < na and active[ia][1] <= p:
            ia += 1
        while ii < ni and insured[ii][1] <= p:
            ii += 1
        cur: State = None if clinic is None else (
            clinic, ia < na and active[ia][0] <= p, ii < ni and insured[ii][0] <= p)
        if cur != prev:
            out.append((p, cur))
            prev = cur
    return out


@dataclass
class Timeline:
    # (clinic, day) -> [attached, active, insured] delta
    days: dict[tuple[str, int], list[int]]
    # (clinic, month-start day, cell) -> people delta
    months: dict[tuple[str, int, int], int]


def timeline(state: PersonState) -> Timeline:
    """Everything the person adds to the calendars, from their first day on."""
    days: dict[tuple[str, int], list[int]] = {}
    months: dict[tuple[str, int, int], int] = {}
    changes = daily_states(state)
    if changes:
        _add_from(state, changes, 0, _month_after(changes[0][0]), 1, days, months)
    return Timeline(days, months)


def diff_states(old: PersonState, new: PersonState, days: dict, months: dict) -> None:
    """Adds timeline(new) - timeline(old) into the batch's accumulators, computing both only
    between the day their daily states part and the day they meet again for good: what the common
    past and the common future contribute is the same in both and cancels. A visit or a status most
    often changes only a few months of a long history."""
    a, b = daily_states(old), daily_states(new)
    if old.birth != new.birth or old.sex != new.sex:
        k, until = 0, _FOREVER       # the cells of every month change
    else:
        k, n = 0, min(len(a), len(b))
        while k < n and a[k] == b[k]:
            k += 1
        if k == len(a) == len(b):
            return
        until = _meet_again(a, b, k)
    parted = min(x[k][0] for x in (a, b) if k < len(x)) if (k < len(a) or k < len(b)) else None
    if parted is None:
        return
    c0 = _month_after(parted)
    if b:
        _add_from(new, b, k, c0, 1, days, months, until)
    if a:
        _add_from(old, a, k, c0, -1, days, months, until)


_FOREVER = 10**9   # an ordinal day after any real one


def _meet_again(a: list[tuple[int, State]], b: list[tuple[int, State]], k: int) -> int:
    """A day from which the two change lists (equal before index k) give the same state on every
    day: the start of their common tail of changes, or the later last change when they end in the
    same state on different days; _FOREVER when they end in different states."""
    j, room = 0, min(len(a), len(b)) - k
    while j < room and a[-1 - j] == b[-1 - j]:
        j += 1
    if j:
        return a[-j][0]
    if a and b and a[-1][1] == b[-1][1]:
        return max(a[-1][0], b[-1][0])
    return _FOREVER


def _month_after(day: int) -> int:
    """The index of the first month whose first day is on or after `day`."""
    idx, first = _month_index(day)
    return idx if first else idx + 1


def _add_from(state: PersonState, changes: list[tuple[int, State]], k: int, c0: int, sign: int,
              days: dict, months: dict, until: int = _FOREVER) -> None:
    """Adds sign x the person's calendar deltas from change k on (day deltas) and from month c0 on
    (cell deltas of each month's first day), where every change before k falls before month c0's
    first day. With k = 0 and c0 the month after the first change, that is the whole timeline.
    Deltas after day `until` are left out: the caller knows they cancel (see diff_states); a delta
    on day `until` itself, or on the first of a month that starts on or after it, still counts,
    since the day before may differ."""
    prev: State = changes[k - 1][1] if k else None
    for i in range(k, len(changes)):
        p, cur = changes[i]
        if p > until:
            break
        if prev is not None:
            dkey = (prev[0], p)
            d = days.get(dkey)
            if d is None:
                d = days[dkey] = [0, 0, 0]
            d[0] -= sign
            d[1] -= sign * prev[1]
            d[2] -= sign * prev[2]
        if cur is not None:
            dkey = (cur[0], p)
            d = days.get(dkey)
            if d is None:
                d = days[dkey] = [0, 0, 0]
            d[0] += sign
            d[1] += sign * cur[1]
            d[2] += sign * cur[2]
        prev = cur
    # Month m's cell changes only on the first month after a change of state or when an age band
    # begins; month c0 is compared with the month before it, whose cell the common past decides.
    last = _month_after(until) if until < _FOREVER else _FOREVER
    candidates = {c0}
    for i in range(k, len(changes)):
        idx = _month_after(changes[i][0])
        if idx > last:
            break
        candidates.add(idx)
    assert state.birth is not None      # fold() always sets it
    effective_birth = _month_after(state.birth)      # age on the 1st of month m = (m - this) // 12
    for bound in AGE_BAND_BOUNDS[1:]:
        idx = effective_birth + 12 * bound
        if c0 < idx <= last:
            candidates.add(idx)
    female = 4 if state.sex == "F" else 0
    last_band = len(_BAND_BY_AGE) - 1
    cur = None
    j, n = 0, len(changes)

    def cell_on(idx: int):
        nonlocal cur, j
        day = month_start_ordinal(idx)
        while j < n and changes[j][0] <= day:
            cur = changes[j][1]
            j += 1
        if cur is None:
            return None
        age = (idx - effective_birth) // 12
        band = _BAND_BY_AGE[age] if 0 <= age <= last_band else (0 if age < 0 else _BAND_BY_AGE[-1])
        return (cur[0], band * 8 + female + 2 * cur[1] + cur[2])

    prev_cell = cell_on(c0 - 1)
    for idx in sorted(candidates):
        cell = cell_on(idx)
        if cell != prev_cell:
            day = month_start_ordinal(idx)
            if prev_cell is not None:
                mkey = (prev_cell[0], day, prev_cell[1])
                months[mkey] = months.get(mkey, 0) - sign
            if cell is not None:
                mkey = (cell[0], day, cell[1])
                months[mkey] = months.get(mkey, 0) + sign
            prev_cell = cell


def diff_into(old: Timeline, new: Timeline, days: dict, months: dict) -> None:
    """Adds (new - old) into the batch's accumulators `days` and `months`."""
    for k, (a, b, c) in new.days.items():
        d = days.get(k)
        if d is None:
            days[k] = [a, b, c]
        else:
            d[0] += a
            d[1] += b
            d[2] += c
    for k, (a, b, c) in old.days.items():
        d = days.get(k)
        if d is None:
            days[k] = [-a, -b, -c]
        else:
            d[0] -= a
            d[1] -= b
            d[2] -= c
    for m, n in new.months.items():
        months[m] = months.get(m, 0) + n
    for m, n in old.months.items():
        months[m] = months.get(m, 0) - n


def to_grains_days(days: dict[tuple[str, int], list[int]]):
    """Day deltas -> rows of the three-grain calendar: (clinic, grain, bucket day, a, act, ins), where
    grain 0 buckets by year, 1 by month, 2 by day; zero rows dropped."""
    acc: dict[tuple[str, int, int], list[int]] = defaultdict(lambda: [0, 0, 0])
    for (clinic, day), (a, b, c) in days.items():
        if a == 0 and b == 0 and c == 0:
            continue
        idx, _ = _month_index(day)
        for key in ((clinic, 0, month_start_ordinal(idx - idx % 12)),
                    (clinic, 1, month_start_ordinal(idx)), (clinic, 2, day)):
            x = acc[key]
            x[0] += a
            x[1] += b
            x[2] += c
    return [(k[0], k[1], k[2], v[0], v[1], v[2]) for k, v in acc.items() if v != [0, 0, 0]]


def to_grains_months(months: dict[tuple[str, int, int], int]):
    """Month-start cell deltas -> rows (clinic, grain, bucket day, cell, people): grain 0 by year, 1 by month."""
    acc: dict[tuple[str, int, int, int], int] = defaultdict(int)
    for (clinic, day, cell), n in months.items():
        if n == 0:
            continue
        idx, _ = _month_index(day)
        acc[(clinic, 0, month_start_ordinal(idx - idx % 12), cell)] += n
        acc[(clinic, 1, day, cell)] += n
    return [(*k, v) for k, v in acc.items() if v != 0]
