"""deploy/compose/compose.yaml: valid against the Compose Specification's JSON Schema (vendored in
schemas/), and wired to the services as services/common/settings.py and deploy/kafka/ define them."""
from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from services.common.settings import SERVICE_PORTS

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "deploy/compose/compose.yaml"
SCHEMA = json.loads((Path(__file__).resolve().parent / "schemas/compose-spec.json").read_text())


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def schema_errors(document: dict) -> list[str]:
    # The schema says draft-07 (its $schema URL lacks the "#" jsonschema looks it up by).
    validator = jsonschema.Draft7Validator(SCHEMA)
    return [f"{'.'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
            for e in sorted(validator.iter_errors(document), key=lambda e: list(map(str, e.absolute_path)))]


def test_compose_file_matches_the_compose_specification(compose):
    assert schema_errors(compose) == []


def test_the_schema_rejects_a_misspelt_key(compose):
    """The vendored schema does reject what Compose would: an unknown service key, a wrong shape."""
    broken = copy.deepcopy(compose)
    broken["services"]["registry"]["restart_policy"] = "always"
    broken["services"]["kafka"]["volumes"] = {"kafka-data": "/var/lib/kafka/data"}
    errors = schema_errors(broken)
    assert any(e.startswith("services.registry:") and "restart_policy" in e for e in errors), errors
    assert any(e.startswith("services.kafka.volumes:") for e in errors), errors


def osms_services(compose: dict) -> dict[str, dict]:
    """The services that run the osms image (built from deploy/docker/Dockerfile)."""
    return {name: svc for name, svc in compose["services"].items()
            if svc.get("build", {}).get("dockerfile") == "deploy/docker/Dockerfile"}


def test_each_http_service_runs_on_its_own_port(compose):
    services = osms_services(compose)
    for service, port in SERVICE_PORTS.items():
        svc = services[service]
        assert svc["command"] == ["python", "-m", "services.common.serve", service]
        assert svc["ports"] == [f"127.0.0.1:{port}:{port}"]
        assert f"http://127.0.0.1:{port}/readyz" in " ".join(svc["healthcheck"]["test"])


def test_services_start_after_the_bootstrap_which_waits_for_postgres_and_kafka(compose):
    services = osms_services(compose)
    assert services["bootstrap"]["command"] == ["osms-migrate"]
    assert services["bootstrap"]["depends_on"] == {"postgres": {"condition": "service_healthy"},
                                                   "kafka": {"condition": "service_healthy"}}
    for name, svc in services.items():
        if name != "bootstrap":
            assert svc["depends_on"] == {"bootstrap": {"condition": "service_completed_successfully"}}, name


def test_financing_consumers_run_as_workers_only(compose):
    services = osms_services(compose)
    assert services["financing"]["environment"]["OSMS_RUN_CONSUMERS"] == "false"
    worker = services["financing-consumer"]
    assert worker["command"] == ["python", "-m", "services.common.worker", "financing", "consumers"]
    assert 1 <= worker["deploy"]["replicas"] <= 6


def test_every_setting_named_is_one_the_services_read(compose, env_names):
    for name, svc in osms_services(compose).items():
        unknown = set(svc["environment"]) - env_names
        assert not unknown, f"{name}: {sorted(unknown)} are not settings (services/common/settings.py)"
        assert svc["environment"]["OSMS_KAFKA_BOOTSTRAP"] == "kafka:9092"
        assert "@postgres:5432/" in svc["environment"]["OSMS_DATABASE_URL"]
        # One broker: a replica each, and only the bootstrap migrates.
        assert svc["environment"]["OSMS_TOPIC_REPLICATION_FACTOR"] == svc["environment"]["OSMS_TOPIC_MIN_INSYNC_REPLICAS"] == "1"
        assert svc["environment"]["OSMS_MIGRATE_ON_START"] == "false"


def test_the_bootstrap_runs_a_command_the_image_has(compose, console_scripts):
    assert osms_services(compose)["bootstrap"]["command"][0] in console_scripts


def test_kafka_is_the_version_the_local_broker_pins_in_kraft_mode(compose):
    pinned = re.search(r"<kafka.version>([^<]+)</kafka.version>", (ROOT / "deploy/kafka/pom.xml").read_text())[1]
    kafka = compose["services"]["kafka"]
    assert kafka["image"] == f"apache/kafka:{pinned}"
    assert kafka["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert kafka["environment"]["KAFKA_ADVERTISED_LISTENERS"] == "PLAINTEXT://kafka:9092"
