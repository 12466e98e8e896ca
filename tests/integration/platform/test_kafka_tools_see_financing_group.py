"""financing's consumer offsets, stored in its database, are also committed to Kafka after each batch:
Kafka's own kafka-consumer-groups.sh sees the group and its lag reach 0. Its /metrics show the same
lag per topic and partition, and how fresh the applied events were."""
from __future__ import annotations

import asyncio
from datetime import date

from prometheus_client.parser import text_string_to_metric_families

from services.financing.app import app
from services.financing.consumer import TOPICS
from tests.support.financing_events import caught_up, publish, visit
from tests.support.inproc import eventually, running
from tests.support.kafka import consumer_group_describe
from tests.support.people import clinic_id, iins


def samples(text: str, name: str) -> list:
    return [s for family in text_string_to_metric_families(text) for s in family.samples if s.name == name]


async def test_kafka_s_own_tool_sees_the_financing_group_catch_up(settings):
    group = settings.group("financing")
    async with running(app) as client:
        clinic = clinic_id()
        events = [visit(person, clinic, f"grp-{i}", date(2026, 11, 2)) for i, person in enumerate(iins(40))]
        await publish(events)
        await caught_up(client)

        async def kafka_sees_lag_zero():
            rows = await asyncio.to_thread(consumer_group_describe, group)
            visits = [r for r in rows if r["TOPIC"] == settings.topic("visit-recorded")]
            caught = rows and all(r["LAG"] == "0" for r in rows) and \
                sum(int(r["CURRENT-OFFSET"]) for r in visits if r["CURRENT-OFFSET"] != "-") >= len(events)
            return rows if caught else None
        rows = await eventually(kafka_sees_lag_zero, timeout=60, interval=1)
        assert {r["TOPIC"] for r in rows} <= {settings.topic(t) for t in TOPICS}

        async def lag_metric_zero():
            text = (await client.get("/metrics")).text
            lag = [s for s in samples(text, "osms_consumer_lag_events") if s.labels["group"] == "financing"]
            covered = {s.labels["topic"] for s in lag} == set(TOPICS)
            return text if covered and all(s.value == 0 for s in lag) else None
        text = await eventually(lag_metric_zero, timeout=30, interval=0.5)
        fresh = [s for s in samples(text, "osms_consumer_event_freshness_seconds_count")
                 if s.labels["topic"] == "visit-recorded"]
        assert fresh and fresh[0].value >= len(events)
        assert (await client.get("/metrics")).status_code == 200
