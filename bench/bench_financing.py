"""Financing benchmark: a national-scale projection bulk-loaded, then the clinic query's latency through
HTTP, the events/s the consumer applies from Kafka, and the rebuild rate.

    .venv/bin/python -m bench.bench_financing --people 20500000 --clinics 3000   # the national run
    .venv/bin/python -m bench.bench_financing --people 140000 --clinics 20        # smoke: 7,000 a clinic

Setup (not measured) computes each synthetic person's history and calendar contributions with the
projection's own pure functions and COPYs them straight into the tables. Measured: GET
/v1/clinics/{id}/financing on random clinics and dates (sequential, keep-alive); N events (visits,
contribution statuses, moves of loaded people) already waiting on Kafka when the service starts,
timed from its first applied batch until its consumer lag is 0 (the apply rate); N more produced
while it runs, timed from the first send until the lag is 0 (the producer shares the cores); then the
rebuild of all those topics into a fresh schema. Everything
runs on its own topic and database prefix, removed afterwards unless --keep.

To try a change on one national load (ten minutes to load): `bench.profile_apply ... --keep F` keeps a
loaded database; `OSMS_DB_PREFIX=<the prefix it prints> ... --reuse F` runs this benchmark on it (the
database is kept; the topics are this run's own).
"""
from __future__ import annotations

import argparse
import asyncio
import calendar
import itertools
import os
import pickle
import random
import statistics
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUN = f"{int(time.time())}"
os.environ.setdefault("OSMS_TOPIC_PREFIX", f"benchfin{RUN}.")
os.environ.setdefault("OSMS_DB_PREFIX", f"osmsbenchfin{RUN}_")

import asyncpg  # noqa: E402
import httpx  # noqa: E402

from bench.auth import admin_headers  # noqa: E402
from bench.population import Population, Scale  # noqa: E402
from services.common.bootstrap import remove_prefixed  # noqa: E402
from services.common.db import prepare_database  # noqa: E402
from services.common.events import (ContributionPaid, InsuredPeriod, PatientAttached, VisitRecorded,  # noqa: E402
                                    new_event)
from services.common.outbox import make_producer  # noqa: E402
from services.common.settings import get_settings  # noqa: E402
from services.common.topics import delete_topics, ensure_topics  # noqa: E402
from services.financing import rebuild, store  # noqa: E402
from services.financing.projection import PersonState, deltas  # noqa: E402

TODAY = date(2026, 11, 25)
AUTH: dict[str, str] = {}  # an admin key of this run's database, set in main()


def synthetic_state(pop: Population, person, rng: random.Random) -> PersonState:
    """Attached for up to 6 years, visits over the last 3 years, an insured timeline (current for
    the insured, lapsed some months ago for the others)."""
    s = PersonState(birth=person.birth_date.toordinal(), sex=person.sex)
    since = max(person.birth_date, TODAY - timedelta(days=rng.randrange(6 * 365)))
    s.versions = {1: (person.clinic_id, since.toordinal())}
    s.visits = [d.toordinal() for d in pop.visits_of(person, rng, days=3 * 365) if d >= since]
    # Cover runs in whole months (domain.md): from the first of a month to the last day of the month
    # that ends the grace after the latest covered month. The insured paid October (due by 25
    # November): covered until the end of February 2027; the others stopped 1 to 30 months ago.
    start = month_start(since - timedelta(days=rng.randrange(400)))
    if person.insured:
        end = month_end(TODAY.year, TODAY.month - 1 + COVER_AFTER)
    else:
        end = month_end(TODAY.year, TODAY.month - rng.randrange(1, 31))
    if end > start:
        s.status_version, s.insured = 1, [(start.toordinal(), end.toordinal() + 1)]
    return s


# A person is insured through the month after the latest covered month L, then has 3 months of grace
# (domain.md, "Insured status"): cover ends on the last day of L + 4.
COVER_AFTER = 4


def month_start(d: date) -> date:
    return d.replace(day=1)


def month_end(year: int, month: int) -> date:
    """The last day of a month; `month` may run past 12 or below 1."""
    y, m = divmod(year * 12 + month - 1, 12)
    return date(y, m + 1, calendar.monthrange(y, m + 1)[1])


