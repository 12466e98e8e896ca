"""An in-process registry (with its outbox relay) for each registry integration test module.

Module scope, not package: without an __init__.py "package" lasts the whole session, and a
registry left running would hold the relay's lock while later (synchronous) end-to-end tests
block the event loop, so their registry processes could publish nothing."""
from __future__ import annotations

import pytest

from tests.support.inproc import running
from tests.support.registry_helpers import new_clinic


@pytest.fixture(scope="module")
async def client():
    from services.registry.app import app

    async with running(app) as c:
        yield c


@pytest.fixture
async def clinic(client) -> str:
    return await new_clinic(client)
