"""Serving the gateway app: the aiohttp runner with the limits that bound slow and abusive
clients, and :func:`serve` (the ``gigbridge gateway`` process)."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from gigbridge.logs import get_logger

from .app import GATEWAY, REGISTRY_PREFIX, create_gateway_app
from .config import GatewayConfig

log = get_logger("connectors.gateway")


def runner_kwargs(config: GatewayConfig) -> dict[str, Any]:
    """aiohttp server limits that bound slow and abusive clients (``web.AppRunner(app, **...)``):
    a connection that has not sent complete request headers within ``keepalive_timeout_s`` of
    connecting (or of its previous response) is closed (slow-loris), as is an idle keep-alive
    connection; an unread body after an early error is drained for at most ``lingering_time_s``;
    request line and headers are capped. The body's own deadline (``body_timeout_s``) is applied
    by the ingest handler, the connection cap by :func:`setup_runner`."""
    return {
        "keepalive_timeout": config.keepalive_timeout_s,
        "lingering_time": config.lingering_time_s,
        "max_line_size": 8190,
        "max_field_size": 8190,
        "max_headers": 64,
        "shutdown_timeout": 5.0,
        "handle_signals": False,
    }


async def setup_runner(app: web.Application, config: GatewayConfig) -> web.AppRunner:
    """A set-up ``AppRunner`` for the gateway ``app``: :func:`runner_kwargs` plus the connection
    cap and problem-details answers to malformed HTTP (:mod:`connectors.gateway.connections`)."""
    runner = web.AppRunner(app, **runner_kwargs(config))
    await runner.setup()
    app[GATEWAY].connections.install(runner.server)
    return runner


async def serve(settings: Any, host: str | None = None, port: int | None = None, *,
                config: GatewayConfig | None = None, started: asyncio.Event | None = None) -> None:
    """Run the gateway (and the mounted registry) until cancelled."""
    config = config or GatewayConfig.from_settings(settings)
    host = host or config.host
    port = config.port if port is None else port
    app = create_gateway_app(settings, config=config)
    runner = await setup_runner(app, config)
    try:
        site = web.TCPSite(runner, host, port, backlog=256)
        await site.start()
        log.info("gateway listening", url=f"http://{host}:{port}", registry=f"http://{host}:{port}{REGISTRY_PREFIX}",
                 platforms=len(app[GATEWAY].tokens.platforms))
        if started is not None:
            started.set()
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
