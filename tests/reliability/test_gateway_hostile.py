"""Hostile clients of the HTTP ingest gateway (``gigbridge ingest`` in a subprocess, real broker):

* fuzzed requests (``tests/reliability/gateway_fuzz.py``): each one gets the documented answer
  (a 4xx problem, or 200/207 with one verdict per event), the gateway's own request counters
  agree with the client's tally, the process never dies, and every event it accepted is routed
  by a worker (the ledger);
* slow-loris connections (headers and bodies dribbled a byte at a time, more of them than the
  connection cap) and one platform flooding: another platform's requests keep succeeding
  within a bound, and every slow connection is closed after its timeout.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import pytest

from schemas.catalog import default_catalog
from schemas.wire import decode
from streams.core.topics import ingest_topic
from tests.reliability import gateway_fuzz
from tests.reliability.harness import (
    SEED,
    GatewayProcess,
    Worker,
    env_int,
    onboard_platforms,
    record,
    unique,
)
from tests.support.kafka_io import read_all
from tests.support.ledger import Traffic, delete_platform_topics, wait_until_accounted
from tests.support.raw_http import exchange, request_bytes

pytestmark = [pytest.mark.reliability, pytest.mark.kafka]

CATALOG = default_catalog()

CONCURRENCY = 16
# the fuzz is about what the gateway makes of each request, not about its rate limits
UNLIMITED = {"GIGBRIDGE_GATEWAY_RATE_EVENTS_PER_S": "1000000000", "GIGBRIDGE_GATEWAY_RATE_BURST": "1000000000",
             "GIGBRIDGE_GATEWAY_MAX_INFLIGHT": "64"}


def tokens_for(*platforms: str) -> dict[str, str]:
    return {p: f"tok-{p}-{uuid.uuid4().hex}" for p in platforms}


async def _fuzz(gateway: GatewayProcess, cases, tokens: dict[str, str], platform: str,
                traffic: Traffic) -> gateway_fuzz.HttpLedger:
    ledger = gateway_fuzz.HttpLedger()
    todo = iter(cases)

    async def client() -> None:
        for case in todo:
            data, body = case.request(tokens)
            resp = await exchange(gateway.port, data, timeout=60)
            for _, event in gateway_fuzz.check_answer(case, body, resp, ledger):
                traffic.accepted_elsewhere(platform, case.path.rsplit("/", 1)[1], event)

    await asyncio.gather(*(client() for _ in range(CONCURRENCY)))
    return ledger


def test_fuzzing_the_gateway_every_request_answered_every_accepted_event_routed(kafka, tmp_path, scenario_timer):
    n = env_int("GIGBRIDGE_GATEWAY_FUZZ_CASES", 3000)
    platform, other = unique("gwfuzz"), unique("gwother")
    tokens = tokens_for(platform, other)
    onboard_platforms(kafka, [platform])
    gateway = GatewayProcess(kafka, tmp_path, tokens, UNLIMITED).start()
    worker = Worker(kafka, tmp_path, unique("rel-gwfuzz")).start()
    traffic = Traffic(kafka, [platform], seed=SEED + 9)  # sends nothing: the ledger of what the gateway accepted
    try:
        pool = gateway_fuzz.valid_events(platform, int(time.time() * 1000), SEED)
        cases = gateway_fuzz.generate(n, SEED, pool, other)
        gateway.wait_ready(60)
        started = time.monotonic()
        ledger = asyncio.run(_fuzz(gateway, cases, {"own": tokens[platform], "other": tokens[other]},
                                   platform, traffic))
        send_s = time.monotonic() - started
        alive, health = gateway.alive, gateway.get("/healthz")
        counted = {status: gateway.metric("gigbridge_gateway_requests_total", status=str(status))
                   for status in ledger.app_statuses}
        malformed = gateway.metric("gigbridge_gateway_connections_closed_total", reason="malformed")
        log = gateway.log_text()
        report = wait_until_accounted(kafka, traffic, "gateway fuzz", max(180, ledger.accepted / 200),
                                      read_timeout_s=max(120, ledger.accepted / 200))
    finally:
        gateway.stop()
        worker.stop()
        delete_platform_topics(kafka, [platform])
    record(f"gateway fuzz {len(cases)} requests", report, scenario_timer(),
           f"{ledger.summary()}; sent in {send_s:.0f}s; gateway alive={alive}")
    print("by category:", dict(ledger.by_label), "\nby problem type:", dict(ledger.by_slug))
    assert ledger.cases == len(cases)
    assert ledger.failed == 0, "\n".join(ledger.failures)
    assert alive and health[0] == 200, gateway.log_tail()
    assert '"internal-error"' not in log and "Traceback" not in log
    # the gateway counted every request the client sent, with the status the client saw
    assert counted == {status: float(k) for status, k in ledger.app_statuses.items()}
    assert malformed == ledger.by_slug["malformed-request"]
    # every accepted event is in the platform's topic once and routed by the worker
    assert ledger.accepted > 0
    assert report.inputs == ledger.accepted and report.routed == ledger.accepted, report.table()
    assert report.lost == 0 and report.ok and report.duplicates == 0, report.table()


# --- slow-loris and flood ------------------------------------------------------------------------

HEADER_TIMEOUT_S = 2.0   # GIGBRIDGE_GATEWAY_KEEPALIVE_TIMEOUT_S
BODY_TIMEOUT_S = 3.0     # GIGBRIDGE_GATEWAY_BODY_TIMEOUT_S
MAX_CONNECTIONS = 64
CLOSE_SLACK_S = 1.5      # closed at most this long after its timeout
ANSWER_BOUND_S = 2.0     # every request of the well-behaved platform is answered within this
LIMITS = {"GIGBRIDGE_GATEWAY_KEEPALIVE_TIMEOUT_S": str(HEADER_TIMEOUT_S),
          "GIGBRIDGE_GATEWAY_BODY_TIMEOUT_S": str(BODY_TIMEOUT_S),
          "GIGBRIDGE_GATEWAY_LINGERING_TIME_S": "0.5",
          "GIGBRIDGE_GATEWAY_MAX_CONNECTIONS": str(MAX_CONNECTIONS),
          "GIGBRIDGE_GATEWAY_MAX_INFLIGHT": "4",
          "GIGBRIDGE_GATEWAY_RATE_EVENTS_PER_S": "50", "GIGBRIDGE_GATEWAY_RATE_BURST": "100",
          "GIGBRIDGE_GATEWAY_MAX_EVENTS": "100"}


@dataclass
class Slow:
    """What became of the slow connections of one kind."""

    opened: int = 0
    closed_after: list[float] = field(default_factory=list)  # seconds from connect to the server's close
    statuses: Counter = field(default_factory=Counter)       # answers, if any (408 / 429 for bodies)


async def _dribble(port: int, head: bytes, tail: bytes, slow: Slow, stop: asyncio.Event, pause: float,
                   reconnect_after: float = 0.5) -> None:
    """Connect, send ``head`` at once, then ``tail`` one byte per ``pause`` seconds (never
    finishing), until the server closes; reconnect after ``reconnect_after``, until ``stop``."""
    while not stop.is_set():
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        slow.opened += 1
        started = time.monotonic()
        writer.write(head)
        answer = bytearray()

        async def read() -> None:
            try:
                while chunk := await reader.read(4096):
                    answer.extend(chunk)
            except ConnectionError:
                pass

        reading = asyncio.ensure_future(read())
        try:
            for byte in tail:
                if reading.done() or stop.is_set():
                    break
                writer.write(bytes([byte]))
                await asyncio.wait({reading}, timeout=pause)
            await asyncio.wait({reading}, timeout=BODY_TIMEOUT_S + HEADER_TIMEOUT_S + 5)
        except ConnectionError:
            await asyncio.wait({reading}, timeout=5)
        finally:
            writer.close()
        if reading.done():
            slow.closed_after.append(time.monotonic() - started)
            if answer.startswith(b"HTTP/1."):
                slow.statuses[int(answer.split(b" ", 2)[1])] += 1
        else:
            reading.cancel()
            if not stop.is_set():
                slow.statuses["never closed"] += 1
        await asyncio.sleep(reconnect_after)


async def _flood(port: int, data: bytes, statuses: Counter, stop: asyncio.Event) -> None:
    while not stop.is_set():
        statuses[(await exchange(port, data, timeout=30)).status] += 1


async def _well_behaved(port: int, make, latencies: list[float], failures: list[str], retries: Counter,
                        stop: asyncio.Event) -> None:
    """One request of real events at a time, a new connection each (so each one has to get in
    past the connection cap); a ``503 too-many-connections`` (nothing was read) is retried at
    once, as the platform guide says, within the same time bound."""
    while not stop.is_set():
        data, events = make()
        started = time.monotonic()
        while (resp := await exchange(port, data, timeout=30)).status == 503 and \
                time.monotonic() - started < ANSWER_BOUND_S:
            retries[resp.json()["type"].rsplit("/", 1)[1]] += 1
        latencies.append(time.monotonic() - started)
        if resp.status != 200:
            failures.append(f"{resp.status} {resp.error} after {resp.elapsed_s:.1f}s: {resp.body[:200]!r}")
        else:
            events.extend(r["event_id"] for r in resp.json()["results"])
        await asyncio.sleep(0.1)


def test_slow_loris_and_a_flood_do_not_stall_another_platform(kafka, tmp_path, scenario_timer):
    good, flooder, loris = unique("gwgood"), unique("gwflood"), unique("gwloris")
    tokens = tokens_for(good, flooder, loris)
    onboard_platforms(kafka, [good, flooder])
    gateway = GatewayProcess(kafka, tmp_path, tokens, LIMITS).start()
    pool = gateway_fuzz.valid_events(good, int(time.time() * 1000), SEED, n=60)
    accepted: list[str] = []

    def good_request() -> tuple[bytes, list]:
        event_type = pool[len(accepted) % len(pool)][0]
        events = [dict(r, event_id=str(uuid.uuid4())) for t, r in pool if t == event_type][:3]
        return request_bytes("POST", f"/v1/events/{event_type}", {
            "Authorization": f"Bearer {tokens[good]}", "Content-Type": "application/json"},
            json.dumps(events).encode()), accepted

    flood_events = [dict(r, platform_id=flooder, event_id=str(uuid.uuid4()), division_code="999999000000")
                    for t, r in pool if t == "sites"][:20]  # refused by validation: nothing to write
    flood = request_bytes("POST", "/v1/events/sites", {"Authorization": f"Bearer {tokens[flooder]}",
                                                      "Content-Type": "application/json"},
                          json.dumps(flood_events).encode())
    header_head = b"POST /v1/events/sites HTTP/1.1\r\nHost: gateway\r\n"
    body_head = (f"POST /v1/events/sites HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer {tokens[loris]}\r\n"
                 "Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n").encode()

    async def attack(n_header: int, n_body: int, run_s: float) -> dict:
        stop = asyncio.Event()
        headers, bodies, flood_statuses, retries = Slow(), Slow(), Counter(), Counter()
        latencies, failures = [], []
        tasks = [asyncio.ensure_future(_dribble(gateway.port, header_head, b"X-Slow: " + b"a" * 10_000, headers,
                                                stop, 0.2)) for _ in range(n_header)]
        tasks += [asyncio.ensure_future(_dribble(gateway.port, body_head, b"[" + b" " * 10_000, bodies, stop, 0.2))
                  for _ in range(n_body)]
        tasks += [asyncio.ensure_future(_flood(gateway.port, flood, flood_statuses, stop)) for _ in range(8)]
        tasks.append(asyncio.ensure_future(_well_behaved(gateway.port, good_request, latencies, failures, retries,
                                                         stop)))
        await asyncio.sleep(run_s)  # the attack's duration; every assertion is on measured times
        stop.set()
        await asyncio.wait(tasks, timeout=BODY_TIMEOUT_S + HEADER_TIMEOUT_S + 15)
        for t in tasks:
            if t.done() and t.exception():
                raise t.exception()
        return {"headers": headers, "bodies": bodies, "flood": flood_statuses, "latencies": latencies,
                "failures": failures, "retries": retries}

    try:
        gateway.wait_ready(60)
        # 1: under the connection cap: every slow connection runs into its timeout
        under = asyncio.run(attack(n_header=30, n_body=12, run_s=2 * BODY_TIMEOUT_S + 2))
        # 2: far over the cap: the oldest idle connections make room, the good platform gets in
        over = asyncio.run(attack(n_header=3 * MAX_CONNECTIONS, n_body=12, run_s=10))
        alive, health = gateway.alive, gateway.get("/healthz")
        evicted = gateway.metric("gigbridge_gateway_connections_closed_total", reason="evicted")
        refused = gateway.metric("gigbridge_gateway_connections_closed_total", reason="refused")
        written = {decode(CATALOG, r.value).record["event_id"]
                   for t in {t for t, _ in pool} for r in read_all(kafka, ingest_topic(good, t))}
    finally:
        gateway.stop()
        delete_platform_topics(kafka, [good, flooder])
    notes = []
    for name, phase in (("under the cap", under), ("over the cap", over)):
        lat = sorted(phase["latencies"])
        notes.append(f"{name}: good platform {len(lat)} requests, max {lat[-1]:.2f}s, p50 {lat[len(lat) // 2]:.3f}s, "
                     f"retried {dict(phase['retries'])}; "
                     f"flood {dict(phase['flood'])}; header dribblers {phase['headers'].opened} conns closed after "
                     f"max {max(phase['headers'].closed_after):.2f}s; body dribblers "
                     f"{dict(phase['bodies'].statuses)} closed after max {max(phase['bodies'].closed_after):.2f}s")
    record("gateway slow-loris + flood", None, scenario_timer(),
           "; ".join(notes) + f"; evicted {evicted:.0f}, refused {refused:.0f}")
    assert alive and health[0] == 200
    for phase in (under, over):
        assert not phase["failures"], phase["failures"][:5]
        assert len(phase["latencies"]) >= 10 and max(phase["latencies"]) < ANSWER_BOUND_S, phase["latencies"]
        assert phase["flood"][429] > 0, phase["flood"]  # the flood ran into its platform's limits
        assert set(phase["flood"]) <= {207, 429, 503}, phase["flood"]  # 503: no room for a new connection
        for slow in (phase["headers"], phase["bodies"]):
            assert "never closed" not in slow.statuses, slow.statuses
    # under the cap, header dribblers are closed by the header timeout, bodies by the body timeout
    # (408) or at once when over the platform's 4 requests in flight (429)
    assert not under["retries"] and 503 not in under["flood"]
    headers, bodies = under["headers"], under["bodies"]
    assert all(HEADER_TIMEOUT_S - 0.2 <= t <= HEADER_TIMEOUT_S + CLOSE_SLACK_S for t in headers.closed_after), \
        headers.closed_after
    assert set(bodies.statuses) <= {408, 429} and bodies.statuses[408] > 0, bodies.statuses
    assert all(t <= BODY_TIMEOUT_S + CLOSE_SLACK_S for t in bodies.closed_after), bodies.closed_after
    # over the cap, slow connections are closed early to make room, never later than their timeout
    assert evicted > 0
    assert all(t <= BODY_TIMEOUT_S + CLOSE_SLACK_S for t in over["headers"].closed_after + over["bodies"].closed_after)
    assert set(accepted) <= written, "every event the good platform got 200 for is in its topic"
