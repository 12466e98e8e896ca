"""The registry reads a visits request with a native fast path (native/src/visits.rs,
`visits_body`) and falls back to the request's pydantic model for what it does not take. Held here
to one rule: whatever the fast path takes, the model takes too and reads the same; what the model
rejects is a 422 either way; and the bodies clinic systems send do take the fast path. Also: the
relay's native partitioning is aiokafka's, and event ids are random version-4 UUIDs."""
from __future__ import annotations

import json
import random
import uuid

import orjson
import pytest
from aiokafka.partitioner import DefaultPartitioner, murmur2

from services.common.events import event_ids
from services.common.native import osms_native
from services.common.outbox import key_partition
from services.common.problems import Problem
from services.registry.app import VisitsIn, visits_of
from services.registry.domain import VisitIn
from tests.support.mutants import field_mutants
from tests.support.people import iins


def _body(n: int = 5, seed: int = 1) -> dict:
    rng = random.Random(seed)
    people = iins(n)
    return {"visits": [{"visit_id": f"V-{i}", "clinic_id": rng.choice(["KYZ-0001", "C.2:a_b"]), "iin": people[i],
                        "date": f"2026-{rng.randint(1, 11):02d}-{rng.randint(1, 28):02d}",
                        "kind": rng.choice(["consultation", "screening"]),
                        "practitioner_id": rng.choice([None, "", "P-17", "Др. Әлия"])} for i in range(n)]}


def _by_model(raw: bytes) -> list[tuple] | None:
    """What the pydantic model reads, or None when it rejects the body."""
    try:
        body = VisitsIn.model_validate_json(raw)
    except ValueError:
        return None
    return [(v.visit_id, v.clinic_id, v.iin, v.date, v.kind, v.practitioner_id) for v in body.visits]


def test_bodies_as_clinic_systems_send_them_take_the_fast_path_and_read_as_the_model_does():
    for raw in (orjson.dumps(_body(1000)), json.dumps(_body(7, seed=2), indent=2, ensure_ascii=False).encode(),
                json.dumps(_body(3, seed=3)).encode()):   # ASCII escapes of the Kazakh letters
        fast = osms_native.visits_body(raw)
        assert fast is not None
        assert fast == _by_model(raw)
        assert [type(x) for x in fast[0]] == [type(x) for x in _by_model(raw)[0]]


# Values put in place of each field in turn: wrong types, nulls, forms only the model's lax mode takes,
# lengths at and over the limits, control characters, dates out of range or not in canonical form.
_REPLACEMENTS = [
    None, 0, 7, -1, 7.0, True, [], {}, "", "x", "7", "x" * 64, "x" * 65, "ә" * 64, "ә" * 65, "1" * 32, "1" * 33,
    "a\nb", "a\tb", "a\x7fb", "a\x00b", "a\u0085b", "2026-02-29", "2024-02-29", "2026-1-5", "0000-01-01",
    "1899-12-31", "2200-01-01", "2026-13-01", "2026-00-10", "2026-01-00", "2026-01-05T00:00:00", "20260105",
    "2026-01-05 ", 1767571200, "900101300017",
]


def _mutants(doc: dict):
    yield from field_mutants(doc, _REPLACEMENTS)
    text = json.dumps(doc)
    yield text.replace('"visit_id":', '"extra": 1, "visit_id":', 1).encode()   # ignored by the model
    yield (text[:-1] + ', "more": []}').encode()
    yield text.replace('"kind":', '"kind": "x", "kind":', 1).encode()            # a key twice
    yield (text + " x").encode()
    yield text[:-1].encode()
    yield b"\xef\xbb\xbf" + text.encode()                                         # a byte-order mark
    yield text.encode().replace(b"V-0", b"V-\xff", 1)                             # not UTF-8
    yield json.dumps({"visits": []}).encode()
    yield json.dumps({"visits": doc["visits"] * 200 + doc["visits"][:1]}).encode()   # 1,001 visits
    yield json.dumps({"visits": doc["visits"] * 200}).encode()                       # 1,000
    yield b"null"
    yield b"[]"


@pytest.mark.parametrize("seed", range(3))
def test_what_the_fast_path_takes_the_model_takes_and_reads_the_same(seed):
    taken = rejected = 0
    for mutant in _mutants(_body(5, seed=seed)):
        fast = osms_native.visits_body(mutant)
        expected = _by_model(mutant)
        if fast is not None:
            taken += 1
            assert expected is not None, mutant          # never records what the model calls malformed
            assert fast == expected, mutant
        if expected is None:
            rejected += 1
            with pytest.raises(Problem) as caught:
                visits_of(mutant)
            assert caught.value.status == 422
        else:
            assert visits_of(mutant) == [VisitIn(*row[:5], row[5] or None) for row in expected], mutant
    assert taken > 50 and rejected > 50        # both sides of the rule were exercised


def test_the_relay_partitions_keys_as_the_producer_would():
    rng = random.Random(5)
    keys = [bytes(rng.randrange(256) for _ in range(n)) for n in range(0, 40) for _ in range(50)]
    keys += [iin.encode() for iin in iins(500)]
    for key in keys:
        assert osms_native.kafka_murmur2(key) == murmur2(key)
        for count in (1, 6, 7):
            partitions = list(range(count))
            assert key_partition(key, count) == DefaultPartitioner()(key, partitions, partitions)
    with pytest.raises(ValueError):
        key_partition(b"k", 0)


def test_event_ids_are_random_version_4_uuids():
    ids = event_ids(10_000)
    assert len(set(ids)) == 10_000
    assert all(isinstance(i, uuid.UUID) and i.version == 4 and i.variant == uuid.RFC_4122 for i in ids)
    assert event_ids(0) == []
