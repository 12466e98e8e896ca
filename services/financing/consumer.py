"""The financing consumer: one database transaction per batch (projection rows + offsets)."""
from __future__ import annotations

from services.common.app import ConsumerSpec, ServiceContext
from services.common.consumer import ApplyBatch
from services.financing import store
from services.financing.projection import decode_for_consumer

TOPICS = ["patient-attached", "patient-detached", "visit-recorded", "contribution-paid", "appeal-resolved",
          "clinic-registered", "visit-held", "visit-cleared"]


def make_apply(_ctx: ServiceContext | None = None) -> ApplyBatch:
    return store.apply_events


# Messages are read by the projection's own reader (projection.read_event), which gives the fields it uses.
CONSUMER = ConsumerSpec(group="financing", topics=TOPICS, make_apply=make_apply, decode=decode_for_consumer)
