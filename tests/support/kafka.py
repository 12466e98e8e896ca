"""Reads what is on a topic, for tests that check published events."""
from __future__ import annotations

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from services.common.settings import get_settings


async def read_topic(name: str, timeout_ms: int = 1500) -> list[dict]:
    """Every event on this run's topic `name`, as dicts with key, partition, offset and value."""
    s = get_settings()
    consumer = AIOKafkaConsumer(bootstrap_servers=s.kafka_bootstrap, enable_auto_commit=False,
                                auto_offset_reset="earliest", group_id=None)
    await consumer.start()
    try:
        topic = s.topic(name)
        partitions = [TopicPartition(topic, p) for p in range(get_settings().topic_partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        out = []
        async def behind() -> bool:
            for tp in partitions:
                if await consumer.position(tp) < ends[tp]:
                    return True
            return False

        while await behind():
            batch = await consumer.getmany(timeout_ms=timeout_ms)
            if not batch:
                break
            for tp, msgs in batch.items():
                for m in msgs:
                    try:
                        value = orjson.loads(m.value)
                    except orjson.JSONDecodeError:
                        continue  # a malformed message another test put there on purpose
                    if not isinstance(value, dict) or "data" not in value:
                        continue
                    out.append({"key": m.key.decode() if m.key else None, "partition": tp.partition,
                                "offset": m.offset, "headers": dict(m.headers), "value": value})
        return out
    finally:
        await consumer.stop()
