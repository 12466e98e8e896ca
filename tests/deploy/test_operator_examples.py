"""deploy/helm/examples/: the Strimzi and CloudNativePG manifests valid against their CRD schemas,
and agreeing with the events, their partitions and the chart's defaults."""
from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from k8s_manifests import EXAMPLES, documents, name_of, validate

from services.common.events import EVENT_TYPES
from services.common.settings import Settings

PARTITIONS = Settings.model_fields["topic_partitions"].default

# Parameters CloudNativePG sets itself and refuses in a Cluster (docs/src/postgresql_conf.md of
# 1.30, "Fixed parameters"): the ones a PostgreSQL tuning might reach for.
CNPG_FIXED = {"archive_command", "archive_mode", "cluster_name", "hot_standby", "listen_addresses",
              "log_destination", "log_directory", "log_filename", "logging_collector", "port",
              "shared_preload_libraries", "ssl", "synchronous_standby_names", "unix_socket_directories"}

ALL = [(path.name, doc) for path in sorted(EXAMPLES.glob("*.yaml")) for doc in documents(path.read_text())]


def of_kind(kind: str) -> list[dict]:
    return [doc for _, doc in ALL if doc["kind"] == kind]


def the(kind: str) -> dict:
    found = of_kind(kind)
    assert len(found) == 1, f"one {kind} expected in the examples, found {len(found)}"
    return found[0]


@pytest.mark.parametrize("doc", [doc for _, doc in ALL], ids=[f"{file}:{name_of(doc)}" for file, doc in ALL])
def test_example_matches_its_schema(doc):
    against, errors = validate(doc)
    assert against == "its CRD schema", f"{name_of(doc)} was checked against {against}"
    assert errors == []


def test_a_misspelt_field_fails_the_crd_check():
    broken = dict(the("Cluster"), spec={**the("Cluster")["spec"], "instance": 3})
    del broken["spec"]["instances"]
    _, errors = validate(broken)
    assert "spec: 'instances' is a required property" in errors
    assert any("'instance' was unexpected" in e for e in errors), errors


def test_a_topic_for_each_event_with_its_partitions():
    topics = {doc["spec"]["topicName"]: doc for doc in of_kind("KafkaTopic")}
    assert set(topics) == set(EVENT_TYPES)
    for name, doc in topics.items():
        assert doc["metadata"]["name"] == name
        assert doc["spec"]["partitions"] == PARTITIONS, name
        assert doc["spec"]["replicas"] == 3, name
        assert doc["spec"]["config"]["min.insync.replicas"] == 2, name
        # The topics are the system of record: nothing expires.
        assert doc["spec"]["config"]["retention.ms"] == -1, name
        assert doc["spec"]["config"]["retention.bytes"] == -1, name


def test_kafka_runs_kraft_with_three_brokers_and_replication_three():
    kafka = the("Kafka")
    pools = of_kind("KafkaNodePool")
    for doc in pools + of_kind("KafkaTopic"):
        assert doc["metadata"]["labels"]["strimzi.io/cluster"] == kafka["metadata"]["name"], name_of(doc)
    brokers = sum(p["spec"]["replicas"] for p in pools if "broker" in p["spec"]["roles"])
    controllers = sum(p["spec"]["replicas"] for p in pools if "controller" in p["spec"]["roles"])
    assert brokers == 3 and controllers == 3
    config = kafka["spec"]["kafka"]["config"]
    assert config["default.replication.factor"] == 3
    assert config["min.insync.replicas"] == 2
    assert config["offsets.topic.replication.factor"] == 3
    assert config["transaction.state.log.replication.factor"] == 3
    assert config["transaction.state.log.min.isr"] == 2
    assert config["auto.create.topics.enable"] is False


def test_the_charts_defaults_reach_the_kafka_example(chart_values):
    kafka = the("Kafka")
    name = kafka["metadata"]["name"]
    host, port = chart_values["kafka"]["bootstrap"].rsplit(":", 1)
    assert host == f"{name}-kafka-bootstrap"
    (listener,) = kafka["spec"]["kafka"]["listeners"]
    assert listener["port"] == int(port)
    security = chart_values["kafka"]["security"]
    assert listener["tls"] == (security["protocol"] in ("SSL", "SASL_SSL"))
    assert listener["authentication"]["type"] == security["sasl"]["mechanism"].lower()
    assert security["tls"]["caSecret"] == f"{name}-cluster-ca-cert"   # where Strimzi keeps its CA
    peers = chart_values["networkPolicy"]["kafka"]
    assert peers["to"][0]["podSelector"]["matchLabels"]["strimzi.io/cluster"] == name
    assert [p["port"] for p in peers["ports"]] == [int(port)]
    assert chart_values["kafka"]["partitions"] == PARTITIONS
    assert (chart_values["kafka"]["replicationFactor"], chart_values["kafka"]["minInsyncReplicas"]) == (
        kafka["spec"]["kafka"]["config"]["default.replication.factor"], kafka["spec"]["kafka"]["config"]["min.insync.replicas"])


def test_the_services_user_is_the_one_the_chart_names_and_may_do_what_they_do(chart_values):
    sasl = chart_values["kafka"]["security"]["sasl"]
    user = the("KafkaUser")
    # The user operator keeps the password in a Secret named after the user, key `password`.
    assert user["metadata"]["name"] == sasl["username"] == sasl["existingSecret"]
    assert sasl["existingSecretPasswordKey"] == "password"
    assert user["metadata"]["labels"]["strimzi.io/cluster"] == the("Kafka")["metadata"]["name"]
    assert user["spec"]["authentication"]["type"] == sasl["mechanism"].lower()
    assert the("Kafka")["spec"]["kafka"]["authorization"]["type"] == user["spec"]["authorization"]["type"]
    allowed = {(acl["resource"]["type"], op) for acl in user["spec"]["authorization"]["acls"] for op in acl["operations"]}
    # Relays write, consumers read in their group, the migration job creates and lists topics.
    assert {("topic", "Write"), ("topic", "Read"), ("topic", "Create"), ("topic", "Describe"),
            ("group", "Read")} <= allowed


def test_postgres_has_three_instances_and_synchronous_replication():
    spec = the("Cluster")["spec"]
    assert spec["instances"] == 3
    sync = spec["postgresql"]["synchronous"]
    assert sync["method"] in ("any", "first")
    assert 1 <= sync["number"] < spec["instances"]
    assert sync["dataDurability"] == "required"
    assert not CNPG_FIXED & set(spec["postgresql"]["parameters"])


def test_the_charts_defaults_reach_the_postgres_example(chart_values):
    cluster = the("Cluster")
    url = urlsplit(chart_values["database"]["url"])
    assert url.hostname == f"{cluster['metadata']['name']}-rw"
    assert url.port == 5432 and url.password is None
    roles = {r["name"]: r for r in cluster["spec"]["managed"]["roles"]}
    role = roles[url.username]
    # The migration job creates the services' databases.
    assert role["login"] and role["createdb"]
    assert role["passwordSecret"]["name"] == chart_values["database"]["existingSecret"]
    peers = chart_values["networkPolicy"]["postgres"]
    assert peers["to"][0]["podSelector"]["matchLabels"]["cnpg.io/cluster"] == cluster["metadata"]["name"]
