"""Reads the dashboard and alert rules of deploy/observability/ and the metric names their queries use."""
from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

FILES = Path(__file__).resolve().parents[2] / "deploy" / "observability"
METRIC = re.compile(r"\bosms_[a-z0-9_]+\b")


def dashboard() -> dict:
    return json.loads((FILES / "grafana-dashboard.json").read_text())


def dashboard_queries(d: dict) -> list[str]:
    queries = [t["expr"] for p in d["panels"] for t in p.get("targets", ())]
    return queries + [v["definition"] for v in d["templating"]["list"] if "definition" in v]


def alert_queries() -> list[str]:
    rules = yaml.safe_load((FILES / "alerts.yaml").read_text())
    return [r["expr"] for g in rules["groups"] for r in g["rules"]]


def metrics_in(queries: list[str]) -> set[str]:
    return {m for q in queries for m in METRIC.findall(q)}
