"""Backdating bounds by role and discretion towards clinics, against the real PostgreSQL and Kafka.

A clinic's key reaches back only as far as the rule tables let it (attachment clinic_backdate_days,
visits clinic_report_days, published for 2026-12-01 by migration 0005); an admin goes further, an
attachment with a recorded reason. No answer to a clinic's key carries another clinic's id, or another
party's death or attachment dates. The dates are the real today's: the bounded versions are in force."""
from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from services.common import clock
from services.common.ids import make_iin
from services.registry.domain import add_months
from tests.support.inproc import key_headers
from tests.support.people import iin
from tests.support.registry_helpers import BACKDATED, events_for, new_clinic

TODAY = clock.today()


def ago(days: int) -> str:
    return (TODAY - timedelta(days=days)).isoformat()


@pytest.fixture(scope="module")
async def keys(client) -> dict[str, Any]:
    """Two clinics, each with its own key: MINE acts, OTHER's data must not reach it."""
    from services.registry.app import app

    mine, other, third = [await new_clinic(client) for _ in range(3)]
    return {"mine": mine, "other": other, "third": third,
            "clinic": await key_headers(app, "clinic", mine), "other_clinic": await key_headers(app, "clinic", other)}


async def attach(client: httpx.AsyncClient, person: str, clinic: str, effective: str, reason: str = "choice",
                 headers: dict | None = None, backdate_reason: str | None = None) -> httpx.Response:
    body = {"iin": person, "clinic_id": clinic, "reason": reason, "effective_date": effective}
    if backdate_reason is not None:
        body["backdate_reason"] = backdate_reason
    return await client.post("/v1/attachments", json=body, headers=headers)


def visit(visit_id: str, clinic: str, person: str, on: str, kind: str = "consultation") -> dict:
    return {"visit_id": visit_id, "clinic_id": clinic, "iin": person, "date": on, "kind": kind}


async def test_a_clinic_s_backdated_attachment_of_another_clinic_s_patient_is_refused(client, keys):
    person = iin(birth=date(1975, 5, 5))
    assert (await attach(client, person, keys["other"], "2026-03-02", backdate_reason=BACKDATED)).status_code == 201

    refused = await attach(client, person, keys["mine"], "2026-06-01", headers=keys["clinic"])
    assert (refused.status_code, refused.headers["content-type"]) == (409, "application/problem+json")
    assert refused.json()["rule"] == "clinic_backdate_limit"
    assert keys["other"] not in refused.text and "2026-03-02" not in refused.text
    also = await attach(client, person, keys["mine"], "2026-06-01", headers=keys["clinic"], backdate_reason="mine")
    assert also.json()["rule"] == "clinic_backdate_limit"  # a clinic's reason does not lift the bound
    view = (await client.get(f"/v1/persons/{person}")).json()
    assert (view["clinic_id"], len(view["history"])) == (keys["other"], 1)  # the other clinic's past is intact


async def test_a_clinic_reaches_back_exactly_the_bound_and_learns_nothing_of_the_clinic_it_took_over_from(client, keys):
    person, later = iin(), iin()
    for p in (person, later):
        assert (await attach(client, p, keys["other"], "2026-05-05", backdate_reason=BACKDATED)).status_code == 201
    too_old = await attach(client, person, keys["mine"], ago(4), "address_change", headers=keys["clinic"])
    assert (too_old.status_code, too_old.json()["rule"]) == (409, "clinic_backdate_limit")
    taken = await attach(client, person, keys["mine"], ago(3), "address_change", headers=keys["clinic"])
    assert (taken.status_code, taken.json()["previous_clinic_id"]) == (201, None)
    again = await attach(client, person, keys["mine"], ago(3), "address_change", headers=keys["clinic"])
    assert again.json() == taken.json()
    # The clinic that lost the person learns it from the event, with its own id in it.
    event = (await events_for("patient-attached", {"iin": person, "clinic_id": keys["mine"]}, 1))[0]
    assert event["data"]["previous_clinic_id"] == keys["other"]
    # An admin's answer names the previous clinic.
    by_admin = await attach(client, later, keys["mine"], TODAY.isoformat(), "address_change")
    assert (by_admin.status_code, by_admin.json()["previous_clinic_id"]) == (201, keys["other"])


