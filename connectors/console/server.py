"""The console process: its read model (the Kafka feed), its write path (the unit submissions
through an acks=all producer) and the aiohttp app, served until cancelled."""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Any

from aiohttp import web

from connectors.console.app import PREFIX, create_console_app
from connectors.console.auth import SessionLimits
from connectors.console.settings import ConsoleSettings
from connectors.console_feed import kafka_console_data
from connectors.gateway.config import unit_token_store
from connectors.gateway.producer import KafkaEventProducer
from connectors.gateway.unit_writes import UnitSubmissions
from gigbridge.divisions import default_table
from gigbridge.logs import get_logger
from streams.context import build_context
from streams.loaders.cases import load_units
from streams.loaders.policy import load_policies

log = get_logger("connectors.console")


def _division_name(table: Any):
    def name(code: str) -> str | None:
        division = table.get(code)
        return None if division is None else division.name
    return name


async def serve(settings: Any, console: ConsoleSettings, *, host: str | None = None, port: int | None = None,
                started: asyncio.Event | None = None) -> None:
    """Run the console until cancelled."""
    host = host or console.host
    port = console.port if port is None else port
    units = load_units()
    tokens = unit_token_store(settings)
    if console.session_key is None:
        log.warning("GIGBRIDGE_CONSOLE_SESSION_KEY is not set: a new session key for this run, sessions end on restart")
        key = secrets.token_bytes(32)
    else:
        key = console.session_key.get_secret_value()
    producer = KafkaEventProducer.from_settings(settings, client_id="gigbridge-console")
    writes = UnitSubmissions(producer, build_context(settings, validate_only=True), time.time, units=units)
    data, feed = kafka_console_data(settings)
    app = create_console_app(
        data=data, writes=writes, tokens=tokens, units=units, policies=load_policies(), key=key, clock=time.time,
        division_name=_division_name(default_table()), cookie_secure=console.cookie_secure,
        limits=SessionLimits(console.idle_timeout_s, console.absolute_timeout_s),
        signin_failures_per_minute=console.signin_failures_per_minute, signin_burst=console.signin_burst)
    stop = asyncio.Event()
    await producer.start()
    feed_task = asyncio.create_task(feed.run(stop))
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=5.0)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        log.info("console listening", url=f"http://{host}:{port}{PREFIX}/", units_with_tokens=len(tokens.platforms))
        if started is not None:
            started.set()
        await asyncio.Event().wait()
    finally:
        stop.set()
        await runner.cleanup()
        await feed_task
        await producer.stop()