# People the event mixes are drawn from: as many as a few hundred thousand events meet, so that, as in
# a real day, most events of a batch are about different people (a small sample put several events of
# one person into each batch, and kept their rows in the caches: both flattered the rates).
SAMPLE = 500_000


async def load(settings, pop: Population, people: int, keep: list | None = None, keep_max: int = 0,
               sample_size: int = SAMPLE) -> list:
    """COPY persons, clinics and calendars; returns a sample of about `sample_size` people for the
    event mix (and puts the first `keep_max` people into `keep`)."""
    conn = await asyncpg.connect(settings.database_dsn("financing"))
    rng = random.Random(11)
    numbers = {c: i + 1 for i, c in enumerate(pop.clinic_ids)}
    sample = []
    started, done = time.perf_counter(), 0
    try:
        await conn.execute("TRUNCATE fin_persons, fin_clinics, fin_counts, fin_cells, fin_visits")
        await conn.copy_records_to_table("fin_clinics", columns=["clinic_no", "clinic_id", "region", "name"],
                                         records=[(n, c, "bench", c) for c, n in numbers.items()])
        await conn.execute("SELECT setval(pg_get_serial_sequence('fin_clinics', 'clinic_no'), $1)", len(numbers))
        persons, calendars = [], deltas()

        async def flush():
            nonlocal persons, calendars
            await conn.copy_records_to_table("fin_persons", columns=["iin", "history"], records=persons)
            await conn.copy_records_to_table(
                "fin_counts", columns=["clinic_no", "grain", "bucket", "attached", "active", "insured"],
                records=[(no, g, date.fromordinal(b), a, x, y)
                         for no, g, b, a, x, y in zip(*calendars.count_columns(numbers))])
            await conn.copy_records_to_table(
                "fin_cells", columns=["clinic_no", "grain", "bucket", "people"],
                records=[(numbers[c], g, date.fromordinal(b), v) for c, g, b, v in calendars.cell_vectors()])
            persons, calendars = [], deltas()

        clinic = None
        for person in pop.people():
            if person.clinic_id != clinic and len(persons) >= 50_000:
                await flush()     # clinic by clinic: a clinic's calendar rows are complete when flushed
            clinic = person.clinic_id
            state = synthetic_state(pop, person, rng)
            calendars.timeline(state)
            persons.append((person.iin, state.dumps()))
            if rng.random() < sample_size / people:    # drawn even when 0: the same data at any size
                sample.append(person)
            if keep is not None and len(keep) < keep_max:
                keep.append(person)
            done += 1
            if done % 500_000 == 0:
                print(f"  loaded {done:,} people ({done / (time.perf_counter() - started):,.0f}/s)", flush=True)
        await flush()
        await conn.execute("ANALYZE")
        rows = await conn.fetchval("SELECT (SELECT count(*) FROM fin_counts) + (SELECT count(*) FROM fin_cells)")
        print(f"loaded {done:,} people, {len(numbers):,} clinics, {rows:,} calendar rows "
              f"in {time.perf_counter() - started:.0f} s", flush=True)
    finally:
        await conn.close()
    return sample


WORKERS: list[subprocess.Popen] = []


def start_service(port: int, consumers: int = 0) -> subprocess.Popen:
    """The financing service; with `consumers` > 0 its consumer runs as that many worker processes
    of one group instead of inside the HTTP process (they share the partitions, and the cores)."""
    env = {**os.environ, "OSMS_FINANCING_PORT": str(port), "OSMS_LOG_LEVEL": "WARNING"}
    if consumers:
        env["OSMS_RUN_CONSUMERS"] = "false"
        for _ in range(consumers):
            WORKERS.append(subprocess.Popen([sys.executable, "-m", "services.common.worker", "financing", "consumers"],
                                            cwd=ROOT, env=env))
    proc = subprocess.Popen([sys.executable, "-m", "services.common.serve", "financing"], cwd=ROOT, env=env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError("financing did not become ready")


def stop_service(proc: subprocess.Popen | None) -> None:
    if proc:
        proc.terminate()
    for w in WORKERS:
        w.terminate()
    for p in ([proc] if proc else []) + WORKERS:
        p.wait(timeout=30)
    WORKERS.clear()


async def wait_applied(port: int) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10, headers=AUTH) as client:
        while True:
            r = await client.get("/v1/consumer-lag")
            if r.status_code == 200 and sum(p["lag"] for p in r.json()) == 0:
                return
            await asyncio.sleep(0.05)


