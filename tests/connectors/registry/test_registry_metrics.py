"""The standalone registry's /metrics: every response counted by status (errors included)."""

from __future__ import annotations

import asyncio

import aiohttp
from aiohttp import web
from prometheus_client import CollectorRegistry

from connectors.registry import create_registry_app
from connectors.registry.metrics import instrument


async def _scrape_after_requests() -> tuple[str, CollectorRegistry]:
    async def topics():
        return ["platform.swiftmeal.sites"]

    registry = CollectorRegistry()
    app = create_registry_app(topic_lister=topics)
    instrument(app, registry)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
    try:
        async with aiohttp.ClientSession() as session:
            for path in ("/subjects", "/subjects", "/schemas/ids/999999", "/no/such/path"):
                async with session.get(url + path) as resp:
                    await resp.read()
            async with session.get(url + "/metrics") as resp:
                assert resp.status == 200 and resp.content_type == "text/plain"
                return await resp.text(), registry
    finally:
        await runner.cleanup()


def test_metrics_count_responses_by_status() -> None:
    text, registry = asyncio.run(_scrape_after_requests())
    assert 'gigbridge_registry_requests_total{status="200"} 2.0' in text
    assert registry.get_sample_value("gigbridge_registry_requests_total", {"status": "404"}) == 2.0
