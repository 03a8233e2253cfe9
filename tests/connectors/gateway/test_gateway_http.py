"""The ingest gateway's HTTP behaviour that needs no broker: every error status, the order of
checks, limits against slow and flooding clients, health, metrics. The producer is a real one
pointed at a closed port, so any request that got as far as producing would answer 503."""

from __future__ import annotations

import asyncio
import json

import pytest

from connectors.gateway import GatewayConfig
from tests.connectors.gateway.helpers import (
    PROBLEM,
    TOKENS,
    Clock,
    auth,
    examples,
    problem,
    running_gateway,
    slow_body_status_line,
    wait_until,
    with_unknown_division,
)
from tests.support.raw_http import exchange, open_raw, request_bytes

# --- 200 / 207 without Kafka -----------------------------------------------------------------

async def test_all_rejected_is_207_with_reasons_in_input_order():
    events = with_unknown_division(examples("sites"))
    events[1]["occurred_at"] = "yesterday"
    async with running_gateway() as gw:
        resp = await gw.post("sites", events)
        body = await resp.json()
    assert resp.status == 207
    assert body["accepted"] == 0 and body["rejected"] == len(events)
    assert body["platform_id"] == "swiftdash" and body["topic"] == "platform.swiftdash.sites"
    assert [r["index"] for r in body["results"]] == list(range(len(events)))
    assert [r["event_id"] for r in body["results"]] == [e["event_id"] for e in events]
    assert {r["status"] for r in body["results"]} == {"rejected"}
    assert body["results"][0]["reason"] == "unknown_division_code"
    assert body["results"][0]["field"] == "division_code"
    assert body["results"][1]["reason"] == "schema_violation"
    assert body["results"][1]["field"] == "occurred_at"
    assert "yesterday" not in json.dumps(body)  # messages never quote the value


async def test_ndjson_body_is_accepted_as_input():
    events = with_unknown_division(examples("incidents"))
    text = "\n".join(json.dumps(e) for e in events) + "\n\n"
    async with running_gateway() as gw:
        resp = await gw.post("incidents", data=text, content_type="application/x-ndjson")
        body = await resp.json()
    assert resp.status == 207
    assert [r["event_id"] for r in body["results"]] == [e["event_id"] for e in events]
    assert {r["reason"] for r in body["results"]} == {"unknown_division_code"}


# --- 400 -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("data, fragment", [
    ("not json", "not valid JSON"),
    ('{"event_id": "x"}', "JSON array"),
    ("[1, 2]", "element 0"),
    ('[{"a": 1}, "x"]', "element 1"),
    ('[{"a": NaN}]', "not valid JSON"),
    ('[{"a": 1}] trailing', "not valid JSON"),
    ("[" * 100_000 + "]" * 100_000, "too deeply"),
])
async def test_malformed_json_body_is_400(data, fragment):
    async with running_gateway() as gw:
        body = await problem(await gw.post("sites", data=data), 400, "malformed-body")
    assert fragment in body["detail"]


async def test_empty_batch_is_400():
    async with running_gateway() as gw:
        await problem(await gw.post("sites", data="[]"), 400, "empty-batch")
        await problem(await gw.post("sites", data="\n \n", content_type="application/x-ndjson"), 400, "empty-batch")


async def test_bad_json_line_names_the_line():
    lines = [json.dumps(e) for e in examples("sites")[:2]] + ["", "{broken", json.dumps(examples("sites")[0])]
    async with running_gateway() as gw:
        body = await problem(await gw.post("sites", data="\n".join(lines), content_type="application/x-ndjson"),
                             400, "malformed-body")
        assert body["line"] == 4 and "line 4" in body["detail"]
        body = await problem(await gw.post("sites", data='{"a": 1}\n[1]\n', content_type="application/x-ndjson"),
                             400, "malformed-body")
        assert body["line"] == 2


async def test_invalid_utf8_is_400():
    async with running_gateway() as gw:
        await problem(await gw.post("sites", data=b'[{"a": "\xff"}]'), 400, "malformed-body")


# --- 401 / 403 / 404 ----------------------------------------------------------------------------

