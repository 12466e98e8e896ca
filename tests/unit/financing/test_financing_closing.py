"""Closed months, pure: which month closes when (the statements table's close day, an operator only once
the month has ended, nothing before financing began keeping statements), what an adjustment is worth
(one person's cell after minus before, at the corrected month's rates), and which of a batch's events
correct which closed month of which clinic, event by event."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

from services.common.consumer import Event
from services.financing import closing, domain
from services.financing.projection import (ATTACHED, DETACHED, INTEGRITY, STATUS, VISIT, PersonChanges, PersonState,
                                           reduce_batch)
from services.financing.rules import STATEMENTS, Capitation, StatementRules, close_day_of
from tests.support.financing_rules import capitation_values
from tests.support.people import iin
from tests.support.rules import snapshot_of
from services.financing.rules import RULE_TABLES


def _tenth(_month: date) -> int:
    return 10


def test_a_month_closes_on_the_close_day_of_the_month_after():
    assert domain.close_date(date(2026, 10, 1), 10) == date(2026, 11, 10)
    assert domain.close_date(date(2026, 12, 1), 5) == date(2027, 1, 5)
    assert domain.latest_due_month(date(2026, 11, 9), _tenth) == date(2026, 9, 1)
    assert domain.latest_due_month(date(2026, 11, 10), _tenth) == date(2026, 10, 1)
    assert domain.latest_due_month(date(2027, 1, 31), _tenth) == date(2026, 12, 1)
    assert not domain.has_ended(date(2026, 12, 1), date(2026, 12, 31))
    assert domain.has_ended(date(2026, 12, 1), date(2027, 1, 1))
    assert not domain.has_ended(date(9999, 12, 1), date(2026, 12, 7))


def test_the_close_day_is_the_one_in_force_in_the_month_the_closing_happens():
    snap = snapshot_of(RULE_TABLES, {STATEMENTS: [(date(2020, 1, 1), {"close_day": 10}),
                                                  (date(2027, 1, 1), {"close_day": 20})]})
    close_day = close_day_of(snap)
    assert (close_day(date(2026, 12, 1)), close_day(date(2027, 1, 1)), close_day(date(2019, 5, 1))) == (10, 20, 10)
    # December closes in January, under January's close day.
    assert domain.latest_due_month(date(2027, 1, 15), close_day) == date(2026, 11, 1)
    assert domain.latest_due_month(date(2027, 1, 20), close_day) == date(2026, 12, 1)
    assert StatementRules(close_day=28).close_day == 28


def test_months_close_by_themselves_only_after_financing_began_keeping_statements():
    started = date(2026, 12, 7)
    # November's close day (10 December) comes after the start; October's (10 November) did not.
    assert domain.automatic_close(date(2026, 12, 9), started, None, _tenth) is None
    assert domain.automatic_close(date(2026, 12, 10), started, None, _tenth) == date(2026, 11, 1)
    assert domain.automatic_close(date(2026, 12, 10), started, date(2026, 11, 1), _tenth) is None
    assert domain.automatic_close(date(2027, 1, 10), started, date(2026, 11, 1), _tenth) == date(2026, 12, 1)
    # Started on a close day: that month waits for an operator.
    assert domain.automatic_close(date(2026, 12, 10), date(2026, 12, 10), None, _tenth) is None


def test_an_adjustment_is_one_persons_cell_after_minus_before_at_the_months_rates():
    rules = Capitation.model_validate(capitation_values(urban="1000.00", rural="1250.00",
                                                        activity_coefficient="0.75", insurance_coefficient="0.85"))
    band = domain.band_of(35)
    active = domain.cell_of(band, "F", True, True)
    inactive = domain.cell_of(band, "F", False, True)
    coefficient = rules.age_sex_coefficients[band].female
    assert domain.adjustment_amount(rules, "urban", active, None) == -(1000 * coefficient).quantize(Decimal("0.01"))
    assert domain.adjustment_amount(rules, "rural", None, active) == (1250 * coefficient).quantize(Decimal("0.01"))
    assert domain.adjustment_amount(rules, None, active, inactive) == \
        (1000 * coefficient * Decimal("0.75")).quantize(Decimal("0.01")) - (1000 * coefficient).quantize(Decimal("0.01"))
    assert domain.adjustment_amount(rules, "urban", active, active) == Decimal("0.00")


def _event(offset: int, reading: tuple, topic: str = "t") -> Event:
    return Event(topic, 0, offset, None, reading)


def test_each_event_that_changes_a_closed_months_first_day_is_a_line_and_a_recent_one_is_not():
    person = iin(date(1990, 5, 5), "F")
    birth = date(1990, 5, 5).toordinal()
    held = PersonState(birth=birth, sex="F", versions={1: ("A", date(2025, 1, 1).toordinal())})
    cutoff = date(2026, 10, 1).toordinal()          # closed through October 2026
    events = [
        _event(1, (ATTACHED, person, 2, "B", date(2026, 8, 15).toordinal(), birth, "F"), "patient-attached"),
        _event(2, (VISIT, "B", "V-1", person, date(2026, 11, 20).toordinal(), False), "visit-recorded"),
        _event(3, (DETACHED, person, 3, date(2026, 9, 20).toordinal()), "patient-detached"),
    ]
    batch = reduce_batch(events)
    added = {person: [date(2026, 11, 20).toordinal()]}
    sure, maybe = closing.touched_early(batch, added, {}, cutoff)
    assert (sure, maybe) == ({person}, set())
    final = held.fold(person, batch.persons[person], added[person], [])
    lines = closing.adjustments(events, {person: (held, final)}, cutoff, added, {})
    band = domain.band_of(domain.age_on(date(1990, 5, 5), date(2026, 9, 1)))
    a, b = domain.cell_of(band, "F", False, False), domain.cell_of(band, "F", False, False)
    got = {(x.offset, x.clinic_id, date.fromordinal(x.corrects), x.cell_before, x.cell_after) for x in lines}
    assert got == {
        # the move to B from 15 August takes September and October from A and gives them to B ...
        (1, "A", date(2026, 9, 1), a, None), (1, "B", date(2026, 9, 1), None, b),
        (1, "A", date(2026, 10, 1), a, None), (1, "B", date(2026, 10, 1), None, b),
        # ... and the death on 20 September takes October from B; the November visit corrects nothing.
        (3, "B", date(2026, 10, 1), b, None)}
    assert {x.event_day for x in lines if x.offset == 3} == {date(2026, 9, 20).toordinal()}


def test_a_new_insured_timeline_corrects_only_when_it_differs_on_or_before_the_cutoff():
    person = iin(date(1980, 1, 1), "M")
    held = PersonState(birth=date(1980, 1, 1).toordinal(), sex="M", versions={1: ("A", date(2025, 1, 1).toordinal())},
                       status_version=1, insured=[(date(2026, 1, 1).toordinal(), date(2026, 12, 1).toordinal())])
    cutoff = date(2026, 10, 1).toordinal()
    extended = reduce_batch([_event(1, (STATUS, person, 2, [
        (date(2026, 1, 1).toordinal(), date(2027, 3, 1).toordinal())]))]).persons[person]
    assert not closing.may_differ_early(held, extended, cutoff)       # only months after October change
    stale = reduce_batch([_event(1, (STATUS, person, 1, []))]).persons[person]
    assert not closing.may_differ_early(held, stale, cutoff)          # an older version changes nothing
    earlier_events = [_event(2, (STATUS, person, 3, [(date(2025, 6, 1).toordinal(), date(2027, 3, 1).toordinal())]),
                             "contribution-paid")]
    batch = reduce_batch(earlier_events)
    assert closing.touched_early(batch, {}, {}, cutoff) == (set(), {person})
    assert closing.may_differ_early(held, batch.persons[person], cutoff)
    paid = held.fold(person, batch.persons[person], [], [])
    lines = closing.adjustments(earlier_events, {person: (held, paid)}, cutoff, {}, {})
    months = sorted(date.fromordinal(x.corrects) for x in lines)
    assert months == [date(2025, m, 1) for m in range(6, 13)]     # June to December 2025 become insured
    assert all(domain.decode_cell(x.cell_after).insured and not domain.decode_cell(x.cell_before).insured
               for x in lines)


def test_a_birth_date_that_differs_matters_only_for_someone_attached_by_the_cutoff():
    cutoff = date(2026, 10, 1).toordinal()
    other_birth = PersonChanges(birth=date(1981, 1, 1).toordinal(), sex="M")
    attached_early = PersonState(birth=date(1980, 1, 1).toordinal(), sex="M",
                                 versions={1: ("A", date(2025, 1, 1).toordinal())})
    attached_late = PersonState(birth=date(1980, 1, 1).toordinal(), sex="M",
                                versions={1: ("A", date(2026, 11, 1).toordinal())})
    assert closing.may_differ_early(attached_early, other_birth, cutoff)
    assert not closing.may_differ_early(attached_late, other_birth, cutoff)
    assert not closing.may_differ_early(attached_early, PersonChanges(birth=attached_early.birth, sex="M"), cutoff)


def test_a_hold_and_a_clear_of_a_closed_months_visit_are_lines_naming_the_visit():
    person = iin(date(1985, 2, 2), "M")
    birth = date(1985, 2, 2).toordinal()
    seen = date(2026, 8, 20).toordinal()
    held = PersonState(birth=birth, sex="M", versions={1: ("A", date(2025, 1, 1).toordinal())}, visits=[seen])
    cutoff = date(2026, 10, 1).toordinal()          # closed through October 2026
    events = [_event(4, (INTEGRITY, "A", "V-9", person, seen, 1, True), "visit-held")]
    batch = reduce_batch(events)
    assert batch.integrity == {("A", "V-9"): (person, seen, 1, True)}
    moved = {("A", "V-9"): (person, seen, -1)}       # what the store found: it counted, and now it does not
    removed = {person: [seen]}
    assert closing.touched_early(batch, {}, removed, cutoff) == ({person}, set())
    final = held.fold(person, None, [], [seen])
    lines = closing.adjustments(events, {person: (held, final)}, cutoff, {}, {}, moved)
    band = domain.band_of(domain.age_on(date(1985, 2, 2), date(2026, 9, 1)))
    active, inactive = domain.cell_of(band, "M", True, False), domain.cell_of(band, "M", False, False)
    assert {(x.clinic_id, date.fromordinal(x.corrects), x.cell_before, x.cell_after, x.visit_id) for x in lines} == {
        ("A", date(2026, 9, 1), active, inactive, "V-9"), ("A", date(2026, 10, 1), active, inactive, "V-9")}
    # Cleared later: the same months back, line by line.
    cleared = [_event(5, (INTEGRITY, "A", "V-9", person, seen, 2, False), "visit-cleared")]
    back = closing.adjustments(cleared, {person: (final, held)}, cutoff, {person: [seen]}, {},
                               {("A", "V-9"): (person, seen, 1)})
    assert {(date.fromordinal(x.corrects), x.cell_before, x.cell_after) for x in back} == {
        (date(2026, 9, 1), inactive, active), (date(2026, 10, 1), inactive, active)}
