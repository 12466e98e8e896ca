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


async def test_removing_a_prefix_takes_its_sub_prefixes_topics_and_leaves_another_s(settings):
    """A test that runs `make up` on a sub-prefix of the run's leaves topics that only the run's removal
    can take: otherwise they pile up on the broker, run after run."""
    def under(prefix: str):
        return settings.model_copy(update={"topic_prefix": prefix, "db_prefix": settings.db_prefix + "rm_"})

    own, sub = under(settings.topic_prefix + "rm."), under(settings.topic_prefix + "rm.up.")
    other = under(settings.topic_prefix + "rmother.")
    for s in (own, sub, other):
        await ensure_topics(s)
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        async def left():   # a creation or a deletion shows in the listing once the controller has made it
            return sorted(t for t in await admin.list_topics() if t.startswith(settings.topic_prefix + "rm"))

        created = sorted(s.topic(t) for s in (own, sub, other) for t in EVENT_TYPES)
        await eventually(lambda: _is(left, created), timeout=30)
        await remove_prefixed(own)

        expected = sorted(other.topic(t) for t in EVENT_TYPES)
        await eventually(lambda: _is(left, expected), timeout=30)
        assert await left() == expected
    finally:
        await admin.close()
        await remove_prefixed(other)


async def _is(read, expected) -> bool:
    return await read() == expected
