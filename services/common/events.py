"""The event envelope of the public contract and the data of each event type (schema_version 1).

Topic names are the event names; the message key is the person's IIN (the clinic_id for
clinic-registered, the appeal_id for an anonymous appeal); `event_id` is also a header.
"""
from __future__ import annotations

import os
import uuid
from datetime import date, datetime
from typing import Any, Literal, NamedTuple

import orjson
from asyncpg.pgproto.pgproto import UUID as AsyncpgUUID
from pydantic import BaseModel, ConfigDict, Field, create_model

from services.common import clock
from services.common.ids import IIN


class Envelope(BaseModel):
    event_id: uuid.UUID
    event_type: str
    schema_version: int = 1
    occurred_at: datetime
    producer: str
    data: dict[str, Any]


class EventData(BaseModel):
    """Base of every event's data: unknown fields are kept for forward compatibility."""

    model_config = ConfigDict(extra="allow", frozen=True)


class PatientAttached(EventData):
    attachment_id: str
    iin: IIN
    clinic_id: str
    previous_clinic_id: str | None = None
    reason: Literal["choice", "address_change", "newborn", "campaign"]
    effective_date: date
    birth_date: date
    sex: Literal["M", "F"]
    # Per person, increases with every attachment change: orders attach/detach events of a person.
    person_version: int


class PatientDetached(EventData):
    iin: IIN
    clinic_id: str
    attachment_id: str | None = None
    date: date
    reason: Literal["death", "other"] = "death"
    person_version: int


Integrity = Literal["clear", "held"]


class VisitRecorded(EventData):
    clinic_id: str
    visit_id: str
    iin: IIN
    date: date
    kind: str
    practitioner_id: str | None = None
    # The intake's padded-records checks: a held visit does not count towards activity until a
    # visit-cleared says so. Absent (events before 2026-12): clear.
    integrity: Integrity = "clear"
    reasons: list[str] = []


class VisitHeld(EventData):
    """A recorded visit held after intake (a death registered later, a practitioner's day grown far
    beyond the norm, a patient's denial), or voided for good by an operator (`voided`): either way it
    no longer counts towards activity. Consumers keep the state of the highest `integrity_version`.
    The hold of a patient's denial (reason `patient_denied`) also carries `region`, the clinic's: feedback
    files the patient's service_not_provided complaint from it (an extra field; the other holds have none)."""

    clinic_id: str
    visit_id: str
    iin: IIN
    date: date
    reasons: list[str]
    # Per visit, increases with every change of its integrity state (the intake's state is 0).
    integrity_version: int
    voided: bool = False


class VisitCleared(EventData):
    """A held visit cleared (an operator's decision, a patient's confirmation): it counts again."""

    clinic_id: str
    visit_id: str
    iin: IIN
    date: date
    integrity_version: int


class VisitConfirmationRequested(EventData):
    """A recorded visit its patient is asked to confirm (a sample of visits, larger where records look
    padded), for a notifier (SMS, the Qoldau 24/7 app) to deliver. `code` is the one-time credential of
    POST /v1/visit-confirmations/{code}: it travels only in this event (the registry keeps its SHA-256),
    and is good through `expires_on` (Kazakhstan time), once."""

    iin: IIN
    clinic_id: str
    visit_id: str
    date: date
    kind: str
    code: str
    expires_on: date


class ClinicRegistered(EventData):
    """A clinic created or changed in the registry (the message key is the clinic_id): gives
    consumers the clinic's region and setting, which no person event carries."""

    clinic_id: str
    name: str
    region: str
    settlement: Literal["urban", "rural"]
    # Per clinic, increases with every change: a consumer keeps the highest.
    clinic_version: int


class InsuredPeriod(BaseModel):
    model_config = ConfigDict(populate_by_name=True, frozen=True)
    from_: date = Field(alias="from")
    until: date


class ContributionPaid(EventData):
    iin: IIN
    payer_kind: str
    covered_months: list[str] = []  # months this write covered, "YYYY-MM"
    status: Literal["insured", "grace", "not_insured"]
    reason: str
    status_as_of: date
    insured_until: date | None
    last_covered_month: str | None
    # Per person, strictly increasing: a consumer drops an event older than what it holds.
    status_version: int
    # The person's whole insured timeline (insured or grace), from every covered month so far:
    # lets a consumer answer "insured on date D" for any D without rules of its own.
    insured_periods: list[InsuredPeriod] = []


