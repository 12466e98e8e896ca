"""Creates the event topics with explicit partition counts and infinite retention (idempotent)."""
from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from services.common.events import EVENT_TYPES
from services.common.kafka import client_options
from services.common.logs import get_logger
from services.common.settings import Settings

log = get_logger(__name__)



def topic_config(settings: Settings) -> dict[str, str]:
    # Topics are the system of record for rebuilding projections, so they keep every event.
    return {"retention.ms": "-1", "retention.bytes": "-1",
            "min.insync.replicas": str(settings.topic_min_insync_replicas)}


async def ensure_topics(settings: Settings) -> list[str]:
    admin = AIOKafkaAdminClient(**client_options(settings), request_timeout_ms=10000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [NewTopic(settings.topic(name), num_partitions=settings.topic_partitions,
                            replication_factor=settings.topic_replication_factor,
                            topic_configs=topic_config(settings))
                   for name in EVENT_TYPES if settings.topic(name) not in existing]
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
    """Removes every topic under this prefix (used by the test suite for its own prefix only): those of
    sub-prefixes a test made from it too (`make up` on a prefix of its own), which no one else removes."""
    if not settings.topic_prefix:
        raise ValueError("refusing to delete unprefixed (production) topics")
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        ours = [t for t in await admin.list_topics() if t.startswith(settings.topic_prefix)]
        if ours:
            await admin.delete_topics(ours)
    finally:
        await admin.close()
