"""The Grafana dashboard and the Prometheus alert rules in deploy/observability/ query only metrics the
services expose: the four apps are started in-process, their /metrics scraped, and every metric name
a query uses must be among them (promtool checks the rules themselves: make check-observability)."""
from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from services.contributions.app import app as contributions
from services.feedback.app import app as feedback
from services.financing.app import app as financing
from services.registry.app import app as registry
from tests.support.inproc import running
from tests.support.observability import alert_queries, dashboard, dashboard_queries, metrics_in

SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}


async def exposed_names() -> set[str]:
    names: set[str] = set()
    for app in (contributions, registry, financing, feedback):
        async with running(app, role=None) as client:
            assert (await client.get("/healthz")).status_code == 200      # an HTTP request counted
            text = (await client.get("/metrics")).text
        for family in text_string_to_metric_families(text):
            names |= {family.name + s for s in SUFFIXES.get(family.type, ("",))}
            names |= {s.name for s in family.samples}
    return names


async def test_every_metric_the_dashboard_and_the_alerts_query_is_exposed():
    exposed = await exposed_names()
    assert "osms_http_request_duration_seconds_bucket" in exposed and "osms_consumer_lag_events" in exposed
    for source, queries in (("dashboard", dashboard_queries(dashboard())), ("alerts", alert_queries())):
        used = metrics_in(queries)
        assert used, source
        assert used <= exposed, f"{source} queries metrics no service exposes: {sorted(used - exposed)}"