async def test_missing_token_is_401_with_bearer_challenge():
    async with running_gateway() as gw:
        resp = await gw.post("sites", examples("sites"), platform=None)
        await problem(resp, 401, "missing-token")
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("header", [
    "Bearer not-a-token", f"Basic {TOKENS['swiftdash']}", "Bearer", f"Bearer {TOKENS['swiftdash']}x",
])
async def test_bad_token_is_401(header):
    async with running_gateway() as gw:
        resp = await gw.post("sites", examples("sites"), platform=None, headers={"Authorization": header})
        await problem(resp, 401, "invalid-token")
    assert resp.headers["WWW-Authenticate"] == 'Bearer realm="gigbridge", error="invalid_token"'


async def test_token_is_checked_before_the_body_is_read():
    async with running_gateway() as gw:
        await problem(await gw.post("sites", data="not json", platform=None), 401, "missing-token")


async def test_event_of_another_platform_is_403_for_the_whole_request():
    events = with_unknown_division(examples("sites"))
    events[2]["platform_id"] = "cityride"
    async with running_gateway() as gw:
        body = await problem(await gw.post("sites", events), 403, "platform-mismatch")
        assert body["indexes"] == [2]
        metrics = await (await gw.session.get(f"{gw.url}/metrics")).text()
    assert 'gigbridge_gateway_events_total{' not in metrics  # nothing was even validated


async def test_malformed_platform_id_is_a_per_event_rejection_not_403():
    events = with_unknown_division(examples("sites"))
    events[0]["platform_id"] = "Swift_Dash"
    async with running_gateway() as gw:
        resp = await gw.post("sites", events)
        body = await resp.json()
    assert resp.status == 207
    assert body["results"][0]["reason"] == "invalid_platform_id"


@pytest.mark.parametrize("path", ["/v1/events/statements", "/v1/events/rejected", "/v1/events/SITES"])
async def test_unknown_event_type_is_404(path):
    async with running_gateway() as gw:
        resp = await gw.session.post(gw.url + path, json=examples("sites"), headers=auth())
        await problem(resp, 404, "unknown-event-type")


async def test_unknown_route_and_method_are_problems():
    async with running_gateway() as gw:
        await problem(await gw.session.get(f"{gw.url}/v2/whatever"), 404, "not-found")
        resp = await gw.session.get(f"{gw.url}/v1/events/sites")
        await problem(resp, 405, "method-not-allowed")
        assert "POST" in resp.headers["Allow"]


# --- 413 -----------------------------------------------------------------------------------------

async def test_too_many_events_is_413():
    config = GatewayConfig(max_events=10, rate_burst=100)
    async with running_gateway(config=config) as gw:
        body = await problem(await gw.post("sites", data=json.dumps([{}] * 11)), 413, "too-many-events")
        assert body["max_events"] == 10
        lines = "\n".join(["{}"] * 11)
        await problem(await gw.post("sites", data=lines, content_type="application/x-ndjson"), 413, "too-many-events")


async def test_body_over_limit_is_413():
    config = GatewayConfig(max_body_bytes=10_000)
    async with running_gateway(config=config) as gw:
        body = await problem(await gw.post("sites", data=b"[" + b" " * 10_000 + b"]"), 413, "body-too-large")
        assert body["limit_bytes"] == 10_000


async def test_declared_huge_content_length_is_refused_before_reading():
    async with running_gateway(config=GatewayConfig(lingering_time_s=0.1)) as gw:
        reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
        writer.write((f"POST /v1/events/sites HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKENS['swiftdash']}\r\n"
                      "Content-Type: application/json\r\nContent-Length: 1000000000\r\n\r\n[").encode())
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        writer.close()
    assert head.startswith(b"HTTP/1.1 413")
    assert b"Connection: close" in head


async def test_huge_streamed_body_is_cut_off_early():
    """A chunked upload of unbounded size gets 413 after ~max_body_bytes: the generator blocks
    after 4 MiB, so the test would time out if the gateway waited for the end of the body."""
    release = asyncio.Event()
    sent = 0

    async def body():
        nonlocal sent
        chunk = b"[" + b" " * (64 * 1024 - 1)
        while sent < 4 * 1024 * 1024:
            yield chunk
            sent += len(chunk)
        await release.wait()

    async with running_gateway(config=GatewayConfig(lingering_time_s=0.2)) as gw:
        resp = await gw.post("sites", data=body())
        try:
            await problem(resp, 413, "body-too-large")
            assert sent <= 4 * 1024 * 1024
            assert resp.headers.get("Connection", "").lower() == "close"
        finally:
            release.set()
            resp.release()


