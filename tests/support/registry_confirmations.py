"""Patients confirm visits, for tests: a confirmations version that asks every visit of a flagged
practitioner and every held one (and no other), and the codes the registry sent."""
from __future__ import annotations

from services.common import clock
from tests.support.registry_helpers import events_for

# The test's version: deterministic, so that a test knows which visits are asked.
ASK_FLAGGED_ONLY = {"base_rate": "0", "flagged_clinic_rate": "0", "flagged_practitioner_rate": "1", "held_rate": "1",
                    "flag_window_days": 90, "code_valid_days": 14,
                    "confirmation_clears": ["practitioner_volume", "repeated_visit"], "wrong_codes_allowed": 10,
                    "wrong_codes_window_minutes": 15}


def publication() -> tuple[str, dict]:
    """The path and body that publish ASK_FLAGGED_ONLY effective today."""
    return "/v1/rules/confirmations", {
        "effective_from": clock.today().isoformat(), "values": ASK_FLAGGED_ONLY,
        "note": "test: every visit of a flagged practitioner and every held one, no other",
        "legal_basis": {"act": "test act", "number": "1", "date": "2026-01-01", "url": "https://example.org/act"}}


def accept_publication(status: int, body: dict) -> None:
    """Published now, or by another test module of this run (the same database): either way in force."""
    assert status == 201 or (status == 409 and body.get("rule") == "rule_version_exists"), body


async def codes_for(clinic: str, count: int) -> dict[str, dict]:
    """visit_id -> the data of its visit-confirmation-requested event, once `count` of the clinic's are out."""
    events = await events_for("visit-confirmation-requested", {"clinic_id": clinic}, count)
    return {e["data"]["visit_id"]: e["data"] for e in events}
