"""Runs one service (or the console) under uvicorn: `python -m services.common.serve registry`."""
from __future__ import annotations

import sys

import uvicorn

from services.common.logs import setup_logging
from services.common.settings import SERVICE_PORTS, get_settings


def main() -> None:
    servable = [*SERVICE_PORTS, "console"]
    if len(sys.argv) != 2 or sys.argv[1] not in servable:
        sys.exit(f"usage: python -m services.common.serve {{{'|'.join(servable)}}}")
    service = sys.argv[1]
    settings = get_settings()
    # Before uvicorn starts: its own lines (server started, shutting down) are JSON lines too.
    setup_logging(service, settings.log_level, settings.log_json)
    uvicorn.run(f"services.{service}.app:app", host=settings.host, port=settings.port_of(service),
                loop="uvloop", http="httptools", log_config=None, access_log=False,
                timeout_graceful_shutdown=5, limit_concurrency=2000, backlog=4096)


if __name__ == "__main__":
    main()
