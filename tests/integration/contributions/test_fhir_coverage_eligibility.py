"""POST /fhir/CoverageEligibilityRequest against the real PostgreSQL: a clinic information system asks in
FHIR R4 whether a person is insured and gets a CoverageEligibilityResponse with the same status and
until-when as POST /v1/status-checks; a malformed request or a wrong key gets an OperationOutcome."""
from __future__ import annotations

import copy
from datetime import date

import orjson
from fhir.resources.R4B.coverageeligibilityresponse import CoverageEligibilityResponse
from fhir.resources.R4B.operationoutcome import OperationOutcome

from services.common import clock
from services.contributions import domain
from services.contributions.app import app
from services.contributions.fhir import EXAMPLE, STATUS_EXTENSION
from tests.support.inproc import key_headers
from tests.support.people import bin_, clinic_id, iin, iins

FHIR = {"Content-Type": "application/fhir+json"}
THIS_MONTH = domain.month_of(clock.today())


def request(person: str, clinic: str | None = None, **changes) -> bytes:
    body = copy.deepcopy(EXAMPLE)
    body["patient"]["identifier"]["value"] = person
    body.pop("servicedDate")
    if clinic:
        body["provider"]["identifier"]["value"] = clinic
    else:
        body.pop("provider")
    body.update(changes)
    return orjson.dumps(body)


async def test_the_answer_is_the_status_check_in_fhir(client):
    paid, nobody = iins(2, birth=date(1980, 5, 5))
    r = await client.post("/v1/payrolls", json={"employer_bin": bin_(), "period": domain.month_str(THIS_MONTH - 1),
                                                "reference": "fhir-elig-1",
                                                "rows": [{"iin": paid, "income": "400000.00", "kind": "employee"}]})
    assert r.status_code == 201, r.text
    clinic = clinic_id()
    key = await key_headers(app, "clinic", clinic)
    checks = (await client.post("/v1/status-checks", json={"iins": [paid, nobody]}, headers=key)).json()["results"]

    for person, check in zip((paid, nobody), checks):
        r = await client.post("/fhir/CoverageEligibilityRequest", content=request(person, clinic),
                              headers={**key, **FHIR})
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "application/fhir+json"
        answer = CoverageEligibilityResponse.model_validate(r.json())
        assert answer.patient.identifier.value == person
        assert answer.request.reference == "CoverageEligibilityRequest/elig-0001"
        assert answer.servicedDate == clock.today()
        assert answer.outcome == "complete"
        (status,) = [e.valueCode for e in answer.extension if e.url == STATUS_EXTENSION]
        assert status == check["status"]
        assert answer.insurance[0].inforce is (check["status"] != "not_insured")
        period = answer.insurance[0].benefitPeriod
        assert (period.end.isoformat() if period else None) == check["insured_until"]
    assert checks[0]["status"] == "insured" and checks[1]["status"] == "not_insured"

    # On a date: the same rules; a person not yet born then is a 422.
    r = await client.post("/fhir/CoverageEligibilityRequest", content=request(paid, servicedDate="2020-01-01"),
                          headers={"Content-Type": "application/json"})
    assert r.status_code == 200
    assert r.json()["extension"][0]["valueCode"] == "not_insured" and r.json()["servicedDate"] == "2020-01-01"
    newborn = iin(birth=clock.today())
    r = await client.post("/fhir/CoverageEligibilityRequest", content=request(newborn, servicedDate="2020-01-01"),
                          headers=FHIR)
    assert r.status_code == 422 and "birth date" in r.json()["issue"][0]["diagnostics"]


async def test_keys_apply_as_to_status_checks(client):
    person = iin(birth=date(1990, 1, 1))
    own = clinic_id()
    key = await key_headers(app, "clinic", own)
    r = await client.post("/fhir/CoverageEligibilityRequest", content=request(person, clinic_id()),
                          headers={**key, **FHIR})
    assert r.status_code == 403 and OperationOutcome.model_validate(r.json()).issue[0].code == "forbidden"
    employer = await key_headers(app, "employer", bin_())
    r = await client.post("/fhir/CoverageEligibilityRequest", content=request(person), headers={**employer, **FHIR})
    assert r.status_code == 403 and r.headers["content-type"] == "application/fhir+json"
    r = await client.post("/fhir/CoverageEligibilityRequest", content=request(person),
                          headers={"Authorization": "Bearer osms_nope_nope", **FHIR})
    assert r.status_code == 401 and r.json()["issue"][0]["code"] == "login"


async def test_a_malformed_request_gets_an_operation_outcome_never_a_500(client):
    person = iin(birth=date(1990, 1, 1))
    no_patient = orjson.loads(request(person))
    no_patient.pop("patient")
    other_system = orjson.loads(request(person))
    other_system["patient"]["identifier"]["system"] = "urn:oid:1.2.3"
    bad_iin = person[:11] + str((int(person[11]) + 1) % 10)
    cases = [b"{nope", b"17", orjson.dumps({"resourceType": "Patient"}), orjson.dumps(no_patient),
             orjson.dumps(other_system), request(bad_iin), request(person, servicedDate="07.12.2026"),
             request(person, purpose=["nonsense"]), request(person, status="draft"),
             request(person, insurer=None), request(person, patient=None)]  # a required element as null
    for body in cases:
        r = await client.post("/fhir/CoverageEligibilityRequest", content=body, headers=FHIR)
        assert r.status_code == 422, (body[:60], r.status_code, r.text)
        assert r.headers["content-type"] == "application/fhir+json"
        assert OperationOutcome.model_validate(r.json()).issue[0].severity == "error"
    r = await client.post("/fhir/CoverageEligibilityRequest", content=request(person), headers={"Content-Type": "text/xml"})
    assert r.status_code == 415
