"""The registry's consumer: appeal-resolved, so that a visit's integrity follows the decision on a
service_not_provided complaint. Upheld: the visit is voided (held first if it was clear), as financing
voids it. Rejected: a visit held only because its patient denied it is cleared. One database
transaction per batch (the changes, their visit-held / visit-cleared outbox rows and the offsets), so
nothing is lost or applied twice."""
from __future__ import annotations

import asyncpg

from services.common.app import ConsumerSpec, ServiceContext
from services.common.consumer import ApplyBatch, Event
from services.common.events import AppealResolved
from services.registry import integrity
from services.registry.domain import CLEAR, COMPLAINT_UPHELD, HELD, PATIENT_DENIED

TOPICS = ["appeal-resolved"]
VOIDING_CATEGORY = "service_not_provided"


async def apply_resolutions(conn: asyncpg.Connection, events: list[Event]) -> None:
    for e in events:
        d: AppealResolved = e.data
        if d.category != VOIDING_CATEGORY or d.clinic_id is None or d.visit_id is None:
            continue
        actor = f"appeal {d.registration_number}"
        state = await integrity.state_of(conn, d.clinic_id, d.visit_id)
        if state is None:     # not a visit of this registry: nothing to change
            continue
        if d.status == "upheld":
            if state.state == CLEAR:
                await integrity.hold(conn, [(d.clinic_id, d.visit_id)], [COMPLAINT_UPHELD], actor)
            if state.state in (CLEAR, HELD):
                await integrity.void(conn, d.clinic_id, d.visit_id, actor, "service_not_provided complaint upheld")
        elif d.status == "rejected" and state.state == HELD and state.reasons == (PATIENT_DENIED,):
            # Held for other reasons too: those are an operator's to decide.
            await integrity.clear(conn, d.clinic_id, d.visit_id, actor, "service_not_provided complaint rejected")


def make_apply(_ctx: ServiceContext | None = None) -> ApplyBatch:
    return apply_resolutions


# Read with the event models (services/common/events.py): resolutions are few.
CONSUMER = ConsumerSpec(group="registry", topics=TOPICS, make_apply=make_apply)