class AppealFiled(EventData):
    appeal_id: str
    registration_number: str
    kind: Literal["consultation", "complaint"]
    category: str | None = None
    channel: str
    region: str
    clinic_id: str | None = None
    visit_id: str | None = None
    registered_on: date
    due_date: date


class AppealResolved(EventData):
    appeal_id: str
    registration_number: str
    kind: Literal["consultation", "complaint"]
    category: str | None = None
    status: str  # the final status: upheld, rejected, answered, resolved_on_spot, withdrawn
    region: str
    clinic_id: str | None = None
    visit_id: str | None = None
    resolved_on: date


EVENT_TYPES: dict[str, type[EventData]] = {
    "contribution-paid": ContributionPaid,
    "patient-attached": PatientAttached,
    "patient-detached": PatientDetached,
    "visit-recorded": VisitRecorded,
    "visit-held": VisitHeld,
    "visit-cleared": VisitCleared,
    "visit-confirmation-requested": VisitConfirmationRequested,
    "appeal-filed": AppealFiled,
    "appeal-resolved": AppealResolved,
    "clinic-registered": ClinicRegistered,
}


class OutgoingEvent(NamedTuple):
    """An event ready for the outbox: topic, key and the serialized envelope. A plain tuple: a
    10,000-row payroll makes 10,000 of them."""

    topic: str
    key: str
    event_id: uuid.UUID
    payload: bytes


def new_event(event_type: str, data: EventData, *, producer: str, key: str,
              occurred_at: datetime | None = None, event_id: uuid.UUID | None = None) -> OutgoingEvent:
    return event_from_data(event_type, data.model_dump(mode="json", by_alias=True), producer=producer, key=key,
                           occurred_at=(occurred_at or clock.utc_now()).isoformat(), event_id=event_id)


def event_from_data(event_type: str, data: dict[str, Any], *, producer: str, key: str, occurred_at: str,
                    event_id: uuid.UUID | None = None) -> OutgoingEvent:
    """The envelope around data that is valid already (built from a validated model, or from
    values a rule has judged): the hot paths make thousands a request without a model each."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type}")
    eid = event_id or uuid.uuid4()
    envelope = {"event_id": str(eid), "event_type": event_type, "schema_version": 1,
                "occurred_at": occurred_at, "producer": producer, "data": data}
    return OutgoingEvent(event_type, key, eid, orjson.dumps(envelope))


_V4_AND = bytes.fromhex("ffffffffffff0fff3fffffffffffffff")   # version and variant bits cleared ...
_V4_OR = bytes.fromhex("00000000000040008000000000000000")    # ... and set to version 4, RFC 4122


def event_id_bytes(n: int) -> bytes:
    """n random version-4 UUIDs, 16 bytes each, from one read of the system's random source
    (uuid.uuid4() makes a system call per id). The version bits of all n are set at once."""
    raw = int.from_bytes(os.urandom(16 * n), "big")
    return ((raw & int.from_bytes(_V4_AND * n, "big")) | int.from_bytes(_V4_OR * n, "big")).to_bytes(16 * n, "big")


def event_ids(n: int) -> list[uuid.UUID]:
    """n random event ids (see event_id_bytes), as asyncpg's own uuid.UUID, which is made from bytes in C."""
    raw = event_id_bytes(n)
    return [AsyncpgUUID(raw[i:i + 16]) for i in range(0, len(raw), 16)]


def _typed_envelope(event_type: str, model: type[EventData]) -> type[Envelope]:
    """The envelope whose data is this event type's model: one validation pass over the JSON
    (in pydantic-core) instead of a dict built first and validated again."""
    return create_model(f"{model.__name__}Envelope", __base__=Envelope,
                        event_type=(Literal[event_type], ...), data=(model, ...))  # type: ignore[call-overload]


_TYPED: dict[str, type[Envelope]] = {name: _typed_envelope(name, model) for name, model in EVENT_TYPES.items()}


def decode(payload: bytes, event_type: str | None = None) -> tuple[Envelope, EventData]:
    """Parses and validates one message value; raises ValueError (pydantic) when malformed. With
    `event_type` (a consumer knows it from the topic), a value of another type is malformed too."""
    if event_type is None:
        try:
            event_type = orjson.loads(payload)["event_type"]
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            raise ValueError(f"not an event envelope: {exc}") from None
    typed = _TYPED.get(event_type)  # type: ignore[arg-type]
    if typed is None:
        raise ValueError(f"unknown event type {event_type!r}")
    envelope = typed.model_validate_json(payload)
    return envelope, envelope.data  # type: ignore[return-value]
