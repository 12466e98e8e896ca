"""Helpers for the feedback tests: a fixed Kazakhstan clock and appeal bodies."""
from __future__ import annotations

from datetime import date, datetime, time

from services.common import clock
from tests.support import people


def set_today(monkeypatch, day: date, at: time = time(10, 0)) -> None:
    """Makes the service's clock read `day` (Kazakhstan time); the routes ask services.common.clock."""
    moment = datetime.combine(day, at, tzinfo=clock.KZ_TZ)
    monkeypatch.setattr(clock, "now", lambda: moment)
    monkeypatch.setattr(clock, "today", lambda: day)


def complaint(region: str, category: str = "quality_of_care", **kw) -> dict:
    body = {"channel": "clinic_desk", "kind": "complaint", "category": category, "region": region,
            "iin": people.iin(), "text": "The doctor did not examine me."}
    return {**body, **kw}


def consultation(region: str, **kw) -> dict:
    body = {"channel": "call_center", "kind": "consultation", "region": region,
            "text": "How do I check my insurance status?"}
    return {**body, **kw}
