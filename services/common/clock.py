"""The only place that reads the clock. Rules take dates as arguments; routes ask here."""
from __future__ import annotations

import os
from datetime import date, datetime, timedelta, timezone

# Kazakhstan keeps one time zone, UTC+5, since 1 March 2024.
KZ_TZ = timezone(timedelta(hours=5), "KZT")

# For end-to-end tests and rehearsals only: the process's business date moved by whole days (a month
# unpaid past its grace, as the real servers see it). Event timestamps (utc_now) keep the real time.
_SHIFT = timedelta(days=int(os.environ.get("OSMS_CLOCK_SHIFT_DAYS") or 0))


def today() -> date:
    return (datetime.now(KZ_TZ) + _SHIFT).date()


def now() -> datetime:
    return datetime.now(KZ_TZ) + _SHIFT


def utc_now() -> datetime:
    """For event timestamps (occurred_at), which are written in UTC."""
    return datetime.now(timezone.utc)
