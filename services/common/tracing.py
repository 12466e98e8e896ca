"""Traces (OpenTelemetry), off unless OSMS_OTLP_ENDPOINT is set: HTTP requests (the FastAPI
instrumentation) and SQL (the asyncpg instrumentation) as spans; the W3C traceparent of the request
stored with its outbox rows and sent as a Kafka header; a consumer batch as a span linking the
traces of its events. Off, none of this runs: the hot paths test one flag a call or a batch."""
from __future__ import annotations

from typing import Any

from services.common import logs
from services.common.settings import Settings

_provider: Any = None      # the SDK's TracerProvider while tracing is on
_tracer: Any = None


def enabled() -> bool:
    return _provider is not None


def enable(provider: Any) -> None:
    """Turns tracing on in this process with this TracerProvider (the OTLP one of `configure`, or
    a test's with an in-memory exporter); apps created from now on are instrumented."""
    global _provider, _tracer
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor

    if _provider is not None:
        disable()
    _provider = provider
    _tracer = provider.get_tracer("osms")
    AsyncPGInstrumentor().instrument(tracer_provider=provider)
    logs.current_trace_id = _current_trace_id


def disable() -> None:
    global _provider, _tracer
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor

    if _provider is None:
        return
    AsyncPGInstrumentor().uninstrument()
    _provider = _tracer = None
    logs.current_trace_id = None


def configure(settings: Settings, service: str) -> bool:
    """Tracing on when OSMS_OTLP_ENDPOINT is set (once a process: the first service to ask names the
    resource); True when it is on, however it was turned on."""
    if _provider is None and settings.otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        provider = TracerProvider(resource=Resource.create({"service.name": f"osms-{service}"}))
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=settings.otlp_endpoint)))
        enable(provider)
    return enabled()


def instrument_app(app: Any) -> None:
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(app, tracer_provider=_provider, excluded_urls="healthz,readyz,metrics")


def current_traceparent() -> str | None:
    """The W3C traceparent of the current span, or None outside a recorded one."""
    from opentelemetry import trace

    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None
    return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}"


def _current_trace_id() -> str | None:
    from opentelemetry import trace

    ctx = trace.get_current_span().get_span_context()
    return f"{ctx.trace_id:032x}" if ctx.is_valid else None


def batch_span(name: str, traceparents: set[bytes], attributes: dict[str, Any]):
    """A span for a consumer batch, linked to the trace of each of its events that carried one."""
    from opentelemetry import trace
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    propagator = TraceContextTextMapPropagator()
    links = []
    for tp in traceparents:
        ctx = trace.get_current_span(propagator.extract({"traceparent": tp.decode("latin-1")})).get_span_context()
        if ctx.is_valid:
            links.append(trace.Link(ctx))
    return _tracer.start_as_current_span(name, kind=trace.SpanKind.CONSUMER, links=links, attributes=attributes)
