"""``gigbridge ingest``: run the HTTP ingest gateway (with the schema registry mounted at
``/registry``). Register with :func:`add_cli` from ``gigbridge/cli.py``::

    from connectors.gateway.cli import add_cli as add_ingest_cli
    add_ingest_cli(sub)
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from typing import Any

EXIT_OK, EXIT_USAGE = 0, 2


def add_cli(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``ingest [--host H] [--port P]``; the command calls ``func(settings, args)``."""
    p = subparsers.add_parser(
        "ingest", help="run the HTTP ingest gateway for platforms without Kafka clients (+ schema registry)")
    p.add_argument("--host", default=None, help="bind address (default GIGBRIDGE_GATEWAY_HOST or 127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help="port (default GIGBRIDGE_GATEWAY_PORT or 8080)")
    p.set_defaults(func=run_ingest)
    return p


def run_ingest(settings: Any, args: argparse.Namespace) -> int:
    from .server import serve
    from .config import GatewayConfig, GatewayConfigError

    try:
        config = GatewayConfig.from_settings(settings)
    except GatewayConfigError as exc:
        print(f"gigbridge ingest: configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if not config.tokens:
        print("gigbridge ingest: no platform tokens configured; set GIGBRIDGE_GATEWAY_TOKENS (JSON "
              '{"<platform>": "<sha256 hex of the token>"}) or GIGBRIDGE_GATEWAY_TOKENS_FILE', file=sys.stderr)
        return EXIT_USAGE
    return run_until_signal(serve(settings, args.host, args.port, config=config))


def run_until_signal(coro: Any) -> int:
    """Run ``coro`` until it ends or SIGINT/SIGTERM arrives (then cancel it and clean up)."""

    async def main() -> None:
        task = asyncio.ensure_future(coro)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, task.cancel)
            except (NotImplementedError, RuntimeError):  # not the main thread / platform
                pass
        try:
            await task
        except asyncio.CancelledError:
            pass

    asyncio.run(main())
    return EXIT_OK
