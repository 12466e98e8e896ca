"""POST /fhir/Bundle against the real PostgreSQL and Kafka: a clinic information system's batch of FHIR
R4 Encounters is judged visit by visit as POST /v1/visits judges them, and answered as a batch-response
Bundle with an OperationOutcome per entry; a malformed resource or a wrong key gets an OperationOutcome."""
from __future__ import annotations

import copy
from datetime import date

import httpx
import orjson
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.operationoutcome import OperationOutcome

from services.common import clock
from services.common.fhir import CLINIC_SYSTEM, IIN_SYSTEM, RULE_SYSTEM
from services.registry.fhir import EXAMPLE
from tests.support.inproc import key_headers
from tests.support.people import iin
from tests.support.registry_helpers import events_for, new_clinic

FHIR = {"Content-Type": "application/fhir+json"}


def encounter(visit_id: str, clinic: str, person: str, on: str = "2026-10-01T09:15:00+05:00",
              kind: str = "consultation", **changes) -> dict:
    entry = copy.deepcopy(EXAMPLE["entry"][0])
    res = entry["resource"]
    res["identifier"][0]["value"] = visit_id
    res["serviceProvider"]["identifier"]["value"] = clinic
    res["subject"]["identifier"]["value"] = person
    res["period"]["start"] = on
    res["type"][0]["coding"][0]["code"] = kind
    res.update(changes)
    return entry


def bundle(*entries: dict) -> bytes:
    return orjson.dumps({"resourceType": "Bundle", "type": "batch", "entry": list(entries)})


def outcome_of(entry: dict) -> tuple[str, list[tuple[str, str, str | None]]]:
    resp = entry["response"]
    issues = OperationOutcome.model_validate(resp["outcome"]).issue
    return resp["status"], [(i.severity, i.code, i.details.coding[0].code if i.details else None) for i in issues]


async def test_a_batch_of_encounters_is_judged_as_v1_visits_judges_visits(client, clinic):
    person = iin(birth=date(1961, 5, 5), sex="M")
    bad_iin = person[:11] + str((int(person[11]) + 1) % 10)
    malformed = encounter("malformed", clinic, person)
    malformed["resource"]["period"] = {"start": "the third of October"}
    no_id = encounter("no-id", clinic, person)
    no_id["resource"]["identifier"] = []
    patient = {"request": {"method": "POST", "url": "Patient"},
               "resource": {"resourceType": "Patient", "identifier": [{"system": IIN_SYSTEM, "value": person}]}}
    body = bundle(
        encounter("fhir-1", clinic, person),
        encounter("fhir-bad-iin", clinic, bad_iin),
        encounter("fhir-kind", clinic, person, kind="massage"),
        malformed,
        no_id,
        patient,
        encounter("fhir-cancelled", clinic, person, status="cancelled"),
        encounter("fhir-1", clinic, person),                       # the same visit twice
        encounter("fhir-2", clinic, person, on="2026-10-02"),      # a date without a time
    )
    r = await client.post("/fhir/Bundle", content=body, headers=FHIR)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/fhir+json"
    answer = r.json()
    Bundle.model_validate(answer)
    assert answer["type"] == "batch-response"
    assert answer["meta"]["tag"][0]["code"].startswith("visits@")
    got = [outcome_of(e) for e in answer["entry"]]
    assert got[0] == ("201 Created", [("information", "informational", None)])
    assert got[1] == ("422 Unprocessable Entity", [("error", "business-rule", "invalid_iin")])
    assert got[2] == ("422 Unprocessable Entity", [("error", "business-rule", "unknown_kind")])
    assert got[3][0] == "422 Unprocessable Entity" and got[3][1][0][:2] == ("error", "invalid")
    assert "period" in answer["entry"][3]["response"]["outcome"]["issue"][0]["expression"][0]
    assert got[4][0] == "422 Unprocessable Entity"
    assert "identifier" in answer["entry"][4]["response"]["outcome"]["issue"][0]["expression"][0]
    assert got[5][0] == "422 Unprocessable Entity"     # a batch entry here is an Encounter
    assert got[6][0] == "422 Unprocessable Entity"     # a cancelled encounter is no visit
    assert got[7] == ("200 OK", [("information", "duplicate", None)])
    assert got[8] == ("201 Created", [("information", "informational", None)])
    rule = answer["entry"][1]["response"]["outcome"]["issue"][0]["details"]["coding"][0]
    assert rule["system"] == RULE_SYSTEM

    # The same visits through /v1/visits: the same store, so recorded once.
    again = await client.post("/v1/visits", json={"visits": [
        {"visit_id": "fhir-1", "clinic_id": clinic, "iin": person, "date": "2026-10-01", "kind": "consultation",
         "practitioner_id": "DOC-17"},
        {"visit_id": "fhir-2", "clinic_id": clinic, "iin": person, "date": "2026-10-02", "kind": "consultation",
         "practitioner_id": "DOC-17"}]})
    assert [x["status"] for x in again.json()["results"]] == ["duplicate", "duplicate"]
    events = await events_for("visit-recorded", {"clinic_id": clinic}, 2)
    assert sorted((e["data"]["visit_id"], e["data"]["date"], e["data"]["practitioner_id"]) for e in events) == \
        [("fhir-1", "2026-10-01", "DOC-17"), ("fhir-2", "2026-10-02", "DOC-17")]


