"""The registry's fast visit-recorded builder makes exactly what new_event() makes."""
from __future__ import annotations

from datetime import date, datetime, timezone

import orjson

from services.common.events import VisitRecorded, decode, new_event
from services.common.ids import make_iin
from services.registry.domain import VisitIn
from services.registry.store import visit_events

PERSON = make_iin(date(1977, 7, 7), "M", 77) or make_iin(date(1977, 7, 7), "M", 78)
AT = datetime(2026, 11, 25, 9, 30, tzinfo=timezone.utc)


def test_visit_events_equal_new_event_but_for_the_event_id():
    visits = [VisitIn("v-1", "C-1", PERSON, date(2026, 10, 1), "screening", "dr-7"),
              VisitIn("v-2", "C-1", PERSON, date(2026, 10, 2), "consultation", None)]
    fast = visit_events(visits, AT)
    for v, event in zip(visits, fast):
        reference = new_event("visit-recorded", VisitRecorded(
            clinic_id=v.clinic_id, visit_id=v.visit_id, iin=v.iin, date=v.date, kind=v.kind,
            practitioner_id=v.practitioner_id), producer="registry", key=v.iin, occurred_at=AT)
        ours, theirs = orjson.loads(event.payload), orjson.loads(reference.payload)
        assert ours.pop("event_id") == str(event.event_id)
        theirs.pop("event_id")
        assert ours == theirs and list(ours["data"]) == list(theirs["data"])
        assert (event.topic, event.key) == (reference.topic, reference.key)
        envelope, data = decode(event.payload)
        assert isinstance(data, VisitRecorded) and data.visit_id == v.visit_id
    assert fast[0].event_id != fast[1].event_id
