"""The benchmark's CPU accounting (bench/cpu.py) gives each process's CPU to its group."""
from __future__ import annotations

import subprocess
import sys
import time

from bench import cpu


def test_a_named_process_cpu_is_counted_in_its_group_per_event():
    # The child burns 0.4 s of CPU once told to (a line on its stdin), then waits for the end of it.
    busy = subprocess.Popen([sys.executable, "-c", "import sys, time\nsys.stdin.readline()\n"
                             "t = time.process_time()\nwhile time.process_time() - t < 0.4: pass\nsys.stdin.read()"],
                            stdin=subprocess.PIPE)
    try:
        named = {busy.pid: "the busy one"}
        before = cpu.snapshot(named)
        busy.stdin.write(b"go\n")
        busy.stdin.flush()
        give_up = time.monotonic() + 30     # (a child that died never gets there: the assert below says so)
        while cpu.snapshot(named).get("the busy one", 0.0) - before.get("the busy one", 0.0) < 0.35 \
                and time.monotonic() < give_up:
            time.sleep(0.02)
        after = cpu.snapshot(named)
        spent = cpu.per_event_us(before, after, events=1000)
    finally:
        busy.communicate()
    assert 300 <= spent["the busy one"] <= 500         # 0.4 s over 1,000 events: about 400 µs each
    assert spent["total"] >= spent["the busy one"]
    assert list(spent)[-1] == "total"


def test_postgres_backends_go_to_the_service_of_their_database():
    named: dict[int, str] = {}
    assert cpu._group(1, named, "postgres", "postgres: osms osms_registry 127.0.0.1(5000) idle") == "postgres: registry"
    assert cpu._group(1, named, "postgres", "postgres: osms osmsbench17_financing [local] UPDATE") == "postgres: financing"
    assert cpu._group(1, named, "postgres", "postgres: checkpointer") == "postgres: other"
    assert cpu._group(1, {1: "registry"}, "python", "python -m services.common.serve registry") == "registry"
    assert cpu._group(1, named, "java", "java -Xmx512m kafka.Kafka") == "kafka"
