"""Serve the web port (Hub-UI, the API, the gateway) with uvicorn in ``HUB_GATEWAY_WORKERS``
processes: ``python -m hub.serve --host 0.0.0.0 --port 8000``. ``up`` starts it, the image
runs it. uvicorn shares the one listening socket between the processes and replaces one
that dies; every limit (concurrency slots, queues) lives in Redis, so it holds across them.
"""

from __future__ import annotations

import argparse
import os

import uvicorn
from django.conf import settings  # lazy: read in main(), once DJANGO_SETTINGS_MODULE is set


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hub.settings")

    parser = argparse.ArgumentParser(prog="python -m hub.serve", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="processes (default: HUB_GATEWAY_WORKERS, one per CPU core)",
    )
    parser.add_argument("--access-log", action="store_true", help="log every request")
    parser.add_argument(
        "--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"]
    )
    args = parser.parse_args(argv)
    workers = settings.HUB_GATEWAY_WORKERS if args.workers is None else args.workers
    if workers < 1:
        parser.error(f"--workers / HUB_GATEWAY_WORKERS: at least 1, got {workers}")
    uvicorn.run(
        "hub.asgi:application",
        host=args.host,
        port=args.port,
        workers=workers,
        loop="uvloop",
        http="httptools",
        access_log=args.access_log,
        log_level=args.log_level,
    )


if __name__ == "__main__":
    main()
