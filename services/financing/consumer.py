"""The financing consumer: one database transaction per batch (projection rows + offsets)."""
from __future__ import annotations

import asyncpg

from services.common.app import ConsumerSpec, ServiceContext
from services.common.consumer import Event
from services.financing import store
from services.financing.projection import reduce_batch

TOPICS = ["patient-attached", "patient-detached", "visit-recorded", "contribution-paid", "appeal-resolved"]


def make_apply(_ctx: ServiceContext):
    async def apply(conn: asyncpg.Connection, events: list[Event]) -> None:
        await store.apply_changes(conn, reduce_batch(events))

    return apply


CONSUMER = ConsumerSpec(group="financing", topics=TOPICS, make_apply=make_apply)
