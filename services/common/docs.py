"""/docs and /redoc without a CDN: FastAPI's Swagger UI and ReDoc pages, with their files (npm
swagger-ui-dist and redoc, copied by `make vendor`) served by the service itself, so the pages work
on a closed network."""
from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static"
ASSETS = STATIC / "swagger-ui"
ASSETS_PATH = "/docs/assets"
REDOC_ASSETS_PATH = "/redoc/assets"


def add_docs(app: FastAPI, path: str = "/docs", redoc_path: str = "/redoc") -> None:
    """Serves Swagger UI at `path` and ReDoc at `redoc_path` for the app's OpenAPI document; the app is
    made with docs_url=None and redoc_url=None."""
    app.mount(ASSETS_PATH, StaticFiles(directory=ASSETS), name="swagger-ui-assets")
    app.mount(REDOC_ASSETS_PATH, StaticFiles(directory=STATIC / "redoc"), name="redoc-assets")
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get(path, include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url=openapi_url, title=f"{app.title}: API",
                                   swagger_js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{ASSETS_PATH}/swagger-ui.css",
                                   swagger_favicon_url=f"{ASSETS_PATH}/favicon-32x32.png")

    @app.get(redoc_path, include_in_schema=False)
    async def redoc() -> HTMLResponse:
        # No Google Fonts (the page's default): the browser's own fonts, nothing fetched from outside.
        return get_redoc_html(openapi_url=openapi_url, title=f"{app.title}: API reference",
                              redoc_js_url=f"{REDOC_ASSETS_PATH}/redoc.standalone.js",
                              redoc_favicon_url=f"{ASSETS_PATH}/favicon-32x32.png", with_google_fonts=False)
