"""One validation context for every path: a time-rule setting changes the verdict on the same
event in the worker's batch planning, the HTTP gateway and ``gigbridge validate`` alike."""

from __future__ import annotations

import asyncio
import copy
import json
import time

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry

from connectors.gateway import GatewayConfig, TokenStore, create_gateway_app
from gigbridge.cli import main
from gigbridge.settings import Settings
from schemas.catalog import default_catalog
from schemas.examples import load_examples
from schemas.wire import encode
from streams.core.classify import Accepted
from streams.context import build_context
from streams.core.plan import InMessage, plan_batch
from streams.core.validate import DAY_MS

SITE = next(e.payload for e in load_examples(contract="site_event", kind="valid"))
PLATFORM = SITE["platform_id"]
TOKEN = "tok-context-test-3f9a1c"


class RecordingProducer:
    """The gateway's producer protocol, in memory: every batch is taken."""

    ready = True

    def __init__(self) -> None:
        self.sent: list = []

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def send_batch(self, topic, records, timeout_s) -> None:
        self.sent.append((topic, list(records)))


def site_at(occurred_at_ms: int) -> dict:
    event = copy.deepcopy(SITE)
    event["occurred_at"] = occurred_at_ms
    return event


def worker_verdict(event: dict, now_ms: int) -> str:
    value = encode(default_catalog().contract("site_event").latest, event)
    plan = plan_batch([InMessage(f"platform.{PLATFORM}.sites", 0, 0, b"site", value)],
                      build_context(Settings()), lambda msg, event_id: False, now_ms)
    outcome = plan.decisions[0].outcome
    return "accepted" if isinstance(outcome, Accepted) else outcome.rejection.reason


def gateway_verdict(event: dict, now_ms: int) -> str:
    async def post() -> dict:
        app = create_gateway_app(Settings(), producer=RecordingProducer(), clock=lambda: now_ms / 1000,
                                 tokens=TokenStore.from_tokens({PLATFORM: TOKEN}), config=GatewayConfig(),
                                 registry=CollectorRegistry(), mount_registry=False)
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            resp = await client.post("/v1/events/sites", json=[event], headers={"Authorization": f"Bearer {TOKEN}"})
            assert resp.status in (200, 207), await resp.text()
            return (await resp.json())["results"][0]

    result = asyncio.run(post())
    return result["status"] if result["status"] == "accepted" else result["reason"]


def cli_verdict(event: dict, tmp_path, capsys) -> str:
    path = tmp_path / "events.jsonl"
    path.write_text(json.dumps({"type": "sites", "event": event}) + "\n")
    main(["validate", str(path)])
    line = json.loads(capsys.readouterr().out.splitlines()[0])
    return line["verdict"] if line["verdict"] == "accepted" else line["reason"]


@pytest.mark.parametrize("variable,value,offset_ms,reason", [
    ("GIGBRIDGE_MAX_FUTURE_SKEW_S", "30", 120_000, "timestamp_in_future"),  # default 300 s
    ("GIGBRIDGE_MAX_EVENT_AGE_DAYS", "1", -2 * DAY_MS, "timestamp_too_old"),  # default 90 days
])
def test_a_time_rule_setting_flips_the_verdict_in_worker_gateway_and_cli(
        variable, value, offset_ms, reason, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("GIGBRIDGE_PRIVACY_MASTER_SECRET", "context-test-master-secret-0123456789")
    now_ms = time.time_ns() // 1_000_000  # the CLI reads the real clock; the margins are minutes
    event = site_at(now_ms + offset_ms)

    def verdicts() -> list[str]:
        return [worker_verdict(event, now_ms), gateway_verdict(event, now_ms), cli_verdict(event, tmp_path, capsys)]

    monkeypatch.delenv(variable, raising=False)
    assert verdicts() == ["accepted"] * 3
    monkeypatch.setenv(variable, value)
    assert verdicts() == [reason] * 3


def test_validate_only_context_reads_no_policy(monkeypatch, tmp_path):
    """Gateway and CLI never route: their context needs no policy file and no master secret."""
    monkeypatch.delenv("GIGBRIDGE_PRIVACY_MASTER_SECRET", raising=False)
    settings = Settings(privacy_policy_file=tmp_path / "missing.yaml", max_future_skew_s=7)
    ctx = build_context(settings, validate_only=True)
    assert ctx.rules.max_future_skew_ms == 7000
    assert ctx.protect(None, {"a": 1}) == {"a": 1}
    with pytest.raises(FileNotFoundError):
        build_context(settings)

