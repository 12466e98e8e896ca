"""The worklists' rule, pure: who is on which list of a clinic on a date, from a person's history; the
lists' order."""
from __future__ import annotations

from datetime import date, timedelta

from services.financing.projection import PersonState
from services.financing.worklists import Entry, entry_of, sort_entries

ON = date(2026, 6, 15)
HORIZON = 30


def person(*, clinic: str = "K1", visits=(), insured=(), moved: tuple[str, date] | None = None) -> PersonState:
    versions = {1: (clinic, date(2020, 1, 1).toordinal())}
    if moved:
        versions[2] = (moved[0], moved[1].toordinal())
    return PersonState(birth=date(1980, 1, 1).toordinal(), sex="F", versions=versions, status_version=1,
                       insured=[(a.toordinal(), b.toordinal() + 1) for a, b in insured],
                       visits=sorted(v.toordinal() for v in visits))


def kinds(state: PersonState, clinic: str = "K1", on: date = ON) -> set[str]:
    return {k for k in ("inactive", "turning_inactive", "uninsured", "grace_ending")
            if entry_of("900101400001", state, clinic, k, on, HORIZON) is not None}


def test_each_list_takes_the_people_of_its_kind():
    far = (date(2020, 1, 1), date(2030, 1, 1))
    assert kinds(person()) == {"inactive", "uninsured"}
    assert kinds(person(visits=[ON - timedelta(days=10)], insured=[far])) == set()
    # Active until ON + 29: within the 30 days; until ON + 30: not.
    assert kinds(person(visits=[ON - timedelta(days=335)], insured=[far])) == {"turning_inactive"}
    assert kinds(person(visits=[ON - timedelta(days=334)], insured=[far])) == set()
    # A visit after the date does not count on it.
    assert kinds(person(visits=[ON + timedelta(days=1)], insured=[far])) == {"inactive"}
    # Insured until ON + 29 (grace ending), ON + 30 (not yet), ON - 1 (not insured).
    recent = [ON - timedelta(days=10)]
    assert kinds(person(visits=recent, insured=[(date(2020, 1, 1), ON + timedelta(days=29))])) == {"grace_ending"}
    assert kinds(person(visits=recent, insured=[(date(2020, 1, 1), ON + timedelta(days=30))])) == set()
    assert kinds(person(visits=recent, insured=[(date(2020, 1, 1), ON - timedelta(days=1))])) == {"uninsured"}


def test_a_person_is_on_the_lists_of_the_clinic_they_are_attached_to_on_the_date():
    moved = person(moved=("K2", ON - timedelta(days=5)))
    assert kinds(moved, "K1") == set() and kinds(moved, "K2") == {"inactive", "uninsured"}
    assert kinds(moved, "K1", ON - timedelta(days=6)) == {"inactive", "uninsured"}


def test_the_line_carries_the_dates_a_clinic_acts_on():
    e = entry_of("900101400001", person(visits=[date(2025, 8, 1), date(2025, 7, 1)],
                                        insured=[(date(2020, 1, 1), date(2026, 7, 1))]),
                 "K1", "grace_ending", ON, HORIZON)
    assert e == Entry("900101400001", date(1980, 1, 1), "F", date(2025, 8, 1), date(2026, 7, 31), date(2026, 7, 1))


def test_lists_sort_by_a_column_empty_values_first_then_by_iin():
    a = Entry("1", None, None, None, None, date(2026, 1, 2))
    b = Entry("2", None, None, date(2026, 1, 1), None, date(2026, 1, 1))
    c = Entry("3", None, None, date(2025, 1, 1), None, None)
    assert [e.iin for e in sort_entries([b, c, a], "last_visit")] == ["1", "3", "2"]
    assert [e.iin for e in sort_entries([b, c, a], "-last_visit")] == ["2", "3", "1"]
    assert [e.iin for e in sort_entries([a, b, c], "insured_until")] == ["3", "2", "1"]
    assert [e.iin for e in sort_entries([c, a, b], "-iin")] == ["3", "2", "1"]
