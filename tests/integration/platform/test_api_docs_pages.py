"""Every service's /docs (Swagger UI) and /redoc (ReDoc) work on a closed network: the pages and the
scripts they load come from the service itself, and the document they show is the integrators' one."""
from __future__ import annotations

import importlib
import re

import pytest

from tests.support.inproc import running

SERVICES = ["contributions", "registry", "financing", "feedback"]


@pytest.mark.parametrize("service", SERVICES)
async def test_swagger_ui_and_redoc_are_served_from_the_service(service):
    app = importlib.import_module(f"services.{service}.app").app
    async with running(app, role=None) as client:
        for page, script in (("/docs", "/docs/assets/swagger-ui-bundle.js"),
                             ("/redoc", "/redoc/assets/redoc.standalone.js")):
            r = await client.get(page)
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
            loaded = re.findall(r'(?:src|href)="([^"]+)"', r.text)
            assert script in loaded, (page, loaded)
            assert not [u for u in loaded if u.startswith(("http:", "https:", "//"))], (page, loaded)
            asset = await client.get(script)
            assert asset.status_code == 200 and len(asset.content) > 100_000
        doc = (await client.get("/openapi.json")).json()
        assert doc["servers"] and all(op.get("operationId") for ops in doc["paths"].values() for op in ops.values())