async def test_a_death_rejects_later_encounters_as_it_rejects_later_visits(client, clinic):
    """A rule of /v1/visits that needs the database: a visit after the person's death."""
    person = iin(birth=date(1950, 2, 2), sex="F")
    today = clock.today()
    died = date.fromordinal(today.toordinal() - 2).isoformat()
    r = await client.post("/v1/attachments", json={"iin": person, "clinic_id": clinic, "reason": "choice",
                                                   "effective_date": died})
    assert r.status_code == 201, r.text
    assert (await client.post(f"/v1/persons/{person}/death", json={"date": died})).status_code == 200
    yesterday = date.fromordinal(today.toordinal() - 1).isoformat()
    r = await client.post("/fhir/Bundle", content=bundle(encounter("after-death", clinic, person, on=yesterday)),
                          headers=FHIR)
    assert [outcome_of(e)[1][0][2] for e in r.json()["entry"]] == ["visit_after_death"]


async def test_a_clinic_key_sends_its_own_encounters_only(client, clinic):
    from services.registry.app import app

    other = await new_clinic(client)
    person = iin(birth=date(1990, 3, 15), sex="F")
    own = await key_headers(app, "clinic", clinic)
    yesterday = date.fromordinal(clock.today().toordinal() - 1).isoformat()  # inside a clinic's report window
    r = await client.post("/fhir/Bundle", content=bundle(encounter("own-1", clinic, person, on=yesterday)),
                          headers={**own, **FHIR})
    assert r.status_code == 200 and r.json()["entry"][0]["response"]["status"] == "201 Created"
    r = await client.post("/fhir/Bundle", content=bundle(encounter("theirs", other, person)),
                          headers={**own, **FHIR})
    assert r.status_code == 403 and r.headers["content-type"] == "application/fhir+json"
    assert OperationOutcome.model_validate(r.json()).issue[0].code == "forbidden"
    operator = await key_headers(app, "operator")
    r = await client.post("/fhir/Bundle", content=bundle(encounter("op", clinic, person)), headers={**operator, **FHIR})
    assert r.status_code == 403
    transport = client._transport
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as anonymous:
        r = await anonymous.post("/fhir/Bundle", content=bundle(encounter("anon", clinic, person)), headers=FHIR)
    assert r.status_code == 401 and r.json()["resourceType"] == "OperationOutcome"
    assert r.json()["issue"][0]["code"] == "login"


async def test_a_malformed_bundle_gets_an_operation_outcome_never_a_500(client, clinic):
    person = iin(birth=date(1985, 7, 22), sex="M")
    one = encounter("m-1", clinic, person)
    cases = [
        b"{not json",
        b"[]",
        orjson.dumps({"resourceType": "Patient"}),
        orjson.dumps({"resourceType": "Bundle", "type": "transaction", "entry": [one]}),
        orjson.dumps({"resourceType": "Bundle", "type": "batch", "entry": []}),
        orjson.dumps({"resourceType": "Bundle", "type": "batch", "entry": [one] * 1001}),
        orjson.dumps({"resourceType": "Bundle", "type": "batch", "entry": [one], "timestamp": "yesterday"}),
        orjson.dumps({"resourceType": "Bundle", "type": "batch", "entry": ["x"]}),
        orjson.dumps({"resourceType": "Bundle", "type": None, "entry": [one]}),
    ]
    for body in cases:
        r = await client.post("/fhir/Bundle", content=body, headers=FHIR)
        assert r.status_code == 422, (body[:80], r.status_code, r.text)
        assert r.headers["content-type"] == "application/fhir+json"
        assert OperationOutcome.model_validate(r.json()).issue[0].severity == "error"
    r = await client.post("/fhir/Bundle", content=bundle(one), headers={"Content-Type": "application/json"})
    assert r.status_code == 200
    r = await client.post("/fhir/Bundle", content=bundle(one), headers={"Content-Type": "text/plain"})
    assert r.status_code == 415
    # Only the FHIR routes take FHIR's media type.
    r = await client.post("/v1/visits", content=b'{"visits": []}', headers=FHIR)
    assert r.status_code == 415
    assert CLINIC_SYSTEM in (await client.get("/openapi.json")).text
