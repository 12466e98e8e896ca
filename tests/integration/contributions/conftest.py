"""The contributions service in-process for this folder's tests."""
from __future__ import annotations

import pytest

from services.contributions.app import app
from tests.support.inproc import running


@pytest.fixture(scope="module")
async def client():
    """The contributions service with an admin key, one a test module."""
    async with running(app) as c:
        yield c
