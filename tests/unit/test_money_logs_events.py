import uuid
from datetime import date
from decimal import Decimal

import orjson
import pytest
from pydantic import BaseModel, ValidationError

from services.common.events import PatientAttached, VisitRecorded, decode, new_event
from services.common.logs import mask_ids
from services.common.money import Money, to_money


class _Amount(BaseModel):
    amount: Money


def test_money_is_exact_and_serialized_as_string():
    assert _Amount(amount="4250.00").model_dump(mode="json") == {"amount": "4250.00"}
    assert _Amount(amount="0.10").amount + _Amount(amount="0.20").amount == Decimal("0.30")
    assert to_money(Decimal("2550.005")) == Decimal("2550.01")  # half up


@pytest.mark.parametrize("bad", [4250.0, 4250, "4250", "42.001", "42.1", "NaN", "abc", True, "-1.00", "1e3",
                                 "0495713893007538838332699150716529273027400.38", "٤٢.٥٠", "4_250.00"])
def test_money_rejects_floats_and_sub_tiyn(bad):
    with pytest.raises(ValidationError):
        _Amount(amount=bad)


def test_logs_mask_every_12_digit_identifier():
    assert mask_ids("iin=900101312348 bin 100540012345.") == "iin=9001******** bin 1005********."
    assert mask_ids("order 1234567890123 stays") == "order 1234567890123 stays"  # 13 digits: not an IIN
    # a UUID whose last group happens to be all decimal digits is an id, not an IIN; an IIN after a dash is masked
    assert mask_ids("f8508015-eaaf-45df-a399-224400267410") == "f8508015-eaaf-45df-a399-224400267410"
    assert mask_ids("visit a399-900101312348") == "visit a399-9001********"


def test_event_envelope_round_trip():
    data = VisitRecorded(clinic_id="C1", visit_id="v1", iin="900101312348", date=date(2026, 1, 5), kind="consultation")
    event = new_event("visit-recorded", data, producer="registry", key=data.iin)
    raw = orjson.loads(event.payload)
    assert set(raw) == {"event_id", "event_type", "schema_version", "occurred_at", "producer", "data"}
    assert uuid.UUID(raw["event_id"]) == event.event_id
    envelope, decoded = decode(event.payload)
    assert envelope.event_type == "visit-recorded" and decoded == data


def test_decode_rejects_a_bad_iin_inside_data():
    data = {"attachment_id": "a", "iin": "900101312349", "clinic_id": "C", "reason": "choice",
            "effective_date": "2026-01-01", "birth_date": "1990-01-01", "sex": "M", "person_version": 1}
    payload = orjson.dumps({"event_id": str(uuid.uuid4()), "event_type": "patient-attached", "schema_version": 1,
                            "occurred_at": "2026-01-01T00:00:00Z", "producer": "x", "data": data})
    with pytest.raises(ValidationError):
        decode(payload)
    data["iin"] = "900101312348"
    payload = payload.replace(b"900101312349", b"900101312348")
    assert isinstance(decode(payload)[1], PatientAttached)


def test_decode_with_the_topics_type_rejects_another_type_and_junk():
    data = VisitRecorded(clinic_id="C", visit_id="v1", iin="900101312348", date=date(2026, 1, 5), kind="pc")
    event = new_event("visit-recorded", data, producer="registry", key=data.iin)
    assert decode(event.payload, "visit-recorded")[1] == data
    with pytest.raises(ValidationError):
        decode(event.payload, "patient-attached")   # a visit's data is not an attachment's
    for junk in (b"not json", b"[]", b'{"event_type": "no-such-event"}'):
        with pytest.raises(ValueError):
            decode(junk)
    with pytest.raises(ValueError):
        decode(event.payload, "no-such-event")
