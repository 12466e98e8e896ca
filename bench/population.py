"""Synthetic populations for benchmarks: a region (Kyzylorda) or the nation, from a fixed seed.

Same seed, same data. Valid IINs (check digit), a realistic age-sex structure (Kazakhstan is young:
about 29% under 15, 8% over 65), clinic sizes skewed as real ones are (log-normal), about 20% of
people who never visit, about 4.5 visits a person a year on average, 83.6% insured (Kyzylorda), and
employers of realistic sizes (many small, few large: Pareto).
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import date, timedelta

from services.common.ids import make_bin, make_iin


@dataclass(frozen=True)
class Scale:
    name: str
    region: str
    people: int
    clinics: int
    insured_share: float = 0.836
    never_visit_share: float = 0.20
    visits_per_person_year: float = 4.5


KYZYLORDA = Scale("region", "kyzylorda", 818_000, 150)
NATION = Scale("nation", "kz", 20_500_000, 3_000, insured_share=0.90)
SMALL = Scale("small", "kyzylorda", 20_000, 10)

# Age bands (years) and their shares of the population, roughly Kazakhstan's 2025 pyramid.
AGE_BANDS = [((0, 4), 0.105), ((5, 9), 0.100), ((10, 14), 0.085), ((15, 19), 0.070), ((20, 29), 0.135),
             ((30, 39), 0.160), ((40, 49), 0.125), ((50, 59), 0.095), ((60, 69), 0.078), ((70, 89), 0.047)]


@dataclass(frozen=True)
class Person:
    iin: str
    birth_date: date
    sex: str
    clinic_id: str
    insured: bool
    visitor: bool


class Population:
    def __init__(self, scale: Scale, seed: int = 2026, today: date = date(2026, 11, 25)):
        self.scale = scale
        self.seed = seed
        self.today = today
        rng = random.Random(seed)
        # Clinic sizes: log-normal weights (a few big city polyclinics, many small rural ones).
        weights = [rng.lognormvariate(0, 0.8) for _ in range(scale.clinics)]
        total = sum(weights)
        self.clinic_ids = [f"{scale.region[:3].upper()}-{i:04d}" for i in range(scale.clinics)]
        self.clinic_sizes = [max(1, round(scale.people * w / total)) for w in weights]
        self.clinic_settlement = ["urban" if rng.random() < 0.55 else "rural" for _ in range(scale.clinics)]

    def people(self):
        """Yields every person, clinic by clinic (deterministic, lazily: the nation does not fit a list)."""
        rng = random.Random(self.seed + 1)
        # Unique by construction at any scale: the serial counts up per (birth date, sex).
        serials: dict[tuple[date, str], int] = {}
        bands = [b for b, _ in AGE_BANDS]
        cum = list(_cumulative([s for _, s in AGE_BANDS]))
        for clinic_id, size in zip(self.clinic_ids, self.clinic_sizes):
            for _ in range(size):
                iin = None
                while iin is None:
                    lo, hi = bands[_pick(cum, rng.random())]
                    birth = self.today - timedelta(days=rng.randint(lo * 365, hi * 365 + 364))
                    sex = "M" if rng.random() < 0.49 else "F"
                    while iin is None and serials.get((birth, sex), 0) < 10000:
                        serial = serials.get((birth, sex), 0)
                        serials[(birth, sex)] = serial + 1
                        iin = make_iin(birth, sex, serial)  # None: no valid check digit for it
                yield Person(iin, birth, sex, clinic_id,
                             insured=rng.random() < self.scale.insured_share,
                             visitor=rng.random() >= self.scale.never_visit_share)

    def visits_of(self, person: Person, rng: random.Random, days: int = 365) -> list[date]:
        """Visit dates in the `days` before today: visitors average visits_per_person_year / (1 - never)."""
        if not person.visitor:
            return []
        mean = self.scale.visits_per_person_year / (1 - self.scale.never_visit_share) * days / 365
        n = _poisson(rng, mean)
        return sorted(self.today - timedelta(days=rng.randrange(days)) for _ in range(n))

    def employers(self, workers: int):
        """(BIN, headcount) pairs covering `workers` employees: Pareto sizes, a few large employers."""
        rng = random.Random(self.seed + 2)
        left = workers
        serial = 0
        while left > 0:
            size = min(left, max(1, int(rng.paretovariate(1.1))))
            while True:
                serial += 1
                b = make_bin(date(2005 + serial % 20, 1 + serial % 12, 1), 4, serial % 100000)
                if b:
                    break
            yield b, size
            left -= size


def _cumulative(shares):
    total = 0.0
    s = sum(shares)
    for x in shares:
        total += x / s
        yield total


def _pick(cum, u):
    for i, c in enumerate(cum):
        if u <= c:
            return i
    return len(cum) - 1


def _poisson(rng: random.Random, mean: float) -> int:
    if mean > 30:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1