def query_latency(port: int, clinics: list[str], n: int) -> dict:
    rng = random.Random(5)
    out = []
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10, headers=AUTH) as client:
        for i in range(n + 50):
            clinic = rng.choice(clinics)
            on = TODAY - timedelta(days=rng.randrange(3 * 365))
            t = time.perf_counter()
            r = client.get(f"/v1/clinics/{clinic}/financing", params={"date": on.isoformat()})
            if i >= 50:      # warm-up excluded
                out.append(time.perf_counter() - t)
            assert r.status_code == 200, r.text
    out.sort()
    return {"p50_ms": out[len(out) // 2] * 1000, "p99_ms": out[int(len(out) * 0.99)] * 1000,
            "mean_ms": statistics.fmean(out) * 1000}


# Versions of the moves and statuses the mixes make: each newer than any before it, as the registry's
# person_version and the contributions service's status_version are, so that no event of a mix is
# outranked by one of an earlier mix on the same people (a later process starts from a later clock).
_versions = itertools.count(time.time_ns() // 1000)

# (visits, contribution statuses, moves between clinics): shares of the events.
# STRESS_MIX, the benchmarks' default since they began, is heavy in moves, the costliest event (a
# move rewrites the future of the person's cells in two clinics). REAL_MIX follows a year of the
# nation: 20.5 million people x 4.5 visits = 92 million visits; a status for each insured person
# each month their contributions arrive, 83.6% x 20.5 million x 12 = 206 million; about a million
# changes of clinic (the annual campaign, new addresses, newborns).
STRESS_MIX = (0.8, 0.1, 0.1)
REAL_MIX = (0.307, 0.690, 0.003)


def parse_mix(text: str) -> tuple[float, float, float]:
    """'0.8,0.1,0.1' -> shares of visits, statuses and moves (they must add up to 1); 'real': REAL_MIX."""
    if text == "real":
        return REAL_MIX
    shares = tuple(float(x) for x in text.split(","))
    if len(shares) != 3 or min(shares) < 0 or abs(sum(shares) - 1) > 1e-9:
        raise argparse.ArgumentTypeError("three shares (visits, statuses, moves) that add up to 1")
    return shares


async def read_cover(settings, sample) -> dict[str, list[tuple[int, int]]]:
    """The sample's insured timelines as the projection holds them now: what the next contribution
    status of each person extends."""
    conn = await asyncpg.connect(settings.database_dsn("financing"))
    try:
        rows = await conn.fetch("SELECT iin, history FROM fin_persons WHERE iin = ANY($1::text[])",
                                [p.iin for p in sample])
    finally:
        await conn.close()
    return {r["iin"]: PersonState.loads(r["history"]).insured for r in rows}


def next_cover(periods: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The insured timeline ([from, until + 1) ordinals) after the person's next monthly contribution:
    a person covered today has the end of cover moved to the end of the next month, as a month's
    payroll wave does for nearly everyone at once; a person whose cover lapsed pays the current month
    and is covered from its first day to the end of the month COVER_AFTER months later."""
    if periods and periods[-1][1] > TODAY.toordinal():
        last = date.fromordinal(periods[-1][1] - 1)
        return periods[:-1] + [(periods[-1][0], month_end(last.year, last.month + 1).toordinal() + 1)]
    start, end = month_start(TODAY), month_end(TODAY.year, TODAY.month + COVER_AFTER)
    if periods and periods[-1][1] >= start.toordinal():       # the lapse ended this month: one stretch
        return periods[:-1] + [(periods[-1][0], end.toordinal() + 1)]
    return periods + [(start.toordinal(), end.toordinal() + 1)]


def event_mix(sample, clinics: list[str], n: int, rng: random.Random, tag: str = "",
              mix: tuple[float, float, float] = STRESS_MIX, *, cover: dict):
    """Visits, contribution statuses and moves in the shares `mix` gives, for loaded people (ids
    carry `tag`). `cover` (read_cover) holds the sample's insured timelines; each status extends the
    person's as the contributions service would, and the new timeline is kept there for the next."""
    visits, statuses = mix[0], mix[0] + mix[1]
    for i in range(n):
        p = rng.choice(sample)
        u = rng.random()
        if u < visits:
            data = VisitRecorded(clinic_id=p.clinic_id, visit_id=f"b{RUN}{tag}-{i}", iin=p.iin,
                                 date=TODAY - timedelta(days=rng.randrange(30)), kind="consultation")
            yield new_event("visit-recorded", data, producer="bench", key=p.iin)
        elif u < statuses:
            periods = cover[p.iin] = next_cover(cover.get(p.iin, []))
            until = date.fromordinal(periods[-1][1] - 1)
            data = ContributionPaid(iin=p.iin, payer_kind="self", status="insured", reason="current_coverage",
                                    status_as_of=TODAY, insured_until=until,
                                    last_covered_month=f"{month_end(until.year, until.month - COVER_AFTER):%Y-%m}",
                                    status_version=next(_versions),
                                    insured_periods=[InsuredPeriod(**{"from": date.fromordinal(a),
                                                                      "until": date.fromordinal(b - 1)})
                                                     for a, b in periods])
            yield new_event("contribution-paid", data, producer="bench", key=p.iin)
        else:
            data = PatientAttached(attachment_id=f"b{RUN}{tag}-{i}", iin=p.iin, clinic_id=rng.choice(clinics),
                                   reason="choice", effective_date=TODAY - timedelta(days=rng.randrange(60)),
                                   birth_date=p.birth_date, sex=p.sex, person_version=next(_versions))
            yield new_event("patient-attached", data, producer="bench", key=p.iin)


async def produce(settings, events) -> float:
    """Sends the events as the relays would; returns the seconds it took."""
    producer = make_producer(settings)
    await producer.start()
    started = time.perf_counter()
    try:
        futures = [await producer.send(settings.topic(e.topic), e.payload, key=e.key.encode()) for e in events]
        for f in futures:
            await f
    finally:
        await producer.stop()
    return time.perf_counter() - started


async def drain_rate(port: int, n: int) -> dict:
    """With `n` events waiting on the topics when the consumers start: the rate from the first
    applied batch to the last, read from /v1/consumer-lag every 100 ms (the first batch and the
    consumers' start-up are left out; nothing else runs meanwhile). Each look costs the service and
    this process CPU: every 20 ms, they took 0.15 of the two cores from the consumers. Also the rate of
    the drain's middle, from the look that finds a tenth of the timed events applied to the one that
    finds nine tenths: without the second consumer's first batch and the last partitions' tail, whose
    share of the whole falls as the backlog grows."""
    looks: list[tuple[float, int]] = []
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10, headers=AUTH) as client:
        while True:
            r = await client.get("/v1/consumer-lag")
            now = time.perf_counter()
            lag = sum(p["lag"] for p in r.json()) if r.status_code == 200 else n
            if looks or lag < n:
                looks.append((now, lag))
            if looks and lag == 0:
                break
            await asyncio.sleep(0.1)
    (t0, timed), (t1, _) = looks[0], looks[-1]
    if timed == 0:
        raise SystemExit(f"the backlog of {n:,} events was applied before its first look at the lag: "
                         "too small to time; give --events more")
    ta, la = next((t, lag) for t, lag in looks if timed - lag >= timed / 10)
    tb, lb = next((t, lag) for t, lag in looks if timed - lag >= timed * 9 / 10)
    return {"events": timed, "seconds": t1 - t0, "events_per_s": timed / (t1 - t0),
            "middle_events": la - lb, "middle_seconds": tb - ta, "middle_per_s": (la - lb) / (tb - ta) if tb > ta else None}


async def apply_rate(settings, port: int, sample, clinics: list[str], n: int, mix, cover: dict) -> dict:
    """Events produced while the consumers run (the producer shares the cores): from the first send
    to the last applied."""
    events = list(event_mix(sample, clinics, n, random.Random(3), tag="live", mix=mix, cover=cover))
    started = time.perf_counter()
    produced = await produce(settings, events)     # every event acknowledged: the lag counts them all
    await wait_applied(port)
    took = time.perf_counter() - started
    return {"events": n, "produce_s": produced, "seconds": took, "events_per_s": n / took}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=20_500_000)
    parser.add_argument("--clinics", type=int, default=3_000)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--queries", type=int, default=2_000)
    parser.add_argument("--port", type=int, default=0, help="the service's port; a free one by default")
    parser.add_argument("--keep", action="store_true", help="keep the database and topics")
    parser.add_argument("--reuse", metavar="FILE",
                        help="run on a database kept by bench.profile_apply --keep FILE (same OSMS_DB_PREFIX)")
    parser.add_argument("--consumers", type=int, default=0,
                        help="run the consumer as this many worker processes (0: inside the HTTP process)")
    parser.add_argument("--warmup", type=int, default=0,
                        help="first apply this many events (not timed), as a projection that has been live a "
                             "while has them: PostgreSQL's caches then hold the pages events touch")
    parser.add_argument("--mix", type=parse_mix, default=STRESS_MIX,
                        help="shares of visits, contribution statuses and moves; 'real' for a year of the "
                             "nation's shares (REAL_MIX); default 0.8,0.1,0.1")
    args = parser.parse_args()
    settings = get_settings()
    pop = Population(Scale("bench", "national", args.people, args.clinics, insured_share=0.90))
    print(f"financing bench: {args.people:,} people, {args.clinics:,} clinics, event mix "
          f"{'/'.join(f'{x:g}' for x in args.mix)} (visits/statuses/moves) "
          f"(db prefix {settings.db_prefix}, topic prefix {settings.topic_prefix})", flush=True)
    await ensure_topics(settings)
    await prepare_database(settings, "financing", Path(store.__file__).parent / "migrations")
    AUTH.update(await admin_headers(settings, "financing"))
    proc = None
    try:
        if args.reuse:
            sample = pickle.loads(Path(args.reuse).read_bytes())
        else:
            sample = await load(settings, pop, args.people)
        cover = await read_cover(settings, sample)
        if not args.port:
            import socket
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", 0))
                args.port = sock.getsockname()[1]
        if args.warmup:
            proc = start_service(args.port, args.consumers)
            started = time.perf_counter()
            await produce(settings, list(event_mix(sample, pop.clinic_ids, args.warmup, random.Random(6), tag="warm",
                                                          mix=args.mix, cover=cover)))
            await wait_applied(args.port)
            print(f"warm-up: {args.warmup:,} events produced and applied in {time.perf_counter() - started:.1f} s "
                  f"(not timed)", flush=True)
            stop_service(proc)
            proc = None
        backlog = list(event_mix(sample, pop.clinic_ids, args.events, random.Random(4), tag="backlog", mix=args.mix,
                                 cover=cover))
        await produce(settings, backlog)     # waiting on the topics for the consumers' first start
        del backlog
        proc = start_service(args.port, args.consumers)
        d = await drain_rate(args.port, args.events)
        print(f"applied a backlog from Kafka: {d['events']:,} events in {d['seconds']:.2f} s: "
              f"{d['events_per_s']:,.0f} events/s", flush=True)
        if d["middle_per_s"]:
            print(f"  its middle (a tenth to nine tenths applied): {d['middle_events']:,} events in "
                  f"{d['middle_seconds']:.2f} s: {d['middle_per_s']:,.0f} events/s", flush=True)
        q = query_latency(args.port, pop.clinic_ids, args.queries)
        print(f"clinic query over HTTP ({args.queries} sequential): p50 {q['p50_ms']:.2f} ms, "
              f"p99 {q['p99_ms']:.2f} ms, mean {q['mean_ms']:.2f} ms", flush=True)
        a = await apply_rate(settings, args.port, sample, pop.clinic_ids, args.events, args.mix, cover)
        print(f"produced and applied at once: {a['events']:,} events in {a['seconds']:.1f} s: "
              f"{a['events_per_s']:,.0f} events/s (producing took {a['produce_s']:.1f} s)", flush=True)
        q2 = query_latency(args.port, pop.clinic_ids, min(args.queries, 500))
        print(f"clinic query after the events: p50 {q2['p50_ms']:.2f} ms, p99 {q2['p99_ms']:.2f} ms", flush=True)
        r = await rebuild.rebuild(settings, compare=False)
        print(f"rebuild from the topics: {r.events:,} events in {r.seconds:.1f} s: {r.rate:,.0f} events/s", flush=True)
    finally:
        stop_service(proc)
        if args.reuse and not args.keep:
            await delete_topics(settings)
        elif not args.keep:
            await remove_prefixed(settings)


if __name__ == "__main__":
    asyncio.run(main())
