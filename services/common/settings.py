"""Configuration: every setting comes from an OSMS_* environment variable (pydantic-settings)."""
from __future__ import annotations

from functools import lru_cache
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SERVICE_PORTS = {"contributions": 8001, "registry": 8002, "financing": 8003, "feedback": 8004}
# The web console (services/console): no database or topics of its own, so not among the services above.
CONSOLE_PORT = 8005


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OSMS_", extra="ignore")

    # A PostgreSQL server; each service keeps its own database `<db_prefix><service>` on it. Several
    # hosts may be named (postgresql://u@h1:5432,h2:5432,h3:5432/postgres?target_session_attrs=read-write):
    # a new connection then goes to whichever is the primary, so pools follow a failover.
    database_url: str = "postgresql://osms@127.0.0.1:55432/postgres"
    db_prefix: str = "osms_"
    db_pool_min: int = 2
    db_pool_max: int = 10
    # Create the service's database and migrate it at start-up. Off where migrations run as their
    # own step (osms-migrate, a Kubernetes Job) and the services hold rights to their tables only.
    migrate_on_start: bool = True
    kafka_bootstrap: str = "127.0.0.1:19092"
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"] = "SCRAM-SHA-512"
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: str | None = None     # the CA that signed the brokers' certificates
    kafka_ssl_certfile: str | None = None   # a client certificate and key, for mutual TLS
    kafka_ssl_keyfile: str | None = None
    # Prefixes every topic and consumer group: lets test runs share a broker without meeting.
    topic_prefix: str = ""
    # Topics are created with these (an existing topic keeps its own; partitions can only grow, with
    # kafka-topics.sh, and a key's events then land elsewhere: choose the count for the nation first).
    topic_partitions: int = Field(6, ge=1, le=1000)
    topic_replication_factor: int = Field(1, ge=1, le=10)
    topic_min_insync_replicas: int = Field(1, ge=1, le=10)
    host: str = "127.0.0.1"
    log_level: str = "INFO"
    log_json: bool = True
    # Where the background loops run: inside the HTTP process (default), or, when false, in a
    # separate `python -m services.common.worker <service>` process (they can then be killed alone).
    run_relay: bool = True
    run_consumers: bool = True
    # A killed consumer holds its partitions until its session times out: short, so a crash stalls
    # the projection for seconds. With a stable id per instance (e.g. a StatefulSet pod name) a
    # restarted instance takes its partitions back at once (static membership).
    consumer_session_timeout_ms: int = 10000
    consumer_instance_id: str | None = None
    # A partition with events not applied whose stored offset has not moved for this long means a
    # stalled consumer: it is restarted (rejoins the group, seeks to the stored offsets).
    consumer_stall_seconds: float = 30.0
    relay_batch: int = 5000
    # Events a consumer applies in one transaction at most (fewer when fewer wait). A national
    # projection's events rarely share a person or a calendar row; large batches let more of them
    # share the year and month rows (docs/performance.md has the measurements).
    consumer_batch: int = 100000
    # Traces (OpenTelemetry), exported by OTLP over HTTP to this collector (e.g. http://otel:4318/v1/traces);
    # unset: no tracing at all (services/common/tracing.py).
    otlp_endpoint: str | None = None
    # Largest accepted request body, bytes (a 10,000-row payroll is about 1 MB).
    max_body_bytes: int = 8 * 1024 * 1024

    @model_validator(mode="after")
    def _consistent(self) -> "Settings":
        if self.topic_min_insync_replicas > self.topic_replication_factor:
            raise ValueError("OSMS_TOPIC_MIN_INSYNC_REPLICAS cannot exceed OSMS_TOPIC_REPLICATION_FACTOR")
        if self.kafka_security_protocol.startswith("SASL") and not (self.kafka_sasl_username and
                                                                     self.kafka_sasl_password):
            raise ValueError("SASL needs OSMS_KAFKA_SASL_USERNAME and OSMS_KAFKA_SASL_PASSWORD")
        return self

    def port_of(self, service: str) -> int:
        import os

        default = CONSOLE_PORT if service == "console" else SERVICE_PORTS[service]
        return int(os.environ.get(f"OSMS_{service.upper()}_PORT", default))

    def database_name(self, service: str) -> str:
        return f"{self.db_prefix}{service}"

    def database_dsn(self, service: str) -> str:
        """The service's own database on the configured server."""
        return self._with_path(self.database_url, self.database_name(service))

    def server_dsn(self) -> str:
        """The maintenance database, used to create the services' databases."""
        return self._with_path(self.database_url, "postgres")

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"

    def unprefixed(self, topic: str) -> str:
        return topic[len(self.topic_prefix):] if topic.startswith(self.topic_prefix) else topic

    def group(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"

    @staticmethod
    def _with_path(url: str, dbname: str) -> str:
        parts = urlsplit(url)
        return urlunsplit((parts.scheme, parts.netloc, "/" + dbname, parts.query, parts.fragment))


@lru_cache
def get_settings() -> Settings:
    return Settings()
