"""Fixtures of the connector tests.

* ``async def`` tests run on a fresh event loop each (no pytest-asyncio needed).
* ``sink_harness`` parametrizes the sink contract (``test_sink_contract.py``) over every
  registered implementation. To add one, write an async context manager
  ``factory(request) -> SinkHarness`` and add ONE line to ``SINK_FACTORIES``, e.g.
  ``pytest.param(kafka_harness, id="kafka", marks=pytest.mark.kafka)``; the factory may pull
  other fixtures with ``request.getfixturevalue(...)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import random
import time
from dataclasses import dataclass
from typing import AsyncIterator, Awaitable, Callable

import pytest

from gigbridge.devtools.sim_endpoint import SimEndpoint
from connectors.sinks.base import Sink
from connectors.sinks.http import HttpSink
from connectors.sinks.memory import InMemorySink

ASYNC_TEST_TIMEOUT_S = 30.0
SECRET = b"whsec-test-0123456789"


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run ``async def`` tests of this directory with ``asyncio.run`` (and a deadline)."""
    fn = pyfuncitem.obj
    if not inspect.iscoroutinefunction(fn):
        return None
    kwargs = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}

    async def run() -> None:
        await asyncio.wait_for(fn(**kwargs), ASYNC_TEST_TIMEOUT_S)

    asyncio.run(run())
    return True


# --- helpers shared through fixtures ---------------------------------------------------------
class SleepRecorder:
    """Injected ``sleep``: records the requested delays and returns at once, or after
    ``hold_s`` of real time (so a backoff lasts long enough to be observed by a poll)."""

    def __init__(self, observe: Callable[[], object] | None = None, hold_s: float = 0.0) -> None:
        self.calls: list[float] = []
        self.observed: list[object] = []
        self.observe = observe
        self.hold_s = hold_s

    async def __call__(self, delay: float) -> None:
        self.calls.append(delay)
        if self.observe is not None:
            self.observed.append(self.observe())
        await asyncio.sleep(self.hold_s)


class FakeClock:
    """Unix seconds, shared by a sink (signature timestamps) and the endpoint (verification)."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


async def wait_until(condition: Callable[[], bool], timeout_s: float = 5.0, what: str = "condition") -> None:
    """Poll ``condition`` until true or fail after ``timeout_s`` (no fixed sleeps in tests)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.002)


@pytest.fixture
def sleeps() -> SleepRecorder:
    return SleepRecorder()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def poll() -> Callable[..., Awaitable[None]]:
    return wait_until


# --- the sink contract harness ---------------------------------------------------------------
@dataclass
class SinkHarness:
    """What the contract test needs to know about one implementation.

    ``accepted_keys()``: idempotency keys of the claims the destination holds, in acceptance
    order (a duplicate delivery must not add an entry). ``reject(key)``: from now on the
    destination refuses ``key`` permanently with status 422 and a body containing
    ``rejected`` (``None`` if the implementation cannot simulate it). ``outage(on)``: make the
    destination transiently unavailable (``None`` if impossible).
    """

    sink: Sink
    accepted_keys: Callable[[], list[str]]
    reject: Callable[[str], None] | None = None
    outage: Callable[[bool], None] | None = None


@contextlib.asynccontextmanager
async def http_harness(request: pytest.FixtureRequest) -> AsyncIterator[SinkHarness]:
    async with SimEndpoint(secret=SECRET) as endpoint:
        sink = HttpSink(endpoint.claims_url, SECRET, "contract-http", sleep=SleepRecorder(),
                        rng=random.Random(7))
        await sink.start()
        try:
            yield SinkHarness(
                sink=sink,
                accepted_keys=lambda: [c["idempotency_key"] for c in endpoint.received],
                reject=lambda key: endpoint.reject(key, 422),
                outage=lambda on: endpoint.set_mode("down" if on else "ok"),
            )
        finally:
            await sink.stop()


@contextlib.asynccontextmanager
async def memory_harness(request: pytest.FixtureRequest) -> AsyncIterator[SinkHarness]:
    # A backoff of 1 ms real time: with an instant sleep the in-memory sink is "paused" only
    # across two event-loop turns per retry, and a poll could keep missing that window.
    sink = InMemorySink("contract-memory", sleep=SleepRecorder(hold_s=0.001))
    await sink.start()
    try:
        yield SinkHarness(
            sink=sink,
            accepted_keys=lambda: [r.idempotency_key for r in sink.delivered],
            reject=lambda key: sink.reject(key, 422),
            outage=lambda on: sink.go_down() if on else sink.come_up(),
        )
    finally:
        await sink.stop()


SINK_FACTORIES = [
    pytest.param(http_harness, id="http"),
    pytest.param(memory_harness, id="memory"),
]


@pytest.fixture(params=SINK_FACTORIES)
def sink_harness(request: pytest.FixtureRequest) -> Callable[[], contextlib.AbstractAsyncContextManager[SinkHarness]]:
    """``async with sink_harness() as h:`` gives a started sink and a view of its destination."""
    factory = request.param
    return lambda: factory(request)
