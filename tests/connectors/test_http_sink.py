"""HttpSink against a real SimEndpoint over loopback; backoff sleeps are injected (no waiting)."""

from __future__ import annotations

import asyncio
import random
import time

import aiohttp
import pytest
from aiohttp import web

from connectors.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, canonical_json, verify_signature
from gigbridge.devtools.sim_endpoint import SimEndpoint
from connectors.sinks.base import DeadLetter, Delivered, RetryInfo, SinkRecord, SinkStopped
from connectors.sinks.http import HttpSink

SECRET = b"whsec-insurer-44"


def record(i: int, key: str | None = None, **value) -> SinkRecord:
    return SinkRecord(key=key, value={"event_id": f"evt-{i}", "injured": "李四", **value},
                      idempotency_key=f"evt-{i}")


def header(claim: dict, name: str) -> str | None:
    return next((v for k, v in claim["headers"].items() if k.lower() == name.lower()), None)


class MaxRng(random.Random):
    """uniform(a, b) -> b: makes the jittered backoff equal to its upper bound."""

    def uniform(self, a: float, b: float) -> float:
        return b


@pytest.fixture
def retries() -> list[RetryInfo]:
    return []


@pytest.fixture
def make(sleeps, clock, retries):
    """make(endpoint, **overrides) -> HttpSink with injected sleep/clock/retry hook."""

    def build(endpoint: SimEndpoint, **kw) -> HttpSink:
        kw.setdefault("sleep", sleeps)
        kw.setdefault("clock", clock)
        kw.setdefault("rng", random.Random(42))
        kw.setdefault("on_retry", retries.append)
        url = kw.pop("url", None) or endpoint.claims_url
        return HttpSink(url, kw.pop("secret", SECRET),
                        kw.pop("name", "insurer-44"), **kw)

    return build


# --- wire format -----------------------------------------------------------------------------
async def test_request_is_signed_canonical_json_with_idempotency_key(make, clock):
    async with SimEndpoint(secret=SECRET, clock=clock) as ep:
        sink = make(ep)
        rec = SinkRecord(key="inc-1", value={"b": 1, "a": "工伤", "event_id": "evt-1"}, idempotency_key="evt-1",
                         headers={"X-Trace-Id": "t-1", "idempotency-key": "spoofed"})
        sink.add(rec)
        [outcome] = await sink.flush()
        await sink.stop()
    assert isinstance(outcome, Delivered) and outcome.status == 200
    assert outcome.receipt["claim_reference"] == "CLM-1"
    assert outcome.receipt["attempts"] == 1 and outcome.receipt["status"] == 200
    assert outcome.receipt["latency_ms"] >= 0
    claim = ep.received[0]
    body = claim["body"].encode("utf-8")
    assert body == canonical_json(rec.value) == '{"a":"工伤","b":1,"event_id":"evt-1"}'.encode()
    assert header(claim, "Idempotency-Key") == "evt-1"  # the sink's header wins over the record's
    assert [k.lower() for k in claim["headers"]].count("idempotency-key") == 1
    assert header(claim, "Content-Type") == "application/json"
    assert header(claim, "X-Trace-Id") == "t-1"
    ts, sig = header(claim, TIMESTAMP_HEADER), header(claim, SIGNATURE_HEADER)
    assert ts == str(int(clock())) and sig.startswith("v1=")
    assert verify_signature(SECRET, ts, body, sig, now=clock())
    assert not verify_signature(b"some-other-secret", ts, body, sig, now=clock())
    assert not verify_signature(SECRET, ts, body + b" ", sig, now=clock())


async def test_wrong_secret_is_refused_by_the_endpoint(make, clock):
    async with SimEndpoint(secret=SECRET, clock=clock) as ep:
        sink = make(ep, secret=b"not-the-secret")
        sink.add(record(1))
        [outcome] = await sink.flush()
        await sink.stop()
    assert isinstance(outcome, DeadLetter)
    assert (outcome.status, outcome.reason) == (401, "http_401")
    assert "invalid_signature" in outcome.response_body
    assert ep.accepted == 0


