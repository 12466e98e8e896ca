"""The feedback consumer: the visits the registry recorded (visit-recorded), so that an upheld
service_not_provided complaint names a real one. One database transaction per batch (rows + offsets)."""
from __future__ import annotations

from services.common.app import ConsumerSpec, ServiceContext
from services.common.consumer import ApplyBatch
from services.common.events import decode
from services.common.native import osms_native
from services.feedback import store

TOPICS = ["visit-recorded"]


def read_visit(payload: bytes, topic: str) -> tuple[None, tuple[str, str, str]]:
    """(clinic_id, visit_id, iin) of a visit-recorded message: the native decoder takes canonical
    events (every visit passes here, so the models' cost a message would be felt end to end); what
    it does not take, the models read or find malformed (ValueError)."""
    fast = osms_native.financing_event(topic, payload)
    if fast is not None:
        return None, fast[1:4]
    _, data = decode(payload, topic)
    return None, (data.clinic_id, data.visit_id, data.iin)


def make_apply(_ctx: ServiceContext | None = None) -> ApplyBatch:
    return store.learn_visits


# Visits are looked up when an operator upholds a complaint, days later: larger batches, gathered a
# little longer, cost less a visit (docs/performance.md, feedback's consumer).
CONSUMER = ConsumerSpec(group="feedback", topics=TOPICS, make_apply=make_apply, decode=read_visit,
                        fetch_min_bytes=4 * 1024 * 1024)
