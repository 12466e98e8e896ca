"""`make bench` (region) / `make bench-national`: the system measured beside the machine's raw limits.

Runs everything on its own topic and database prefixes (removed afterwards), so no real data is
touched. Setup uses a bulk loader: at region scale patient-attached and each visitor's latest visit
are produced straight onto Kafka, as the registry's relay would, and financing applies them; at
national scale (--setup copy) the financing projection is COPYed into its tables. Everything
measured goes through the public HTTP APIs as real clients would: payrolls, state contributions,
visits in 1,000-visit batches, appeals, and the operators' queries. Writes
bench/results/<scale>-<date>.json and .md.
"""
from __future__ import annotations

import argparse
import asyncio
from collections import Counter
import gc
import json
import os
import platform
import random
import re
import subprocess
import sys
import time
import uuid
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUN = f"{int(time.time())}"
os.environ.setdefault("OSMS_TOPIC_PREFIX", f"bench{RUN}.")
os.environ.setdefault("OSMS_DB_PREFIX", f"osmsbench{RUN}_")

import httpx  # noqa: E402
import orjson  # noqa: E402
from tqdm import tqdm  # noqa: E402

from bench import cpu, raw  # noqa: E402
from bench.payroll_batches import batched, refused  # noqa: E402
from bench.population import KYZYLORDA, NATION, SMALL, Population  # noqa: E402
from services.common import keys as keycli  # noqa: E402
from services.common.bootstrap import bootstrap, remove_prefixed  # noqa: E402
from services.common.events import PatientAttached, VisitRecorded, new_event  # noqa: E402
from services.common.outbox import make_producer  # noqa: E402
from services.common.settings import get_settings  # noqa: E402
from bench.processes import ServiceProcess  # noqa: E402

TODAY = date(2026, 11, 25)
PERIOD = "2026-10"
PERIOD_END = date(2026, 10, 31)
SCALES = {"small": SMALL, "region": KYZYLORDA, "nation": NATION}


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))] if values else float("nan")


PAYROLL_BATCH = 200   # small employers' payrolls a gateway batch


