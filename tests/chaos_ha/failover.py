"""The failover test (make chaos-ha): the local HA topology (deploy/ha/ha.sh, on a fresh folder of
its own) under a steady load of attachments, visits, payrolls and appeals through HAProxy, while
these are SIGKILLed one at a time, then two at once: the PostgreSQL leader (Patroni and its
postmaster), the Kafka broker that leads most partitions, one instance of each service, the etcd
leader. Each killed member is started again once the others have taken over, as a supervisor would,
and the topology is whole again before the next kill.

    python -m tests.chaos_ha.failover           (make chaos-ha)

Afterwards, with the crash test's own checks (tests/chaos/chaos.py): every write answered 2xx is in
its service's tables (lost), none twice (duplicated), and financing equals the recomputation from
the services' tables, person by person and clinic by clinic. For each kill, the time without
accepted writes: the longest pause between accepted HTTP writes of the services it touches, and
between events appended to the event topics (the brokers stamp records with their append time).
Traffic goes to 127.0.0.1 only; every loop is bounded in count and time.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import socket
import subprocess
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from services.common import keys as keycli
from services.common.events import EVENT_TYPES
from services.common.settings import Settings
from tests.chaos.chaos import Load, clinic_figures, settle, verify

ROOT = Path(__file__).resolve().parents[2]
HA_SH = ROOT / "deploy" / "ha" / "ha.sh"
HA_DIR = ROOT / ".local" / "ha-chaos"
WRITERS = ("contributions", "registry", "feedback")


def ports() -> dict[str, str]:
    """deploy/ha/ports.env, the topology's one list of ports."""
    out = {}
    for line in (ROOT / "deploy" / "ha" / "ports.env").read_text().splitlines():
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            out[key] = value.strip('"')
    return out


PORTS = ports()
ETCD = [int(p) for p in PORTS["HA_ETCD_CLIENT_PORTS"].split()]
PATRONI = [int(p) for p in PORTS["HA_PATRONI_PORTS"].split()]
PG = [int(p) for p in PORTS["HA_PG_PORTS"].split()]
KAFKA = [int(p) for p in PORTS["HA_KAFKA_PORTS"].split()]
FRONTEND = {svc: int(port) for svc, port in (pair.split(":") for pair in PORTS["HA_FRONTEND_PORTS"].split())}
INSTANCES = {svc: [int(p) for p in ports_.split(",")]
             for svc, ports_ in (pair.split(":") for pair in PORTS["HA_INSTANCE_PORTS"].split())}


def ha_settings() -> Settings:
    hosts = ",".join(f"127.0.0.1:{p}" for p in PG)
    return Settings(database_url=f"postgresql://osms@{hosts}/postgres?target_session_attrs=read-write",
                    kafka_bootstrap=",".join(f"127.0.0.1:{p}" for p in KAFKA), topic_prefix="", db_prefix="osms_",
                    topic_replication_factor=3, topic_min_insync_replicas=2)


def longest_gap(times: list[float], start: float, end: float) -> float:
    """The longest time within [start, end] during which nothing in `times` happened, counted from
    `start` (the kill): the pause a client saw."""
    inside = sorted(t for t in times if start < t <= end)
    marks = [start, *inside]
    gaps = [b - a for a, b in zip(marks, marks[1:])]
    if not inside or inside[-1] < end:
        # Still nothing at the window's end: the pause lasts at least that long.
        gaps.append(end - marks[-1])
    return max(gaps)


