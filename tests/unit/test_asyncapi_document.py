"""docs/asyncapi.json is the event contract as the models define it (regenerate: make asyncapi),
and a valid AsyncAPI 3.0 document."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import orjson

from services.common.asyncapi import consumer_groups, document, render
from services.common.events import EVENT_TYPES, VisitRecorded, new_event

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "tests/support/schemas/asyncapi-3.0.0.json").read_text())


def test_the_document_in_docs_equals_what_the_models_generate():
    current = render(document(consumer_groups()))
    assert (ROOT / "docs/asyncapi.json").read_bytes() == current, "the event models changed: run `make asyncapi`"


def test_the_document_is_valid_asyncapi_3():
    doc = document(consumer_groups())
    jsonschema.Draft7Validator(SCHEMA).validate(doc)
    broken = copy.deepcopy(doc)
    broken["channels"]["visit-recorded"]["address"] = 5
    assert list(jsonschema.Draft7Validator(SCHEMA).iter_errors(broken))    # the check has teeth


def test_every_topic_is_a_channel_keyed_by_iin_unless_named_with_its_payload_schema():
    doc = document(consumer_groups())
    assert set(doc["channels"]) == set(EVENT_TYPES)
    messages = doc["components"]["messages"]
    keys = {m["name"]: m["bindings"]["kafka"]["key"]["description"] for m in messages.values()}
    assert keys["visit-recorded"] == "the person's IIN" and keys["clinic-registered"] == "the clinic_id"
    assert {op["channel"]["$ref"] for op in doc["operations"].values() if op["action"] == "send"} == \
        {f"#/channels/{t}" for t in EVENT_TYPES}, "say which service publishes a new topic (asyncapi.PRODUCERS)"
    # A real envelope validates against its message's payload schema.
    event = new_event("visit-recorded", VisitRecorded(clinic_id="C1", visit_id="v1", iin="900101312348",
                                                      date="2026-01-05", kind="consultation"),
                      producer="registry", key="900101312348")
    payload_schema = {**messages["VisitRecorded"]["payload"], "components": doc["components"]}
    jsonschema.Draft202012Validator(payload_schema).validate(orjson.loads(event.payload))
    wrong = orjson.loads(event.payload)
    del wrong["data"]["visit_id"]
    assert list(jsonschema.Draft202012Validator(payload_schema).iter_errors(wrong))
