"""The packed outbox row's format (native outbox_pack / outbox_unpack): what goes in comes out, in
order, each key with the partition a plain send would choose; a damaged row is refused."""
from __future__ import annotations

import os

import pytest

from services.common.native import osms_native
from services.common.outbox import key_partition

EVENTS = [("900101300123", os.urandom(16), b'{"n":1}'),
          ("Дәрігер №5", os.urandom(16), b""),
          ("", os.urandom(16), b"x" * 70_000),
          ("C-0001", os.urandom(16), "қ".encode() * 10)]


def hyphenated(raw: bytes) -> bytes:
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}".encode()


@pytest.mark.parametrize("partitions", [1, 3, 12])
def test_unpack_gives_back_each_event_in_order_with_its_key_s_partition(partitions):
    out = osms_native.outbox_unpack(osms_native.outbox_pack(EVENTS), partitions)
    assert [(k.decode(), i, p) for _, k, i, p in out] == [(k, hyphenated(i), p) for k, i, p in EVENTS]
    assert [part for part, *_ in out] == [key_partition(k.encode(), partitions) for k, _, _ in EVENTS]


def test_a_row_cut_anywhere_but_between_events_is_refused():
    packed = osms_native.outbox_pack(EVENTS[:2] + EVENTS[3:])
    ends, at = {0}, 0
    for key, _, payload in EVENTS[:2] + EVENTS[3:]:
        at += 2 + len(key.encode()) + 16 + 4 + len(payload)
        ends.add(at)
    assert at == len(packed)
    for cut in range(len(packed)):
        if cut in ends:
            assert len(osms_native.outbox_unpack(packed[:cut], 1)) == sorted(ends).index(cut)
        else:
            with pytest.raises(ValueError):
                osms_native.outbox_unpack(packed[:cut], 1)


def test_what_cannot_be_packed_is_refused():
    with pytest.raises(ValueError):
        osms_native.outbox_pack([("k" * 65_536, os.urandom(16), b"{}")])
    with pytest.raises(ValueError):
        osms_native.outbox_pack([("k", os.urandom(15), b"{}")])
    with pytest.raises(ValueError):
        osms_native.outbox_unpack(osms_native.outbox_pack(EVENTS), 0)
