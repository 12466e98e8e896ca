"""Feedback reads a visit-recorded message natively when it can, by the models otherwise: the same
(clinic_id, visit_id, iin) either way, and a malformed message is refused."""
from __future__ import annotations

from datetime import date

import orjson
import pytest

from services.common.events import VisitRecorded, new_event
from services.feedback.consumer import read_visit
from tests.support.people import iin


def test_both_paths_read_the_same_visit_and_a_malformed_one_is_refused():
    person = iin()
    event = new_event("visit-recorded", VisitRecorded(clinic_id="C1", visit_id="v-1", iin=person,
                                                      date=date(2026, 11, 3), kind="consultation"),
                      producer="registry", key=person)
    assert read_visit(event.payload, "visit-recorded") == (None, ("C1", "v-1", person))
    # Another key order and spacing: not the canonical form the native path takes, read by the models.
    reordered = orjson.loads(event.payload)
    reordered = {"data": reordered.pop("data"), **reordered}
    assert read_visit(orjson.dumps(reordered, option=orjson.OPT_INDENT_2), "visit-recorded") == \
        (None, ("C1", "v-1", person))
    broken = orjson.loads(event.payload)
    broken["data"]["iin"] = "123"
    with pytest.raises(ValueError):
        read_visit(orjson.dumps(broken), "visit-recorded")