# --- 415 -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("content_type", [
    "text/plain", "application/xml", "application/json; charset=iso-8859-1", "multipart/form-data", None,
])
async def test_unsupported_content_type_is_415(content_type):
    async with running_gateway() as gw:
        data = json.dumps(examples("sites")).encode()
        body = await problem(await gw.post("sites", data=data, content_type=content_type), 415,
                             "unsupported-media-type")
    assert body["supported"] == ["application/json", "application/x-ndjson"]


async def test_json_with_utf8_charset_is_fine():
    async with running_gateway() as gw:
        resp = await gw.post("sites", with_unknown_division(examples("sites")),
                             content_type="application/json; charset=UTF-8")
    assert resp.status == 207


# --- 429 -----------------------------------------------------------------------------------------

async def test_rate_limit_is_per_platform_with_retry_after():
    clock = Clock()
    config = GatewayConfig(rate_events_per_s=2, rate_burst=8, max_events=8)
    events = with_unknown_division(examples("sites"))  # 4 events, rejected by validation: no Kafka needed
    async with running_gateway(clock=clock, config=config) as gw:
        assert (await gw.post("sites", events)).status == 207          # 8 -> 4 tokens
        assert (await gw.post("sites", events[:3])).status == 207      # 4 -> 1
        resp = await gw.post("sites", events[:3])                       # needs 3, has 1: wait 1 s
        body = await problem(resp, 429, "rate-limited")
        assert resp.headers["Retry-After"] == "1" and body["retry_after_s"] == 1
        other = with_unknown_division(examples("sites", platform="cityride"))
        assert (await gw.post("sites", other, platform="cityride")).status == 207  # own bucket
        clock.advance(1.0)                                               # 1 + 2 = 3 tokens
        assert (await gw.post("sites", events[:3])).status == 207        # -> 0
        resp = await gw.post("sites", events[:1])                        # bucket empty: before the body
        await problem(resp, 429, "rate-limited")
        assert resp.headers["Retry-After"] == "1"
        clock.advance(0.5)
        assert (await gw.post("sites", events[:1])).status == 207


async def test_concurrent_request_cap_does_not_stall_other_platforms():
    config = GatewayConfig(max_inflight=1, body_timeout_s=5)
    async with running_gateway(config=config) as gw:
        # platform A: a request whose body trickles in (holds its only slot)
        reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
        writer.write((f"POST /v1/events/sites HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKENS['swiftdash']}\r\n"
                      "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n[").encode())
        await writer.drain()
        await wait_until(lambda: gw.gateway.limiter._inflight.get("swiftdash") == 1, what="request in flight")
        resp = await gw.post("sites", with_unknown_division(examples("sites")))
        await problem(resp, 429, "too-many-concurrent-requests")
        assert resp.headers["Retry-After"] == "1"
        other = with_unknown_division(examples("sites", platform="cityride"))
        resp = await asyncio.wait_for(gw.post("sites", other, platform="cityride"), 2)
        assert resp.status == 207
        writer.close()
        await wait_until(lambda: not gw.gateway.limiter._inflight.get("swiftdash"), what="slot released")


# --- slow clients --------------------------------------------------------------------------------

async def test_slow_body_is_408():
    config = GatewayConfig(body_timeout_s=0.3, lingering_time_s=0.1)
    async with running_gateway(config=config) as gw:
        head = await slow_body_status_line(gw.port, "/v1/events/sites", TOKENS["swiftdash"])
    assert head.startswith(b"HTTP/1.1 408")


async def test_slow_loris_headers_are_cut_off():
    config = GatewayConfig(keepalive_timeout_s=0.3)
    async with running_gateway(config=config) as gw:
        reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
        writer.write(b"POST /v1/events/sites HTTP/1.1\r\nHost: x\r\nX-Slow: 1")  # never finishes the headers
        await writer.drain()
        loop = asyncio.get_running_loop()
        started = loop.time()
        data = await asyncio.wait_for(reader.read(), 5)
        elapsed = loop.time() - started
        writer.close()
    assert data == b"" and elapsed < 3


