"""The crash test's system: a private PostgreSQL and Kafka (own ports, own folder under
.local/chaos) and every component as a process of its own — the four HTTP services, the three
outbox relays and the financing and feedback consumers — each of which can be SIGKILLed and
started again."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx

from bench.processes import LOGS, ROOT, free_port

CHAOS_DIR = ROOT / ".local" / "chaos"
PG_PORT = int(os.environ.get("OSMS_CHAOS_PG_PORT", 55462))
KAFKA_PORT = int(os.environ.get("OSMS_CHAOS_KAFKA_PORT", 19122))
KAFKA_CONTROLLER_PORT = KAFKA_PORT + 1

INFRA_ENV = {
    "OSMS_LOCAL_DIR": str(CHAOS_DIR),
    "OSMS_PG_PORT": str(PG_PORT),
    "OSMS_KAFKA_PORT": str(KAFKA_PORT),
    "OSMS_KAFKA_CONTROLLER_PORT": str(KAFKA_CONTROLLER_PORT),
    "OSMS_KAFKA_HEAP": "-Xms128m -Xmx512m",
}
SERVICE_ENV = {
    "OSMS_DATABASE_URL": f"postgresql://osms@127.0.0.1:{PG_PORT}/postgres",
    "OSMS_KAFKA_BOOTSTRAP": f"127.0.0.1:{KAFKA_PORT}",
    "OSMS_TOPIC_PREFIX": "",
    "OSMS_DB_PREFIX": "osms_",
    "OSMS_RUN_RELAY": "false",
    "OSMS_RUN_CONSUMERS": "false",
}


def _infra_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OSMS_")}
    return {**env, **INFRA_ENV}


def _script(name: str, action: str) -> None:
    LOGS.mkdir(parents=True, exist_ok=True)
    with open(LOGS / "chaos-infra.log", "ab") as log:
        subprocess.run([str(ROOT / "deploy" / "local" / name), action], env=_infra_env(), check=True,
                       stdout=log, stderr=subprocess.STDOUT)


class Infra:
    """The private PostgreSQL and Kafka of the crash test."""

    def start(self) -> None:
        _script("postgres.sh", "start")
        _script("kafka.sh", "start")

    def stop(self) -> None:
        _script("kafka.sh", "stop")
        _script("postgres.sh", "stop")

    def wipe(self) -> None:
        self.stop()
        subprocess.run(["rm", "-rf", str(CHAOS_DIR)], check=True)

    def kill_postgres(self) -> None:
        pidfile = CHAOS_DIR / "pg" / "data" / "postmaster.pid"
        pid = int(pidfile.read_text().split()[0])
        children = _children(pid)
        os.kill(pid, signal.SIGKILL)
        # The postmaster's children notice its death and exit; until the last one has, the old
        # shared memory is still attached and a new postmaster refuses to start.
        _wait_closed(PG_PORT)
        _wait_gone(children)
        # Until its parent reaps it, the dead postmaster's pid still answers kill(pid, 0), and
        # a new postmaster takes the old lock file for a live server.
        deadline = time.monotonic() + 10
        while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
            time.sleep(0.1)

    def start_postgres(self) -> None:
        # A crashed server is started again the way a supervisor would: retried while the
        # previous one's last processes are still on their way out.
        for attempt in range(5):
            try:
                _script("postgres.sh", "start")
                return
            except subprocess.CalledProcessError:
                if attempt == 4:
                    log = CHAOS_DIR / "logs" / "postgres.log"
                    if log.exists():
                        print("".join(log.read_text(errors="replace").splitlines(True)[-30:]))
                    raise
                time.sleep(1 + attempt)

    def kill_kafka(self) -> None:
        pid = int((CHAOS_DIR / "run" / "kafka.pid").read_text())
        os.kill(pid, signal.SIGKILL)
        _wait_closed(KAFKA_PORT)

    def start_kafka(self) -> None:
        _script("kafka.sh", "start")


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # Fields after the command name (which may contain spaces): state, ppid, ...
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry))
    return found


def _wait_gone(pids: list[int], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while pids and time.monotonic() < deadline:
        pids = [p for p in pids if os.path.exists(f"/proc/{p}") and not _zombie(p)]
        time.sleep(0.1)


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def _wait_closed(port: int, timeout: float = 30) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            s.settimeout(0.2)
            if s.connect_ex(("127.0.0.1", port)) != 0:
                return
        time.sleep(0.1)


class Component:
    """One process of the system: an HTTP service or a worker (relay / consumers)."""

    def __init__(self, name: str, argv: list[str], port: int | None = None, env: dict[str, str] | None = None):
        self.name = name
        self.argv = argv
        self.port = port
        self.env = {**{k: v for k, v in os.environ.items() if not k.startswith("OSMS_")}, **SERVICE_ENV, **(env or {})}
        self.proc: subprocess.Popen | None = None
        LOGS.mkdir(parents=True, exist_ok=True)
        self.log_path = LOGS / f"chaos-{name}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([sys.executable, *self.argv], cwd=ROOT, env=self.env, stdout=log,
                                     stderr=subprocess.STDOUT)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.alive():
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def ready(self) -> bool:
        if not self.alive():
            return False
        if self.port is None:
            return True
        try:
            return httpx.get(self.url + "/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False


def components() -> dict[str, Component]:
    out: dict[str, Component] = {}
    for svc in ("contributions", "registry", "financing", "feedback"):
        port = free_port()
        out[svc] = Component(svc, ["-m", "services.common.serve", svc], port, {f"OSMS_{svc.upper()}_PORT": str(port)})
    for svc in ("contributions", "registry", "feedback"):
        out[f"{svc}-relay"] = Component(f"{svc}-relay", ["-m", "services.common.worker", svc, "relay"])
    for svc in ("financing", "feedback"):
        out[f"{svc}-consumer"] = Component(f"{svc}-consumer", ["-m", "services.common.worker", svc, "consumers"])
    return out


def wait_all_ready(comps: dict[str, Component], timeout: float = 120) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if all(c.ready() for c in comps.values()):
            return time.monotonic() - started
        time.sleep(0.1)
    bad = [n for n, c in comps.items() if not c.ready()]
    raise RuntimeError(f"not ready after {timeout}s: {bad}")
