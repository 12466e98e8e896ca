"""The financing consumer reads events with a native fast path (native/src/events.rs) and falls back
to the pydantic models for what it does not take. Held here to one rule: whatever the fast path
accepts, the models accept too and read the same; whatever the models reject is malformed (a
ValueError, so a dead letter) either way; and canonical events do take the fast path. A clinic's
event is the exception that proves it: the fast path leaves out the settlement, so the consumer
reads clinic events by the models alone."""
from __future__ import annotations

import json
import random
from datetime import date

import orjson
import pytest

from services.common.events import ClinicRegistered, decode, new_event
from services.common.native import osms_native
from services.financing.projection import CLINIC, read_event, reading_of
from tests.support.financing_events import (TOPIC_OF, attached, cleared, detached, held, paid, random_population,
                                            upheld, visit)
from tests.support.mutants import field_mutants
from tests.support.people import iins


def _valid_events() -> list[tuple[str, bytes]]:
    rng = random.Random(11)
    people = iins(40)
    events = random_population(rng, people, ["C1", "C2", "C3"])
    events += [
        attached(people[0], "C2", date(2026, 1, 5), 9, reason="newborn").model_copy(update={"previous_clinic_id": "C1"}),
        detached(people[1], "C2", date(2026, 2, 1), 9).model_copy(update={"attachment_id": "A-9", "reason": "other"}),
        visit(people[2], "C1", "V-p", date(2026, 3, 1)).model_copy(update={"practitioner_id": "P-1"}),
        paid(people[3], 4, []),
        upheld("C1", "V-x").model_copy(update={"category": None, "clinic_id": None, "visit_id": None}),
        visit(people[4], "C1", "V-h", date(2026, 3, 2)).model_copy(update={"integrity": "held",
                                                                           "reasons": ["kind_sex", "kind_age"]}),
        held(people[4], "C1", "V-h", date(2026, 3, 2), 3, voided=True),
        held(people[5], "C2", "V-i", date(2026, 3, 3), 1),
        cleared(people[4], "C1", "V-h", date(2026, 3, 2), 2),
    ]
    out = [(TOPIC_OF[type(e)], new_event(TOPIC_OF[type(e)], e, producer="test", key="k").payload) for e in events]
    clinic = ClinicRegistered(clinic_id="C1", name="Поликлиника №1", region="kyzylorda", settlement="rural",
                              clinic_version=3)
    out.append(("clinic-registered", new_event("clinic-registered", clinic, producer="registry", key="C1").payload))
    return out


def _by_models(topic: str, payload: bytes) -> tuple | None:
    """What the pydantic models read, or None when they find the event malformed."""
    try:
        return reading_of(decode(payload, topic)[1])
    except ValueError:
        return None


def test_canonical_events_of_every_kind_take_the_fast_path_and_read_as_the_models_do():
    kinds = set()
    for topic, payload in _valid_events():
        fast = osms_native.financing_event(topic, payload)
        assert fast is not None, payload
        assert fast == _by_models(topic, payload)
        assert [type(x) for x in fast] == [type(x) for x in _by_models(topic, payload)]
        assert read_event(payload, topic) == _by_models(topic, payload)
        kinds.add(topic)
    assert kinds == {"patient-attached", "patient-detached", "visit-recorded", "contribution-paid", "appeal-resolved",
                     "clinic-registered", "visit-held", "visit-cleared"}


# Values put in place of each field in turn: wrong types, nulls, forms only the models' lax mode
# takes, dates, times and ids out of range or not in canonical form.
_REPLACEMENTS = [
    None, 0, 7, -1, 7.0, 3.5, "7", "", "x", True, [], {}, "2026-02-29", "2024-02-29", "2026-1-5", "0000-01-01",
    "2026-01-05T00:00:00", "2026-01-05T10:00:00", "2026-01-01 10:00:00", "2026-01-01t10:00:00z",
    "2026-01-01T24:00:00Z", "2026-01-01T10:00:00.1234567+00:00", "2026-01-01T10:00:00+24:00",
    "2026-01-01T10:00:00-05:30", "12345678123456781234123456789abc", "{12345678-1234-1234-1234-123456789abc}",
    "12345678-1234-1234-1234-123456789ABC", "900101300017", "900101300018", "901301300010", "upheld",
    "service_not_provided", "M", "f", "campaign", "other", "urban", "grace", "complaint", 2**63, -(2**63) - 1,
]


