"""The Grafana dashboard of deploy/observability/ is dashboard JSON with a query on every panel, and
shows what operators need (the names are checked against live /metrics in tests/integration/platform/)."""
from __future__ import annotations

from tests.support.observability import dashboard, dashboard_queries, metrics_in


def test_the_dashboard_is_grafana_json_with_a_query_on_every_panel():
    d = dashboard()
    assert d["uid"] and d["title"] and d["schemaVersion"] >= 36
    assert [v["name"] for v in d["templating"]["list"]][0] == "datasource"
    assert len({p["id"] for p in d["panels"]}) == len(d["panels"])
    for p in d["panels"]:
        assert set(p["gridPos"]) == {"h", "w", "x", "y"} and p["gridPos"]["x"] + p["gridPos"]["w"] <= 24
        if p["type"] == "row":
            continue
        assert p["title"] and p["targets"] and all(t["expr"] and t["refId"] for t in p["targets"]), p["title"]
        assert p["datasource"]["uid"] == "${datasource}"


def test_the_dashboard_shows_http_lag_freshness_outbox_batches_rules_and_kafka():
    used = metrics_in(dashboard_queries(dashboard()))
    for wanted in ("osms_http_requests_total", "osms_http_request_duration_seconds_bucket",
                   "osms_consumer_lag_events", "osms_consumer_event_freshness_seconds_bucket",
                   "osms_outbox_oldest_age_seconds", "osms_consumer_batch_seconds_bucket",
                   "osms_rules_horizon_days", "osms_kafka_up"):
        assert wanted in used
