"""Patients confirm visits, against the real PostgreSQL and Kafka: which visits are asked, the code (128
bits, stored as its SHA-256 only, good once and until its day), one answer for unknown, used and expired
codes, 422 for a wrong answer, 429 for a client trying too many wrong codes; a denial holds the visit and
publishes it for feedback's complaint; the registry's consumer voids the visit of an upheld complaint and
clears the denied visit of a rejected one."""
from __future__ import annotations

import base64
import hashlib
from datetime import date, timedelta

import httpx
import pytest

from services.common import clock
from tests.support.feedback_visits import caught_up
from tests.support.financing_events import publish, upheld
from tests.support.people import iin
from tests.support.registry_confirmations import accept_publication, codes_for, publication
from tests.support.registry_helpers import events_for

MAN = dict(birth=date(1975, 4, 4), sex="M")
WOMAN = dict(birth=date(1975, 4, 4), sex="F")


def visit(visit_id, clinic, person, kind="consultation", practitioner=None, back=2):
    v = {"visit_id": visit_id, "clinic_id": clinic, "iin": person,
         "date": (clock.today() - timedelta(days=back)).isoformat(), "kind": kind}
    if practitioner:
        v["practitioner_id"] = practitioner
    return v


def _app():
    from services.registry.app import app

    return app


