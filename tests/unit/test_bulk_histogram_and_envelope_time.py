"""The consumer's bulk histogram update equals one observe() an event; the relay finds an envelope's
occurred_at without parsing the JSON."""
from __future__ import annotations

import random
from datetime import date, datetime, timezone

import pytest
from prometheus_client import CollectorRegistry, Histogram

from services.common.consumer import observe_ages
from services.common.events import VisitRecorded, new_event
from services.common.outbox import EARLIEST_MS, occurred_at, record_timestamp

BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)


def _samples(h: Histogram) -> dict:
    return {(s.name, s.labels.get("le")): s.value for m in h.collect() for s in m.samples
            if not s.name.endswith("_created")}


def test_observing_a_batch_s_ages_at_once_equals_observing_each_age():
    rng = random.Random(7)
    now = 1_800_000_000_000.0
    ages = [rng.choice([0, 50, 1000, 5000, 9500, 400, 10, -20, rng.randint(0, 10_000)]) for _ in range(5000)]
    one, bulk = (Histogram("h", "h", buckets=BUCKETS, registry=CollectorRegistry()) for _ in range(2))
    for age in ages:
        one.observe(age / 1000)
    observe_ages(bulk, [int(now) - age for age in ages], now)
    observe_ages(bulk, [], now)
    assert _samples(one) == pytest.approx(_samples(bulk))     # the sum, added in another order
    assert _samples(bulk)[("h_count", None)] == 5000


def test_the_relay_reads_occurred_at_from_the_envelope_as_written():
    at = datetime(2026, 12, 3, 9, 15, 42, 250000, tzinfo=timezone.utc)
    data = VisitRecorded(clinic_id="C1", visit_id="occurred_at", iin="900101312348", date=date(2026, 1, 5), kind="x")
    event = new_event("visit-recorded", data, producer="registry", key=data.iin, occurred_at=at)
    assert occurred_at(event.payload) == at.isoformat().encode()
    assert occurred_at(b'{"event_id": "x", "occurred_at" : "2026-01-01T00:00:00Z", "data": {}}') == b"2026-01-01T00:00:00Z"
    assert occurred_at(b'{"data": {}}') == b""


def test_a_record_s_timestamp_is_the_occurrence_held_within_what_a_broker_takes():
    now = int(datetime(2026, 12, 7, 12, 0, tzinfo=timezone.utc).timestamp() * 1000)
    assert record_timestamp(b"2026-12-07T11:59:58.500000+00:00", now) == now - 1500
    assert record_timestamp(b"2027-02-01T10:00:00+05:00", now) == now          # ahead of the relay's clock
    assert record_timestamp(b"2026-04-03T10:00:00+05:00", now) == now - EARLIEST_MS
    assert record_timestamp(b"", now) == now
