"""The contribution-paid events a write publishes: the fast path builds what the shared models
and services.common.events.new_event would, and consumers can decode it."""
from __future__ import annotations

from datetime import date

import orjson

from services.common.events import ContributionPaid, decode, event_from_data, new_event
from services.contributions import domain
from services.contributions.rules import month_index as mi
from services.contributions.store import Change, contribution_paid, events_of
from tests.support.people import iins


def test_fast_events_equal_the_shared_model_and_envelope():
    a, b, c, d = iins(4)
    sixty = domain.masks_from_months(range(mi(2021, 1), mi(2026, 1)))
    one_state = domain.masks_from_months([mi(2026, 10)], state_only=[mi(2026, 10)])
    state = {a: (*sixty, 7), b: (*sixty, 2), c: (*one_state, 1), d: (*sixty, 12)}
    changes = [Change(a, "employee", ["2025-12"]), Change(b, "civil_contract", []), Change(c, "state", ["2026-10"]),
               Change(d, "self", ["2025-10", "2025-11"])]
    as_of = date(2026, 2, 10)
    events = events_of(changes, state, as_of)
    assert [e.key for e in events] == [a, b, c, d] and len({e.event_id for e in events}) == 4
    for ch, event in zip(changes, events):
        envelope, data = decode(event.payload)
        covered, nonstate, version = state[ch.iin]
        assert data == contribution_paid(ch, covered, nonstate, version, as_of)
        assert str(envelope.event_id) == str(event.event_id)
        reference = orjson.loads(new_event("contribution-paid", data, producer="contributions", key=ch.iin).payload)
        mine = orjson.loads(event.payload)
        assert mine.keys() == reference.keys() and mine["data"] == reference["data"]
        assert (mine["event_type"], mine["schema_version"], mine["producer"]) == \
            (reference["event_type"], reference["schema_version"], reference["producer"])
        # byte for byte the envelope the shared builder makes of the model's data
        assert event.payload == event_from_data(
            "contribution-paid", data.model_dump(mode="json", by_alias=True), producer="contributions", key=ch.iin,
            occurred_at=mine["occurred_at"], event_id=event.event_id).payload
    first = decode(events[0].payload)[1]
    assert isinstance(first, ContributionPaid)
    assert (first.status, first.reason, first.status_version) == ("grace", "continuity_60m", 7)
    assert first.insured_until == date(2026, 7, 31) and first.last_covered_month == "2025-12"
    assert [(p.from_, p.until) for p in first.insured_periods] == [(date(2021, 1, 1), date(2026, 7, 31))]
    third = decode(events[2].payload)[1]
    assert (third.status, third.reason, third.payer_kind) == ("not_insured", "none", "state")
