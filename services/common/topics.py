"""Creates the event topics with explicit partition counts and infinite retention (idempotent)."""
from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from services.common.events import TOPIC_PARTITIONS
from services.common.logs import get_logger
from services.common.settings import Settings

log = get_logger(__name__)

# Topics are the system of record for rebuilding projections, so they keep every event.
TOPIC_CONFIG = {"retention.ms": "-1", "retention.bytes": "-1", "min.insync.replicas": "1"}


async def ensure_topics(settings: Settings) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, request_timeout_ms=10000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [NewTopic(settings.topic(name), num_partitions=n, replication_factor=1,
                            topic_configs=TOPIC_CONFIG)
                   for name, n in TOPIC_PARTITIONS.items() if settings.topic(name) not in existing]
        if missing:
            try:
                await admin.create_topics(missing)
            except TopicAlreadyExistsError:
                pass
            log.info("topics created", topics=[t.name for t in missing])
        return [t.name for t in missing]
    finally:
        await admin.close()


async def delete_topics(settings: Settings) -> None:
    """Removes this prefix's topics (used by the test suite for its own prefix only)."""
    if not settings.topic_prefix:
        raise ValueError("refusing to delete unprefixed (production) topics")
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        ours = [settings.topic(n) for n in TOPIC_PARTITIONS if settings.topic(n) in existing]
        if ours:
            await admin.delete_topics(ours)
    finally:
        await admin.close()
