"""The only place that reads the clock. Rules take dates as arguments; routes ask here."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

# Kazakhstan keeps one time zone, UTC+5, since 1 March 2024.
KZ_TZ = timezone(timedelta(hours=5), "KZT")


def today() -> date:
    return datetime.now(KZ_TZ).date()


def now() -> datetime:
    return datetime.now(KZ_TZ)


def utc_now() -> datetime:
    """For event timestamps (occurred_at), which are written in UTC."""
    return datetime.now(timezone.utc)
