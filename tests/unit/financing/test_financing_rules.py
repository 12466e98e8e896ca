"""The projection's rules, pure: order and duplicates do not matter, stale statuses are dropped, voided
visits stop counting, figures age with time alone. (The amount: test_financing_capitation.)"""
from __future__ import annotations

import random
import shutil
from datetime import date, timedelta
from pathlib import Path

import osms_native
import pytest

from services.common.consumer import Event
from services.common.events import EventData
from services.financing import domain
from services.common.native import refuse_a_stale_build
from services.financing.projection import PersonState, deltas, fold, reduce_batch
from tests.support import financing_oracle as oracle
from tests.support.financing_events import attached, detached, paid, random_population, upheld, visit
from tests.support.people import iin, iins


class MemoryProjection:
    """The store's steps with dicts instead of tables, to test the pure parts end to end."""

    def __init__(self):
        self.persons: dict[str, PersonState] = {}
        self.visits: dict[tuple[str, str], list] = {}      # key -> [iin, day, voided, held, integrity_version]
        self.deltas = deltas()

    def apply(self, events: list[EventData]) -> None:
        batch = reduce_batch([Event("t", 0, i, None, e) for i, e in enumerate(events)])
        added: dict[str, list[int]] = {}
        removed: dict[str, list[int]] = {}
        for key, (person, day) in batch.visits.items():
            row = self.visits.get(key)
            if row is None:
                row = self.visits[key] = [person, day, False, key in batch.held_at_intake, 0]
                if not row[3]:
                    added.setdefault(person, []).append(day)
            elif row[0] is None:
                row[0], row[1] = person, day
                if row[4] == 0:
                    row[3] = key in batch.held_at_intake
                if not row[2] and not row[3]:
                    added.setdefault(person, []).append(day)
        for key, (person, day, version, held) in batch.integrity.items():
            row = self.visits.get(key)
            counted = row is not None and row[0] is not None and not row[2] and not row[3]
            if row is None:
                row = self.visits[key] = [person, day, False, held, version]
            elif row[4] < version:
                row[3], row[4] = held, version
                row[0], row[1] = row[0] or person, row[1] or day
            else:
                continue
            if (not row[2] and not row[3]) != counted:
                (removed if counted else added).setdefault(row[0], []).append(row[1])
        for key in batch.voids:
            row = self.visits.setdefault(key, [None, None, False, False, 0])
            if not row[2]:
                row[2] = True
                if row[0] is not None and not row[3]:
                    removed.setdefault(row[0], []).append(row[1])
        for person in set(batch.persons) | set(added) | set(removed):
            old = self.persons.get(person, PersonState())
            new = fold(old, person, batch.persons.get(person), added.get(person, []), removed.get(person, []))
            self.deltas.diff(old, new)
            self.persons[person] = new

    def figures(self, clinic: str, on: date) -> oracle.OracleFigures:
        d, first = on.toordinal(), on.replace(day=1).toordinal()
        a = act = ins = 0
        for (c, day), (x, y, z) in self.deltas.days().items():
            if c == clinic and day <= d:
                a, act, ins = a + x, act + y, ins + z
        cells: dict[int, int] = {}
        for (c, day, cell), n in self.deltas.months().items():
            if c == clinic and day <= first:
                cells[cell] = cells.get(cell, 0) + n
        return oracle.OracleFigures(a, act, ins, {k: v for k, v in cells.items() if v})


def _dates():
    start = date(2024, 12, 1)
    return [start + timedelta(days=k) for k in range(0, 1300, 17)]


