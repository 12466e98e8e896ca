"""The web console for the Fund's operators and the clinics: static pages, and a proxy that passes the
browser's key to the four services' APIs, so the browser talks to one origin and the key is checked
by the services themselves (the console keeps no key, no database and no state)."""
from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.common.logs import get_logger, setup_logging
from services.common.problems import problem_response
from services.common.settings import SERVICE_PORTS, get_settings

log = get_logger(__name__)
STATIC = Path(__file__).parent / "static"
# Only what the pages need of a request and an answer: the key, the body's type, the language.
_REQUEST_HEADERS = ("authorization", "content-type", "accept", "accept-language")
_ANSWER_HEADERS = ("content-type", "retry-after", "content-disposition")


class ConsoleSettings(BaseSettings):
    """Where each service's API is (OSMS_CONSOLE_<SERVICE>_URL); by default 127.0.0.1 at the service's
    own port, as `make run` starts them."""
    model_config = SettingsConfigDict(env_prefix="OSMS_CONSOLE_", extra="ignore")

    contributions_url: str | None = None
    registry_url: str | None = None
    financing_url: str | None = None
    feedback_url: str | None = None
    timeout_seconds: float = 30.0

    def upstreams(self) -> dict[str, str]:
        ports = get_settings()
        return {name: (getattr(self, f"{name}_url") or f"http://127.0.0.1:{ports.port_of(name)}").rstrip("/")
                for name in SERVICE_PORTS}


def create_console(settings: ConsoleSettings | None = None,
                   transport: httpx.AsyncBaseTransport | None = None) -> FastAPI:
    """`transport`: how the proxy reaches the services (tests pass an in-process app's)."""
    settings = settings or ConsoleSettings()
    upstreams = settings.upstreams()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        common = get_settings()
        setup_logging("console", common.log_level, common.log_json)
        logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per proxied request is noise
        async with httpx.AsyncClient(timeout=settings.timeout_seconds, transport=transport) as client:
            app.state.client = client
            log.info("console started", port=common.port_of("console"), upstreams=upstreams)
            yield

    app = FastAPI(title="osms console", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> dict:
        # The console serves its pages whatever the services' state; each page says what did not answer.
        return {"status": "ready"}

    @app.get("/")
    async def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    @app.api_route("/api/{service}/v1/{path:path}", methods=["GET", "POST"])
    async def proxy(service: str, path: str, request: Request) -> Response:
        base = upstreams.get(service)
        if base is None:
            return problem_response(404, "Not found", f"no service {service!r}", instance=request.url.path)
        headers = {k: v for k, v in request.headers.items() if k in _REQUEST_HEADERS}
        try:
            answer = await request.app.state.client.request(
                request.method, f"{base}/v1/{path}", params=request.query_params, headers=headers,
                content=await request.body())
        except httpx.HTTPError as exc:
            log.warning("service not reachable", service=service, error=type(exc).__name__)
            return problem_response(502, "Bad gateway", f"the {service} service is not reachable",
                                    instance=request.url.path, headers={"Retry-After": "2"})
        return Response(answer.content, status_code=answer.status_code,
                        headers={k: v for k, v in answer.headers.items() if k in _ANSWER_HEADERS})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


app = create_console()
