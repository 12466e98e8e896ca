"""What the deployment tests share: where things are, and which variables the osms processes read.
(deploy/check.sh runs these tests alone, with --confcutdir, so the suite's servers are not started.)"""
from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
import yaml

from services.common.settings import SERVICE_PORTS, Settings

CHART = Path(__file__).resolve().parents[2] / "deploy/helm/osms"


@pytest.fixture(scope="session")
def env_names() -> set[str]:
    """The variables an osms process reads: its settings' fields (OSMS_*), a service's port, the
    database password (asyncpg reads PGPASSWORD when the URL has none), the metrics folder of a
    service with worker processes."""
    return ({f"OSMS_{name.upper()}" for name in Settings.model_fields}
            | {f"OSMS_{service.upper()}_PORT" for service in SERVICE_PORTS}
            | {"PGPASSWORD", "PROMETHEUS_MULTIPROC_DIR"})


@pytest.fixture(scope="session")
def chart_values() -> dict:
    return yaml.safe_load((CHART / "values.yaml").read_text())


@pytest.fixture(scope="session")
def console_scripts() -> dict[str, str]:
    """The commands the image has (pyproject.toml's [project.scripts])."""
    return tomllib.loads((CHART.parents[2] / "pyproject.toml").read_text())["project"]["scripts"]
