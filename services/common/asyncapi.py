"""The event contract as an AsyncAPI 3.0 document, generated from the event models of
services/common/events.py: a channel per topic, its message's key, headers and JSON Schema.

`python -m services.common.asyncapi > docs/asyncapi.json` (make asyncapi); a test holds the file
equal to what this generates."""
from __future__ import annotations

import sys
from typing import Any

import orjson
from pydantic.json_schema import models_json_schema

from services.common.events import _TYPED, EVENT_TYPES

REF = "#/components/schemas/{model}"
KAFKA_BINDING = "0.5.0"

# The message key of each topic (the contract: the person's IIN unless named here).
IIN_KEY = {"type": "string", "pattern": "^[0-9]{12}$", "description": "the person's IIN"}
KEYS: dict[str, dict[str, Any]] = {
    "clinic-registered": {"type": "string", "description": "the clinic_id"},
    "appeal-filed": {"type": "string", "description": "the person's IIN; the appeal_id for an anonymous appeal"},
    "appeal-resolved": {"type": "string", "description": "the person's IIN; the appeal_id for an anonymous appeal"},
}

# Which service publishes each topic (through its outbox relay), and which consume them.
PRODUCERS = {
    "contribution-paid": "contributions",
    "patient-attached": "registry", "patient-detached": "registry", "visit-recorded": "registry",
    "visit-held": "registry", "visit-cleared": "registry", "visit-confirmation-requested": "registry",
    "clinic-registered": "registry",
    "appeal-filed": "feedback", "appeal-resolved": "feedback",
}


def _headers(event_type: str) -> dict[str, Any]:
    text = {"type": "string"}
    return {
        "type": "object",
        "description": "Kafka record headers: CloudEvents binary mode (the value is the envelope, unchanged)",
        "required": ["event_id", "event_type", "ce_specversion", "ce_id", "ce_type", "ce_source", "ce_time"],
        "properties": {
            "event_id": {**text, "format": "uuid", "description": "the envelope's event_id"},
            "event_type": {**text, "const": event_type},
            "ce_specversion": {**text, "const": "1.0"},
            "ce_id": {**text, "format": "uuid", "description": "the envelope's event_id"},
            "ce_type": {**text, "const": f"kz.osms.{event_type}"},
            "ce_source": {**text, "description": "/osms/<producing service>", "examples": ["/osms/registry"]},
            "ce_time": {**text, "format": "date-time",
                        "description": "the envelope's occurred_at; the record's timestamp is the same instant, "
                                       "held between a day before publication and publication"},
            "traceparent": {**text, "description": "W3C Trace Context of the request that wrote the event, "
                                                   "when tracing is on"},
        },
    }


def _title(name: str) -> str:
    return "".join(part.title() for part in name.split("-"))


def document(consumers: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """The AsyncAPI document; `consumers` maps a consumer group to its topics."""
    consumers = consumers or {}
    _, defs = models_json_schema([(model, "validation") for model in _TYPED.values()], ref_template=REF)
    schemas = dict(sorted(defs["$defs"].items()))
    channels: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for topic, model in EVENT_TYPES.items():
        name = _title(topic)
        messages[name] = {
            "name": topic,
            "title": name,
            "summary": (model.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ") or f"{topic} event",
            "contentType": "application/json",
            "headers": _headers(topic),
            "payload": {"$ref": REF.format(model=_TYPED[topic].__name__)},
            "bindings": {"kafka": {"key": KEYS.get(topic, IIN_KEY), "bindingVersion": KAFKA_BINDING}},
        }
        channels[topic] = {
            "address": topic,
            "description": f"Every {topic} event, kept forever (retention -1): projections are rebuilt from it. "
                           f"A key's events stay in one partition, in the order they were written.",
            "messages": {name: {"$ref": f"#/components/messages/{name}"}},
            "bindings": {"kafka": {"topic": topic, "topicConfiguration": {"retention.ms": -1},
                                   "bindingVersion": KAFKA_BINDING}},
        }
        if topic in PRODUCERS:
            operations[f"send{name}"] = {
                "action": "send", "channel": {"$ref": f"#/channels/{topic}"},
                "summary": f"{PRODUCERS[topic]} publishes it through its transactional outbox",
                "messages": [{"$ref": f"#/channels/{topic}/messages/{name}"}],
            }
    for service, topics in consumers.items():
        for topic in topics:
            name = _title(topic)
            operations[f"{_title(service)[0].lower()}{_title(service)[1:]}Receives{name}"] = {
                "action": "receive", "channel": {"$ref": f"#/channels/{topic}"},
                "summary": f"the idempotent batch consumer of group `{service}` applies it",
                "messages": [{"$ref": f"#/channels/{topic}/messages/{name}"}],
            }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "osms events",
            "version": "1",
            "description": "The events osms services publish to Kafka (schema_version 1). Topic names are the "
                           "event names (a deployment may prefix them). The value is a JSON envelope around "
                           "the event's data; unknown fields in data are kept, for forward compatibility. "
                           "Delivery is at least once: a consumer recognises a repeat by event_id, or by the "
                           "data's per-person version.",
        },
        "defaultContentType": "application/json",
        "servers": {
            "local": {"host": "127.0.0.1:19092", "protocol": "kafka",
                      "description": "the single-node broker of `make up` (deploy/local/kafka.sh)"},
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }


def render(doc: dict[str, Any]) -> bytes:
    return orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n"


def consumer_groups() -> dict[str, list[str]]:
    """Every consumer group of the services and the topics it reads."""
    from services.feedback.consumer import CONSUMER as FEEDBACK
    from services.feedback.denials import DENIALS
    from services.financing.consumer import CONSUMER as FINANCING
    from services.registry.consumer import CONSUMER as REGISTRY

    return {spec.group: list(spec.topics) for spec in (FINANCING, FEEDBACK, DENIALS, REGISTRY)}


def main() -> None:
    sys.stdout.buffer.write(render(document(consumer_groups())))


if __name__ == "__main__":
    main()
