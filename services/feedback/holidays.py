"""Kazakhstan's production calendar as data, per year: domain.py counts appeal deadlines over it.

Each year lists, explicitly, the weekdays that are not working days and the weekend days that are
(five-day week). They follow from:
- the Law "On holidays" and the Labour Code: 1-2 Jan, 7 Jan (Orthodox Christmas), 8 Mar,
  21-23 Mar (Nauryz), 1 May, 7 May, 9 May, the first day of Kurban Ait, 6 Jul, 30 Aug, 25 Oct,
  16 Dec; a holiday on a Saturday or Sunday moves the day off to the next working day, except the
  religious holidays (Orthodox Christmas, Kurban Ait), which are not moved;
- the government's (Ministry of Labour's) yearly transfers of days off, where published.
A new year is a data change here: copy the published calendar, do not derive it in code.
A year missing here makes deadlines fall back to weekends only, flagged as provisional (domain.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class YearCalendar:
    year: int
    days_off: frozenset[date]          # Monday-Friday dates that are not working days
    working_weekends: frozenset[date]  # Saturday/Sunday dates that are working days
    source: str


# (date, why): the reason is for the reader; only the dates count.
_DATA: dict[int, dict] = {
    2024: {
        "source": "statutory holidays; transfer 4 May -> 8 May (Government decree, 2024)",
        "days_off": [
            ("2024-01-01", "New Year"),
            ("2024-01-02", "New Year"),
            # 7 Jan 2024 (Orthodox Christmas) is a Sunday: religious, not moved.
            ("2024-03-08", "International Women's Day"),
            ("2024-03-21", "Nauryz"),
            ("2024-03-22", "Nauryz"),
            ("2024-03-25", "Nauryz: 23 Mar is a Saturday"),
            ("2024-05-01", "Unity Day"),
            ("2024-05-07", "Defender of the Fatherland Day"),
            ("2024-05-08", "day off transferred from Saturday 4 May"),
            ("2024-05-09", "Victory Day"),
            # 16 Jun 2024 (Kurban Ait) is a Sunday: religious, not moved.
            ("2024-07-08", "Capital Day: 6 Jul is a Saturday"),
            ("2024-08-30", "Constitution Day"),
            ("2024-10-25", "Republic Day"),
            ("2024-12-16", "Independence Day"),
        ],
        "working_weekends": [("2024-05-04", "Saturday worked for 8 May")],
    },
    2025: {
        "source": "statutory holidays; transfer 5 Jan -> 3 Jan (Ministry of Labour order, 2024)",
        "days_off": [
            ("2025-01-01", "New Year"),
            ("2025-01-02", "New Year"),
            ("2025-01-03", "day off transferred from Sunday 5 January"),
            ("2025-01-07", "Orthodox Christmas"),
            ("2025-03-10", "International Women's Day: 8 Mar is a Saturday"),
            ("2025-03-21", "Nauryz"),
            ("2025-03-24", "Nauryz: 22 Mar is a Saturday"),
            ("2025-03-25", "Nauryz: 23 Mar is a Sunday"),
            ("2025-05-01", "Unity Day"),
            ("2025-05-07", "Defender of the Fatherland Day"),
            ("2025-05-09", "Victory Day"),
            ("2025-06-06", "Kurban Ait"),
            ("2025-07-07", "Capital Day: 6 Jul is a Sunday"),
            ("2025-09-01", "Constitution Day: 30 Aug is a Saturday"),
            ("2025-10-27", "Republic Day: 25 Oct is a Saturday"),
            ("2025-12-16", "Independence Day"),
        ],
        "working_weekends": [("2025-01-05", "Sunday worked for 3 January")],
    },
    2026: {
        "source": "statutory holidays; no transfers (published calendar: 246 working days)",
        "days_off": [
            ("2026-01-01", "New Year"),
            ("2026-01-02", "New Year"),
            ("2026-01-07", "Orthodox Christmas"),
            ("2026-03-09", "International Women's Day: 8 Mar is a Sunday"),
            ("2026-03-23", "Nauryz"),
            ("2026-03-24", "Nauryz: 21 Mar is a Saturday"),
            ("2026-03-25", "Nauryz: 22 Mar is a Sunday"),
            ("2026-05-01", "Unity Day"),
            ("2026-05-07", "Defender of the Fatherland Day"),
            ("2026-05-11", "Victory Day: 9 May is a Saturday"),
            ("2026-05-27", "Kurban Ait"),
            ("2026-07-06", "Capital Day"),
            ("2026-08-31", "Constitution Day: 30 Aug is a Sunday"),
            ("2026-10-26", "Republic Day: 25 Oct is a Sunday"),
            ("2026-12-16", "Independence Day"),
        ],
        "working_weekends": [],
    },
    2027: {
        "source": "statutory holidays only; the government's transfers for 2027 are not published yet",
        "days_off": [
            ("2027-01-01", "New Year"),
            ("2027-01-04", "New Year: 2 Jan is a Saturday"),
            ("2027-01-07", "Orthodox Christmas"),
            ("2027-03-08", "International Women's Day"),
            ("2027-03-22", "Nauryz"),
            ("2027-03-23", "Nauryz"),
            ("2027-03-24", "Nauryz: 21 Mar is a Sunday"),
            ("2027-05-03", "Unity Day: 1 May is a Saturday"),
            ("2027-05-07", "Defender of the Fatherland Day"),
            ("2027-05-10", "Victory Day: 9 May is a Sunday"),
            # 16 May 2027 (Kurban Ait) is a Sunday: religious, not moved.
            ("2027-07-06", "Capital Day"),
            ("2027-08-30", "Constitution Day"),
            ("2027-10-25", "Republic Day"),
            ("2027-12-16", "Independence Day"),
        ],
        "working_weekends": [],
    },
}


def _build(year: int, raw: dict) -> YearCalendar:
    days_off = frozenset(date.fromisoformat(d) for d, _ in raw["days_off"])
    working = frozenset(date.fromisoformat(d) for d, _ in raw["working_weekends"])
    # Guard the data itself: a typo (wrong year, a weekend listed as a day off) fails at import.
    for d in days_off:
        if d.year != year or d.weekday() >= 5:
            raise ValueError(f"calendar {year}: {d} is not a weekday of {year}")
    for d in working:
        if d.year != year or d.weekday() < 5:
            raise ValueError(f"calendar {year}: {d} is not a weekend day of {year}")
    return YearCalendar(year, days_off, working, raw["source"])


CALENDARS: dict[int, YearCalendar] = {year: _build(year, raw) for year, raw in _DATA.items()}
