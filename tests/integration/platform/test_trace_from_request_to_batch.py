"""With tracing on, one trace runs from the registry's request (its SQL among its spans) through the
outbox row and the Kafka header to financing's consumer batch, whose span links the trace; the
request's log lines carry its trace id. Spans are collected by an in-memory exporter."""
from __future__ import annotations

import pytest
import structlog
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from services.common import tracing
from services.common.app import create_app
from services.common.logs import with_trace_id
from services.common.settings import get_settings
from services.financing.app import spec as financing_spec
from services.registry.app import spec as registry_spec
from tests.support.financing_events import caught_up
from tests.support.inproc import eventually, running
from tests.support.kafka import read_topic
from tests.support.people import clinic_id


@pytest.fixture
def spans():
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.enable(provider)
    try:
        yield exporter
    finally:
        tracing.disable()


async def test_one_trace_from_the_registry_s_request_to_financing_s_batch(spans):
    registry, financing = create_app(registry_spec, get_settings()), create_app(financing_spec, get_settings())
    clinic = clinic_id()
    async with running(registry) as reg, running(financing) as fin:
        with structlog.testing.capture_logs([structlog.contextvars.merge_contextvars, with_trace_id]) as lines:
            r = await reg.put(f"/v1/clinics/{clinic}", json={"name": "Traced", "region": "Kyzylorda",
                                                             "settlement": "urban"})
        assert r.status_code in (200, 201), r.text
        await caught_up(fin)

        async def finished():
            server = [s for s in spans.get_finished_spans() if s.kind == SpanKind.SERVER
                      and s.attributes.get("http.route") == "/v1/clinics/{clinic_id}"]
            if not server:
                return None
            trace_id = server[-1].context.trace_id
            batches = [s for s in spans.get_finished_spans() if s.name.endswith("financing batch")
                       and any(link.context.trace_id == trace_id for link in s.links)]
            return (trace_id, batches) if batches else None
        trace_id, batches = await eventually(finished, timeout=30)

    in_trace = [s for s in spans.get_finished_spans() if s.context.trace_id == trace_id]
    assert any(s.attributes.get("db.system") == "postgresql" or s.attributes.get("db.system.name") == "postgresql"
               for s in in_trace), "the request's SQL is a span of its trace"
    assert batches[0].kind == SpanKind.CONSUMER
    # The message carried the request's traceparent; the access line its trace id.
    message = next(m for m in await read_topic("clinic-registered") if m["key"] == clinic)
    assert message["headers"]["traceparent"].decode().split("-")[1] == f"{trace_id:032x}"
    access = next(line for line in lines if line["event"] == "request" and line["route"] == "/v1/clinics/{clinic_id}")
    assert access["trace_id"] == f"{trace_id:032x}"

