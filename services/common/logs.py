"""Structured logging: every line one JSON object (structlog's own, and the standard library's from
uvicorn, alembic, aiokafka), with the service, the request id and trace id where there are, and
every IIN/BIN masked before it is written."""
from __future__ import annotations

import logging
import re
import sys
import threading
from contextlib import contextmanager
from collections.abc import Iterator

import structlog

# 12-digit identifiers (IIN, BIN) anywhere in a log line: keep the first 4 digits only. A UUID's last
# group is 12 hex digits, all decimal in about one UUID in 280: left whole.
_ID12 = re.compile(r"(?<![0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-)(?<!\d)(\d{4})\d{8}(?!\d)")


def mask_ids(text: str) -> str:
    return _ID12.sub(r"\1********", text)


def mask_iin(iin: str) -> str:
    return iin[:4] + "*" * (len(iin) - 4) if len(iin) > 4 else "****"


def _mask_processor(_logger, _name, event_dict):
    for key, value in list(event_dict.items()):
        if isinstance(value, str):
            event_dict[key] = mask_ids(value)
        elif isinstance(value, int) and not isinstance(value, bool) and 10**11 <= value < 10**12:
            event_dict[key] = mask_ids(str(value))
    return event_dict


def _with_service(service: str):
    # A field of every line, not a context variable: tasks uvicorn starts for requests do not
    # inherit the context of the start-up task.
    def add(_logger, _name, event_dict):
        event_dict.setdefault("service", service)
        return event_dict
    return add


# Set by services/common/tracing.py when tracing is on: the current trace id as 32 hex digits, or None.
current_trace_id = None


def with_trace_id(_logger, _name, event_dict):
    if current_trace_id is not None and "trace_id" not in event_dict:
        trace_id = current_trace_id()
        if trace_id:
            event_dict["trace_id"] = trace_id
    return event_dict


def setup_logging(service: str, level: str = "INFO", json: bool = True) -> None:
    renderer = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    fields = [
        structlog.contextvars.merge_contextvars,
        _with_service(service),
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        with_trace_id,
    ]
    # The list is changed in place: loggers cached by an earlier call (cache_logger_on_first_use) keep
    # a reference to it, and follow.
    processors = structlog.get_config()["processors"]
    processors[:] = [*fields, structlog.processors.format_exc_info, _mask_processor, renderer]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    # Lines of libraries that log with the standard library (uvicorn, alembic, aiokafka) get the
    # same fields, masking and rendering.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*fields, structlog.stdlib.add_logger_name],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info, _mask_processor, renderer]))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.captureWarnings(True)   # a library's warning is a log line too, not text on stderr
    # What the interpreter would print as plain text: an uncaught exception, one in a thread, one it
    # cannot raise (in a finalizer).
    sys.excepthook = _log_uncaught
    threading.excepthook = lambda a: _log_uncaught(a.exc_type, a.exc_value, a.exc_traceback)
    sys.unraisablehook = lambda u: logging.getLogger("python").error(
        "exception ignored in %r", u.object, exc_info=(u.exc_type, u.exc_value, u.exc_traceback))
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "alembic"):
        # Their own handlers (uvicorn's default config, alembic's ini) would print plain text.
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # aiokafka logs every reconnect attempt (10 a second while a broker is down); the relay and the
    # consumer log their own failures, with backoff.
    logging.getLogger("aiokafka").setLevel("CRITICAL")
    # The access line is services/common/app.py's, with the route, the request id and the duration.
    logging.getLogger("uvicorn.access").setLevel("WARNING")


def _log_uncaught(exc_type, exc_value, exc_traceback) -> None:
    logging.getLogger("python").critical("uncaught exception", exc_info=(exc_type, exc_value, exc_traceback))


@contextmanager
def request_context(request_id: str) -> Iterator[None]:
    """Every line logged while a request is handled carries its id."""
    with structlog.contextvars.bound_contextvars(request_id=request_id):
        yield


def get_logger(name: str | None = None):
    return structlog.get_logger(name)
