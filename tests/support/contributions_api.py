"""Shared pieces of the contributions API tests: today's month and a fixed clock."""
from __future__ import annotations

from datetime import date

from services.common import clock
from services.contributions import domain

TODAY = clock.today()
THIS_MONTH = domain.month_of(TODAY)


def month(offset: int) -> str:
    """The month `offset` months from this one, "YYYY-MM"."""
    return domain.month_str(THIS_MONTH + offset)


def on_day(monkeypatch, day: date) -> None:
    """Makes the routes' clock read `day`."""
    monkeypatch.setattr(clock, "today", lambda: day)
