"""The registry's visits as feedback learns them, for tests: publish visit-recorded events and wait until
the feedback app running in-process has applied everything on its topic."""
from __future__ import annotations

from services.common.events import VisitRecorded
from tests.support.financing_events import publish
from tests.support.inproc import eventually


async def caught_up(app) -> None:
    """Waits until the in-process feedback app's consumers have applied every event on their topics."""
    async def done() -> bool:
        try:
            return all([sum(p["lag"] for p in await c.lag()) == 0 for c in app.state.ctx.consumers])
        except RuntimeError:  # the client is (re)starting
            return False
    await eventually(done, timeout=40, interval=0.1)


async def recorded(app, *visits: VisitRecorded, duplicate_every: int = 0) -> None:
    """Publishes the visits as the registry's relay would, and waits until feedback knows them."""
    await publish(list(visits), duplicate_every=duplicate_every)
    await caught_up(app)
