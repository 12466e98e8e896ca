"""Measured detection of padded records: the audit's four patterns seeded into a clean region, and what
the registry's intake checks and risk list make of them.

A clean region (clinics, practitioners, attached people of every age and both sexes, a year and more of
visits of kinds that fit each patient) is posted to a real registry process in date order, with the
audit's patterns mixed in: a practitioner recording 1,442 patients in one day; services for patients
whose deaths are registered afterwards; screenings of the other sex; and one clinic giving each patient
one visit just before they would turn inactive (their previous visit 350 days old). Then it prints, per
pattern, the seeded visits held (recall), the clean visits held (false positives), and where the fourth
pattern's clinic stands in GET /v1/integrity/clinics?order_by=risk.

The clean data is not made to dodge the checks: practitioners' days vary (a flu season makes some days
busy beyond the norm's tolerance) and some patients come back the same day for the same kind.

    .venv/bin/python -m bench.bench_integrity                      # make bench-integrity
    .venv/bin/python -m bench.bench_integrity --clinics 5 --people 1500 --practitioners 2   # smaller
"""
from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import random
import sys
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RUN_ID = uuid.uuid4().hex[:8]
# Before any settings are read: this run's own topics and databases.
os.environ["OSMS_TOPIC_PREFIX"] = f"bench{RUN_ID}."
os.environ["OSMS_DB_PREFIX"] = f"osmsbench_{RUN_ID}_"
os.environ.setdefault("OSMS_LOG_LEVEL", "WARNING")

import asyncpg  # noqa: E402
import httpx  # noqa: E402
import orjson  # noqa: E402

from bench.auth import admin_headers  # noqa: E402
from bench.processes import ServiceProcess  # noqa: E402
from services.common.bootstrap import remove_prefixed  # noqa: E402
from services.common.ids import make_iin  # noqa: E402
from services.common.settings import get_settings  # noqa: E402
from services.registry.domain import age_on  # noqa: E402

REGION = "bench-region"
VOLUME, DEAD, SEX, PADDED, CLEAN = "volume", "dead", "sex", "padded", "clean"
EVERYONE = ["consultation"] * 6 + ["home_visit", "prophylactic", "vaccination", "screening", "dispensary", "treatment"]


class Person:
    __slots__ = ("iin", "birth", "sex", "clinic", "weight", "last")

    def __init__(self, iin: str, birth: date, sex: str, clinic: str, weight: float):
        self.iin, self.birth, self.sex, self.clinic, self.weight, self.last = iin, birth, sex, clinic, weight, None


def people_of(rng: random.Random, clinic: str, n: int, taken: set[str]) -> list[Person]:
    out = []
    while len(out) < n:
        birth = date(rng.randint(1940, 2025), rng.randint(1, 12), rng.randint(1, 28))
        sex = rng.choice("MF")
        iin = make_iin(birth, sex, rng.randint(0, 9999))
        if iin and iin not in taken:
            taken.add(iin)
            # About a fifth never come; the others at rates from rare to frequent.
            weight = 0.0 if rng.random() < 0.2 else rng.expovariate(1.0)
            out.append(Person(iin, birth, sex, clinic, weight))
    return out


def fitting_kind(rng: random.Random, p: Person, on: date, kinds: list[dict]) -> str:
    """A kind this patient may have on that day (sex and ages of the visits rules), mostly a consultation."""
    age = age_on(p.birth, on)
    special = [k["code"] for k in kinds if k["code"] not in EVERYONE
               and (k["sex"] is None or k["sex"] == p.sex)
               and (k["min_age_years"] is None or age >= k["min_age_years"])
               and (k["max_age_years"] is None or age <= k["max_age_years"])]
    if special and rng.random() < 0.15:
        return rng.choice(special)
    return rng.choice(EVERYONE)


