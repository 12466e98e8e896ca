"""Capitation versions built from a test's own values (not the seed migration's), as a RuleSnapshot the
pure rules take, and as the body of a publication."""
from __future__ import annotations

from datetime import date
from typing import Any

from services.common.rules import RuleSnapshot
from services.financing.rules import RULE_TABLES, TABLE
from tests.support.rules import snapshot_of

BANDS = [0, 1, 5, 10, 15, 20, 30, 40, 50, 60, 70]   # the projection's shape, written out


def capitation_values(urban: str = "1000.00", rural: str = "1250.00", **changes: Any) -> dict[str, Any]:
    """A whole capitation version's values as JSON; each band's coefficients differ, male from female."""
    values = {
        "base_rate": {"urban": urban, "rural": rural},
        "age_band_bounds": BANDS,
        "age_sex_coefficients": [{"male": f"{1 + b / 10:.2f}", "female": f"{1.05 + b / 10:.2f}"}
                                 for b in range(len(BANDS))],
        "activity_coefficient": "0.75",
        "insurance_coefficient": "0.85",
        "activity_window_days": 365,
    }
    values.update(changes)
    return values


def publication(effective_from: date, values: dict[str, Any], note: str = "a test's version") -> dict[str, Any]:
    return {"effective_from": effective_from.isoformat(), "values": values, "note": note,
            "legal_basis": {"act": "Приказ (test)", "number": "T-1", "date": "2025-09-01",
                            "url": "https://adilet.zan.kz/rus/docs/V2000021831"}}


def snapshot(*versions: tuple[date, dict[str, Any]]) -> RuleSnapshot:
    """A snapshot holding these capitation versions (effective date, values), in date order."""
    return snapshot_of(RULE_TABLES, {TABLE: list(versions)})


async def version_in_force(client, day: date, cache: dict | None = None) -> dict[str, Any]:
    """The capitation version the service publishes as in force on `day` (GET /v1/rules/capitation), or
    its first version for a day before it: the version a month whose first day is `day` is paid under."""
    if cache is not None and day in cache:
        return cache[day]
    r = await client.get(f"/v1/rules/{TABLE}", params={"on": day.isoformat()})
    if r.status_code == 404:
        tables = (await client.get("/v1/rules")).json()["tables"]
        (first, *_) = next(t for t in tables if t["table"] == TABLE)["versions"]
        r = await client.get(f"/v1/rules/{TABLE}", params={"on": first["effective_from"]})
    assert r.status_code == 200, r.text
    if cache is not None:
        cache[day] = r.json()
    return r.json()