async def test_an_admin_backdates_further_only_with_a_reason_which_is_recorded_with_who_gave_it(client, keys):
    person = iin(birth=date(1968, 8, 8))
    assert (await attach(client, person, keys["other"], "2026-02-10", backdate_reason=BACKDATED)).status_code == 201
    bare = await attach(client, person, keys["mine"], "2026-04-01", "address_change")
    assert (bare.status_code, bare.headers["content-type"]) == (422, "application/problem+json")
    assert (bare.json()["rule"], bare.json()["errors"][0]["loc"]) == ("backdate_reason_required",
                                                                       ["body", "backdate_reason"])
    reason = "moved in March; the clinic's request was lost (ticket 4411)"
    accepted = await attach(client, person, keys["mine"], "2026-04-01", "address_change", backdate_reason=reason)
    assert (accepted.status_code, accepted.json()["previous_clinic_id"]) == (201, keys["other"])
    history = (await client.get(f"/v1/persons/{person}")).json()["history"]
    assert [(h["clinic_id"], h["effective_date"], h["ended_on"], h["backdate_reason"]) for h in history] == [
        (keys["other"], "2026-02-10", "2026-04-01", BACKDATED), (keys["mine"], "2026-04-01", None, reason)]
    assert history[1]["requested_by"].startswith("admin:")
    # A clinic's own attachment within the bound records its key, and no reason.
    fresh = iin()
    assert (await attach(client, fresh, keys["mine"], TODAY.isoformat(), headers=keys["clinic"])).status_code == 201
    own = (await client.get(f"/v1/persons/{fresh}")).json()["history"][0]
    assert own["requested_by"].startswith("clinic:") and own["backdate_reason"] is None


async def test_an_iin_born_after_the_date_it_is_used_for_is_invalid(client, keys):
    unborn = next(x for x in (make_iin(TODAY + timedelta(days=20), "F", s) for s in range(50)) if x)
    r = await attach(client, unborn, keys["mine"], TODAY.isoformat(), "newborn", headers=keys["clinic"])
    assert (r.status_code, r.json()["errors"][0]["loc"], r.json()["rule"]) == (422, ["body", "iin"],
                                                                                 "iin_born_after_date")
    v = await client.post("/v1/visits", headers=keys["clinic"], json={"visits": [
        visit(f"unborn-{unborn}", keys["mine"], unborn, TODAY.isoformat())]})
    assert v.json()["results"][0]["status"] == "rejected"
    assert v.json()["results"][0]["errors"][0].startswith("invalid_iin:")
    newborn = next(x for x in (make_iin(TODAY, "M", s) for s in range(50)) if x)
    assert (await attach(client, newborn, keys["mine"], TODAY.isoformat(), "newborn",
                         headers=keys["clinic"])).status_code == 201


async def test_a_clinic_s_old_visit_is_rejected_alone_and_an_admin_s_correction_is_recorded(client, keys):
    person, mine = iin(), keys["mine"]
    r = await client.post("/v1/visits", headers=keys["clinic"], json={"visits": [
        visit(f"w30-{person}", mine, person, ago(30)), visit(f"w31-{person}", mine, person, ago(31)),
        visit(f"w0-{person}", mine, person, TODAY.isoformat())]})
    assert [(x["status"], x["errors"]) for x in r.json()["results"]] == [
        ("recorded", []), ("rejected", ["report_window_passed"]), ("recorded", [])]
    assert r.json()["rules_version"].endswith("visits@2026-12-07")
    corrected = await client.post("/v1/visits", json={"visits": [
        visit(f"w31-{person}", mine, person, ago(31)), visit(f"old-{person}", mine, person, "2024-02-01")]})
    assert [(x["status"], x["errors"]) for x in corrected.json()["results"]] == [("recorded", []), ("recorded", [])]
    volumes = (await client.get(f"/v1/clinics/{mine}/practitioner-volumes", params={"date": "2024-02-01"})).json()
    assert sum(p["visits"] for p in volumes["practitioners"]) >= 1


async def test_probing_a_dead_person_s_visit_dates_with_a_clinic_key_does_not_tell_the_death_date(client, keys):
    person, mine = iin(birth=date(1940, 1, 1)), keys["mine"]
    died = ago(10)
    assert (await client.post(f"/v1/persons/{person}/death", json={"date": died})).status_code == 200
    window = [ago(n) for n in range(0, 31)]

    async def post(*visits: dict) -> list[tuple]:
        r = await client.post("/v1/visits", headers=keys["clinic"], json={"visits": list(visits)})
        assert r.status_code == 200 and not [s for s in _strings(r.json()) if died in s]
        return [(x["status"], tuple(x["errors"])) for x in r.json()["results"]]

    # With something else wrong, every date answers the same, and nothing is written.
    bad_kind = await post(*(visit(f"k{i}-{person}", mine, person, on, "no_such_kind") for i, on in enumerate(window)))
    assert set(bad_kind) == {("rejected", ("unknown_kind",))}
    # Under a recorded visit id, every other date answers the same, before the death or after it.
    assert await post(visit(f"p-{person}", mine, person, ago(25))) == [("recorded", ())]
    reuse = await post(*(visit(f"p-{person}", mine, person, on) for on in window if on != ago(25)))
    assert set(reuse) == {("rejected", ("conflicts_with_recorded_visit",))}
    # In one request too: the first of an id wins, whatever comes after it.
    same_batch = await post(visit(f"q-{person}", mine, person, ago(20)), visit(f"q-{person}", mine, person, ago(5)))
    assert same_batch == [("recorded", ()), ("rejected", ("conflicts_with_recorded_visit",))]
    # A new visit after the death names the rule only, the same words on any date.
    after = await post(visit(f"n1-{person}", mine, person, ago(9)), visit(f"n2-{person}", mine, person, ago(0)))
    assert after == [("rejected", ("visit_after_death",))] * 2
    assert await post(visit(f"n3-{person}", mine, person, died)) == [("recorded", ())]  # the day itself counts