class Topology:
    """deploy/ha/ha.sh on the test's own folder, and where things stand (from Patroni, Kafka, etcd)."""

    def __init__(self) -> None:
        import os

        self.env = {**{k: v for k, v in os.environ.items() if not k.startswith("OSMS_")},
                    "OSMS_HA_DIR": str(HA_DIR)}
        if os.environ.get("OSMS_VENV"):
            self.env["OSMS_VENV"] = os.environ["OSMS_VENV"]
        self.log = HA_DIR.parent / "logs" / "chaos-ha.log"

    def ha(self, *args: str, check: bool = True) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:
            subprocess.run([str(HA_SH), *args], env=self.env, check=check, stdout=log, stderr=subprocess.STDOUT)

    def pg_members(self) -> list[dict]:
        for port in PATRONI:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/cluster", timeout=2).json()["members"]
            except (httpx.HTTPError, ValueError):
                continue
        return []

    def pg_leader(self) -> int | None:
        for m in self.pg_members():
            if m["role"] in ("leader", "primary") and m["state"] == "running":
                return int(m["name"].removeprefix("pg"))
        return None

    def pg_whole(self) -> bool:
        members = self.pg_members()
        streaming = [m for m in members if m["role"] in ("replica", "sync_standby") and m["state"] == "streaming"]
        return self.pg_leader() is not None and len(streaming) == 2 and any(m["role"] == "sync_standby" for m in streaming)

    async def partition_leaders(self) -> dict[int, int]:
        """Event-topic partitions led by each broker (node id), and -1 for those without a leader or
        with fewer than three in-sync replicas."""
        from aiokafka.admin import AIOKafkaAdminClient

        admin = AIOKafkaAdminClient(bootstrap_servers=ha_settings().kafka_bootstrap, request_timeout_ms=5000)
        await admin.start()
        try:
            counts: dict[int, int] = defaultdict(int)
            for topic in await admin.describe_topics(list(EVENT_TYPES)):
                for p in topic["partitions"]:
                    whole = p["leader"] >= 0 and len(p["isr"]) == 3
                    counts[p["leader"] if whole else -1] += 1
            return dict(counts)
        finally:
            await admin.close()

    def etcd_leader(self) -> int | None:
        ids = {}
        leader = None
        for n, port in enumerate(ETCD, 1):
            try:
                status = httpx.post(f"http://127.0.0.1:{port}/v3/maintenance/status", json={}, timeout=2).json()
            except (httpx.HTTPError, ValueError):
                continue
            ids[status["header"]["member_id"]] = n
            leader = status["leader"]
        return ids.get(leader)

    def etcd_whole(self) -> bool:
        try:
            return all(httpx.get(f"http://127.0.0.1:{p}/health", timeout=2).json()["health"] == "true" for p in ETCD)
        except (httpx.HTTPError, ValueError, KeyError):
            return False

    @staticmethod
    def instances_ready() -> bool:
        try:
            return all(httpx.get(f"http://127.0.0.1:{p}/readyz", timeout=2).status_code == 200
                       for ports_ in INSTANCES.values() for p in ports_)
        except httpx.HTTPError:
            return False

    async def whole(self) -> bool:
        # The HTTP checks block: in a thread, so the load goes on meanwhile.
        if not await asyncio.to_thread(lambda: self.etcd_whole() and self.pg_whole() and self.instances_ready()):
            return False
        try:
            return -1 not in await self.partition_leaders()
        except Exception:
            return False

    async def wait_whole(self, timeout: float = 300) -> float:
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if await self.whole():
                return time.monotonic() - started
            await asyncio.sleep(1)
        raise AssertionError(f"the topology was not whole again within {timeout} s: pg {self.pg_members()}")


class TimedLoad(Load):
    """The crash test's load, with the time of every accepted write (and financing read) kept."""

    def __init__(self, urls, headers, seed):
        super().__init__(urls, headers, seed)
        self.accepted_at: dict[str, list[float]] = defaultdict(list)

    async def call(self, client, method, url, body, headers=None, deadline=120):
        r = await super().call(client, method, url, body, headers, deadline)
        if r is not None and r.status_code < 300:
            self.accepted_at[next(s for s, u in self.urls.items() if url.startswith(u))].append(time.time())
        return r

    async def pacer(self, action) -> None:
        """One kind of write, again and again: a steady beat to time pauses by."""
        async with httpx.AsyncClient(timeout=10) as client:
            while not self.stop.is_set():
                await action(client)
                await asyncio.sleep(0.1)

    async def reader(self) -> None:
        """financing has no writes: its clinic figures read again and again."""
        async with httpx.AsyncClient(timeout=10, headers=self.headers) as client:
            while not self.stop.is_set():
                try:
                    r = await client.get(f"{self.urls['financing']}/v1/clinics/{self.clinics[0]}/financing")
                    if r.status_code == 200:
                        self.accepted_at["financing"].append(time.time())
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)


