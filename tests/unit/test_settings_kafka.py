"""Deployment settings: Kafka security passed to every client, topic replication checked, DSNs kept."""
from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.common.kafka import client_options
from services.common.settings import Settings


def test_plaintext_by_default():
    assert client_options(Settings(kafka_bootstrap="k1:9092,k2:9092")) == {
        "bootstrap_servers": "k1:9092,k2:9092", "security_protocol": "PLAINTEXT"}


def test_sasl_scram_over_tls_reaches_the_clients():
    s = Settings(kafka_security_protocol="SASL_SSL", kafka_sasl_mechanism="SCRAM-SHA-512",
                 kafka_sasl_username="osms", kafka_sasl_password="s3cret")
    opts = client_options(s)
    assert (opts["security_protocol"], opts["sasl_mechanism"], opts["sasl_plain_username"],
            opts["sasl_plain_password"]) == ("SASL_SSL", "SCRAM-SHA-512", "osms", "s3cret")
    assert opts["ssl_context"] is not None
    assert "s3cret" not in repr(s)  # a secret never shows in a settings dump


def test_sasl_without_credentials_is_refused():
    with pytest.raises(ValidationError, match="SASL needs"):
        Settings(kafka_security_protocol="SASL_PLAINTEXT")


def test_min_insync_replicas_cannot_exceed_the_replication_factor():
    with pytest.raises(ValidationError, match="cannot exceed"):
        Settings(topic_replication_factor=1, topic_min_insync_replicas=2)
    s = Settings(topic_replication_factor=3, topic_min_insync_replicas=2, topic_partitions=12)
    assert (s.topic_replication_factor, s.topic_min_insync_replicas, s.topic_partitions) == (3, 2, 12)


def test_a_multi_host_dsn_keeps_its_hosts_and_session_attributes_per_service():
    s = Settings(database_url="postgresql://osms@pg1:5432,pg2:5432,pg3:5432/postgres?target_session_attrs=read-write",
                 db_prefix="osms_")
    assert s.database_dsn("registry") == \
        "postgresql://osms@pg1:5432,pg2:5432,pg3:5432/osms_registry?target_session_attrs=read-write"
    assert s.server_dsn().endswith("/postgres?target_session_attrs=read-write")