def _strings(node: Any) -> list[str]:
    """Every key and string value of an answer but the rule versions and their publication times (rule table
    dates, no one's data: a version another test published at 19:00 UTC or later is stamped with the eve of
    Kazakhstan's date) and a problem's instance (the path the caller sent)."""
    if isinstance(node, dict):
        return [s for k, v in node.items() if k not in ("rules_version", "published_at", "instance")
                for s in (k, *_strings(v))]
    if isinstance(node, list):
        return [s for v in node for s in _strings(v)]
    return [str(node)]


async def test_no_answer_to_a_clinic_key_names_another_clinic_or_another_s_dates(client, keys):
    mine, other, third = keys["mine"], keys["other"], keys["third"]
    changed, recent, dead, moved = iin(birth=date(1980, 1, 1)), iin(), iin(), iin()
    next_change = add_months(TODAY - timedelta(days=80), 12).isoformat()
    secrets = {other, third, ago(300), ago(80), next_change, ago(1), ago(2)}
    # Set-up by the admin: history that is the other clinics' business.
    for person, clinic, effective in ((changed, other, ago(300)), (changed, third, ago(80)), (recent, other, ago(1)),
                                      (dead, other, ago(300)), (moved, other, ago(300))):
        assert (await attach(client, person, clinic, effective, backdate_reason=BACKDATED)).status_code == 201
    assert (await client.post(f"/v1/persons/{dead}/death", json={"date": ago(2)})).status_code == 200

    answers: list[httpx.Response] = []

    async def ask(method: str, path: str, **kw) -> httpx.Response:
        r = await client.request(method, path, headers=keys["clinic"], **kw)
        answers.append(r)
        return r

    async def attach_mine(person: str, effective: str, reason: str = "choice") -> httpx.Response:
        return await ask("POST", "/v1/attachments", json={"iin": person, "clinic_id": mine, "reason": reason,
                                                          "effective_date": effective})

    expected = [
        (await attach_mine(changed, TODAY.isoformat()), 409, "voluntary_change_limit"),
        (await attach_mine(recent, ago(3), "address_change"), 409, "effective_date_before_current"),
        (await attach_mine(dead, TODAY.isoformat(), "address_change"), 409, "person_deceased"),
        (await attach_mine(moved, ago(300), "address_change"), 409, "clinic_backdate_limit"),
        (await attach_mine(moved, TODAY.isoformat(), "address_change"), 201, None),
        (await attach_mine(moved, TODAY.isoformat(), "address_change"), 201, None),
        (await attach_mine(moved, TODAY.isoformat(), "choice"), 409, "already_attached"),
        (await attach_mine(recent, ago(5), "address_change"), 409, "clinic_backdate_limit"),
    ]
    assert [(r.status_code, r.json().get("rule")) for r, *_ in expected] == [(s, rule) for _, s, rule in expected]
    visits = await ask("POST", "/v1/visits", json={"visits": [
        visit(f"s1-{dead}", mine, dead, TODAY.isoformat()), visit(f"s2-{dead}", mine, dead, ago(3)),
        visit(f"s3-{changed}", mine, changed, ago(40)), visit(f"s4-{moved}", mine, moved, TODAY.isoformat())]})
    assert [x["status"] for x in visits.json()["results"]] == ["rejected", "recorded", "rejected", "recorded"]
    for method, path, status in (("GET", f"/v1/clinics/{mine}", 200),
                                 ("GET", f"/v1/clinics/{mine}/practitioner-volumes", 200),
                                 ("GET", f"/v1/persons/{dead}", 403), ("GET", f"/v1/clinics/{other}", 403),
                                 ("GET", "/v1/rules/attachment", 200)):
        assert (await ask(method, path)).status_code == status, path
    assert (await ask("POST", "/v1/attachments", json={"iin": moved, "clinic_id": other, "reason": "choice",
                                                       "effective_date": TODAY.isoformat()})).status_code == 403

    leaks = [(r.request.url.path, s) for r in answers for s in _strings(r.json()) if any(x in s for x in secrets)]
    assert leaks == [] and len(answers) == 15
    # An admin asking the same sees the facts.
    admin = await attach(client, changed, mine, TODAY.isoformat())
    assert (admin.json()["rule"], admin.json()["last_change"], admin.json()["next_allowed_from"]) == \
        ("voluntary_change_limit", ago(80), next_change)
    admin = await attach(client, dead, mine, TODAY.isoformat(), "address_change")
    assert (admin.json()["rule"], admin.json()["died_on"]) == ("person_deceased", ago(2))
