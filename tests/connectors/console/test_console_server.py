"""``connectors.console.server.serve`` wires the real read model, write path, unit tokens and
files: it starts, serves the sign-in page and lets a unit in even while Kafka cannot be reached."""

from __future__ import annotations

import asyncio
import json
import socket

import aiohttp

from connectors.console.server import serve
from connectors.console.settings import ConsoleSettings
from connectors.gateway.config import hash_token
from gigbridge.settings import Settings
from tests.connectors.console.fixtures import CSRF_RE


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_the_console_process_serves_and_signs_a_unit_in_without_a_broker():
    settings = Settings(kafka_bootstrap=f"127.0.0.1:{free_port()}", kafka_security_protocol="PLAINTEXT",
                        case_unit_tokens=json.dumps({"110105-gov": hash_token("chaoyang-demo")}))
    port, started = free_port(), asyncio.Event()
    task = asyncio.create_task(serve(settings, ConsoleSettings(cookie_secure=False), port=port, started=started))
    try:
        await asyncio.wait_for(started.wait(), 20)
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:  # cookies for an IP
            page = await (await http.get(f"http://127.0.0.1:{port}/console/signin")).text()
            resp = await http.post(f"http://127.0.0.1:{port}/console/signin",
                                   data={"csrf": CSRF_RE.search(page).group(1), "token": "chaoyang-demo"})
            html = await resp.text()
            assert resp.status == 200 and str(resp.url).endswith("/console/") and "北京市朝阳区人民政府" in html
            assert "暂时无法连接消息服务" in html or "正在加载数据" in html  # the feed says it has no broker
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