async def test_signature_timestamp_is_fresh_on_every_attempt(make, clock, sleeps):
    async with SimEndpoint(secret=SECRET, clock=clock) as ep:
        async def sleep_and_advance(delay: float) -> None:
            await sleeps(delay)
            clock.advance(600)  # longer than the replay window between attempts

        sink = make(ep, sleep=sleep_and_advance)
        ep.set_mode("503", count=2)
        sink.add(record(1))
        [outcome] = await sink.flush()
        await sink.stop()
    assert isinstance(outcome, Delivered) and outcome.receipt["attempts"] == 3
    assert header(ep.received[0], TIMESTAMP_HEADER) == str(int(clock()))


async def test_webhook_path_uses_the_same_sink(make):
    async with SimEndpoint(secret="office-secret") as ep:
        sink = make(ep, url=ep.webhook_url, secret="office-secret", name="office-110105", clock=time.time)
        sink.add(record(7))
        [outcome] = await sink.flush()
        await sink.stop()
    assert isinstance(outcome, Delivered)
    assert ep.received[0]["path"] == "/webhook"


# --- transient failures ----------------------------------------------------------------------
async def test_429_retry_after_seconds_is_honoured(make, clock, sleeps, retries):
    async with SimEndpoint(secret=SECRET, clock=clock) as ep:
        sink = make(ep)
        ep.set_mode("429", retry_after_s=7, count=1)
        sink.add(record(1))
        [outcome] = await sink.flush()
        await sink.stop()
    assert sleeps.calls == [7.0]
    assert isinstance(outcome, Delivered) and outcome.receipt["attempts"] == 2
    assert [(r.reason, r.status, r.attempt, r.delay_s) for r in retries] == [("http_429", 429, 1, 7.0)]


async def test_retry_after_http_date_is_honoured_and_capped(make, clock, sleeps):
    async with SimEndpoint(secret=SECRET, clock=clock) as ep:
        sink = make(ep, max_retry_after_s=300)
        ep.set_mode("503", retry_after_s=30, retry_after_http_date=True, count=1)
        sink.add(record(1))
        await sink.flush()
        ep.set_mode("429", retry_after_s=3600, count=1)  # an insurer asking for an hour
        sink.add(record(2))
        await sink.flush()
        await sink.stop()
    assert sleeps.calls == [30.0, 300.0]


async def test_500_then_ok_is_delivered_on_the_second_attempt(make, sleeps, retries):
    async with SimEndpoint(secret=SECRET) as ep:
        sink = make(ep, clock=time.time)
        ep.set_mode("500", count=1)
        sink.add(record(1))
        [outcome] = await sink.flush()
        await sink.stop()
    assert isinstance(outcome, Delivered)
    assert outcome.receipt["attempts"] == 2 and outcome.receipt["claim_reference"] == "CLM-1"
    assert len(sleeps.calls) == 1 and [r.reason for r in retries] == ["http_500"]
    assert ep.stats()["by_status"] == {"200": 1, "500": 1}


async def test_endpoint_down_for_a_while_loses_nothing_and_duplicates_nothing(make, clock, retries):
    async with SimEndpoint(secret=SECRET, clock=clock) as ep:
        sink = make(ep, concurrency=4)
        ep.set_mode("down", count=23)  # the next 23 requests: connection dropped
        records = [record(i, key=f"inc-{i % 3}" if i % 2 else None) for i in range(12)]
        for r in records:
            sink.add(r)
        outcomes = await sink.flush()
        await sink.stop()
    assert [o.record for o in outcomes] == records
    assert all(isinstance(o, Delivered) for o in outcomes)
    assert sum(o.receipt["attempts"] for o in outcomes) == 12 + 23  # every drop was retried
    assert ep.dropped == 23 and ep.accepted == 12 and ep.duplicates == 0
    assert sorted(c["idempotency_key"] for c in ep.received) == sorted(r.idempotency_key for r in records)
    assert {r.reason for r in retries} == {"connection_error"}


