"""Where the machine's CPU went during a phase: per process group, read from /proc (Linux).

A snapshot sums each process's user and system time by group: the services (by pid), the
benchmark's own process, the Kafka broker (java), PostgreSQL's backends by the service whose
database they serve, and PostgreSQL's own background processes. The difference of two snapshots,
divided by the events of the phase, is the CPU each part spent on an event: steadier from run to run
than a rate on a shared 2-core machine, and it says which part to make cheaper.
"""
from __future__ import annotations

import os
from pathlib import Path

_HZ = os.sysconf("SC_CLK_TCK")
SERVICES = ("contributions", "registry", "financing", "feedback")


def _group(pid: int, named: dict[int, str], comm: str, cmdline: str) -> str:
    if pid in named:
        return named[pid]
    if cmdline.startswith("postgres:"):
        parts = cmdline.split()
        database = parts[2] if len(parts) > 2 else ""
        for service in SERVICES:
            if database.endswith(f"_{service}"):
                return f"postgres: {service}"
        return "postgres: other"
    if comm.startswith("postgres"):
        return "postgres: other"
    if comm == "java":
        return "kafka"
    return "other"


def snapshot(named: dict[int, str]) -> dict[str, float]:
    """CPU seconds used so far by each group; `named` gives the group of known pids."""
    totals: dict[str, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:   # ended meanwhile
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        seconds = (int(fields[11]) + int(fields[12])) / _HZ   # utime + stime
        group = _group(int(entry.name), named, comm, cmdline)
        totals[group] = totals.get(group, 0.0) + seconds
    return totals


def per_event_us(before: dict[str, float], after: dict[str, float], events: int) -> dict[str, float]:
    """Microseconds of CPU an event, per group, between two snapshots (largest first); `total` adds
    them up. A process that ended in between is missing from `after` and not counted."""
    out = {g: (after[g] - before.get(g, 0.0)) / events * 1e6 for g in after}
    out = {g: round(v, 1) for g, v in sorted(out.items(), key=lambda kv: -kv[1]) if v > 0}
    out["total"] = round(sum(out.values()), 1)
    return out
