"""deploy/helm/osms rendered by helm: the processes it runs are the ones the services define, with
settings they read, probes, budgets and policies around each; wrong values are refused.

Needs helm: `make check-deploy` installs it, sets HELM and runs tests/deploy (`make test` leaves it out)."""
from __future__ import annotations

import importlib
import os
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from k8s_manifests import CHART, KUBERNETES_VERSION, documents

from services.common.settings import SERVICE_PORTS


def find_helm() -> str | None:
    if os.environ.get("HELM"):
        return os.environ["HELM"]
    if shutil.which("helm"):
        return shutil.which("helm")
    if shutil.which("go"):
        gopath = subprocess.run(["go", "env", "GOPATH"], capture_output=True, text=True).stdout.strip()
        if gopath and (Path(gopath) / "bin/helm").is_file():
            return str(Path(gopath) / "bin/helm")
    return None


HELM = find_helm()
if HELM is None:
    raise RuntimeError("helm not found: run these tests with `make check-deploy`, which installs it")


def render(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([HELM, "template", "osms", str(CHART), "--kube-version", KUBERNETES_VERSION, *args],
                          capture_output=True, text=True)


def rendered(*args: str) -> list[dict]:
    result = render(*args)
    assert result.returncode == 0, result.stderr
    return documents(result.stdout)


def by_kind(docs: list[dict], kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def publishing_services() -> set[str]:
    return {s for s in SERVICE_PORTS if importlib.import_module(f"services.{s}.app").spec.relay}


def container(workload: dict) -> dict:
    (c,) = workload["spec"]["template"]["spec"]["containers"]
    return c


def env_of(workload: dict) -> dict[str, dict]:
    return {e["name"]: e for e in container(workload)["env"]}


@pytest.fixture(scope="module")
def default() -> list[dict]:
    return rendered()


@pytest.fixture(scope="module")
def in_process() -> list[dict]:
    return rendered("-f", str(CHART / "ci/in-process-values.yaml"))


def test_a_deployment_for_each_service_relay_and_the_consumers(default):
    deployments = by_kind(default, "Deployment")
    commands = {name: container(d)["command"] for name, d in deployments.items()}
    expected = {f"osms-{s}": ["python", "-m", "services.common.serve", s] for s in SERVICE_PORTS}
    expected |= {f"osms-{s}-relay": ["python", "-m", "services.common.worker", s, "relay"]
                 for s in publishing_services()}
    expected["osms-financing-consumer"] = ["python", "-m", "services.common.worker", "financing", "consumers"]
    assert commands == expected


def test_http_services_listen_on_their_ports_behind_probes_and_a_service(default):
    deployments, services = by_kind(default, "Deployment"), by_kind(default, "Service")
    for svc, port in SERVICE_PORTS.items():
        c = container(deployments[f"osms-{svc}"])
        assert c["ports"] == [{"name": "http", "containerPort": port, "protocol": "TCP"}]
        assert env_of(deployments[f"osms-{svc}"])[f"OSMS_{svc.upper()}_PORT"]["value"] == str(port)
        assert env_of(deployments[f"osms-{svc}"])["OSMS_HOST"]["value"] == "0.0.0.0"
        assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        assert c["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
        service = services[f"osms-{svc}"]
        assert service["spec"]["ports"] == [{"name": "http", "port": port, "targetPort": "http", "protocol": "TCP"}]
        pod_labels = deployments[f"osms-{svc}"]["spec"]["template"]["metadata"]["labels"]
        assert service["spec"]["selector"].items() <= pod_labels.items()


def test_background_loops_run_in_exactly_one_kind_of_process(default, in_process):
    for docs, workers in ((default, True), (in_process, False)):
        deployments = by_kind(docs, "Deployment")
        for svc in SERVICE_PORTS:
            env = env_of(deployments[f"osms-{svc}"])
            has_relay = f"osms-{svc}-relay" in deployments
            assert has_relay == (workers and svc in publishing_services())
            assert env["OSMS_RUN_RELAY"]["value"] == str(not has_relay).lower(), svc
        consumers = "osms-financing-consumer" in deployments
        assert consumers == workers
        assert env_of(deployments["osms-financing"])["OSMS_RUN_CONSUMERS"]["value"] == str(not consumers).lower()


def test_every_variable_set_is_one_the_processes_read(default, env_names):
    for docs in (default, rendered("-f", str(CHART / "ci/secrets-from-values-values.yaml"))):
        for kind in ("Deployment", "Job"):
            for name, workload in by_kind(docs, kind).items():
                unknown = set(env_of(workload)) - env_names
                assert not unknown, f"{name}: {sorted(unknown)} are not read by osms (services/common/settings.py)"


def test_the_password_reaches_the_driver_from_a_secret(default):
    for name, workload in by_kind(default, "Deployment").items():
        env = env_of(workload)
        url = urlsplit(env["OSMS_DATABASE_URL"]["value"])
        assert url.username and url.password is None, name
        assert env["PGPASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "osms-pg-osms", "key": "password"}, name


def test_migration_job_is_a_pre_install_and_pre_upgrade_hook(default, console_scripts):
    job = by_kind(default, "Job")["osms-migrate"]
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert container(job)["command"] == ["osms-migrate"]
    assert console_scripts["osms-migrate"] == "services.common.bootstrap:main"
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"


def test_only_the_migration_job_migrates(default, in_process):
    for docs in (default, in_process):
        for name, workload in by_kind(docs, "Deployment").items():
            assert env_of(workload)["OSMS_MIGRATE_ON_START"]["value"] == "false", name


def test_topics_are_created_with_the_partitions_and_replication_of_the_values(default, chart_values):
    env = env_of(by_kind(default, "Job")["osms-migrate"])
    kafka = chart_values["kafka"]
    assert env["OSMS_TOPIC_PARTITIONS"]["value"] == str(kafka["partitions"])
    assert env["OSMS_TOPIC_REPLICATION_FACTOR"]["value"] == str(kafka["replicationFactor"])
    assert env["OSMS_TOPIC_MIN_INSYNC_REPLICAS"]["value"] == str(kafka["minInsyncReplicas"])


def mounted_file(workload: dict, path: str) -> tuple[str, str]:
    """The Secret and key a file path of the container comes from."""
    pod = workload["spec"]["template"]["spec"]
    for mount in container(workload)["volumeMounts"]:
        if path.startswith(mount["mountPath"] + "/"):
            (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
            key = path[len(mount["mountPath"]) + 1:]
            assert {"key": key, "path": key} in volume["secret"]["items"]
            return volume["secret"]["secretName"], key
    raise AssertionError(f"{path} is on no mounted volume")


def test_kafka_credentials_come_from_secrets(default):
    for kind in ("Deployment", "Job"):
        for name, workload in by_kind(default, kind).items():
            env = env_of(workload)
            assert env["OSMS_KAFKA_SECURITY_PROTOCOL"]["value"] == "SASL_SSL", name
            assert env["OSMS_KAFKA_SASL_MECHANISM"]["value"] == "SCRAM-SHA-512", name
            assert env["OSMS_KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "osms", "key": "password"}
            assert mounted_file(workload, env["OSMS_KAFKA_SSL_CAFILE"]["value"]) == ("osms-kafka-cluster-ca-cert", "ca.crt")
            assert "OSMS_KAFKA_SSL_CERTFILE" not in env, name


def test_a_kafka_password_and_client_certificate_given_as_values():
    docs = rendered("-f", str(CHART / "ci/secrets-from-values-values.yaml"))
    secret = by_kind(docs, "Secret")["osms-kafka"]
    job = by_kind(docs, "Job")["osms-migrate"]
    assert secret["metadata"]["annotations"]["helm.sh/hook"] == job["metadata"]["annotations"]["helm.sh/hook"]
    assert int(secret["metadata"]["annotations"]["helm.sh/hook-weight"]) < int(job["metadata"]["annotations"]["helm.sh/hook-weight"])
    for name, workload in [*by_kind(docs, "Deployment").items(), ("job", job)]:
        env = env_of(workload)
        assert env["OSMS_KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "osms-kafka", "key": "password"}
        assert mounted_file(workload, env["OSMS_KAFKA_SSL_CERTFILE"]["value"]) == ("osms-kafka-client", "tls.crt"), name
        assert mounted_file(workload, env["OSMS_KAFKA_SSL_KEYFILE"]["value"]) == ("osms-kafka-client", "tls.key"), name


def test_plaintext_kafka_has_no_credentials(in_process):
    for name, workload in by_kind(in_process, "Deployment").items():
        env = env_of(workload)
        assert env["OSMS_KAFKA_SECURITY_PROTOCOL"]["value"] == "PLAINTEXT"
        assert not {n for n in env if n.startswith(("OSMS_KAFKA_SASL", "OSMS_KAFKA_SSL"))}, name
        assert [v["name"] for v in workload["spec"]["template"]["spec"]["volumes"]] == ["tmp"], name


def test_a_secret_made_from_values_exists_before_the_migration_job():
    docs = rendered("-f", str(CHART / "ci/secrets-from-values-values.yaml"))
    secret = by_kind(docs, "Secret")["osms-database"]
    job = by_kind(docs, "Job")["osms-migrate"]
    assert secret["metadata"]["annotations"]["helm.sh/hook"] == job["metadata"]["annotations"]["helm.sh/hook"]
    weight = {d["kind"]: int(d["metadata"]["annotations"]["helm.sh/hook-weight"]) for d in (secret, job)}
    assert weight["Secret"] < weight["Job"]
    assert env_of(job)["PGPASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "osms-database"


def test_consumers_scale_up_to_the_partition_count(default, chart_values):
    (hpa,) = by_kind(default, "HorizontalPodAutoscaler").values()
    assert hpa["spec"]["scaleTargetRef"]["name"] == "osms-financing-consumer"
    assert hpa["spec"]["maxReplicas"] == chart_values["kafka"]["partitions"]
    assert "replicas" not in by_kind(default, "Deployment")["osms-financing-consumer"]["spec"]


def test_each_deployment_has_a_disruption_budget(default):
    budgets = by_kind(default, "PodDisruptionBudget")
    for name, workload in by_kind(default, "Deployment").items():
        labels = workload["spec"]["template"]["metadata"]["labels"]
        matching = [b for b in budgets.values() if b["spec"]["selector"]["matchLabels"].items() <= labels.items()]
        assert len(matching) == 1, name


def test_pods_take_connections_on_http_only_and_reach_dns_postgres_kafka_only(default, chart_values):
    (policy,) = [p for n, p in by_kind(default, "NetworkPolicy").items() if n == "osms"]
    selector = policy["spec"]["podSelector"]
    (components,) = [e["values"] for e in selector["matchExpressions"] if e["key"] == "app.kubernetes.io/component"]
    for kind in ("Deployment", "Job"):
        for name, workload in by_kind(default, kind).items():
            labels = workload["spec"]["template"]["metadata"]["labels"]
            assert selector["matchLabels"].items() <= labels.items(), name
            assert labels["app.kubernetes.io/component"] in components, name
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert [r["ports"] for r in policy["spec"]["ingress"]] == [[{"port": "http", "protocol": "TCP"}]]
    ports = sorted(p["port"] for rule in policy["spec"]["egress"] for p in rule["ports"])
    assert ports == [53, 53, 5432, int(chart_values["kafka"]["bootstrap"].rsplit(":", 1)[1])]


def test_pods_run_unprivileged(default):
    for kind in ("Deployment", "Job"):
        for name, workload in by_kind(default, kind).items():
            pod = workload["spec"]["template"]["spec"]
            assert pod["securityContext"]["runAsNonRoot"] is True, name
            assert pod["automountServiceAccountToken"] is False, name
            assert container(workload)["securityContext"]["readOnlyRootFilesystem"] is True, name
            assert container(workload)["securityContext"]["allowPrivilegeEscalation"] is False, name


@pytest.mark.parametrize("values, message", [
    (["--set", "workers.financingConsumers.autoscaling.maxReplicas=7"], "exceeds kafka.partitions"),
    (["--set", "workers.financingConsumers.autoscaling.enabled=false",
      "--set", "workers.financingConsumers.replicas=8"], "exceeds kafka.partitions"),
    (["--set", "workers.relay.services={financing}"], "financing publishes no events"),
    (["--set", "workers.relay.services={payments}"], "is not one of services"),
    (["--set", "database.url="], "database.url is required"),
    (["--set", "kafka.security.sasl.username="], "needs kafka.security.sasl.username"),
    (["--set", "kafka.security.sasl.existingSecret="], "needs kafka.security.sasl.username and sasl.existingSecret"),
    (["--set", "kafka.security.protocol=TLS"], "is not one of PLAINTEXT"),
])
def test_wrong_values_are_refused(values, message):
    result = render(*values)
    assert result.returncode != 0
    assert message in result.stderr