async def watch_topics(stop: asyncio.Event, appended: dict[str, list[float]]) -> None:
    """The brokers' append time of every event published from now on, by topic."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(*EVENT_TYPES, bootstrap_servers=ha_settings().kafka_bootstrap, group_id=None,
                                auto_offset_reset="latest", request_timeout_ms=10000)
    await consumer.start()
    try:
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=500)
            for tp, records in batches.items():
                appended[tp.topic].extend(r.timestamp / 1000 for r in records)
    finally:
        await consumer.stop()


@dataclass
class Kill:
    label: str
    targets: list[tuple[str, int]]
    touches: tuple[str, ...]       # the services whose accepted writes (or reads) it may pause
    down_for: float = 0            # seconds before a supervisor starts it again (after the takeover)
    at: float = 0
    restarted_at: float = 0
    whole_after: float = 0
    figures: dict = field(default_factory=dict)


async def plan(topo: Topology) -> list[Kill]:
    leaders = await topo.partition_leaders()
    busiest = max((n for n in leaders if n > 0), key=lambda n: leaders[n])
    return [
        Kill("PostgreSQL leader", [("pg", topo.pg_leader())], WRITERS),
        Kill(f"Kafka broker leading most partitions ({leaders[busiest]})", [("kafka", busiest)], WRITERS, 15),
        Kill("contributions instance", [("contributions", 1)], ("contributions",), 5),
        Kill("registry instance", [("registry", 2)], ("registry",), 5),
        Kill("financing instance", [("financing", 1)], ("financing",), 5),
        Kill("feedback instance", [("feedback", 2)], ("feedback",), 5),
        Kill("etcd leader", [("etcd", topo.etcd_leader())], WRITERS, 10),
        Kill("PostgreSQL leader + busiest broker", [], WRITERS, 15),
        Kill("etcd leader + registry instance", [], WRITERS, 10),
    ]


async def resolve(topo: Topology, kill: Kill) -> None:
    """Targets chosen at the moment of the kill: leaders move."""
    if kill.label.startswith("PostgreSQL leader +"):
        leaders = await topo.partition_leaders()
        busiest = max((n for n in leaders if n > 0), key=lambda n: leaders[n])
        kill.targets = [("pg", topo.pg_leader()), ("kafka", busiest)]
    elif kill.label.startswith("etcd leader +"):
        kill.targets = [("etcd", topo.etcd_leader()), ("registry", 1)]
    elif kill.targets[0][0] == "pg":
        kill.targets = [("pg", topo.pg_leader())]
    elif kill.targets[0][0] == "etcd":
        kill.targets = [("etcd", topo.etcd_leader())]
    assert all(n for _, n in kill.targets), f"{kill.label}: no target found"


async def run_kill(topo: Topology, kill: Kill) -> None:
    await resolve(topo, kill)
    old_pg_leader = await asyncio.to_thread(topo.pg_leader)
    flat = [str(x) for target in kill.targets for x in target]
    kill.at = time.time()
    await asyncio.to_thread(topo.ha, "kill", *flat)
    # A killed PostgreSQL leader stays down until another member leads, as a dead machine would;
    # the others for a while (longer than a broker's session or a consumer's).
    if any(kind == "pg" for kind, _ in kill.targets):
        for _ in range(240):
            if await asyncio.to_thread(topo.pg_leader) not in (None, old_pg_leader):
                break
            await asyncio.sleep(0.5)
    await asyncio.sleep(kill.down_for)
    kill.restarted_at = time.time()
    for kind, n in kill.targets:
        await asyncio.to_thread(topo.ha, "start", kind, str(n))
    kill.whole_after = await topo.wait_whole()


def figures(kill: Kill, end: float, load: TimedLoad, appended: dict[str, list[float]]) -> dict:
    http = {svc: round(longest_gap(load.accepted_at[svc], kill.at, end), 2) for svc in kill.touches}
    # The two topics every few hundred milliseconds carry events (visits, payrolls).
    kafka = {t: round(longest_gap(appended[t], kill.at, end), 2) for t in ("visit-recorded", "contribution-paid")}
    return {"http_gap_s": max(http.values()), "http_gap_by_service": http, "kafka_gap_s": max(kafka.values()),
            "back_and_whole_s": round(kill.restarted_at - kill.at + kill.whole_after, 1)}


def port_taken(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


async def run(seed: int = 2026, workers: int = 3) -> dict:
    taken = [p for p in [*ETCD, *PG, *KAFKA, *FRONTEND.values()] if port_taken(p)]
    if taken:
        raise SystemExit(f"ports {taken} are taken: stop the HA topology first (make down)")
    topo = Topology()
    shutil.rmtree(HA_DIR, ignore_errors=True)
    started = time.monotonic()
    await asyncio.to_thread(topo.ha, "up")
    up_s = time.monotonic() - started
    try:
        settings = ha_settings()
        key = await keycli.create(settings, "admin", None, "chaos-ha")
        headers = {"Authorization": f"Bearer {key}"}
        urls = {svc: f"http://127.0.0.1:{port}" for svc, port in FRONTEND.items()}
        load = TimedLoad(urls, headers, seed)
        await load.setup()
        appended: dict[str, list[float]] = defaultdict(list)
        tasks = [asyncio.create_task(load.worker(i)) for i in range(workers)]
        tasks += [asyncio.create_task(load.pacer(a)) for a in (load.visits, load.payroll, load.complaint)]
        tasks += [asyncio.create_task(load.reader()), asyncio.create_task(watch_topics(load.stop, appended))]
        quiet_from = time.time()
        await asyncio.sleep(20)
        kills = await plan(topo)
        baseline_end = time.time()
        for kill in kills:
            await run_kill(topo, kill)
            await asyncio.sleep(5)
        load_end = time.time()
        await asyncio.sleep(2)
        load.stop.set()
        await asyncio.gather(*tasks)
        ends = [k.at for k in kills[1:]] + [load_end]
        for kill, end in zip(kills, ends):
            kill.figures = figures(kill, end, load, appended)
        baseline = {"http_gap_s": max(longest_gap(load.accepted_at[s], quiet_from + 5, baseline_end) for s in WRITERS),
                    "kafka_gap_s": max(longest_gap(appended[t], quiet_from + 5, baseline_end)
                                       for t in ("visit-recorded", "contribution-paid"))}
        settle_s = await settle(settings, HA_DIR / "logs" / "financing1.log", timeout=300)
        result = await verify(settings, load, urls["contributions"], headers)
        clinics = await clinic_figures(urls["financing"], headers, load.clinics)
        truth = result.pop("clinic_truth")
        ledger = load.ledger
        return {
            "up_s": round(up_s, 1), "requests_sent": ledger.sent, "accepted": ledger.accepted,
            "lost": result["lost"], "duplicated": result["duplicated"], "gave_up": ledger.gave_up,
            "statuses": dict(sorted(ledger.statuses.items())), "client_timeouts": ledger.hangs,
            "visits_accepted": len(ledger.visits), "attachments_accepted": len(ledger.attachments),
            "payrolls_accepted": len(ledger.payrolls), "appeals_accepted": len(ledger.appeals),
            "persons_checked": result["persons_checked"], "person_mismatches": result["person_mismatches"],
            "clinic_mismatches": {c: {"financing": clinics.get(c), "recomputed": truth.get(c, [0, 0, 0])}
                                  for c in load.clinics if clinics.get(c) != truth.get(c, [0, 0, 0])},
            "settle_s": round(settle_s, 1), "baseline": {k: round(v, 2) for k, v in baseline.items()},
            "kills": [{"kill": k.label, "targets": k.targets, **k.figures} for k in kills]}
    finally:
        await asyncio.to_thread(topo.ha, "down", check=False)


def table(report: dict) -> str:
    rows = [("kill", "HTTP writes paused, s", "events paused, s", "whole again, s"),
            ("(no kill: the load's own longest pause)", report["baseline"]["http_gap_s"],
             report["baseline"]["kafka_gap_s"], "")]
    rows += [(k["kill"], k["http_gap_s"], k["kafka_gap_s"], k["back_and_whole_s"]) for k in report["kills"]]
    widths = [max(len(str(r[i])) for r in rows) for i in range(4)]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(r, widths)) for r in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    report = asyncio.run(run(args.seed))
    out = ROOT / ".local" / "logs" / "chaos-ha-report.json"
    out.write_text(json.dumps(report, indent=2))
    print(json.dumps({k: v for k, v in report.items() if k != "kills"}, indent=2))
    print(table(report))
    ok = (report["lost"] == 0 and report["duplicated"] == 0 and report["gave_up"] == 0
          and not report["person_mismatches"] and not report["clinic_mismatches"])
    print(f"report: {out}\nchaos-ha:", "PASSED" if ok else "FAILED")
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