def _mutants(topic: str, payload: bytes):
    yield from field_mutants(orjson.loads(payload), _REPLACEMENTS)
    text = payload.decode()
    yield (text[:-1] + ', "extra": {"a": [1, null]}}').encode()       # an unknown field: ignored by both
    yield text.replace('"data":{', '"data":{"unknown":1,', 1).encode()   # kept by the models, unused
    yield text.replace('"from":', '"from_":', 1).encode()                # the models also take the name
    yield text.replace('"producer":', '"producer":"a","producer":', 1).encode()   # a key twice
    yield (text + " x").encode()
    yield text[:-1].encode()
    yield text.replace('"event_type":"', '"event_type":"x', 1).encode()


@pytest.mark.parametrize("seed", range(3))
def test_what_the_fast_path_takes_the_models_take_and_read_the_same(seed):
    events = _valid_events()
    rng = random.Random(seed)
    taken = rejected = 0
    for topic, payload in rng.sample(events, 12) + [e for e in events if e[0] == "clinic-registered"]:
        for mutant in _mutants(topic, payload):
            fast = osms_native.financing_event(topic, mutant)
            expected = _by_models(topic, mutant)
            if fast is not None:
                taken += 1
                assert expected is not None, mutant          # never applies what the models call malformed
                assert fast == expected, mutant
            if expected is None:
                rejected += 1
                with pytest.raises(ValueError):
                    read_event(mutant, topic)
            else:
                assert read_event(mutant, topic) == expected, mutant
    assert taken > 100 and rejected > 100      # both sides of the rule were exercised


def test_a_clinics_event_is_read_with_its_settlement():
    (payload,) = [p for topic, p in _valid_events() if topic == "clinic-registered"]
    assert read_event(payload, "clinic-registered") == (CLINIC, "C1", 3, "kyzylorda", "Поликлиника №1", "rural")


def test_an_event_on_another_topic_is_malformed_for_both():
    topic, payload = next(e for e in _valid_events() if e[0] == "visit-recorded")
    assert osms_native.financing_event("patient-attached", payload) is None
    with pytest.raises(ValueError):
        read_event(payload, "patient-attached")


def test_a_version_beyond_64_bits_is_malformed_not_a_batch_that_fails():
    topic, payload = next(e for e in _valid_events() if e[0] == "patient-attached")
    doc = orjson.loads(payload)
    doc["data"]["person_version"] = 2**63
    with pytest.raises(ValueError, match="64 bits"):
        read_event(json.dumps(doc).encode(), topic)


def test_the_events_the_other_services_publish_take_the_fast_path():
    """The contributions and registry services build their hot events without a model each
    (contributions.store.events_of, registry.store.visit_events): financing reads them natively too."""
    from datetime import datetime, timezone

    from services.contributions import domain as contributions
    from services.contributions.rules import month_index as mi
    from services.contributions.store import Change, events_of
    from services.registry.domain import VisitIn
    from services.registry.store import visit_events

    a, b = iins(2)
    covered = contributions.masks_from_months(range(mi(2021, 1), mi(2026, 1)))
    statuses = events_of([Change(a, "employee", ["2025-12"]), Change(b, "self", [])],
                       {a: (*covered, 7), b: (*covered, 2)}, date(2026, 2, 10))
    visits = visit_events([VisitIn("v-1", "C-1", a, date(2026, 10, 1), "screening", "dr-7"),
                           VisitIn("v-2", "C-1", b, date(2026, 10, 2), "consultation", None)],
                          datetime.now(timezone.utc))
    for event in statuses + visits:
        fast = osms_native.financing_event(event.topic, event.payload)
        assert fast is not None and fast == _by_models(event.topic, event.payload)
