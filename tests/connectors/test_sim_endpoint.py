"""The simulated insurer / office endpoint, driven by a plain aiohttp client over loopback."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from connectors.signing import canonical_json, signature_headers
from gigbridge.devtools.sim_endpoint import SimEndpoint, add_cli_arguments

SECRET = b"whsec-sim"
REPO_ROOT = Path(__file__).resolve().parents[2]


async def post_claim(session: aiohttp.ClientSession, url: str, key: str | None, payload, *,
                     secret: bytes = SECRET, now: float | None = None) -> tuple[int, dict, dict]:
    body = payload if isinstance(payload, bytes) else canonical_json(payload)
    headers = {"Content-Type": "application/json",
               **signature_headers(secret, body, time.time() if now is None else now)}
    if key is not None:
        headers["Idempotency-Key"] = key
    async with session.post(url, data=body, headers=headers) as resp:
        try:
            doc = await resp.json(content_type=None)
        except ValueError:
            doc = {}
        return resp.status, doc, dict(resp.headers)


async def test_accepts_signed_claims_and_deduplicates_by_idempotency_key(tmp_path):
    log_file = tmp_path / "claims.jsonl"
    async with SimEndpoint(secret=SECRET, log_path=log_file) as ep, aiohttp.ClientSession() as s:
        st1, doc1, _ = await post_claim(s, ep.claims_url, "evt-1", {"n": 1})
        st2, doc2, _ = await post_claim(s, ep.claims_url, "evt-2", {"n": 2})
        st3, doc3, _ = await post_claim(s, ep.claims_url, "evt-1", {"n": 1})
        st4, doc4, _ = await post_claim(s, ep.webhook_url, "evt-3", {"n": 3})
        async with s.get(f"{ep.url}/_stats") as resp:
            stats = await resp.json()
        async with s.get(f"{ep.url}/_received") as resp:
            received = await resp.json()
    assert (st1, doc1) == (200, {"claim_reference": "CLM-1", "received": True, "duplicate": False})
    assert (st2, doc2["claim_reference"]) == (200, "CLM-2")
    assert (st3, doc3) == (200, {"claim_reference": "CLM-1", "received": True, "duplicate": True})
    assert (st4, doc4["claim_reference"]) == (200, "CLM-3")
    assert [c["idempotency_key"] for c in ep.received] == ["evt-1", "evt-2", "evt-3"]
    assert stats["requests"] == 4 and stats["accepted"] == 3 and stats["duplicates"] == 1
    assert stats["by_status"] == {"200": 4}
    assert [c["claim_reference"] for c in received] == ["CLM-1", "CLM-2", "CLM-3"]
    lines = [json.loads(line) for line in log_file.read_text(encoding="utf-8").splitlines()]
    assert [(l["claim_reference"], l["idempotency_key"], l["path"]) for l in lines] == [
        ("CLM-1", "evt-1", "/claims"), ("CLM-2", "evt-2", "/claims"), ("CLM-3", "evt-3", "/webhook")]
    assert lines[0]["payload"] == {"n": 1}


async def test_refuses_bad_signatures_and_malformed_requests():
    async with SimEndpoint(secret=SECRET) as ep, aiohttp.ClientSession() as s:
        assert (await post_claim(s, ep.claims_url, "e1", {"n": 1}, secret=b"wrong"))[0] == 401
        assert (await post_claim(s, ep.claims_url, "e1", {"n": 1}, now=time.time() - 600))[0] == 401
        assert (await post_claim(s, ep.claims_url, None, {"n": 1}))[0] == 400
        assert (await post_claim(s, ep.claims_url, "e1", [1, 2]))[0] == 400
        assert (await post_claim(s, ep.claims_url, "e1", b"{not json"))[0] == 400
        async with s.post(ep.claims_url, data=b"{}") as resp:  # unsigned
            assert resp.status == 401
    assert ep.accepted == 0 and ep.stats()["by_status"] == {"400": 3, "401": 3}


async def test_fault_modes_via_http_control_for_the_next_n_requests():
    async with SimEndpoint(secret=SECRET) as ep, aiohttp.ClientSession() as s:
        async def control(doc):
            async with s.post(f"{ep.url}/_control", json=doc) as resp:
                return resp.status, await resp.json()

        status, stats = await control({"mode": "500", "count": 2})
        assert status == 200 and stats["mode"] == "500" and stats["mode_remaining"] == 2
        codes = [(await post_claim(s, ep.claims_url, "e1", {"n": 1}))[0] for _ in range(3)]
        assert codes == [500, 500, 200]

        await control({"mode": "429", "retry_after_s": 3, "count": 1})
        st, _, headers = await post_claim(s, ep.claims_url, "e2", {"n": 2})
        assert st == 429 and headers["Retry-After"] == "3"

        await control({"mode": "503", "retry_after_s": 10, "retry_after_http_date": True, "count": 1})
        st, _, headers = await post_claim(s, ep.claims_url, "e2", {"n": 2})
        assert st == 503 and headers["Retry-After"].endswith("GMT")

        await control({"mode": "400", "count": 1})
        st, doc, _ = await post_claim(s, ep.claims_url, "e2", {"n": 2})
        assert st == 400 and doc["error"] == "bad_request"

        await control({"mode": "down", "count": 1})
        with pytest.raises(aiohttp.ClientConnectionError):
            await post_claim(s, ep.claims_url, "e2", {"n": 2})

        await control({"reject": {"e9": 409}})
        st, doc, _ = await post_claim(s, ep.claims_url, "e9", {"n": 9})
        assert st == 409 and doc["error"] == "rejected"

        assert (await control({"mode": "sideways"}))[0] == 400
        assert (await control(["not", "an", "object"]))[0] == 400

        st, _, _ = await post_claim(s, ep.claims_url, "e2", {"n": 2})
        assert st == 200
        stats = ep.stats()
        assert stats["dropped"] == 1 and stats["accepted"] == 2
        assert stats["by_status"] == {"200": 2, "400": 1, "409": 1, "429": 1, "500": 2, "503": 1}

        await control({"reset": True})
        assert ep.stats()["requests"] == 0 and ep.received == [] and ep.rejected == {}


async def test_slow_mode_delays_and_set_mode_validates():
    async with SimEndpoint(secret=SECRET) as ep, aiohttp.ClientSession() as s:
        ep.set_mode("slow", delay_s=0.2, count=1)
        started = time.monotonic()
        st, _, _ = await post_claim(s, ep.claims_url, "e1", {"n": 1})
        assert st == 200 and time.monotonic() - started >= 0.2
        started = time.monotonic()
        await post_claim(s, ep.claims_url, "e2", {"n": 2})
        assert time.monotonic() - started < 0.2
    with pytest.raises(ValueError):
        ep.set_mode("teapot")


def test_cli_arguments_defaults():
    parser = argparse.ArgumentParser()
    add_cli_arguments(parser)
    args = parser.parse_args(["--secret", "s"])
    assert (args.host, args.port, args.secret, args.log, args.mode) == ("127.0.0.1", 8701, "s", None, "ok")
    args = parser.parse_args(["--port", "0", "--log", "x.jsonl", "--mode", "429", "--retry-after-s", "2"])
    assert (args.port, args.log, args.mode, args.retry_after_s) == (0, "x.jsonl", "429", 2.0)


async def test_cli_serves_until_sigterm(tmp_path):
    log_file = tmp_path / "claims.jsonl"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gigbridge.devtools.sim_endpoint", "--port", "0", "--secret", "cli-secret",
        "--log", str(log_file), cwd=str(REPO_ROOT), env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        url = None
        while url is None:
            line = await asyncio.wait_for(proc.stdout.readline(), 15)
            assert line, (await proc.stderr.read()).decode()
            text = line.decode().strip()
            if text.startswith("listening on "):
                url = text.removeprefix("listening on ")
        async with aiohttp.ClientSession() as s:
            st, doc, _ = await post_claim(s, f"{url}/claims", "evt-cli", {"n": 1}, secret=b"cli-secret")
        assert (st, doc["claim_reference"]) == (200, "CLM-1")
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 15) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert json.loads(log_file.read_text().splitlines()[0])["idempotency_key"] == "evt-cli"