def generate(args, kinds: list[dict]) -> tuple[list[dict], dict[tuple[str, str], str], list[tuple[str, date]],
                                                   list[str], str]:
    """(visits in date order, {(clinic, visit id): pattern}, deaths to register afterwards, clinics,
    the padding clinic)."""
    rng = random.Random(args.seed)
    today = date.today()
    start = today - timedelta(days=args.days)
    clinics = [f"BI-{RUN_ID}-{i:02d}" for i in range(args.clinics)]
    padder, spiker = clinics[1], clinics[2]
    taken: set[str] = set()
    population = {c: people_of(rng, c, args.people, taken) for c in clinics}
    cumulative = {c: list(itertools.accumulate(p.weight for p in population[c])) for c in clinics}
    visits: list[dict] = []
    pattern: dict[tuple[str, str], str] = {}
    deaths: list[tuple[str, date]] = []
    n = 0

    def add(p: Person, clinic: str, on: date, kind: str, practitioner: str, what: str) -> None:
        nonlocal n
        n += 1
        vid = f"v{n}"
        visits.append({"visit_id": vid, "clinic_id": clinic, "iin": p.iin, "date": on.isoformat(), "kind": kind,
                       "practitioner_id": practitioner})
        pattern[(clinic, vid)] = what
        if what != SEX:
            p.last = on

    flu = (today - timedelta(days=70), today - timedelta(days=40))
    spike_day = today - timedelta(days=10)
    dying = [p for p in population[clinics[3]] if p.weight > 0][:args.dead]
    died_on = {p.iin: today - timedelta(days=rng.randint(20, 60)) for p in dying}
    for day in range(args.days):
        on = start + timedelta(days=day)
        busy = 1.4 if flu[0] <= on <= flu[1] else 1.0
        for c in clinics:
            seen: set[str] = set()
            for k in range(args.practitioners):
                count = max(0, round(rng.gauss(args.daily * busy, args.daily * 0.3)))
                picks = rng.choices(population[c], cum_weights=cumulative[c], k=count * 2)
                chosen = [p for p in dict.fromkeys(picks)
                          if p.iin not in seen and p.iin not in died_on and p.birth <= on][:count]
                for p in chosen:
                    seen.add(p.iin)
                    kind = fitting_kind(rng, p, on, kinds)
                    add(p, c, on, kind, f"{c}-dr{k}", CLEAN)
                    if rng.random() < args.same_day_repeat:    # back the same day for the same kind
                        add(p, c, on, kind, f"{c}-dr{k}", CLEAN)
            if c == padder:
                # The fourth pattern: each patient seen 350 days ago and not since gets one more visit.
                for p in population[c]:
                    if p.last is not None and (on - p.last).days == 350 and p.iin not in seen:
                        add(p, c, on, "consultation", f"{c}-dr0", PADDED)
        if on == spike_day:
            crowd = rng.sample(population[spiker], min(args.spike, len(population[spiker])))
            for p in crowd:
                add(p, spiker, on, "consultation", f"{spiker}-dr1", VOLUME)
        for p in dying:                                       # services after the (later registered) death
            if on > died_on[p.iin] and rng.random() < args.dead_visit_rate:
                add(p, clinics[3], on, "consultation", f"{clinics[3]}-dr0", DEAD)
        if rng.random() < args.sex_rate:
            c = rng.choice(clinics)
            adults = [p for p in population[c] if 30 <= age_on(p.birth, on) <= 70]
            for p in rng.sample(adults, 3):
                add(p, c, on, "screening_prostate" if p.sex == "F" else rng.choice(
                    ["screening_cervical", "screening_breast"]), f"{c}-dr2", SEX)
    deaths = list(died_on.items())
    return visits, pattern, deaths, clinics, padder


