"""The crash test: a mixed load through the public APIs while every component is SIGKILLed at
random moments and started again; afterwards every 2xx answer must be reflected exactly once.

    python -m tests.chaos.chaos --cycles 20        (make chaos)

Components: the four HTTP services, the three outbox relays, the financing consumer, Kafka and
PostgreSQL (a private pair, on their own ports, so nothing else is disturbed). Traffic goes to
127.0.0.1 only; every loop is bounded in count and time.

Checks afterwards, once every outbox is empty and the consumer has caught up:
- lost: an answered (2xx) visit, attachment, payroll or appeal missing from its service's tables;
- duplicated: a payroll's rows or an appeal stored more than once;
- the financing projection against a recomputation from the source services' own tables
  (registry attachments and visits, feedback's upheld complaints, contributions' status),
  person by person and clinic by clinic.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import asyncpg
import httpx

from services.common import clock
from services.common import keys as keycli
from services.common.bootstrap import bootstrap
from services.common.settings import Settings
from tests.chaos.harness import KAFKA_PORT, PG_PORT, Component, Infra, components, wait_all_ready
from tests.support.people import bin_, clinic_id, iins

TODAY = clock.today()  # the services judge dates by this clock (UTC+5); the check uses the same day


def chaos_settings() -> Settings:
    return Settings(database_url=f"postgresql://osms@127.0.0.1:{PG_PORT}/postgres",
                    kafka_bootstrap=f"127.0.0.1:{KAFKA_PORT}", topic_prefix="", db_prefix="osms_")


@dataclass
class Ledger:
    """What the clients were told: every 2xx answer, and how the others went."""

    sent: int = 0
    accepted: int = 0
    gave_up: int = 0
    server_errors: int = 0          # 500s: never allowed
    unavailable: int = 0            # 503 with Retry-After while a dependency was down
    hangs: int = 0                  # no answer within the client's timeout
    statuses: dict[int, int] = field(default_factory=dict)
    visits: set[tuple[str, str]] = field(default_factory=set)
    attachments: dict[str, str] = field(default_factory=dict)        # attachment_id -> iin
    payrolls: dict[str, int] = field(default_factory=dict)           # reference -> rows
    appeals: dict[str, str] = field(default_factory=dict)            # idempotency key -> appeal_id
    upheld: set[str] = field(default_factory=set)                    # appeal ids answered upheld


class Load:
    def __init__(self, urls: dict[str, str], headers: dict[str, str], seed: int):
        self.urls = urls
        self.headers = headers
        self.rng = random.Random(seed)
        self.ledger = Ledger()
        self.clinics = [clinic_id("CH") for _ in range(3)]
        self.people = iins(240)
        self.where: dict[str, str] = {}          # iin -> clinic it was last attached to (accepted)
        self.last_effective: dict[str, date] = {}
        self.recorded: list[tuple[str, str, str]] = []   # (clinic, visit_id, iin) accepted
        self.employer = bin_()
        self.stop = asyncio.Event()

    async def call(self, client: httpx.AsyncClient, method: str, url: str, body: dict,
                   headers: dict | None = None, deadline: float = 90) -> httpx.Response | None:
        """Sends until a definitive answer: the same body again after a failure (writes are idempotent)."""
        started = time.monotonic()
        while time.monotonic() - started < deadline:
            self.ledger.sent += 1
            try:
                r = await client.request(method, url, json=body, headers={**self.headers, **(headers or {})})
            except httpx.TimeoutException:
                self.ledger.hangs += 1
                await asyncio.sleep(0.5)
                continue
            except httpx.TransportError:
                await asyncio.sleep(0.3)  # the process is down: connection refused
                continue
            self.ledger.statuses[r.status_code] = self.ledger.statuses.get(r.status_code, 0) + 1
            if r.status_code == 503:
                self.ledger.unavailable += 1
                await asyncio.sleep(min(float(r.headers.get("retry-after", "1")), 2.0) / 2)
                continue
            if r.status_code >= 500:
                self.ledger.server_errors += 1
                await asyncio.sleep(0.5)
                continue
            return r
        self.ledger.gave_up += 1
        return None

    async def attach(self, client):
        person = self.rng.choice(self.people)
        clinic = self.rng.choice([c for c in self.clinics if c != self.where.get(person)])
        eff = max(self.last_effective.get(person, TODAY - timedelta(days=300)) + timedelta(days=1),
                  TODAY - timedelta(days=300))
        if eff > TODAY:
            return
        r = await self.call(client, "POST", self.urls["registry"] + "/v1/attachments", {
            "iin": person, "clinic_id": clinic, "reason": "address_change", "effective_date": eff.isoformat(),
            "backdate_reason": "chaos run: history spread over the past year"})
        if r is not None and r.status_code == 201:
            self.ledger.accepted += 1
            self.ledger.attachments[r.json()["attachment_id"]] = person
            self.where[person] = clinic
            self.last_effective[person] = eff

    async def visits(self, client):
        attached = list(self.where)
        if not attached:
            return
        batch = []
        for _ in range(self.rng.randint(3, 15)):
            person = self.rng.choice(attached)
            clinic = self.where[person]
            batch.append({"visit_id": uuid.uuid4().hex[:16], "clinic_id": clinic, "iin": person,
                          "date": (TODAY - timedelta(days=self.rng.randint(0, 400))).isoformat(),
                          "kind": "consultation"})
        r = await self.call(client, "POST", self.urls["registry"] + "/v1/visits", {"visits": batch})
        if r is not None and r.status_code == 200:
            self.ledger.accepted += 1
            for v, res in zip(batch, r.json()["results"]):
                if res["status"] in ("recorded", "duplicate"):
                    self.ledger.visits.add((v["clinic_id"], v["visit_id"]))
                    self.recorded.append((v["clinic_id"], v["visit_id"], v["iin"]))

    async def payroll(self, client):
        people = self.rng.sample(self.people, 8)
        reference = f"chaos-{uuid.uuid4().hex[:12]}"
        month = TODAY.replace(day=1) - timedelta(days=1)
        r = await self.call(client, "POST", self.urls["contributions"] + "/v1/payrolls", {
            "employer_bin": self.employer, "period": f"{month:%Y-%m}", "reference": reference,
            "rows": [{"iin": p, "income": "250000.00", "kind": "employee"} for p in people]})
        if r is not None and r.status_code == 201:
            self.ledger.accepted += 1
            self.ledger.payrolls[reference] = len(people)

    async def complaint(self, client):
        if not self.recorded:
            return
        clinic, visit_id, person = self.rng.choice(self.recorded)
        key = f"chaos-{uuid.uuid4().hex[:12]}"
        r = await self.call(client, "POST", self.urls["feedback"] + "/v1/appeals", {
            "channel": "call_center", "kind": "complaint", "category": "service_not_provided",
            "region": "kyzylorda", "iin": person, "clinic_id": clinic, "visit_id": visit_id,
            "text": "the visit never happened"}, headers={"Idempotency-Key": key})
        if r is None or r.status_code != 201:
            return
        self.ledger.accepted += 1
        appeal = r.json()["appeal_id"]
        self.ledger.appeals[key] = appeal
        for to in ("in_review", "upheld"):
            t = await self.call(client, "POST", f"{self.urls['feedback']}/v1/appeals/{appeal}/transitions",
                                {"to": to, "note": "checked"}, headers={"Idempotency-Key": f"{key}-{to}"})
            if t is None or t.status_code != 200:
                return
            self.ledger.accepted += 1
        self.ledger.upheld.add(appeal)

    async def worker(self, n: int):
        actions = [(self.attach, 4), (self.visits, 5), (self.payroll, 2), (self.complaint, 1)]
        population = [a for a, w in actions for _ in range(w)]
        async with httpx.AsyncClient(timeout=10) as client:
            while not self.stop.is_set():
                await self.rng.choice(population)(client)
                await asyncio.sleep(self.rng.uniform(0.01, 0.05))

    async def setup(self):
        async with httpx.AsyncClient(timeout=10) as client:
            for c in self.clinics:
                r = await self.call(client, "PUT", f"{self.urls['registry']}/v1/clinics/{c}",
                                    {"name": f"Chaos {c}", "region": "kyzylorda", "settlement": "urban"})
                assert r is not None and r.status_code in (200, 201), r
            for _ in range(120):  # about half the people start attached
                await self.attach(client)


VICTIMS = ["contributions", "registry", "financing", "feedback", "contributions-relay", "registry-relay",
           "feedback-relay", "financing-consumer", "feedback-consumer", "kafka", "postgres"]


async def chaos(comps: dict[str, Component], infra: Infra, cycles: int, rng: random.Random) -> list[dict]:
    """Kills one component at a time at a random moment, starts it again, times the recovery."""
    log = []
    for cycle in range(cycles):
        victim = VICTIMS[cycle % len(VICTIMS)] if cycle < len(VICTIMS) else rng.choice(VICTIMS)
        await asyncio.sleep(rng.uniform(0.5, 2.0))
        killed_at = time.monotonic()
        if victim == "kafka":
            await asyncio.to_thread(infra.kill_kafka)
        elif victim == "postgres":
            await asyncio.to_thread(infra.kill_postgres)
        else:
            comps[victim].kill()
        await asyncio.sleep(rng.uniform(0.2, 1.5))
        if victim == "kafka":
            await asyncio.to_thread(infra.start_kafka)
        elif victim == "postgres":
            await asyncio.to_thread(infra.start_postgres)
        else:
            comps[victim].start()
        restarted_at = time.monotonic()
        await asyncio.to_thread(wait_all_ready, comps, 180)
        log.append({"cycle": cycle + 1, "victim": victim, "down_s": round(restarted_at - killed_at, 2),
                    "recovered_s": round(time.monotonic() - restarted_at, 2)})
    return log


async def settle(settings: Settings, consumer_log: Path, timeout: float = 180) -> float:
    """Waits until every outbox is empty and the financing consumer has applied everything."""
    from aiokafka import AIOKafkaConsumer

    from services.common.consumer import group_lag
    from services.financing.consumer import CONSUMER

    started = time.monotonic()
    probe = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=None)
    await probe.start()
    pool = await asyncpg.create_pool(settings.database_dsn("financing"), min_size=1, max_size=2)
    backlog = lag = None
    try:
        while time.monotonic() - started < timeout:
            backlog = 0
            for svc in ("contributions", "registry", "feedback"):
                conn = await asyncpg.connect(settings.database_dsn(svc))
                backlog += await conn.fetchval("SELECT count(*) FROM outbox")
                await conn.close()
            lag = sum(p["lag"] for p in await group_lag(settings, pool, CONSUMER.group, CONSUMER.topics, probe))
            if backlog == 0 and lag == 0:
                return time.monotonic() - started
            await asyncio.sleep(0.25)
        try:
            stuck = [f"{p['topic']}/{p['partition']}: applied {p['applied_offset']} of {p['end_offset']}"
                     for p in await group_lag(settings, pool, CONSUMER.group, CONSUMER.topics, probe) if p["lag"]]
        except Exception as exc:
            stuck = [f"not read: {exc!r}"]
        raise AssertionError(f"did not settle in {timeout}s: outbox {backlog}, lag {lag}\n"
                             f"partitions behind: {stuck}\n{await _group_members(settings, CONSUMER.group)}\n"
                             f"financing consumer's log, last lines:\n{_log_tail(consumer_log)}")
    finally:
        await probe.stop()
        await pool.close()


async def _group_members(settings: Settings, group: str) -> str:
    """Who the broker thinks is in the consumer group, and with which partitions (for a failure message)."""
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.coordinator.protocol import ConsumerProtocol

    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    try:
        await admin.start()
        described = await admin.describe_consumer_groups([settings.group(group)])
        lines = []
        for response in described:
            for g in response.groups:
                lines.append(f"group {g[1]}: state {g[2]}, {len(g[5])} members")
                for m in g[5]:
                    assignment = ConsumerProtocol.ASSIGNMENT.decode(m[-1]) if m[-1] else None
                    owned = sorted(f"{tp.topic}/{tp.partition}" for tp in assignment.partitions()) if assignment else []
                    lines.append(f"  member {m[0]} from {m[-3]}: {owned}")
        return "\n".join(lines)
    except Exception as exc:
        return f"group not described: {exc!r}"
    finally:
        try:
            await admin.close()
        except Exception:
            pass


def _log_tail(path: Path, lines: int = 60) -> str:
    if not path.exists():
        return "(no log)"
    kept = [line for line in path.read_text(errors="replace").splitlines()
            if line.startswith("{") or "WARNING" in line or "ERROR" in line]
    return "\n".join(line[:400] for line in kept[-lines:])


async def verify(settings: Settings, load: Load, contributions_url: str, headers: dict) -> dict:
    from services.financing.projection import PersonState, daily_states

    d = TODAY.toordinal()
    reg = await asyncpg.connect(settings.database_dsn("registry"))
    con = await asyncpg.connect(settings.database_dsn("contributions"))
    fb = await asyncpg.connect(settings.database_dsn("feedback"))
    fin = await asyncpg.connect(settings.database_dsn("financing"))
    try:
        ledger = load.ledger
        # Lost: an answered write missing from its own service's tables.
        stored_visits = {(r["clinic_id"], r["visit_id"]) for r in await reg.fetch("SELECT clinic_id, visit_id FROM visits")}
        stored_attachments = {str(r["attachment_id"]) for r in await reg.fetch("SELECT attachment_id FROM attachments")}
        payroll_rows = {r["reference"]: r["n"] for r in await con.fetch(
            """SELECT p.reference, count(r.*) AS n FROM payrolls p JOIN payroll_rows r USING (payroll_id)
               WHERE p.reference = ANY($1::text[]) GROUP BY p.reference""", list(ledger.payrolls))}
        appeal_rows = {r["idempotency_key"]: r["n"] for r in await fb.fetch(
            "SELECT idempotency_key, count(*) AS n FROM appeals WHERE idempotency_key = ANY($1::text[]) GROUP BY 1",
            list(ledger.appeals))}
        lost = (len(ledger.visits - stored_visits) + len(set(ledger.attachments) - stored_attachments)
                + sum(1 for ref in ledger.payrolls if ref not in payroll_rows)
                + sum(1 for k in ledger.appeals if k not in appeal_rows))
        duplicated = (sum(1 for ref, n in ledger.payrolls.items() if payroll_rows.get(ref, n) != n)
                      + sum(1 for n in appeal_rows.values() if n != 1))

        # The truth, recomputed from the source services' own tables.
        voided = {(r["clinic_id"], r["visit_id"]) for r in await fb.fetch(
            """SELECT clinic_id, visit_id FROM appeals
               WHERE status = 'upheld' AND category = 'service_not_provided' AND visit_id IS NOT NULL""")}
        persons = {r["iin"]: r for r in await reg.fetch(
            "SELECT iin, clinic_id, attached_since, died_on FROM persons WHERE clinic_id IS NOT NULL")}
        last_visit: dict[str, date] = {}
        for r in await reg.fetch("SELECT clinic_id, visit_id, iin, date FROM visits"):
            if (r["clinic_id"], r["visit_id"]) not in voided and r["date"] <= TODAY:
                last_visit[r["iin"]] = max(r["date"], last_visit.get(r["iin"], r["date"]))
        async with httpx.AsyncClient(timeout=10, headers=headers) as client:
            async def insured(iin: str) -> bool:
                r = await client.get(f"{contributions_url}/v1/persons/{iin}/status", params={"date": TODAY.isoformat()})
                return r.json()["status"] in ("insured", "grace")

            statuses = dict(zip(persons, await asyncio.gather(*(insured(i) for i in persons))))
        truth: dict[str, tuple[str, bool, bool]] = {}
        for iin, p in persons.items():
            if p["attached_since"] > TODAY or (p["died_on"] and p["died_on"] <= TODAY):
                continue
            lv = last_visit.get(iin)
            truth[iin] = (p["clinic_id"], lv is not None and (TODAY - lv).days < 365, statuses[iin])

        # The projection, person by person.
        projected: dict[str, tuple[str, bool, bool]] = {}
        for r in await fin.fetch("SELECT iin, history FROM fin_persons"):
            states = daily_states(PersonState.loads(r["history"]))
            current = None
            for day, state in states:
                if day <= d:
                    current = state
            if current is not None:
                projected[r["iin"]] = current
        person_mismatches = sorted(i for i in set(truth) | set(projected) if truth.get(i) != projected.get(i))

        # Clinic by clinic: the recomputed counts, compared by the caller with financing's API.
        counts: dict[str, list[int]] = {}
        for clinic, active, ins in truth.values():
            c = counts.setdefault(clinic, [0, 0, 0])
            c[0] += 1
            c[1] += active
            c[2] += ins
        return {"lost": lost, "duplicated": duplicated, "person_mismatches": person_mismatches[:20],
                "persons_checked": len(truth), "clinic_truth": counts, "voided_visits": len(voided)}
    finally:
        for c in (reg, con, fb, fin):
            await c.close()


async def clinic_figures(url: str, headers: dict, clinics: list[str]) -> dict[str, list[int]]:
    out = {}
    async with httpx.AsyncClient(timeout=10, headers=headers) as client:
        for c in clinics:
            r = await client.get(f"{url}/v1/clinics/{c}/financing", params={"date": TODAY.isoformat()})
            f = r.json()
            out[c] = [f["attached"], f["active"], f["insured"]] if r.status_code == 200 else [0, 0, 0]
    return out


async def run(cycles: int, seed: int = 2026, workers: int = 3) -> dict:
    rng = random.Random(seed)
    infra = Infra()
    await asyncio.to_thread(infra.wipe)
    await asyncio.to_thread(infra.start)
    settings = chaos_settings()
    comps = components()
    try:
        await bootstrap(settings)
        key = await keycli.create(settings, "admin", None, "chaos")
        headers = {"Authorization": f"Bearer {key}"}
        for c in comps.values():
            c.start()
        await asyncio.to_thread(wait_all_ready, comps, 120)
        urls = {name: comps[name].url for name in ("contributions", "registry", "financing", "feedback")}
        load = Load(urls, headers, seed)
        await load.setup()
        tasks = [asyncio.create_task(load.worker(i)) for i in range(workers)]
        started = time.monotonic()
        kills = await chaos(comps, infra, cycles, rng)
        await asyncio.sleep(1.0)
        load.stop.set()
        await asyncio.gather(*tasks)
        load_seconds = time.monotonic() - started
        settle_s = await settle(settings, comps["financing-consumer"].log_path)
        result = await verify(settings, load, urls["contributions"], headers)
        figures = await clinic_figures(urls["financing"], headers, load.clinics)
        truth = result.pop("clinic_truth")
        clinic_mismatches = {c: {"financing": figures.get(c), "recomputed": truth.get(c, [0, 0, 0])}
                             for c in load.clinics if figures.get(c) != truth.get(c, [0, 0, 0])}
        ledger = load.ledger
        return {
            "cycles": cycles, "load_seconds": round(load_seconds, 1), "requests_sent": ledger.sent,
            "accepted": ledger.accepted, "gave_up": ledger.gave_up, "lost": result["lost"],
            "duplicated": result["duplicated"], "server_errors_500": ledger.server_errors,
            "unavailable_503": ledger.unavailable, "client_timeouts": ledger.hangs,
            "visits_accepted": len(ledger.visits), "attachments_accepted": len(ledger.attachments),
            "payrolls_accepted": len(ledger.payrolls), "complaints_upheld": len(ledger.upheld),
            "voided_visits": result["voided_visits"], "persons_checked": result["persons_checked"],
            "person_mismatches": result["person_mismatches"], "clinic_mismatches": clinic_mismatches,
            "longest_recovery_s": max((k["recovered_s"] for k in kills), default=0.0),
            "settle_s": round(settle_s, 2), "kills": kills}
    finally:
        for c in comps.values():
            c.kill()
        await asyncio.to_thread(infra.stop)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cycles", type=int, default=20)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    report = asyncio.run(run(args.cycles, args.seed))
    print(json.dumps(report, indent=2))
    ok = (report["lost"] == 0 and report["duplicated"] == 0 and not report["person_mismatches"]
          and not report["clinic_mismatches"] and report["server_errors_500"] == 0)
    print("chaos:", "PASSED" if ok else "FAILED")
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