async def test_endpoint_process_down_then_back_on_the_same_port(make, sleeps, poll):
    ep = SimEndpoint(secret=SECRET)
    await ep.start()
    port = ep.port
    await ep.stop()  # nothing listens: connection refused
    sink = make(ep, clock=time.time)
    for i in range(3):
        sink.add(record(i))
    flushing = asyncio.create_task(sink.flush())
    await poll(lambda: len(sleeps.calls) >= 5, what="a few refused attempts")
    assert sink.paused or not flushing.done()
    back = SimEndpoint(port=port, secret=SECRET)
    await back.start()
    try:
        outcomes = await flushing
    finally:
        await sink.stop()
        await back.stop()
    assert all(isinstance(o, Delivered) for o in outcomes)
    assert back.accepted == 3


async def test_timeouts_are_retried_and_the_late_original_is_deduplicated(make, clock, retries, poll):
    async with SimEndpoint(secret=SECRET, clock=clock) as ep:
        sink = make(ep, total_timeout_s=0.2)
        ep.set_mode("slow", delay_s=0.6, count=1)
        sink.add(record(1))
        [outcome] = await sink.flush()
        await sink.stop()
        assert isinstance(outcome, Delivered) and outcome.receipt["attempts"] == 2
        assert [r.reason for r in retries] == ["timeout"]
        await poll(lambda: ep.completed == 2, what="the slow request to finish server-side")
    assert ep.accepted == 1 and ep.claims_for("evt-1") == 1


async def test_stop_during_endless_retries_raises_and_keeps_records(make, sleeps, poll, clock):
    async with SimEndpoint(secret=SECRET, clock=clock) as ep:
        sink = make(ep)
        sleeps.observe = lambda: sink.paused
        ep.set_mode("500")  # until further notice
        records = [record(i) for i in range(3)]
        for r in records:
            sink.add(r)
        flushing = asyncio.create_task(sink.flush())
        await poll(lambda: len(sleeps.calls) >= 9, what="endless retries")
        assert all(sleeps.observed)  # paused while backing off
        await sink.stop()
        with pytest.raises(SinkStopped):
            await flushing
        assert sink.pending == 3 and not sink.paused and ep.accepted == 0
        # Nothing was lost: the same sink, restarted, delivers everything once the insurer is back.
        ep.set_mode("ok")
        await sink.start()
        outcomes = await sink.flush()
        await sink.stop()
    assert [o.record for o in outcomes] == records
    assert all(isinstance(o, Delivered) for o in outcomes)
    assert ep.accepted == 3


async def test_backoff_grows_exponentially_and_is_capped(make, sleeps, clock):
    async with SimEndpoint(secret=SECRET, clock=clock) as ep:
        sink = make(ep, rng=MaxRng(), concurrency=1)
        ep.set_mode("500", count=10)
        sink.add(record(1))
        [outcome] = await sink.flush()
        await sink.stop()
    assert sleeps.calls == [0.5, 1, 2, 4, 8, 16, 32, 60, 60, 60]
    assert outcome.receipt["attempts"] == 11


async def test_backoff_full_jitter_with_seeded_rng(make, sleeps, clock):
    async with SimEndpoint(secret=SECRET, clock=clock) as ep:
        sink = make(ep, rng=random.Random(1234), concurrency=1, base_backoff_s=0.25, max_backoff_s=5)
        ep.set_mode("503", count=8)
        sink.add(record(1))
        await sink.flush()
        await sink.stop()
    bounds = [min(5, 0.25 * 2 ** i) for i in range(8)]
    expected_rng = random.Random(1234)
    assert sleeps.calls == [expected_rng.uniform(0, b) for b in bounds]
    assert all(0 <= s <= b for s, b in zip(sleeps.calls, bounds))


# --- permanent failures ----------------------------------------------------------------------
async def test_400_is_a_dead_letter_and_the_rest_is_delivered(make, clock):
    async with SimEndpoint(secret=SECRET, clock=clock) as ep:
        sink = make(ep, concurrency=1)
        ep.set_mode("400", count=1)
        for i in range(3):
            sink.add(record(i))
        outcomes = await sink.flush()
        await sink.stop()
    assert isinstance(outcomes[0], DeadLetter)
    assert outcomes[0].status == 400 and outcomes[0].reason == "http_400"
    assert "simulated permanent refusal" in outcomes[0].response_body
    assert [type(o) for o in outcomes[1:]] == [Delivered, Delivered]


