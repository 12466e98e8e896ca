"""Helpers for the registry tests: a new clinic, and the events published for a person or clinic."""
from __future__ import annotations

import httpx

from tests.support.inproc import eventually
from tests.support.kafka import read_topic
from tests.support.people import clinic_id


# An admin's reason for setting up history further back than a clinic may reach.
BACKDATED = "test set-up: history recorded by an admin"


async def new_clinic(client: httpx.AsyncClient, region: str = "kyzylorda", settlement: str = "urban") -> str:
    cid = clinic_id("REG")
    r = await client.put(f"/v1/clinics/{cid}", json={"name": f"Clinic {cid}", "region": region,
                                                      "settlement": settlement})
    assert r.status_code == 201, r.text
    return cid


async def events_for(topic: str, match: dict, count: int, timeout: float = 20.0) -> list[dict]:
    """Waits until at least `count` events on `topic` have data matching `match`; returns them all."""
    def matching(events):
        return [e["value"] for e in events if all(e["value"]["data"].get(k) == v for k, v in match.items())]

    async def enough():
        found = matching(await read_topic(topic))
        return found if len(found) >= count else None

    return await eventually(enough, timeout=timeout, interval=0.2)
