"""The feedback consumer: the visits the registry recorded (visit-recorded), so that an upheld
service_not_provided complaint names a real one. One database transaction per batch (rows + offsets)."""
from __future__ import annotations

from services.common.app import ConsumerSpec, ServiceContext
from services.common.consumer import ApplyBatch
from services.feedback import store

TOPICS = ["visit-recorded"]


def make_apply(_ctx: ServiceContext | None = None) -> ApplyBatch:
    return store.learn_visits


CONSUMER = ConsumerSpec(group="feedback", topics=TOPICS, make_apply=make_apply)