def patient(address: str) -> httpx.AsyncClient:
    """A client with no key at all, from its own address (the wrong-code limiter counts by address)."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=_app(), client=(address, 40000)),
                             base_url="http://test")


@pytest.fixture(scope="module", autouse=True)
async def ask_flagged(client):
    path, body = publication()
    r = await client.post(path, json=body)
    accept_publication(r.status_code, r.json())


async def _recorded(client, *visits) -> list[dict]:
    r = await client.post("/v1/visits", json={"visits": list(visits)})
    assert r.status_code == 200, r.text
    return r.json()["results"]


async def _db(sql: str, *args):
    async with _app().state.ctx.pool.acquire() as conn:
        return await conn.fetch(sql, *args)


async def test_held_visits_and_a_flagged_practitioners_are_asked_and_the_code_is_kept_only_as_its_hash(
        client, clinic):
    man, woman, other = iin(**MAN), iin(**WOMAN), iin(**WOMAN)
    # A man's cervical screening: held at intake, so asked; its practitioner is flagged from then on.
    results = await _recorded(client, visit("held-1", clinic, man, "screening_cervical", "doc-a"))
    assert results[0]["integrity"] == "held"
    results = await _recorded(client, visit("flagged-1", clinic, woman, practitioner="doc-a"),
                              visit("other-doc-1", clinic, other, practitioner="doc-b"))
    assert [x["integrity"] for x in results] == ["clear", "clear"]
    codes = await codes_for(clinic, 2)
    assert set(codes) == {"held-1", "flagged-1"}       # doc-b is not flagged: the test's rules ask none of his
    data = codes["flagged-1"]
    assert (data["iin"], data["kind"], data["date"]) == (woman, "consultation", visit("x", clinic, woman)["date"])
    assert data["expires_on"] == (clock.today() + timedelta(days=14)).isoformat()

    rows = await _db("SELECT * FROM visit_confirmations WHERE clinic_id = $1 ORDER BY visit_id", clinic)
    assert [(r["visit_id"], r["sampled_as"], r["practitioner_id"]) for r in rows] == \
        [("flagged-1", "flagged_practitioner", "doc-a"), ("held-1", "held", "doc-a")]
    for r in rows:
        code = codes[r["visit_id"]]["code"]
        assert len(code) == 22 and len(base64.urlsafe_b64decode(code + "==")) == 16
        assert bytes(r["code_sha256"]) == hashlib.sha256(code.encode()).digest()
        assert code not in repr(dict(r))                  # the code itself is stored nowhere


async def test_a_code_answers_once_and_unknown_used_and_expired_codes_get_one_answer(client, clinic, monkeypatch):
    man, woman = iin(**MAN), iin(**WOMAN)
    await _recorded(client, visit("h-1", clinic, man, "screening_cervical", "doc-c"),
                    visit("f-1", clinic, woman, practitioner="doc-c", back=3))
    await _recorded(client, visit("f-2", clinic, woman, practitioner="doc-c"))
    codes = await codes_for(clinic, 3)
    async with patient("10.0.0.1") as p:
        first = await p.post(f"/v1/visit-confirmations/{codes['f-1']['code']}", json={"answer": "confirmed"})
        assert first.status_code == 200, first.text
        assert first.json() == {"answer": "confirmed", "clinic_id": clinic, "date": codes["f-1"]["date"]}
        used = await p.post(f"/v1/visit-confirmations/{codes['f-1']['code']}", json={"answer": "denied"})
        unknown = await p.post(f"/v1/visit-confirmations/{'A' * 22}", json={"answer": "denied"})
        malformed = await p.post("/v1/visit-confirmations/x", json={"answer": "denied"})
        expiry = date.fromisoformat(codes["f-2"]["expires_on"])
        monkeypatch.setattr(clock, "today", lambda: expiry + timedelta(days=1))
        expired = await p.post(f"/v1/visit-confirmations/{codes['f-2']['code']}", json={"answer": "denied"})
        monkeypatch.setattr(clock, "today", lambda: expiry)      # the last day it is good
        still = await p.post(f"/v1/visit-confirmations/{codes['f-2']['code']}", json={"answer": "confirmed"})
    answers = [used, unknown, malformed, expired]
    assert [a.status_code for a in answers] == [404] * 4
    assert len({a.content for a in answers}) == 1
    assert len({tuple(sorted((k, v) for k, v in a.headers.items() if k != "x-request-id")) for a in answers}) == 1
    assert still.status_code == 200
    # The denial under the used code changed nothing: the visit stays clear, answered once.
    rows = await _db("SELECT visit_id, answer FROM visit_confirmations WHERE clinic_id = $1 ORDER BY visit_id", clinic)
    assert [(r[0], r[1]) for r in rows] == [("f-1", "confirmed"), ("f-2", "confirmed"), ("h-1", None)]
    assert await _db("SELECT 1 FROM visit_integrity WHERE clinic_id = $1 AND visit_id = 'f-1'", clinic) == []


async def test_a_wrong_answer_value_is_422_and_needs_no_key(client, clinic):
    await _recorded(client, visit("h-422", clinic, iin(**MAN), "screening_cervical"))
    code = (await codes_for(clinic, 1))["h-422"]["code"]
    async with patient("10.0.0.2") as p:
        for body in ({"answer": "maybe"}, {}, {"answer": "confirmed", "extra": 1}):
            r = await p.post(f"/v1/visit-confirmations/{code}", json=body)
            assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json", r.text
        assert (await p.post(f"/v1/visit-confirmations/{code}", json={"answer": "confirmed"})).status_code == 200


async def test_a_client_trying_many_wrong_codes_is_slowed_down_others_are_not(client, clinic):
    await _recorded(client, visit("h-429", clinic, iin(**MAN), "screening_cervical"))
    code = (await codes_for(clinic, 1))["h-429"]["code"]
    async with patient("10.0.0.3") as guesser, patient("10.0.0.4") as honest:
        for n in range(10):
            r = await guesser.post(f"/v1/visit-confirmations/{n:022d}", json={"answer": "denied"})
            assert r.status_code == 404
        refused = await guesser.post(f"/v1/visit-confirmations/{'B' * 22}", json={"answer": "denied"})
        assert refused.status_code == 429 and refused.json()["rule"] == "too_many_wrong_codes"
        assert 0 < int(refused.headers["retry-after"]) <= 15 * 60
        # Refused even with a good code, which stays good for the patient from elsewhere.
        assert (await guesser.post(f"/v1/visit-confirmations/{code}", json={"answer": "denied"})).status_code == 429
        assert (await honest.post(f"/v1/visit-confirmations/{code}", json={"answer": "confirmed"})).status_code == 200


async def test_a_denial_holds_the_visit_and_publishes_it_with_the_clinics_region(client, clinic):
    woman, man = iin(**WOMAN), iin(**MAN)
    await _recorded(client, visit("h-d", clinic, man, "screening_cervical", "doc-d"))
    await _recorded(client, visit("denied-1", clinic, woman, practitioner="doc-d"))
    codes = await codes_for(clinic, 2)
    async with patient("10.0.0.5") as p:
        r = await p.post(f"/v1/visit-confirmations/{codes['denied-1']['code']}", json={"answer": "denied"})
    assert r.status_code == 200 and r.json()["answer"] == "denied"
    (held,) = await events_for("visit-held", {"clinic_id": clinic, "visit_id": "denied-1"}, 1)
    assert held["data"]["reasons"] == ["patient_denied"] and held["data"]["region"] == "kyzylorda"
    assert held["data"]["voided"] is False
    (row,) = await _db("""SELECT c.answer, c.answered_at IS NOT NULL, i.state, i.changed_by FROM visit_confirmations c
                          JOIN visit_integrity i USING (clinic_id, visit_id) WHERE c.clinic_id = $1
                          AND c.visit_id = 'denied-1'""", clinic)
    assert tuple(row) == ("denied", True, "held", "patient")


async def test_a_confirmation_clears_a_visit_held_for_what_the_patient_can_witness_only(client, clinic):
    woman, man = iin(**WOMAN), iin(**MAN)
    # The same visit twice under two ids: the second is held (repeated_visit), and asked.
    first, second = await _recorded(client, visit("r-1", clinic, woman), visit("r-2", clinic, woman))
    assert (first["integrity"], second["integrity"], second["reasons"]) == ("clear", "held", ["repeated_visit"])
    await _recorded(client, visit("sex-1", clinic, man, "screening_cervical"))
    codes = await codes_for(clinic, 2)
    async with patient("10.0.0.6") as p:
        for visit_id in ("r-2", "sex-1"):
            r = await p.post(f"/v1/visit-confirmations/{codes[visit_id]['code']}", json={"answer": "confirmed"})
            assert r.status_code == 200
    (cleared,) = await events_for("visit-cleared", {"clinic_id": clinic, "visit_id": "r-2"}, 1)
    assert cleared["data"]["integrity_version"] == 1
    states = await _db("SELECT visit_id, state, changed_by FROM visit_integrity WHERE clinic_id = $1 ORDER BY 1", clinic)
    assert [tuple(s) for s in states][0] == ("r-2", "clear", "patient")
    assert [(s[0], s[1]) for s in states][1:] == [("sex-1", "held")]    # the kind against his sex: an operator's


async def test_an_upheld_complaint_voids_the_visit_and_a_rejected_one_clears_a_denied_visit(client, clinic):
    woman, other, man = iin(**WOMAN), iin(**WOMAN), iin(**MAN)
    await _recorded(client, visit("h-u", clinic, man, "screening_cervical", "doc-u"))
    await _recorded(client, visit("deny-up", clinic, woman, practitioner="doc-u"),
                    visit("deny-rej", clinic, other, practitioner="doc-u"), visit("clear-up", clinic, other, back=5))
    codes = await codes_for(clinic, 3)
    async with patient("10.0.0.7") as p:
        for visit_id in ("deny-up", "deny-rej", "h-u"):
            r = await p.post(f"/v1/visit-confirmations/{codes[visit_id]['code']}", json={"answer": "denied"})
            assert r.status_code == 200
    # Feedback's decisions: a complaint about a clear visit once; the others twice each (a relay publishes
    # at least once), applied once.
    await publish([upheld(clinic, "clear-up", appeal_id="A-clear")])
    await publish([upheld(clinic, "deny-up", appeal_id="A-up"),
                   upheld(clinic, "deny-rej", status="rejected", appeal_id="A-rej"),
                   upheld(clinic, "h-u", status="rejected", appeal_id="A-hu"),
                   upheld(clinic, "deny-up", category="quality_of_care")], duplicate_every=1)
    voided = await events_for("visit-held", {"clinic_id": clinic, "voided": True}, 2)
    assert sorted(e["data"]["visit_id"] for e in voided) == ["clear-up", "deny-up"]
    (cleared,) = await events_for("visit-cleared", {"clinic_id": clinic, "visit_id": "deny-rej"}, 1)
    await caught_up(_app())    # every decision applied
    states = await _db("SELECT visit_id, state, version, reasons, changed_by FROM visit_integrity "
                       "WHERE clinic_id = $1 ORDER BY 1", clinic)
    # A rejected complaint leaves a visit held for more than the denial to an operator; another category of
    # complaint changes nothing.
    assert [tuple(s[:4]) for s in states] == [("clear-up", "void", 2, ["complaint_upheld"]),
                                              ("deny-rej", "clear", 2, ["patient_denied"]),
                                              ("deny-up", "void", 2, ["patient_denied"]),
                                              ("h-u", "held", 1, ["kind_sex", "patient_denied"])]
    assert [s[4] for s in states] == ["appeal R-A-clear", "appeal R-A-rej", "appeal R-A-up", "patient"]
    # Nothing applied twice: one void per visit, one clear.
    assert len(await events_for("visit-held", {"clinic_id": clinic, "voided": True}, 2)) == 2


async def test_the_risk_lists_carry_the_patients_denial_rate(client, clinic):
    from tests.support.inproc import key_headers

    await _recorded(client, visit("h-e", clinic, iin(**MAN), "screening_cervical", "doc-e"))
    asked = [visit(f"e-{n}", clinic, iin(**WOMAN), practitioner="doc-e") for n in range(3)]
    await _recorded(client, *asked, visit("f-0", clinic, iin(**WOMAN), practitioner="doc-f"))
    codes = await codes_for(clinic, 4)
    async with patient("10.0.0.7") as p:
        for visit_id, answer in (("e-0", "denied"), ("e-1", "denied"), ("e-2", "confirmed")):
            r = await p.post(f"/v1/visit-confirmations/{codes[visit_id]['code']}", json={"answer": answer})
            assert r.status_code == 200, r.text
    r = await client.get(f"/v1/integrity/clinics/{clinic}/practitioners", headers=await key_headers(_app(), "operator"))
    assert r.status_code == 200, r.text
    rows = {x["practitioner_id"]: x for x in r.json()["rows"]}
    # h-e was asked and not answered: two denials among three answers
    assert (rows["doc-e"]["confirmations"], rows["doc-e"]["denial_rate"]) == (3, 0.6667)
    assert (rows["doc-f"]["confirmations"], rows["doc-f"]["denial_rate"]) == (0, None)
    assert r.json()["rows"][0]["practitioner_id"] == "doc-e" and rows["doc-e"]["risk"] >= 0.6667
