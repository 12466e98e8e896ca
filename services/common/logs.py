"""Structured logging (structlog over stdlib) with every IIN/BIN masked before it is written."""
from __future__ import annotations

import logging
import re
import sys

import structlog

# 12-digit identifiers (IIN, BIN) anywhere in a log line: keep the first 4 digits only.
_ID12 = re.compile(r"(?<!\d)(\d{4})\d{8}(?!\d)")


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


class _MaskingFormatter(logging.Formatter):
    """Masks lines from libraries (uvicorn, aiokafka) that do not go through structlog."""

    def format(self, record: logging.LogRecord) -> str:
        return mask_ids(super().format(record))


def setup_logging(service: str, level: str = "INFO", json: bool = True) -> None:
    renderer = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            _mask_processor,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_MaskingFormatter(f"%(asctime)s {service} %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # aiokafka logs every reconnect attempt (10 a second while a broker is down); the relay and the
    # consumer log their own failures, with backoff.
    logging.getLogger("aiokafka").setLevel("CRITICAL")
    logging.getLogger("uvicorn.access").setLevel("WARNING")


def get_logger(name: str | None = None):
    return structlog.get_logger(name)