class Bench:
    def __init__(self, scale, seed: int, visits: int, financing_workers: int = 1, setup: str = "kafka",
                 payroll_rows: int = 0):
        self.scale = scale
        self.pop = Population(scale, seed=seed, today=TODAY)
        self.settings = get_settings()
        self.visits_to_post = visits
        self.setup = setup                  # kafka: produced and applied by financing; copy: COPYed in
        self.payroll_rows = payroll_rows    # 0: every insured working-age person kept
        self.results: dict = {"scale": scale.name, "people": scale.people, "clinics": scale.clinics,
                              "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                              "machine": f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}"}
        self.procs: dict[str, ServiceProcess] = {}
        self.financing_workers = financing_workers   # as `make run` starts them
        self.results["financing_consumers"] = 1 + financing_workers
        self.workers: list[subprocess.Popen] = []
        self.headers: dict[str, str] = {}

    # -- helpers -----------------------------------------------------------------------------
    def url(self, service: str) -> str:
        return self.procs[service].url

    async def lag_zero(self, client: httpx.AsyncClient, timeout: float = 3600, bar: tqdm | None = None) -> float:
        started = time.perf_counter()
        while time.perf_counter() - started < timeout:
            r = await client.get(self.url("financing") + "/v1/consumer-lag", headers=self.headers)
            if r.status_code == 200:
                lag = sum(p["lag"] for p in r.json())
                if bar is not None:
                    bar.set_postfix(lag=lag)
                if lag == 0:
                    return time.perf_counter()
            await asyncio.sleep(0.05)
        raise RuntimeError("financing did not catch up")

    async def end_offsets_total(self, topic: str) -> int:
        from aiokafka import AIOKafkaConsumer, TopicPartition

        c = AIOKafkaConsumer(bootstrap_servers=self.settings.kafka_bootstrap)
        await c.start()
        try:
            tps = [TopicPartition(self.settings.topic(topic), p) for p in range(6)]
            return sum((await c.end_offsets(tps)).values())
        finally:
            await c.stop()

    def named_pids(self) -> dict[int, str]:
        named = {p.proc.pid: name for name, p in self.procs.items()}
        named.update({w.pid: "financing (worker)" for w in self.workers})
        named[os.getpid()] = "benchmark driver"
        return named

    # -- phases ------------------------------------------------------------------------------
    async def raw_limits(self) -> None:
        n = 200_000
        with tqdm(total=2, desc="raw limits", unit="test") as bar:
            self.results["raw_kafka"] = await raw.kafka_produce_consume(self.settings, n)
            bar.update()
            self.results["raw_copy"] = await raw.pg_copy(self.settings, 500_000)
            bar.update()

    async def start(self) -> None:
        with tqdm(total=6, desc="start services", unit="step") as bar:
            await bootstrap(self.settings)
            bar.update()
            key = await keycli.create(self.settings, "admin", None, "bench")
            self.headers = {"Authorization": f"Bearer {key}"}
            bar.update()
            for name in ("contributions", "registry", "financing", "feedback"):
                self.procs[name] = ServiceProcess(name).start()
                bar.update()
            for _ in range(self.financing_workers):
                self.workers.append(subprocess.Popen(
                    [sys.executable, "-m", "services.common.worker", "financing", "consumers"], cwd=ROOT,
                    env=self.procs["financing"].env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

    async def put_clinics(self, client: httpx.AsyncClient) -> None:
        """The population's clinics through the registry, as its operators register them."""
        reg = self.url("registry")
        for cid, settlement in tqdm(list(zip(self.pop.clinic_ids, self.pop.clinic_settlement)), desc="clinics", unit="clinic"):
            r = await client.put(f"{reg}/v1/clinics/{cid}", headers=self.headers,
                                 json={"name": f"Clinic {cid}", "region": self.scale.region, "settlement": settlement})
            r.raise_for_status()

    async def setup_population(self, client: httpx.AsyncClient) -> None:
        """Clinics over HTTP; attachments and each visitor's latest visit bulk-produced onto Kafka."""
        await self.put_clinics(client)
        producer = make_producer(self.settings)
        await producer.start()
        rng = random.Random(7)
        self.people = []
        sent = 0
        started = time.perf_counter()
        futures = []
        with tqdm(total=self.scale.people, desc="bulk load (Kafka)", unit="person") as bar:
            for p in self.pop.people():
                if len(self.people) < 3_000_000:
                    self.people.append(p)
                att = PatientAttached(attachment_id=str(uuid.uuid4()), iin=p.iin, clinic_id=p.clinic_id,
                                      reason="choice", effective_date=date(2025, 1, 1), birth_date=p.birth_date,
                                      sex=p.sex, person_version=1)
                ev = new_event("patient-attached", att, producer="bench-loader", key=p.iin)
                futures.append(await producer.send(self.settings.topic("patient-attached"), ev.payload, key=p.iin.encode()))
                sent += 1
                visits = self.pop.visits_of(p, rng)
                if visits:
                    v = VisitRecorded(clinic_id=p.clinic_id, visit_id=f"h-{p.iin}", iin=p.iin, date=visits[-1],
                                      kind="consultation")
                    ev = new_event("visit-recorded", v, producer="bench-loader", key=p.iin)
                    futures.append(await producer.send(self.settings.topic("visit-recorded"), ev.payload, key=p.iin.encode()))
                    sent += 1
                if len(futures) >= 20000:
                    await asyncio.gather(*futures)
                    futures = []
                bar.update()
            await asyncio.gather(*futures)
        await producer.stop()
        produced = time.perf_counter()
        with tqdm(desc="financing applies bulk load", unit="poll") as bar:
            done = await self.lag_zero(client, bar=bar)
        self.results["bulk_load"] = {"events": sent, "produce_s": produced - started,
                                     "applied_per_s_after_produce": sent / (done - started)}

    async def setup_population_copy(self, client: httpx.AsyncClient) -> None:
        """National scale: the financing projection COPYed straight into its tables (what financing
        would hold after applying every attachment and visit), clinics over HTTP as usual."""
        from bench.bench_financing import load

        started = time.perf_counter()
        self.people = []
        await load(self.settings, self.pop, self.scale.people, keep=self.people, keep_max=3_000_000, sample_size=0)
        loaded = time.perf_counter()
        await self.put_clinics(client)
        await self.lag_zero(client)
        self.results["bulk_load"] = {"mode": "copy", "people": self.scale.people, "copy_s": loaded - started}

    async def payrolls(self, client: httpx.AsyncClient) -> None:
        """A month of payrolls: insured working-age people through their employers; the rest of the
        insured through state contributions (children, pensioners)."""
        workers, state = [], []
        for p in self.people:
            age = (TODAY - p.birth_date).days // 365
            if not p.insured or p.birth_date > PERIOD_END:   # a state contribution is for people born by then
                continue
            (workers if 18 <= age <= 62 else state).append(p)
        if self.payroll_rows:
            workers, state = workers[:self.payroll_rows], state[:self.payroll_rows // 4]
        rng = random.Random(11)
        bodies = []
        i = 0
        for bin_, size in self.pop.employers(len(workers)):
            chunk = workers[i:i + size]
            i += size
            for j in range(0, len(chunk), 10_000):
                rows = [{"iin": p.iin, "income": f"{rng.randint(85_000, 900_000)}.00",
                         "kind": "employee" if rng.random() < 0.95 else "civil_contract"} for p in chunk[j:j + 10_000]]
                bodies.append({"employer_bin": bin_, "period": PERIOD, "reference": f"pr-{bin_}-{PERIOD}-{j}",
                               "rows": rows})
        # Small employers' payrolls are batched per request as a payroll gateway sends them.
        requests = batched(bodies, PAYROLL_BATCH)
        sem = asyncio.Semaphore(8)
        rows_total = sum(len(b["rows"]) for b in bodies)
        bar = tqdm(total=rows_total, desc="payrolls (HTTP)", unit="row")
        failures = 0

        async def post(path: str, body: bytes, rows: int):
            nonlocal failures
            async with sem:
                r = await client.post(self.url("contributions") + path, content=body, timeout=120,
                                      headers={**self.headers, "content-type": "application/json"})
                if refused(r.status_code, r.content):
                    failures += 1
                bar.update(rows)

        before = await self.end_offsets_total("contribution-paid")
        started = time.perf_counter()
        await asyncio.gather(*(post(*request) for request in requests))
        accepted = time.perf_counter()
        bar.close()
        # State contributions for the insured outside working age.
        surl = self.url("contributions") + "/v1/state-contributions"
        for j in tqdm(range(0, len(state), 10_000), desc="state contributions (HTTP)", unit="request"):
            chunk = state[j:j + 10_000]
            cat = "children" if (TODAY - chunk[0].birth_date).days // 365 < 18 else "pensioners"
            r = await client.post(surl, headers=self.headers, timeout=120, json={
                "budget": "republican", "category": cat, "period": PERIOD, "reference": f"st-{j}",
                "iins": [p.iin for p in chunk]})
            failures += r.status_code != 201
        expected = before + rows_total + len(state)
        while await self.end_offsets_total("contribution-paid") < expected:
            if time.perf_counter() - accepted > 600:
                break
            await asyncio.sleep(0.1)
        on_kafka = time.perf_counter()
        applied = await self.lag_zero(client)
        self.results["payrolls"] = {
            "payrolls": len(bodies), "requests": len(requests), "rows": rows_total, "failed_requests": failures,
            "rows_per_s_accepted": rows_total / (accepted - started),
            "events_on_kafka_s_after_last_accept": on_kafka - accepted,
            "state_contribution_people": len(state),
            "applied_in_financing_s_after_start": applied - started}

    async def visits(self, client: httpx.AsyncClient) -> None:
        """A day's worth of visits in 1,000-visit batches from many clinics at once."""
        rng = random.Random(13)
        url = self.url("registry") + "/v1/visits"
        batches = []
        people = self.people
        # Each person once: drawn with replacement, an eighth of the day's visits repeated a person's visit of the
        # same day, clinic and kind, which the padded-records checks hold (a real day has a fraction of a percent).
        chosen = rng.sample(people, self.visits_to_post // 1000 * 1000)
        # Practitioners as a clinic has them: at most 15 patients each on average that day (the norm is 24), so the
        # padded-records checks hold what they would hold in a real region, not the generator's artefacts.
        per_clinic = Counter(p.clinic_id for p in chosen)
        practitioners = {c: -(-n // 15) for c, n in per_clinic.items()}
        for b in range(self.visits_to_post // 1000):
            visits = []
            for k in range(1000):
                p = chosen[b * 1000 + k]
                visits.append({"visit_id": f"d-{b}-{k}", "clinic_id": p.clinic_id, "iin": p.iin,
                               "date": TODAY.isoformat(), "kind": "consultation",
                               "practitioner_id": f"P-{rng.randrange(practitioners[p.clinic_id])}"})
            # Encoded before the clock starts, as a clinic system sends what it has: the driver shares
            # the two cores with the services, and its own work is not theirs.
            batches.append(orjson.dumps({"visits": visits}))
        sem = asyncio.Semaphore(8)
        bar = tqdm(total=len(batches) * 1000, desc="visits (HTTP, 8 clients)", unit="visit")
        recorded = 0
        headers = {**self.headers, "Content-Type": "application/json"}

        async def post(body: bytes):
            nonlocal recorded
            async with sem:
                r = await client.post(url, content=body, headers=headers, timeout=120)
                r.raise_for_status()
                recorded += sum(1 for x in orjson.loads(r.content)["results"] if x["status"] == "recorded")
                bar.update(1000)

        cpu_before = cpu.snapshot(self.named_pids())
        started = time.perf_counter()
        await asyncio.gather(*(post(b) for b in batches))
        accepted = time.perf_counter()
        bar.close()
        applied = await self.lag_zero(client)
        self.results["visits_cpu_us_per_event"] = cpu.per_event_us(cpu_before, cpu.snapshot(self.named_pids()),
                                                                   recorded)
        self.results["visits"] = {"visits": len(batches) * 1000, "recorded": recorded,
                                  "http_accepted_per_s": recorded / (accepted - started),
                                  "end_to_end_per_s": recorded / (applied - started),
                                  "applied_s_after_last_accept": applied - accepted}

    async def freshness(self, client: httpx.AsyncClient, seconds: float = 20, rate: int = 2000) -> None:
        """p50/p99 from an accepted visit to the changed figure in financing, under a steady load."""
        reg, fin = self.url("registry"), self.url("financing")
        probe_clinic = "PROBE-0001"
        await client.put(f"{reg}/v1/clinics/{probe_clinic}", headers=self.headers,
                         json={"name": "Probe", "region": self.scale.region, "settlement": "urban"})
        from services.common.ids import make_iin

        # Probe people the synthetic population cannot hold: it counts serials up from 0 per birth
        # date and sex (a few hundred at national scale), the probes count down from 9999.
        probes = [x for x in (make_iin(date(1985, 5, 5), "F", serial) for serial in range(9999, 9000, -1)) if x]
        probes = probes[: int(seconds * 4) + 5]
        for person in probes:
            r = await client.post(f"{reg}/v1/attachments", headers=self.headers, json={
                "iin": person, "clinic_id": probe_clinic, "reason": "choice", "effective_date": "2026-01-05",
                "backdate_reason": "benchmark probe people"})
            r.raise_for_status()
        await self.lag_zero(client)
        rng = random.Random(17)
        stop = asyncio.Event()

        async def background():
            n = 0
            tick = 0.1
            per_tick = int(rate * tick)
            next_at = time.perf_counter()
            while not stop.is_set():
                visits = []
                for k in range(per_tick):
                    p = self.people[rng.randrange(len(self.people))]
                    visits.append({"visit_id": f"f-{n}-{k}", "clinic_id": p.clinic_id, "iin": p.iin,
                                   "date": TODAY.isoformat(), "kind": "consultation"})
                n += 1
                await client.post(f"{reg}/v1/visits", json={"visits": visits}, headers=self.headers)
                next_at += tick
                await asyncio.sleep(max(0.0, next_at - time.perf_counter()))

        async def figure() -> int:
            r = await client.get(f"{fin}/v1/clinics/{probe_clinic}/financing", params={"date": TODAY.isoformat()},
                                 headers=self.headers)
            return r.json()["active"] if r.status_code == 200 else -1

        load = asyncio.create_task(background())
        await asyncio.sleep(1)
        samples = []
        timeouts = 0
        for i, person in enumerate(tqdm(probes[: int(seconds * 4)], desc="freshness probes at 2,000 visits/s")):
            base = await figure()     # only the probes visit this clinic
            r = await client.post(f"{reg}/v1/visits", headers=self.headers, json={"visits": [{
                "visit_id": f"probe-{i}", "clinic_id": probe_clinic, "iin": person, "date": TODAY.isoformat(),
                "kind": "consultation"}]})
            r.raise_for_status()
            accepted = time.perf_counter()
            while await figure() <= base:
                await asyncio.sleep(0.005)
                if time.perf_counter() - accepted > 30:
                    timeouts += 1
                    break
            samples.append(time.perf_counter() - accepted)
            await asyncio.sleep(0.1)
        stop.set()
        await load
        self.results["freshness"] = {"visits_per_s_background": rate, "probes": len(samples), "timeouts": timeouts,
                                     "p50_ms": pct(samples, 50) * 1000, "p99_ms": pct(samples, 99) * 1000}

    async def appeals(self, client: httpx.AsyncClient, n: int = 2000) -> None:
        url = self.url("feedback") + "/v1/appeals"
        rng = random.Random(19)
        sem = asyncio.Semaphore(8)
        ok = 0

        async def post(i):
            nonlocal ok
            p = self.people[rng.randrange(len(self.people))]
            complaint = rng.random() < 0.28
            body = {"channel": rng.choice(["call_center", "mobile_app", "website", "telegram", "clinic_desk"]),
                    "kind": "complaint" if complaint else "consultation", "region": self.scale.region,
                    "iin": p.iin, "clinic_id": p.clinic_id, "text": "Синтетическое обращение"}
            if complaint:
                body["category"] = rng.choice(["quality_of_care", "refusal_of_care", "refusal_of_medicines", "other"])
            async with sem:
                r = await client.post(url, json=body, headers=self.headers)
                ok += r.status_code == 201

        started = time.perf_counter()
        for _ in tqdm([0], desc=f"appeals (HTTP, {n})"):
            await asyncio.gather(*(post(i) for i in range(n)))
        self.results["appeals"] = {"appeals": n, "accepted": ok, "per_s": n / (time.perf_counter() - started)}

    async def queries(self, client: httpx.AsyncClient) -> None:
        fin = self.url("financing")
        rng = random.Random(23)
        out = {}
        # At national scale the one region holds all 3,000 clinics: fewer rounds of the region-wide queries.
        wide = 300 if self.scale.clinics <= 1000 else 50
        specs = [("clinic financing", 2000, lambda: (f"{fin}/v1/clinics/{rng.choice(self.pop.clinic_ids)}/financing",
                                                     {"date": TODAY.isoformat()})),
                 ("region list (lowest active share)", wide,
                  lambda: (f"{fin}/v1/clinics", {"region": self.scale.region, "order_by": "active_share", "limit": 50})),
                 ("region totals", wide, lambda: (f"{fin}/v1/regions/{self.scale.region}/financing",
                                                 {"date": TODAY.isoformat()})),
                 ("region series, 24 months", max(wide // 5, 10),
                  lambda: (f"{fin}/v1/regions/{self.scale.region}/financing/series",
                           {"from": (TODAY.replace(day=1) - timedelta(days=700)).strftime("%Y-%m"),
                            "to": TODAY.strftime("%Y-%m")}))]
        for name, n, make in specs:
            # The first request of a kind figures the checkpoints of its dates (services.financing.checkpoints):
            # timed apart, as the cost after the calendars changed under them.
            u, params = make()
            t = time.perf_counter()
            r = await client.get(u, params=params, headers=self.headers)
            first_ms = (time.perf_counter() - t) * 1000
            if r.status_code != 200:
                out.setdefault("errors", []).append(f"{name}: {r.status_code}")
            samples = []
            for _ in tqdm(range(n), desc=f"query: {name}"):
                u, params = make()
                t = time.perf_counter()
                r = await client.get(u, params=params, headers=self.headers)
                samples.append(time.perf_counter() - t)
                if r.status_code != 200:
                    out.setdefault("errors", []).append(f"{name}: {r.status_code}")
            out[name] = {"n": n, "p50_ms": pct(samples, 50) * 1000, "p99_ms": pct(samples, 99) * 1000,
                         "first_ms": first_ms}
        self.results["queries"] = out

    def rebuild(self) -> None:
        with tqdm(total=1, desc="financing rebuild") as bar:
            started = time.perf_counter()
            extra = ["--no-compare"] if self.setup == "copy" else []
            proc = subprocess.run([sys.executable, "-m", "services.financing.rebuild", *extra], cwd=ROOT,
                                  capture_output=True, text=True, env=os.environ.copy(), timeout=7200)
            elapsed = time.perf_counter() - started
            bar.update()
        m = re.search(r"rebuilt (\d+) events in ([\d.]+) s", proc.stdout)
        self.results["rebuild"] = {"exit_code": proc.returncode, "seconds": elapsed,
                                   "events": int(m.group(1)) if m else None,
                                   "events_per_s": int(m.group(1)) / float(m.group(2)) if m and float(m.group(2)) else None,
                                   "output_tail": proc.stdout.strip().splitlines()[-5:]}

    def memory(self) -> None:
        mem = {}
        targets = {**{n: p.proc.pid for n, p in self.procs.items()},
                   **{f"financing-consumer-{i + 1}": w.pid for i, w in enumerate(self.workers)}}
        for name, pid in targets.items():
            try:
                status = Path(f"/proc/{pid}/status").read_text()
                kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM"))
                mem[name] = round(kb / 1024, 1)
            except Exception:
                mem[name] = None
        self.results["peak_memory_mb"] = mem

    async def cleanup(self) -> None:
        for w in self.workers:
            w.terminate()
            w.wait(timeout=30)
        for p in self.procs.values():
            p.stop()
        await remove_prefixed(self.settings)

    async def run(self, phases: list[str]) -> dict:
        await self.raw_limits()
        await self.start()
        try:
            limits = httpx.Limits(max_connections=32, max_keepalive_connections=32)
            async with httpx.AsyncClient(timeout=60, limits=limits) as client:
                if self.setup == "copy":
                    await self.setup_population_copy(client)
                else:
                    await self.setup_population(client)
                # The driver keeps up to 3 million people in memory: out of the collector's way, so
                # that its pauses are not timed as the services' latency.
                gc.collect()
                gc.freeze()
                if "payrolls" in phases:
                    await self.payrolls(client)
                if "visits" in phases:
                    await self.visits(client)
                if "freshness" in phases:
                    await self.freshness(client)
                if "appeals" in phases:
                    await self.appeals(client)
                await self.queries(client)
            if "rebuild" in phases:
                self.rebuild()
            self.memory()
        finally:
            await self.cleanup()
        return self.results


def markdown(r: dict) -> str:
    kafka = r["raw_kafka"]["produce_consume_per_s"]
    lines = [f"### Benchmark: {r['scale']} ({r['people']:,} people, {r['clinics']:,} clinics), {r['date']}",
             f"Machine: {r['machine']}; financing consumer processes: {r.get('financing_consumers', 1)}", "", "| measure | value | ratio |", "|---|---|---|",
             f"| raw aiokafka produce→consume ({r['raw_kafka']['bytes_each']} B messages) | {kafka:,.0f} msg/s | 1.00 |",
             f"| raw asyncpg COPY (visits shape) | {r['raw_copy']['copy_rows_per_s']:,.0f} rows/s | |"]
    b = r.get("bulk_load")
    if b and b.get("mode") == "copy":
        lines.append(f"| setup: financing projection COPYed in (not measured) | {b['people']:,} people in "
                     f"{b['copy_s']:,.0f} s | |")
    elif b:
        lines.append(f"| financing applies bulk-loaded events | {b['applied_per_s_after_produce']:,.0f} events/s | "
                     f"{b['applied_per_s_after_produce'] / kafka:.2f} × raw Kafka |")
    p = r.get("payrolls")
    if p:
        lines.append(f"| payroll rows accepted over HTTP ({p['rows']:,} rows) | {p['rows_per_s_accepted']:,.0f} rows/s | "
                     f"{p['rows_per_s_accepted'] / kafka:.2f} × raw Kafka |")
    v = r.get("visits")
    if v:
        lines.append(f"| visits accepted over HTTP ({v['visits']:,}) | {v['http_accepted_per_s']:,.0f} visits/s | |")
        lines.append(f"| end to end: HTTP accepted → applied in financing | {v['end_to_end_per_s']:,.0f} events/s | "
                     f"{v['end_to_end_per_s'] / kafka:.2f} × raw Kafka |")
    c = r.get("visits_cpu_us_per_event")
    if c:
        parts = ", ".join(f"{g} {us:.1f}" for g, us in c.items() if g != "total" and us >= 0.5)
        lines.append(f"| CPU a visit, end to end (µs, of {r['machine'].split(',')[0]}) | {c['total']:.1f}: {parts} | |")
    f = r.get("freshness")
    if f:
        late = f" ({f['timeouts']} of {f['probes']} probes not seen in 30 s)" if f.get("timeouts") else ""
        lines.append(f"| freshness at {f['visits_per_s_background']:,} visits/s, p50 / p99 | "
                     f"{f['p50_ms']:.0f} / {f['p99_ms']:.0f} ms{late} | |")
    a = r.get("appeals")
    if a:
        lines.append(f"| appeals over HTTP | {a['per_s']:,.0f} appeals/s | |")
    for name, q in r.get("queries", {}).items():
        if name != "errors":
            first = f" (the first, figuring its checkpoints: {q['first_ms']:.0f} ms)" if "first_ms" in q else ""
            lines.append(f"| query p50 / p99: {name} | {q['p50_ms']:.1f} / {q['p99_ms']:.1f} ms{first} | |")
    rb = r.get("rebuild")
    if rb:
        rate = f": {rb['events']:,} events at {rb['events_per_s']:,.0f} events/s" if rb.get("events_per_s") else ""
        lines.append(f"| projection rebuild from the topics (exit {rb['exit_code']}) | {rb['seconds']:.1f} s{rate} | |")
    mem = r.get("peak_memory_mb", {})
    if mem:
        lines.append("| peak memory (MB) | " + ", ".join(f"{k} {v}" for k, v in mem.items()) + " | |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", choices=list(SCALES), default="region")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--visits", type=int, default=200_000)
    parser.add_argument("--phases", default="payrolls,visits,freshness,appeals,rebuild")
    parser.add_argument("--financing-workers", type=int,
                        default=int(os.environ.get("OSMS_FINANCING_CONSUMER_WORKERS", 1)),
                        help="financing consumer processes beside the HTTP process's (make run starts 1)")
    parser.add_argument("--setup", choices=["kafka", "copy"], default=None,
                        help="kafka: attachments and visits produced and applied by financing (region default); "
                             "copy: the projection COPYed in (nation default)")
    parser.add_argument("--payroll-rows", type=int, default=None,
                        help="cap on payroll rows posted (nation default 300,000; region: all)")
    args = parser.parse_args()
    setup = args.setup or ("copy" if args.scale == "nation" else "kafka")
    rows = args.payroll_rows if args.payroll_rows is not None else (300_000 if args.scale == "nation" else 0)
    bench = Bench(SCALES[args.scale], args.seed, args.visits, args.financing_workers, setup, rows)
    results = asyncio.run(bench.run(args.phases.split(",")))
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    stem = f"{args.scale}-{results['date'][:10]}"
    (out / f"{stem}.json").write_text(json.dumps(results, indent=2, default=str))
    md = markdown(results)
    (out / f"{stem}.md").write_text(md)
    (out / f"latest-{args.scale}.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