@pytest.mark.parametrize("request_bytes", [
    b"GARBAGE\r\n\r\n",
    b"POST /v1/events/sites HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * 9000 + b"\r\n\r\n",
    b"POST /v1/events/sites HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"POST /v1/events/sites HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
    b"".join(b"X-%d: 1\r\n" % i for i in range(100)).join([b"GET /healthz HTTP/1.1\r\n", b"\r\n"]),
])
async def test_malformed_http_is_a_problem_and_closes_the_connection(request_bytes):
    async with running_gateway() as gw:
        resp = await exchange(gw.port, request_bytes, timeout=5)
        text = await (await gw.session.get(f"{gw.url}/metrics")).text()
    assert resp.status == 400 and resp.error is None and resp.content_type == "application/problem+json"
    assert resp.headers["server"] == "gigbridge"
    body = resp.json()
    assert body["type"] == PROBLEM + "malformed-request" and body["status"] == 400
    assert b"aaaa" not in resp.body  # the client's bytes are not echoed
    assert 'gigbridge_gateway_connections_closed_total{reason="malformed"} 1.0' in text


async def test_over_the_connection_limit_the_oldest_idle_connection_makes_room():
    """Slow-loris connections fill the cap: a new client still gets through, the oldest
    header-less connection is closed; a connection with a request in progress is never cut."""
    config = GatewayConfig(max_connections=4, body_timeout_s=10)
    async with running_gateway(config=config) as gw:
        busy = await open_raw(gw.port, (f"POST /v1/events/sites HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                                    f"{TOKENS['swiftdash']}\r\nContent-Type: application/json\r\n"
                                    "Content-Length: 100\r\n\r\n[").encode())
        await wait_until(lambda: gw.gateway.limiter._inflight.get("swiftdash") == 1, what="request in flight")
        loris = [await open_raw(gw.port, b"POST /v1/events/sites HTTP/1.1\r\nHost: x\r\n") for _ in range(3)]
        await wait_until(lambda: len(gw.gateway.connections.busy) == 1, what="busy connection tracked")
        other = with_unknown_division(examples("sites", platform="cityride"))
        resp = await asyncio.wait_for(gw.post("sites", other, platform="cityride"), 5)
        assert resp.status == 207
        assert await asyncio.wait_for(loris[0][0].read(), 5) == b""  # the oldest idle one was closed
        assert gw.gateway.limiter._inflight.get("swiftdash") == 1  # the busy one was not
        text = await (await gw.session.get(f"{gw.url}/metrics")).text()
        for _, writer in [busy, *loris]:
            writer.close()
    assert 'gigbridge_gateway_connections_closed_total{reason="evicted"}' in text


async def test_at_the_connection_limit_with_every_connection_busy_new_ones_get_503():
    config = GatewayConfig(max_connections=1, body_timeout_s=10)
    async with running_gateway(config=config) as gw:
        _, writer = await open_raw(gw.port, (f"POST /v1/events/sites HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                                             f"{TOKENS['swiftdash']}\r\nContent-Type: application/json\r\n"
                                             "Content-Length: 100\r\n\r\n[").encode())
        await wait_until(lambda: gw.gateway.limiter._inflight.get("swiftdash") == 1, what="request in flight")
        resp = await exchange(gw.port, request_bytes("GET", "/healthz", {}), timeout=5)
        writer.close()
    assert resp.status == 503 and resp.headers["retry-after"] == "1"
    assert resp.json()["type"] == PROBLEM + "too-many-connections"


# --- operations ----------------------------------------------------------------------------------

async def test_health_and_readiness_without_kafka():
    async with running_gateway() as gw:
        resp = await gw.session.get(f"{gw.url}/healthz")
        assert resp.status == 200 and (await resp.json()) == {"status": "ok"}
        resp = await gw.session.get(f"{gw.url}/readyz")
        await problem(resp, 503, "not-ready")
        assert resp.headers["Retry-After"]


