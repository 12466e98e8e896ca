"""Valid, distinct IINs and BINs for tests (random, so tests never collide on shared servers)."""
from __future__ import annotations

import random
from datetime import date

from services.common.ids import make_bin, make_iin

_rng = random.Random()


def iin(birth: date | None = None, sex: str | None = None) -> str:
    """An adult by default, born before 2001: tests date events from 2001 on, and an IIN is refused for
    a date before its birth. A test that needs a child names the birth date."""
    while True:
        b = birth or date(_rng.randint(1940, 2000), _rng.randint(1, 12), _rng.randint(1, 28))
        value = make_iin(b, sex or _rng.choice("MF"), _rng.randint(0, 9999))
        if value:
            return value


def iins(n: int, **kw) -> list[str]:
    out: set[str] = set()
    while len(out) < n:
        out.add(iin(**kw))
    return list(out)


def bin_() -> str:
    while True:
        value = make_bin(date(_rng.randint(2000, 2025), _rng.randint(1, 12), 1), _rng.choice((4, 5, 6)),
                         _rng.randint(0, 99999))
        if value:
            return value


def clinic_id(prefix: str = "C") -> str:
    return f"{prefix}-{_rng.randrange(16**8):08x}"
