"""The native fast paths read bytes off the wire: a multi-byte character anywhere in a text field
(where a date ends, inside a time or an id) must leave the value to the models, never raise. Slicing
a str at a byte that is not a character boundary panics in Rust (pyo3's PanicException, which no
`except ValueError` catches)."""
from __future__ import annotations

from datetime import date

import orjson

from services.common.events import decode, new_event
from services.common.native import osms_native
from services.financing.projection import reading_of
from tests.support.financing_events import TOPIC_OF, attached, detached, paid, upheld, visit
from tests.support.people import iins


def _by_models(topic: str, payload: bytes) -> tuple | None:
    try:
        return reading_of(decode(payload, topic)[1])
    except ValueError:
        return None


def _events() -> list[tuple[str, bytes]]:
    a, b = iins(2)
    events = [attached(a, "C1", date(2026, 1, 5), 1), detached(a, "C1", date(2026, 2, 1), 2),
              visit(b, "C1", "V-1", date(2026, 3, 1)), paid(b, 3, [(date(2026, 1, 1), date(2026, 3, 31))]),
              upheld("C1", "V-1")]
    return [(TOPIC_OF[type(e)], new_event(TOPIC_OF[type(e)], e, producer="test", key="k").payload) for e in events]


def _multibyte_mutants(doc: dict):
    """The document with each character of each string (envelope and data) replaced in turn by a
    two-byte one, then by a three-byte one."""
    for part in (doc, doc["data"]):
        for key, value in list(part.items()):
            if not isinstance(value, str):
                continue
            for i in range(len(value)):
                for c in ("é", "€"):
                    part[key] = value[:i] + c + value[i + 1:]
                    yield orjson.dumps(doc)
            part[key] = value


def test_a_multibyte_character_anywhere_is_left_to_the_models_never_a_panic():
    tried = 0
    for topic, payload in _events():
        for mutant in _multibyte_mutants(orjson.loads(payload)):
            fast = osms_native.financing_event(topic, mutant)    # raises PanicException on a bad slice
            if fast is not None:
                assert fast == _by_models(topic, mutant), mutant
            tried += 1
    assert tried > 500
