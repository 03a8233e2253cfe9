"""docker-compose.yml: the office console and the units' public dev tokens.

The console, the gateway and the worker read ``GIGBRIDGE_CASE_UNIT_TOKENS`` from
deploy/compose/unit-tokens.dev.env (then hub.env, which wins); each digest is that of the
documented dev token ``dev-<unit>-token`` of a unit deploy/units.yaml lists. The console, run with
exactly the compose service's settings, signs a unit in with its dev token over plain HTTP (its
cookie is not Secure there). No broker: the console serves while Kafka cannot be reached.
"""

from __future__ import annotations

import asyncio
import hashlib
import json

import aiohttp
import pytest
import yaml
from dotenv import dotenv_values

from connectors.console.server import serve
from connectors.console.settings import ConsoleSettings
from gigbridge.settings import REPO_ROOT, Settings
from streams.loaders.cases import load_units
from tests.connectors.console.fixtures import CSRF_RE
from tests.deploy.compose_kafka import service_env
from tests.support.kafka_io import free_port

UNIT_TOKENS = "GIGBRIDGE_CASE_UNIT_TOKENS"
DEV_FILE = "deploy/compose/unit-tokens.dev.env"


def _compose() -> dict:
    return yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())


def _env_files(service: dict) -> list[str]:
    return [f if isinstance(f, str) else f["path"] for f in service.get("env_file", [])]


def _container_env(service_name: str) -> dict[str, str]:
    """What the container gets: its env files in order (later wins), then its environment."""
    compose = _compose()
    env: dict[str, str] = {}
    for path in _env_files(compose["services"][service_name]):
        if (REPO_ROOT / path).is_file():
            env.update(dotenv_values(REPO_ROOT / path))
    return {**env, **service_env(compose, service_name, {})}


@pytest.mark.parametrize("service", ["hub", "gateway", "console"])
def test_unit_tokens_reach_the_console_the_gateway_and_the_worker(service):
    files = _env_files(_compose()["services"][service])
    assert files[:1] == [DEV_FILE] and files[-1] == "hub.env", "hub.env must come last so that its values win"
    assert UNIT_TOKENS not in service_env(_compose(), service, {}), "an environment entry would override hub.env"
    digests = json.loads(_container_env(service)[UNIT_TOKENS])
    assert digests and set(digests) <= set(load_units().units)
    assert digests == {unit: hashlib.sha256(f"dev-{unit}-token".encode()).hexdigest() for unit in digests}
    local_k8s = REPO_ROOT / "deploy" / "k8s" / "overlays" / "local" / "dev-unit-tokens.json"
    assert digests == json.loads(local_k8s.read_text())


def test_the_compose_console_signs_a_unit_in_with_its_dev_token(monkeypatch, tmp_path):
    compose = _compose()["services"]["console"]
    assert compose["ports"] == ["127.0.0.1:8091:8091"]
    monkeypatch.chdir(tmp_path)
    for key, value in _container_env("console").items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("GIGBRIDGE_KAFKA_BOOTSTRAP", f"127.0.0.1:{free_port()}")  # nothing listens there
    settings, console = Settings(), ConsoleSettings()
    assert console.cookie_secure is False and console.port == 8091 and console.host == "0.0.0.0"
    page = asyncio.run(asyncio.wait_for(_sign_in(settings, console, "dev-440305-hrss-token"), 60))
    assert load_units().units["440305-hrss"].name_zh in page


async def _sign_in(settings: Settings, console: ConsoleSettings, token: str) -> str:
    """The home page a unit sees after signing in with ``token`` to a console served on loopback."""
    port, started = free_port(), asyncio.Event()
    task = asyncio.create_task(serve(settings, console, host="127.0.0.1", port=port, started=started))
    try:
        await started.wait()
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            assert (await http.get(f"http://127.0.0.1:{port}/healthz")).status == 200
            form = await (await http.get(f"http://127.0.0.1:{port}/console/signin")).text()
            resp = await http.post(f"http://127.0.0.1:{port}/console/signin",
                                   data={"csrf": CSRF_RE.search(form).group(1), "token": token})
            page = await resp.text()
            assert resp.status == 200 and str(resp.url).endswith("/console/"), page[-2000:]
            assert not any(cookie["secure"] for cookie in http.cookie_jar)  # plain HTTP on loopback
            return page
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
