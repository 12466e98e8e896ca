"""The middleware in front of every route: the request size limit, JSON bodies only (415), the
request id (X-Request-ID, taken or made, and returned), request metrics and one access log line."""
from __future__ import annotations

import re
import time
import uuid

from prometheus_client import Counter, Histogram

from services.common.inputs import FHIR_BODY_TYPES, body_problem, has_body
from services.common.logs import get_logger, request_context
from services.common.problems import problem_response

log = get_logger(__name__)

REQUESTS = Counter("osms_http_requests_total", "HTTP requests answered", ["method", "route", "status"])
LATENCY = Histogram("osms_http_request_duration_seconds", "Time to answer an HTTP request", ["method", "route"],
                    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))


class BodyTooLarge(Exception):
    def __init__(self, limit: int):
        super().__init__(f"the body exceeds {limit} bytes")


# A caller's X-Request-ID is kept when it is a plain token; anything else gets a new id (a header
# value goes into every log line of the request).
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")


class Edge:
    """Pure ASGI middleware: request size limit, request id (X-Request-ID, taken or made, and
    returned), request metrics (route templates, not paths) and one access log line a request."""

    def __init__(self, app, max_body: int):
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        request_id = None
        for name, value in scope.get("headers", ()):
            if name == b"x-request-id":
                text = value.decode("latin-1")
                request_id = text if _REQUEST_ID.fullmatch(text) else None
        request_id = request_id or uuid.uuid4().hex
        # Also for the handler of unexpected errors, which runs outside this middleware.
        scope.setdefault("state", {})["request_id"] = request_id
        with request_context(request_id):
            await self._handle(scope, receive, send, request_id)

    async def _handle(self, scope, receive, send, request_id: str):
        started = time.perf_counter()
        status = {"code": 500}

        async def send_wrapper(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message["headers"] = [*message.get("headers", ()), (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            for name, value in scope.get("headers", ()):
                if name == b"content-length":
                    try:
                        too_big = int(value) > self.max_body
                    except ValueError:
                        too_big = True
                    if too_big:
                        resp = problem_response(413, "Request too large",
                                                f"the body exceeds {self.max_body} bytes")
                        return await resp(scope, receive, send_wrapper)
            if has_body(scope):
                unreadable = body_problem(scope.get("headers", ()))
                if unreadable and scope["path"].startswith("/fhir/"):  # checked only then: no cost to /v1
                    unreadable = body_problem(scope.get("headers", ()), FHIR_BODY_TYPES)
                if unreadable:
                    resp = problem_response(415, "Unsupported media type", unreadable,
                                            type_="https://osms.kz/problems/unsupported-media-type")
                    return await resp(scope, receive, send_wrapper)
            # A body sent without Content-Length (chunked) is counted as it arrives.
            received = {"bytes": 0}
            inner_receive = receive

            async def receive():
                message = await inner_receive()
                if message["type"] == "http.request":
                    received["bytes"] += len(message.get("body", b""))
                    if received["bytes"] > self.max_body:
                        raise BodyTooLarge(self.max_body)
                return message

            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", "unmatched")
            seconds = time.perf_counter() - started
            REQUESTS.labels(scope["method"], path, str(status["code"])).inc()
            LATENCY.labels(scope["method"], path).observe(seconds)
            log.info("request", method=scope["method"], route=path, status=status["code"],
                     duration_ms=round(seconds * 1000, 3))
