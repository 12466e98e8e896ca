"""Reads what is on a topic, for tests that check published events."""
from __future__ import annotations

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from services.common.settings import get_settings


async def read_topic(name: str, timeout_ms: int = 1500) -> list[dict]:
    """Every event on this run's topic `name`, as dicts with key, partition, offset, timestamp (ms),
    headers and value."""
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
                                "offset": m.offset, "timestamp": m.timestamp, "headers": dict(m.headers),
                                "value": value})
        return out
    finally:
        await consumer.stop()


def consumer_group_describe(group: str) -> list[dict[str, str]]:
    """`kafka-consumer-groups.sh --describe --group GROUP` as the Kafka distribution the project resolves
    (deploy/local/kafka.sh) runs it: one dict a row (TOPIC, PARTITION, CURRENT-OFFSET, LAG, ...)."""
    import os
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    lib = Path(os.environ.get("OSMS_KAFKA_LIB") or Path(os.environ.get("OSMS_LOCAL_DIR", root / ".local")) / "kafka" / "lib")
    assert list(lib.glob("kafka-tools-*.jar")), f"no Kafka tools in {lib}: run `make install`"
    done = subprocess.run(["java", "-cp", f"{lib}/*", "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
                           "--bootstrap-server", get_settings().kafka_bootstrap, "--describe", "--group", group],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    lines = [line.split() for line in done.stdout.splitlines() if line.strip()]
    header = next((line for line in lines if line[:2] == ["GROUP", "TOPIC"]), None)
    if header is None:
        return []
    return [dict(zip(header, line)) for line in lines if line != header and line[0] == group]