async def test_unserializable_payload_is_a_dead_letter(make, clock):
    async with SimEndpoint(secret=SECRET, clock=clock) as ep:
        sink = make(ep)
        sink.add(SinkRecord(key=None, value={"x": float("nan")}, idempotency_key="evt-nan"))
        sink.add(SinkRecord(key=None, value={"x": object()}, idempotency_key="evt-obj"))
        sink.add(record(1))
        outcomes = await sink.flush()
        await sink.stop()
    assert [(type(o), getattr(o, "reason", None)) for o in outcomes] == [
        (DeadLetter, "unserializable"), (DeadLetter, "unserializable"), (Delivered, None)]
    assert outcomes[0].status is None
    assert ep.requests == 1


async def test_large_error_bodies_are_truncated_and_redirects_not_followed(make):
    async def big(request: web.Request) -> web.Response:
        return web.Response(status=413, text="x" * 10_000 + "END")

    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPFound("/elsewhere")

    async def plain(request: web.Request) -> web.Response:
        return web.Response(status=202, text="accepted, no json")

    async def ref_only(request: web.Request) -> web.Response:
        return web.json_response({"reference": "R-9"}, status=201)

    app = web.Application()
    app.router.add_post("/big", big)
    app.router.add_post("/moved", moved)
    app.router.add_post("/plain", plain)
    app.router.add_post("/ref", ref_only)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        results = {}
        for path in ("big", "moved", "plain", "ref"):
            sink = make(None, url=f"{base}/{path}", clock=time.time)
            sink.add(record(1))
            [results[path]] = await sink.flush()
            await sink.stop()
    finally:
        await runner.cleanup()
    assert results["big"].status == 413 and len(results["big"].response_body) == 4096
    assert results["moved"].status == 302 and results["moved"].reason == "http_302"
    assert isinstance(results["plain"], Delivered) and results["plain"].receipt["claim_reference"] is None
    assert results["plain"].status == 202
    assert results["ref"].receipt["claim_reference"] == "R-9"


# --- concurrency, ordering, lifecycle --------------------------------------------------------
async def test_parallel_requests_are_bounded_by_concurrency(make, clock):
    async with SimEndpoint(secret=SECRET, clock=clock) as ep:
        sink = make(ep, concurrency=4)
        ep.set_mode("slow", delay_s=0.05)
        for i in range(16):
            sink.add(record(i))
        outcomes = await sink.flush()
        assert all(isinstance(o, Delivered) for o in outcomes)
        assert 1 < ep.max_in_flight <= 4
        ep.max_in_flight = 0
        for i in range(16, 21):  # one key: strictly one after the other, in order
            sink.add(record(i, key="incident-9"))
        await sink.flush()
        await sink.stop()
    assert ep.max_in_flight == 1
    assert [c["idempotency_key"] for c in ep.received[16:]] == [f"evt-{i}" for i in range(16, 21)]


def test_constructor_does_no_io_and_needs_no_event_loop():
    sink = HttpSink("http://127.0.0.1:9/claims", b"top-secret-key", "insurer-x")
    assert sink._session is None and sink.pending == 0 and not sink.paused
    assert "top-secret-key" not in repr(sink)


async def test_injected_session_factory_is_used_once_and_closed(make, clock):
    made: list[aiohttp.ClientSession] = []

    def factory() -> aiohttp.ClientSession:
        made.append(aiohttp.ClientSession())
        return made[-1]

    async with SimEndpoint(secret=SECRET, clock=clock) as ep:
        sink = make(ep, session_factory=factory)
        assert made == []
        await sink.start()
        for i in range(3):
            sink.add(record(i))
            await sink.flush()
        await sink.stop()
    assert len(made) == 1 and made[0].closed
    assert ep.accepted == 3


def test_constructor_rejects_bad_configuration():
    for url in ("insurer.example/claims", "ftp://127.0.0.1/claims", "http:///claims"):
        with pytest.raises(ValueError):
            HttpSink(url, b"s", "bad")
    with pytest.raises(ValueError):
        HttpSink("http://127.0.0.1/claims", b"", "bad")
    with pytest.raises(ValueError):
        HttpSink("http://127.0.0.1/claims", b"s", "bad", concurrency=0)
