"""feedback: a patient's denial of a visit becomes a service_not_provided complaint.

The registry holds a visit its patient denied (answering a confirmation request) and publishes visit-held
with reason `patient_denied` and the clinic's `region`. This consumer (a group of its own, so that the
visit-recorded consumer's hot path does not carry it) files the complaint, once per visit: a repeat of
the event, or a later hold of the same visit, finds it under the same idempotency key.
"""
from __future__ import annotations

import hashlib
from typing import Any

import asyncpg

from services.common.app import ConsumerSpec, ServiceContext
from services.common.clock import KZ_TZ
from services.common.consumer import ApplyBatch, Event
from services.common.events import Envelope, VisitHeld, decode
from services.common.rules import load_snapshot
from services.feedback import domain, store
from services.feedback.rules import RULE_TABLES, appeal_rules

TOPICS = ["visit-held"]
PATIENT_DENIED = "patient_denied"
CHANNEL = "mobile_app"          # the patient answered the request delivered by SMS or the Qoldau 24/7 app
FILED_BY = "patient (visit confirmation)"


def read_denial(payload: bytes, topic: str) -> tuple[Envelope | None, Any]:
    """A denial's envelope and data; (None, None) for any other hold, skipped unread (most holds are not
    denials)."""
    if PATIENT_DENIED.encode() not in payload:
        return None, None
    return decode(payload, topic)


def denial_of(data: VisitHeld | None) -> VisitHeld | None:
    """The hold of a patient's denial (it carries the clinic's region); a later hold or the void of the
    same visit repeats the reason but not the region, and files nothing."""
    if data is None or data.voided or PATIENT_DENIED not in data.reasons or not getattr(data, "region", None):
        return None
    return data


def complaint_of(d: VisitHeld) -> domain.AppealIn:
    return domain.AppealIn(CHANNEL, "complaint", domain.VOIDING_CATEGORY, d.region, d.iin, d.clinic_id, d.visit_id,
                           f"The patient denied the visit of {d.date.isoformat()} when asked to confirm it.")


async def file_denials(conn: asyncpg.Connection, events: list[Event]) -> None:
    denials = [(e.envelope, d) for e in events if (d := denial_of(e.data)) is not None]
    if not denials:
        return
    snap = await load_snapshot(conn, RULE_TABLES)
    for envelope, d in denials:
        registered_at = envelope.occurred_at.astimezone(KZ_TZ)   # when the patient denied it
        rules = appeal_rules(snap, registered_at.date())
        if rules is None:
            raise RuntimeError("no deadline rule is published: the complaint waits until one is")
        due = domain.due_date(registered_at.date(), rules.calendars, rules.deadline)
        key = f"visit-denied:{d.clinic_id}:{d.visit_id}"
        await store.register(conn, complaint_of(d), registered_at=registered_at, registered_on=registered_at.date(),
                             due=due, by=FILED_BY, idempotency_key=key,
                             request_hash=hashlib.sha256(f"{key}:{d.iin}".encode()).digest())


def make_apply(_ctx: ServiceContext | None = None) -> ApplyBatch:
    return file_denials


DENIALS = ConsumerSpec(group="feedback-denials", topics=TOPICS, make_apply=make_apply, decode=read_denial)
