"""Topics are created with the deployment's partitions and min.insync.replicas (real broker)."""
from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from services.common.bootstrap import remove_prefixed
from services.common.events import EVENT_TYPES
from services.common.kafka import client_options
from services.common.topics import ensure_topics
from tests.support.inproc import eventually


async def test_topics_follow_the_settings(settings):
    own = settings.model_copy(update={"topic_prefix": settings.topic_prefix + "three.", "topic_partitions": 3,
                                      "db_prefix": settings.db_prefix + "three_"})
    created = await ensure_topics(own)
    try:
        assert sorted(created) == sorted(own.topic(t) for t in EVENT_TYPES)
        admin = AIOKafkaAdminClient(**client_options(own))
        await admin.start()
        try:
            async def partitions():  # a new topic's partitions show once its leaders are elected
                described = await admin.describe_topics([own.topic("visit-recorded")])
                return len(described[0]["partitions"])

            assert await eventually(partitions, timeout=15) == 3
            configs = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC,
                                                                   own.topic("visit-recorded"))])
            values = {c[0]: c[1] for c in configs[0].resources[0][4]}
            assert values["min.insync.replicas"] == "1" and values["retention.ms"] == "-1"
        finally:
            await admin.close()
        assert await ensure_topics(own) == []  # again: nothing to create
    finally:
        await remove_prefixed(own)