def test_figures_equal_the_reference_whatever_the_order_batches_and_duplicates():
    rng = random.Random(7)
    clinics = ["C-A", "C-B", "C-C"]
    events = random_population(rng, iins(120), clinics)
    in_order = MemoryProjection()
    in_order.apply(events)
    shuffled = MemoryProjection()
    mixed = events + rng.sample(events, len(events) // 3)     # a third arrives twice
    rng.shuffle(mixed)
    for i in range(0, len(mixed), 37):
        shuffled.apply(mixed[i:i + 37])
    for on in _dates():
        for clinic in clinics:
            expected = oracle.figures(events, clinic, on)
            assert in_order.figures(clinic, on) == expected, (clinic, on)
            assert shuffled.figures(clinic, on) == expected, (clinic, on)


def test_a_stale_status_version_is_dropped():
    person = iin(birth=date(1990, 3, 3))
    p = MemoryProjection()
    p.apply([attached(person, "C", date(2025, 1, 1), 1),
             paid(person, 2, [(date(2025, 1, 1), date(2026, 6, 30))])])
    p.apply([paid(person, 1, [(date(2025, 1, 1), date(2025, 3, 31))])])   # older, arrives late
    assert p.figures("C", date(2026, 5, 1)).insured == 1
    assert p.figures("C", date(2026, 7, 1)).insured == 0


def test_a_visit_ages_out_after_365_days_and_the_visit_day_counts():
    person = iin(birth=date(1980, 1, 1))
    p = MemoryProjection()
    p.apply([attached(person, "C", date(2024, 1, 1), 1), visit(person, "C", "v1", date(2025, 1, 10))])
    assert p.figures("C", date(2025, 1, 9)).active == 0
    assert p.figures("C", date(2025, 1, 10)).active == 1
    assert p.figures("C", date(2026, 1, 9)).active == 1      # 364 days later
    assert p.figures("C", date(2026, 1, 10)).active == 0     # 365 days later: out of the window


def test_insurance_lapses_the_day_after_the_period_ends():
    person = iin(birth=date(1980, 1, 1))
    p = MemoryProjection()
    p.apply([attached(person, "C", date(2024, 1, 1), 1), paid(person, 1, [(date(2025, 1, 1), date(2025, 4, 30))])])
    assert [p.figures("C", d).insured for d in (date(2024, 12, 31), date(2025, 1, 1), date(2025, 4, 30),
                                                date(2025, 5, 1))] == [0, 1, 1, 0]


def test_an_upheld_service_not_provided_complaint_voids_the_visit_even_when_it_comes_first():
    a, b = iins(2, birth=date(1985, 5, 5))
    p = MemoryProjection()
    p.apply([attached(a, "C", date(2024, 1, 1), 1), attached(b, "C", date(2024, 1, 1), 1)])
    p.apply([upheld("C", "vb")])                                             # the void first
    p.apply([visit(a, "C", "va", date(2025, 2, 1)), visit(b, "C", "vb", date(2025, 2, 1))])
    assert p.figures("C", date(2025, 3, 1)).active == 1
    p.apply([upheld("C", "va", status="rejected"), upheld("C", "va", category="quality_of_care")])
    assert p.figures("C", date(2025, 3, 1)).active == 1                      # neither voids
    p.apply([upheld("C", "va")])
    assert p.figures("C", date(2025, 3, 1)).active == 0


def test_a_second_visit_on_the_same_day_keeps_the_person_active_when_one_is_voided():
    person = iin()
    p = MemoryProjection()
    p.apply([attached(person, "C", date(2024, 1, 1), 1), visit(person, "C", "v1", date(2025, 2, 1)),
             visit(person, "C", "v2", date(2025, 2, 1))])
    p.apply([upheld("C", "v1")])
    assert p.figures("C", date(2025, 3, 1)).active == 1


def test_moves_and_death_follow_the_highest_version_in_force():
    person = iin()
    p = MemoryProjection()
    # The death (version 3) arrives first; the campaign move (version 2) is effective 1 January.
    p.apply([detached(person, "B", date(2025, 11, 15), 3)])
    p.apply([attached(person, "B", date(2026, 1, 1), 2, reason="campaign"), attached(person, "A", date(2024, 5, 1), 1)])
    assert (p.figures("A", date(2025, 11, 14)).attached, p.figures("A", date(2025, 11, 15)).attached) == (1, 0)
    assert p.figures("B", date(2026, 2, 1)).attached == 0
    q = MemoryProjection()
    q.apply([attached(person, "A", date(2024, 5, 1), 1), attached(person, "B", date(2026, 1, 1), 2, "campaign")])
    assert (q.figures("A", date(2025, 12, 31)).attached, q.figures("B", date(2026, 1, 1)).attached) == (1, 1)
    assert q.figures("A", date(2026, 1, 1)).attached == 0


def test_the_age_band_changes_on_the_first_of_the_month_after_the_birthday():
    person = iin(birth=date(1986, 5, 17), sex="F")
    p = MemoryProjection()
    p.apply([attached(person, "C", date(2020, 1, 1), 1)])
    band_30s, band_40s = domain.band_of(39), domain.band_of(40)
    assert p.figures("C", date(2026, 5, 20)).cells == {domain.cell_of(band_30s, "F", False, False): 1}
    assert p.figures("C", date(2026, 6, 1)).cells == {domain.cell_of(band_40s, "F", False, False): 1}
    born_first = iin(birth=date(1986, 5, 1), sex="M")
    p.apply([attached(born_first, "D", date(2020, 1, 1), 1)])
    assert p.figures("D", date(2026, 5, 1)).cells == {domain.cell_of(band_40s, "M", False, False): 1}


@pytest.mark.parametrize("age,label", [(0, "0"), (1, "1-4"), (4, "1-4"), (69, "60-69"), (70, "70+"), (101, "70+")])
def test_age_bands(age, label):
    assert domain.band_label(domain.band_of(age)) == label


def test_shares():
    assert domain.share(1, 4) == 0.25 and domain.share(0, 0) == 0.0


@pytest.mark.parametrize("seed", [11, 5, 12])
def test_the_partial_diff_equals_the_difference_of_whole_timelines(seed):
    """Deltas.diff computes old and new only between where they part and where they meet again; the
    result must be exactly what subtracting the whole timelines gives, for every kind of change at
    every point of a history."""
    rng = random.Random(seed)
    people = iins(150)
    events = random_population(rng, people, ["C-A", "C-B", "C-C"])
    by_person: dict[str, list] = {}
    for e in events:
        by_person.setdefault(e.iin if hasattr(e, "iin") else None, []).append(e)
    checked = unchanged = 0
    for person, own in by_person.items():
        if person is None:
            continue
        rng.shuffle(own)
        state = PersonState()
        for i in range(0, len(own), 2):
            batch = reduce_batch([Event("t", 0, j, None, e) for j, e in enumerate(own[i:i + 2])])
            added = [day for (_, _), (who, day) in batch.visits.items() if who == person]
            removed = [rng.choice(state.visits)] if state.visits and rng.random() < 0.2 else []
            new = fold(state, person, batch.persons.get(person), added, removed)
            expected = deltas()
            expected.timeline(new)
            expected.timeline(state, -1)
            got = deltas()
            got.diff(state, new)
            assert (got.days(), got.months()) == (expected.days(), expected.months()), (person, i)
            # The consumer's one-call form: from the rows read back to the bytes to store, same deltas.
            stepped = deltas()
            said = {person: batch.persons[person]} if person in batch.persons else {}
            count, tids, xmins, stored = stepped.step_rows(
                [(person, "(3,1)", "71", None if state == PersonState() else state.dumps())], said,
                {person: added}, {person: removed})
            if new == state:
                assert (count, tids, xmins, stored) == (0, "{}", "{}", [])
                assert not stepped.days() and not stepped.months()
                unchanged += 1
            else:
                assert (count, tids, xmins) == (1, '{"(3,1)"}', "{71}")
                assert PersonState.loads(stored[0]) == new
                assert (stepped.days(), stepped.months()) == (expected.days(), expected.months()), (person, i)
            state = new
            checked += 1
    assert checked > 300 and unchanged > 0


def test_a_batch_writes_back_in_iin_order_only_the_histories_that_change():
    """The rows read back come in any order; the writes go in IIN order (the lock order that keeps two
    instances from deadlocking), each with the address and xmin it was read at, and a duplicate event
    writes nothing."""
    a, b, c = sorted(iins(3))
    attachment = Event("t", 0, 0, None, attached(a, "C-A", date(2026, 1, 10), 1))
    held = {a: fold(PersonState(), a, reduce_batch([attachment]).persons[a], [], []),
            b: fold(PersonState(), b, None, [date(2026, 3, 2).toordinal()], []),
            c: fold(PersonState(), c, None, [date(2026, 5, 4).toordinal()], [])}
    again = reduce_batch([attachment])     # a's attachment once more: a duplicate
    rows = [(c, "(9,2)", "702", held[c].dumps()), (a, "(4,1)", "700", held[a].dumps()),
            (b, "(4,7)", "701", held[b].dumps())]
    day = date(2026, 6, 1).toordinal()
    count, tids, xmins, news = deltas().step_rows(rows, again.persons, {b: [day], c: [day]}, {})
    assert (count, tids, xmins) == (2, '{"(4,7)","(9,2)"}', "{701,702}")
    assert [PersonState.loads(n).visits for n in news] == [sorted(held[b].visits + [day]),
                                                           sorted(held[c].visits + [day])]


def _read_literal(text: str) -> list:
    """A PostgreSQL array literal of integers, or of quoted integer-array literals, read back."""
    assert text[0] == "{" and text[-1] == "}", text
    inner = text[1:-1]
    if not inner:
        return []
    if inner.startswith('"'):
        return [_read_literal(item) for item in inner[1:-1].split('","')]
    return [int(x) for x in inner.split(",")]


def test_the_calendar_rows_sent_as_array_literals_are_the_rows_of_the_batch():
    """count_arrays and cell_arrays write the numbers themselves (not with Rust's formatting): read
    back, they must be exactly the rows count_columns and cell_vectors give, negatives included."""
    rng = random.Random(7)
    people = iins(300)
    events = random_population(rng, people, ["C-A", "C-B", "C-C"])
    batch = reduce_batch([Event("t", 0, j, None, e) for j, e in enumerate(events)])
    changes = deltas()
    for person in people:
        old = fold(PersonState(), person, batch.persons.get(person), [], [])
        new = fold(old, person, None, [day for (_, _), (who, day) in batch.visits.items() if who == person], [])
        changes.timeline(new)
        changes.timeline(old, -1)                # a visit-only diff: negative deltas too
        changes.timeline(new)
    numbers = {c: 1000 + n * 977 for n, c in enumerate(sorted(changes.clinic_ids()))}
    columns = changes.count_columns(numbers)
    rows, texts = changes.count_arrays(numbers)
    assert rows == len(columns[0]) > 100
    assert [_read_literal(t) for t in texts] == [list(c) for c in columns]
    assert any(x < 0 for x in columns[3]) and any(x >= 10 for x in columns[3])
    vectors = changes.cell_vectors()
    rows, (nos, grains, buckets, people_by_cell) = changes.cell_arrays(numbers)
    assert rows == len(vectors) > 10
    assert list(zip(_read_literal(nos), _read_literal(grains), _read_literal(buckets), _read_literal(people_by_cell))) == \
        sorted((numbers[c], g, b, list(v)) for c, g, b, v in vectors)     # in key order: the lock order


def test_the_native_calendar_arithmetic_agrees_with_pythons_dates():
    day = date(1890, 1, 1)
    while day < date(2110, 1, 1):
        assert osms_native.month_index_of(day.toordinal()) == (day.year * 12 + day.month - 1, day.day == 1), day
        day += timedelta(days=1 if day.day < 3 or day.day > 26 else 5)


def test_a_native_build_older_than_its_sources_is_refused(tmp_path):
    source = Path(__file__).resolve().parents[3] / "native"
    copy = tmp_path / "native"
    shutil.copytree(source, copy, ignore=shutil.ignore_patterns("target"))
    refuse_a_stale_build(osms_native, copy)         # the build in use is of these sources
    lib = copy / "src" / "lib.rs"
    lib.write_text(lib.read_text() + "// an edit not built yet\n")
    with pytest.raises(ImportError, match="make install"):
        refuse_a_stale_build(osms_native, copy)
