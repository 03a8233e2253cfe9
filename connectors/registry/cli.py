"""Standalone registry: ``gigbridge registry [--host H] [--port P]`` (register with
:func:`add_cli`) or ``python -m connectors.registry``; Prometheus metrics at ``/metrics``. Address: ``--host``/``--port``,
else the ``registry_host``/``registry_port`` settings (``GIGBRIDGE_REGISTRY_PORT``, default 8081)."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from aiohttp import web

from gigbridge.logs import get_logger

log = get_logger("connectors.registry")

DEFAULT_PORT = 8081


def _setting(settings: Any, name: str, default: Any) -> Any:
    value = getattr(settings, name, None) if settings is not None else None
    return default if value is None else value


async def serve_registry(settings: Any, host: str | None = None, port: int | None = None, *,
                         started: asyncio.Event | None = None) -> None:
    """Serve the registry at the root path until cancelled. Lists existing topics through
    ``settings``' Kafka connection (if ``settings`` is given)."""
    from .api import create_registry_app
    from .topic_lister import KafkaTopicLister
    from .metrics import instrument

    host = host or _setting(settings, "registry_host", "127.0.0.1")
    port = int(port if port is not None else _setting(settings, "registry_port", DEFAULT_PORT))
    lister = KafkaTopicLister.from_settings(settings) if settings is not None else None
    app = create_registry_app(topic_lister=lister)
    instrument(app)  # GET /metrics
    runner = web.AppRunner(app, keepalive_timeout=15.0, lingering_time=2.0, handle_signals=False)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        log.info("schema registry listening", url=f"http://{host}:{port}")
        if started is not None:
            started.set()
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def add_cli(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("registry", help="serve the read-only Confluent-compatible schema registry")
    p.add_argument("--host", default=None, help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help=f"port (default GIGBRIDGE_REGISTRY_PORT or {DEFAULT_PORT})")
    p.set_defaults(func=run_registry)
    return p


def run_registry(settings: Any, args: argparse.Namespace) -> int:
    from connectors.gateway.cli import run_until_signal

    return run_until_signal(serve_registry(settings, args.host, args.port))