async def run(args) -> None:
    settings = get_settings()
    service = ServiceProcess("registry").start()
    auth = await admin_headers(settings, "registry")
    try:
        async with httpx.AsyncClient(base_url=service.url, timeout=300, headers=auth) as client:
            kinds = (await client.get("/v1/rules/visits")).json()["values"]["kinds"]
            visits, pattern, deaths, clinics, padder = generate(args, kinds)
            for c in clinics:
                (await client.put(f"/v1/clinics/{c}", json={"name": c, "region": REGION,
                                                             "settlement": "urban"})).raise_for_status()
            started = time.perf_counter()
            bodies = [orjson.dumps({"visits": visits[i:i + 1000]}) for i in range(0, len(visits), 1000)]
            statuses: dict[str, int] = {}
            for body in bodies:         # in date order, one request at a time, as a region's uploads arrive
                r = await client.post("/v1/visits", content=body, headers={"content-type": "application/json"})
                r.raise_for_status()
                for x in r.json()["results"]:
                    key = x["status"] if x["status"] != "rejected" else f"rejected {','.join(x['errors'])}"
                    statuses[key] = statuses.get(key, 0) + 1
            for iin, died in deaths:
                (await client.post(f"/v1/persons/{iin}/death", json={"date": died.isoformat()})).raise_for_status()
            posted = time.perf_counter() - started
            r = await client.get("/v1/integrity/clinics", params={"region": REGION, "order_by": "risk"})
            r.raise_for_status()
            risk = r.json()
        conn = await asyncpg.connect(settings.database_dsn("registry"))
        try:
            held = {(r[0], r[1]) for r in await conn.fetch(
                "SELECT clinic_id, visit_id FROM visit_integrity WHERE state = 'held'")}
        finally:
            await conn.close()
        report(args, visits, pattern, held, statuses, posted, risk, padder)
    finally:
        service.stop()
        await remove_prefixed(settings)


def report(args, visits, pattern, held, statuses, posted, risk, padder) -> None:
    counts: dict[str, list[int]] = {}
    for key, what in pattern.items():
        c = counts.setdefault(what, [0, 0])
        c[0] += 1
        c[1] += key in held
    print(f"region: {args.clinics} clinics of {args.people:,} people, {args.practitioners} practitioners each, "
          f"{args.days} days; {len(visits):,} visits posted in {posted:.0f} s; statuses {statuses}")
    print("| pattern | seeded visits | held | recall |")
    print("|---|---|---|---|")
    names = {VOLUME: f"a practitioner's {args.spike:,} patients in one day", DEAD: "services after a death registered later",
             SEX: "screenings of the other sex"}
    for what in (VOLUME, DEAD, SEX):
        total, hit = counts.get(what, [0, 0])
        print(f"| {names[what]} | {total:,} | {hit:,} | {hit / total:.1%} |" if total else f"| {names[what]} | 0 | | |")
    total, hit = counts.get(CLEAN, [0, 0])
    print(f"| clean visits (false positives) | {total:,} | {hit:,} | {hit / total:.3%} held |")
    total, hit = counts.get(PADDED, [0, 0])
    print(f"| one visit before turning inactive (a signal, not a hold) | {total:,} | {hit:,} | |")
    rows = risk["rows"]
    rank = next((i + 1 for i, r in enumerate(rows) if r["clinic_id"] == padder), None)
    print(f"risk list (last 90 days, region share {risk['region_turning_inactive_share']:.1%} turning inactive): "
          f"the padding clinic is #{rank} of {len(rows)}")
    for r in rows[:3]:
        mark = " (padding clinic)" if r["clinic_id"] == padder else ""
        print(f"  {r['clinic_id']}{mark}: risk {r['risk']:.3f}, turning-inactive share "
              f"{r['turning_inactive_share']:.1%}, held share {r['held_share']:.1%}, "
              f"volume outliers {r['volume_outliers']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clinics", type=int, default=8)
    parser.add_argument("--people", type=int, default=3000, help="attached people a clinic")
    parser.add_argument("--practitioners", type=int, default=3, help="a clinic")
    parser.add_argument("--daily", type=float, default=18, help="a practitioner's mean patients a day")
    parser.add_argument("--days", type=int, default=730,
                        help="days of visits up to yesterday (the padding needs a year of history first)")
    parser.add_argument("--spike", type=int, default=1442, help="the practitioner's patients on the padded day")
    parser.add_argument("--dead", type=int, default=100, help="patients with services after their death")
    parser.add_argument("--dead-visit-rate", type=float, default=0.2, help="a dead patient's services a day")
    parser.add_argument("--sex-rate", type=float, default=0.5, help="days with 3 screenings of the other sex")
    parser.add_argument("--same-day-repeat", type=float, default=0.002,
                        help="clean visits followed the same day by another of the same kind")
    parser.add_argument("--seed", type=int, default=24)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