async def test_503_when_the_producer_cannot_reach_kafka():
    """Valid events, but the producer points at a closed port: nothing is reported accepted."""
    events = examples("sites") + with_unknown_division(examples("sites"))[:1]
    async with running_gateway() as gw:
        resp = await gw.post("sites", events)
        body = await problem(resp, 503, "kafka-unavailable")
        assert int(resp.headers["Retry-After"]) >= 1
        assert not {"results", "accepted"} & set(body) and "nothing was accepted" in body["detail"]
        metrics = await (await gw.session.get(f"{gw.url}/metrics")).text()
    assert 'gigbridge_gateway_events_total{outcome="unavailable",platform="swiftdash",type="sites"} 4.0' in metrics
    assert 'outcome="accepted"' not in metrics
    assert 'gigbridge_gateway_requests_total{platform="swiftdash",status="503"} 1.0' in metrics


async def test_metrics_count_requests_and_events():
    async with running_gateway() as gw:
        await gw.post("sites", with_unknown_division(examples("sites")))
        await gw.post("headcounts", data="nope")
        await gw.post("sites", examples("sites"), platform=None)
        resp = await gw.session.get(f"{gw.url}/metrics")
        text = await resp.text()
    assert resp.status == 200 and resp.content_type == "text/plain"
    assert 'gigbridge_gateway_requests_total{platform="swiftdash",status="207"} 1.0' in text
    assert 'gigbridge_gateway_requests_total{platform="swiftdash",status="400"} 1.0' in text
    assert 'gigbridge_gateway_requests_total{platform="-",status="401"} 1.0' in text
    assert 'gigbridge_gateway_events_total{outcome="rejected",platform="swiftdash",type="sites"} 4.0' in text
    assert "gigbridge_gateway_request_seconds_count 3.0" in text


async def test_registry_is_mounted_under_registry():
    async with running_gateway() as gw:
        resp = await gw.session.get(f"{gw.url}/registry/subjects/platform.swiftdash.sites-value/versions/latest")
        body = await resp.json(content_type=None)
        assert resp.status == 200 and body["id"] == 1
        assert resp.content_type == "application/vnd.schemaregistry.v1+json"
        resp = await gw.session.get(f"{gw.url}/registry/subjects/nope-value/versions")
        assert resp.status == 404 and (await resp.json(content_type=None))["error_code"] == 40401


async def test_compressed_body_is_limited_after_decompression():
    import gzip

    bomb = gzip.compress(b"[" + b" " * (8 * 1024 * 1024) + b"]")
    assert len(bomb) < 20_000
    async with running_gateway() as gw:
        resp = await gw.post("sites", data=bomb, headers={"Content-Encoding": "gzip"})
        await problem(resp, 413, "body-too-large")
        small = gzip.compress(json.dumps(with_unknown_division(examples("sites"))).encode())
        resp = await gw.post("sites", data=small, headers={"Content-Encoding": "gzip"})
        assert resp.status == 207


async def test_client_leaving_mid_body_is_not_a_server_error():
    async with running_gateway() as gw:
        for half_close in (True, False):
            reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
            writer.write((f"POST /v1/events/sites HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKENS['swiftdash']}"
                          "\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n[").encode())
            await writer.drain()
            await wait_until(lambda: gw.gateway.limiter._inflight.get("swiftdash") == 1, what="request in flight")
            if half_close:
                writer.write_eof()
                assert await asyncio.wait_for(reader.read(), 5) == b""
            else:
                writer.close()
            await wait_until(lambda: not gw.gateway.limiter._inflight.get("swiftdash"), what="slot released")
        text = await (await gw.session.get(f"{gw.url}/metrics")).text()
    assert 'gigbridge_gateway_requests_total{platform="swiftdash",status="400"} 2.0' in text
    assert 'status="500"' not in text


async def test_responses_do_not_reveal_software_versions():
    async with running_gateway() as gw:
        for path in ("/healthz", "/nope", "/registry/config"):
            resp = await gw.session.get(gw.url + path)
            assert resp.headers["Server"] == "gigbridge", path
            assert resp.headers["X-Content-Type-Options"] == "nosniff"
