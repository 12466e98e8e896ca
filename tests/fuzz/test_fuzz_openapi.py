"""Schemathesis against the four OpenAPI documents, on the services running as processes:
no 5xx for any generated input, and every response as documented (status, content type, schema).

OSMS_FUZZ_EXAMPLES sets the cases per operation (CI: a short run; `make fuzz`: >= 1,000 a service)."""
from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from services.common import keys
from services.common.bootstrap import bootstrap
from services.common.settings import get_settings
from bench.processes import ServiceProcess

SERVICES = ["contributions", "registry", "financing", "feedback"]
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"


@pytest.fixture(scope="module")
def admin_key_and_services():
    # Databases of their own (under the run's prefix, dropped with it): the generated requests close
    # months, publish rule versions and the like, which would change what later tests' services answer.
    settings = get_settings()
    own = settings.model_copy(update={"db_prefix": f"{settings.db_prefix}fuzz_"})
    asyncio.run(bootstrap(own))
    key = asyncio.run(keys.create(own, "admin", None, "fuzz"))
    procs = {name: ServiceProcess(name, env={"OSMS_DB_PREFIX": own.db_prefix}).start() for name in SERVICES}
    yield key, procs
    for p in procs.values():
        p.stop()


@pytest.mark.parametrize("service", SERVICES)
def test_generated_requests_get_no_server_error_and_documented_answers(admin_key_and_services, service):
    key, procs = admin_key_and_services
    examples = os.environ.get("OSMS_FUZZ_EXAMPLES", "12")
    st = Path(sys.executable).parent / "st"
    result = subprocess.run(
        [str(st), "run", procs[service].url + "/openapi.json", "--checks", CHECKS, "-n", examples,
         "--seed", "2026", "--no-color", "--phases", "examples,coverage,fuzzing", "--workers", "1",
         "--request-timeout", "20", "-H", f"Authorization: Bearer {key}", "--generation-database", "none"],
        capture_output=True, text=True, timeout=1800)
    summary = re.search(r"Test cases:\s*\n\s*(\d+) generated", result.stdout)
    cases = int(summary.group(1)) if summary else 0
    print(f"\nschemathesis {service}: {cases} cases, exit {result.returncode}")
    assert result.returncode == 0, result.stdout[-6000:]
    assert cases >= 50, result.stdout[-2000:]
