"""One source for each schema: the Python models. The native decoders (native/src/events.rs for the
financing consumer's events, native/src/visits.rs for the registry's visits body) stand in for them
on the hot paths, and report what they accept (osms_native.decoder_schemas(): field names and
required fields read off their own serde types, allowed values, lengths and patterns from the
constants they check with). Held equal here, so that an event type, a field, an allowed value or a
limit added on one side fails until the other follows."""
from __future__ import annotations

from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types
import pytest
from pydantic import BaseModel, Field, WithJsonSchema, create_model

from services.common.events import EVENT_TYPES, Envelope, PatientDetached, VisitRecorded
from services.common.ids import IIN
from services.common.inputs import Day
from services.common.native import osms_native
from services.financing.consumer import TOPICS
from services.registry.app import VisitsIn

NATIVE = osms_native.decoder_schemas()
_IIN_CHECK = get_args(IIN)[1]      # the decoders check an IIN field with iin_problem, as the model does
_DAY_CHECKS = get_args(Day)[1:]    # and a date as exactly YYYY-MM-DD, a real day (calendar.rs iso_day)


def _literal_values(annotation: Any) -> set | None:
    """The values a Literal (or an optional Literal) allows; None for any other type."""
    if get_origin(annotation) is Literal:
        return set(get_args(annotation))
    if get_origin(annotation) in (Union, UnionType):
        parts = [_literal_values(a) for a in get_args(annotation) if a is not type(None)]
        if parts and all(p is not None for p in parts):
            return set().union(*parts)
    return None


def _item_model(annotation: Any) -> type[BaseModel] | None:
    if get_origin(annotation) is list:
        (item,) = get_args(annotation)
        if isinstance(item, type) and issubclass(item, BaseModel):
            return item
    return None


def model_schema(model: type[BaseModel]) -> dict:
    """A model's schema in the form of the native report (normalized). A constraint the report has
    no place for is listed under "not reported", which the native side never has: a new kind of
    constraint fails the comparison until the decoder checks it and reports it."""
    out: dict = {"fields": set(), "required": set(), "allowed": {}, "lengths": {}, "patterns": {}, "items": {}}
    unknown = {}
    for name, f in model.model_fields.items():
        key = f.alias or name
        out["fields"].add(key)
        if f.is_required():
            out["required"].add(key)
        if (values := _literal_values(f.annotation)) is not None:
            out["allowed"][key] = values
        if (item := _item_model(f.annotation)) is not None:
            out["items"][key] = model_schema(item)
        low = high = None
        for m in f.metadata:
            if isinstance(m, annotated_types.MinLen):
                low = m.min_length
            elif isinstance(m, annotated_types.MaxLen):
                high = m.max_length
            elif type(m).__name__ == "_PydanticGeneralMetadata" and set(vars(m)) == {"pattern"}:
                out["patterns"][key] = m.pattern
            elif isinstance(m, WithJsonSchema):
                continue  # what the OpenAPI document says, no check
            elif m is not _IIN_CHECK and not any(m is d for d in _DAY_CHECKS):
                unknown[key] = repr(m)
        if low is not None or high is not None:
            out["lengths"][key] = (low or 0, high)
    if unknown:
        out["not reported"] = unknown
    return out


def native(schema: dict) -> dict:
    """A native report, normalized: sets where order does not matter."""
    return {"fields": set(schema["fields"]), "required": set(schema["required"]),
            "allowed": {k: set(v) for k, v in schema["allowed"].items()},
            "lengths": {k: tuple(v) for k, v in schema["lengths"].items()},
            "patterns": dict(schema["patterns"]),
            "items": {k: native(v) for k, v in schema["items"].items()}}


def test_the_fast_path_decodes_every_event_type_the_financing_consumer_reads_and_no_other():
    assert set(NATIVE["events"]) == set(TOPICS)
    assert set(TOPICS) <= set(EVENT_TYPES)


@pytest.mark.parametrize("event_type", TOPICS)
def test_an_event_types_fields_required_fields_and_allowed_values_are_the_models(event_type):
    assert event_type in NATIVE["events"], f"the native decoder does not read {event_type}"
    assert native(NATIVE["events"][event_type]) == model_schema(EVENT_TYPES[event_type])


def test_the_event_envelope_is_the_models():
    assert native(NATIVE["event envelope"]) == model_schema(Envelope)


def test_the_visits_body_its_fields_and_their_limits_are_the_request_models():
    assert native(NATIVE["visits body"]) == model_schema(VisitsIn)


def test_a_difference_on_either_side_is_seen():
    """The comparison itself: what a change on one side would look like."""
    visits = native(NATIVE["events"]["visit-recorded"])
    more = create_model("VisitRecordedPlus", __base__=VisitRecorded, room=(str, ...))
    assert visits != model_schema(more)                                       # a field added to the model
    optional = create_model("VisitRecordedOptional", __base__=VisitRecorded, kind=(str, "consultation"))
    assert visits != model_schema(optional)                                   # a required field made optional
    detached = native(NATIVE["events"]["patient-detached"])
    widened = create_model("Widened", __base__=PatientDetached, reason=(Literal["death", "other", "moved"], "death"))
    assert detached != model_schema(widened)                                  # an allowed value added
    limited = create_model("Limited", __base__=VisitRecorded, kind=(Annotated[str, Field(max_length=10)], ...))
    assert visits != model_schema(limited)                                    # a limit added
    bounded = create_model("Bounded", __base__=PatientDetached, person_version=(Annotated[int, Field(ge=0)], ...))
    assert "not reported" in model_schema(bounded)                            # a kind of check not reported
    report = NATIVE["events"]["visit-recorded"]
    assert native({**report, "fields": report["fields"][:-1]}) != model_schema(VisitRecorded)   # one gone natively
