"""contributions HTTP routes."""
from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter

from services.common.app import ServiceSpec, create_app

router = APIRouter(prefix="/v1")

spec = ServiceSpec(
    name="contributions",
    title="osms contributions",
    routers=[router],
    migrations=Path(__file__).parent / "migrations",
)
app = create_app(spec)
