"""A patient's denial of a visit (the registry's visit-held with reason patient_denied and the clinic's
region) becomes one service_not_provided complaint, whatever repeats; other holds file nothing."""
from __future__ import annotations

import uuid
from datetime import date

import pytest

from services.common.events import VisitHeld
from services.feedback.app import app
from tests.support import people
from tests.support.feedback_visits import caught_up
from tests.support.financing_events import publish
from tests.support.inproc import running
from tests.support.kafka import read_topic


@pytest.fixture(scope="module")
async def client():
    async with running(app) as c:
        yield c


def hold(iin, clinic, visit_id, reasons, version, **extra) -> VisitHeld:
    return VisitHeld(clinic_id=clinic, visit_id=visit_id, iin=iin, date=date(2026, 12, 1), reasons=reasons,
                     integrity_version=version, **extra)


async def test_a_denial_files_one_complaint_and_other_holds_none(client):
    patient, other, clinic = people.iin(), people.iin(), people.clinic_id()
    denied, volume = f"V-{uuid.uuid4().hex[:8]}", f"V-{uuid.uuid4().hex[:8]}"
    await publish([
        hold(patient, clinic, denied, ["patient_denied"], 1, region="Kyzylorda"),
        # The same visit held again later (its reasons repeat the denial, without the region), then voided.
        hold(patient, clinic, denied, ["patient_denied", "after_death"], 2),
        hold(patient, clinic, denied, ["patient_denied", "after_death"], 3, voided=True),
        hold(other, clinic, volume, ["practitioner_volume"], 1),
    ], duplicate_every=1)     # every event twice, as an at-least-once relay may
    await caught_up(app)
    r = await client.get("/v1/appeals", params={"clinic_id": clinic})
    assert r.status_code == 200
    (appeal,) = r.json()["appeals"]
    assert (appeal["kind"], appeal["category"], appeal["channel"], appeal["region"], appeal["visit_id"],
            appeal["status"]) == ("complaint", "service_not_provided", "mobile_app", "Kyzylorda", denied, "registered")
    full = (await client.get(f"/v1/appeals/{appeal['appeal_id']}")).json()
    assert full["iin"] == patient and "denied the visit of 2026-12-01" in full["text"]
    assert full["transitions"][0]["by"] == "patient (visit confirmation)"
    filed = [e for e in await read_topic("appeal-filed") if e["value"]["data"]["appeal_id"] == appeal["appeal_id"]]
    assert len(filed) == 1 and filed[0]["key"] == patient
