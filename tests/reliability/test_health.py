"""streams.runtime.health without a broker: liveness, readiness reasons, stuck detection, drain waiting."""

from __future__ import annotations

import asyncio

import pytest

from streams.runtime.health import WorkerHealth

pytestmark = pytest.mark.reliability


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def tick(h: WorkerHealth, clock: Clock, seconds: float, broker: bool = True) -> None:
    """Time passes with the heartbeat ticking (and the broker answering, unless told not)."""
    clock.now += seconds
    h.last_beat = clock.now
    if broker:
        h.broker_ok()
    h.observe()  # as the heartbeat does


def healthy(clock: Clock, **kwargs) -> WorkerHealth:
    h = WorkerHealth(clock=clock, broker_stale_s=10, stuck_after_s=60, loop_stale_s=5, **kwargs)
    h.started = True
    h.broker_ok()
    return h


def test_ready_only_when_started_and_kafka_answered():
    clock = Clock()
    h = WorkerHealth(clock=clock, broker_stale_s=10)
    ok, doc = h.readiness()
    assert not ok and doc["reasons"] == ["starting", "kafka unreachable"]
    h.started = True
    h.broker_ok()
    assert h.readiness() == (True, h.readiness()[1]) and h.readiness()[1]["status"] == "ready"


def test_kafka_unreachable_once_the_last_good_answer_is_too_old():
    clock = Clock()
    h = healthy(clock)
    tick(h, clock, 4, broker=False)
    h.broker_failed("KafkaConnectionError")
    tick(h, clock, 5, broker=False)
    assert h.readiness()[0]  # 9 s: still inside the bound
    tick(h, clock, 2, broker=False)
    ok, doc = h.readiness()
    assert not ok and doc["reasons"] == ["kafka unreachable"] and doc["kafka_error"] == "KafkaConnectionError"
    h.broker_ok()
    assert h.readiness()[0]


def test_stuck_when_a_partition_waits_without_moving():
    clock = Clock()
    h = healthy(clock)
    state = {("platform.a.sites", 0): (10, 20), ("platform.a.sites", 1): (5, 5)}
    h.partitions = lambda: state
    h.observe()
    tick(h, clock, 59)
    assert h.readiness()[0]
    tick(h, clock, 2)
    ok, doc = h.readiness()
    assert not ok and doc["reasons"] == ["validation stuck"] and doc["input_waiting_s"] > 60
    assert doc["partitions_waiting"] == 1
    state[("platform.a.sites", 0)] = (15, 25)  # it moved: waiting starts over
    assert h.readiness()[0]
    tick(h, clock, 61)
    assert not h.readiness()[0]
    state[("platform.a.sites", 0)] = (25, 25)  # caught up: nothing waits, nothing is stuck
    assert h.readiness()[0]


def test_one_stalled_partition_is_stuck_even_while_others_progress():
    clock = Clock()
    h = healthy(clock)
    state = {"stalled": (3, 50), "busy": (0, 100)}
    h.partitions = lambda: state
    for i in range(1, 9):
        state["busy"] = (10 * i, 100 + 10 * i)
        with h.batch():
            pass
        tick(h, clock, 10)
    assert h.readiness()[1]["reasons"] == ["validation stuck"]


def test_a_batch_that_raises_is_no_progress_but_is_no_longer_in_flight():
    clock = Clock()
    h = healthy(clock)
    progress = h.last_progress
    tick(h, clock, 5)
    with pytest.raises(RuntimeError):
        with h.batch():
            assert h.inflight == 1 and h.validation_since == clock.now
            raise RuntimeError("broker gone")
    assert h.inflight == 0 and h.last_progress == progress and h.validation_since is None


def test_a_delivery_batch_waiting_for_an_endpoint_is_not_stuck_validation():
    clock = Clock()
    h = healthy(clock)
    with h.batch(validation=False):
        tick(h, clock, 600)
        assert h.inflight == 1 and h.readiness()[0]


def test_a_batch_in_flight_for_too_long_is_stuck():
    clock = Clock()
    h = healthy(clock)

    async def run():
        with h.batch():
            h.observe()
            tick(h, clock, 61)
            assert h.readiness()[1]["reasons"] == ["validation stuck"]
            assert not await h.wait_idle(0.01)
        assert await h.wait_idle(0.01)

    asyncio.run(run())


def test_liveness_follows_the_heartbeat_and_draining_is_not_ready():
    clock = Clock()
    h = healthy(clock)
    assert h.liveness()[0]
    clock.now += 6
    h.broker_ok()
    ok, doc = h.liveness()
    assert not ok and doc["status"] == "event loop unresponsive"
    h.last_beat = clock.now
    h.draining = True
    assert h.readiness()[1]["reasons"] == ["shutting down"]


def test_heartbeat_and_probe_loops_update_the_state():
    h = WorkerHealth(broker_stale_s=10)
    calls = []

    async def probe():
        calls.append(1)
        if len(calls) == 1:
            raise OSError("connection refused")

    async def run():
        tasks = [asyncio.create_task(h.heartbeat(0.01)), asyncio.create_task(h.probe_kafka(probe, 0.01, 1))]
        await asyncio.sleep(0.1)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(run())
    assert len(calls) >= 2 and h.last_broker_ok is not None and h.broker_error is None
    assert h.liveness()[0]


def test_the_probe_loop_stops_when_cancelled_as_a_probe_finishes():
    """Python 3.11's ``asyncio.wait_for`` swallows a cancellation that arrives in the same
    loop step as the awaited call finishing; a probe loop built on it never stopped (a CI hang).
    Cancel at every step offset of a probe that finishes immediately: the loop always stops."""
    async def probe():
        await asyncio.sleep(0)

    async def cancel_after(steps: int) -> bool:
        task = asyncio.create_task(WorkerHealth().probe_kafka(probe, 0, 1))
        for _ in range(steps):
            await asyncio.sleep(0)
        task.cancel()
        done, _ = await asyncio.wait([task], timeout=1)
        if not done:
            task.cancel()
        return bool(done) and task.cancelled()

    async def run():
        return [steps for steps in range(12) if not await cancel_after(steps)]

    assert asyncio.run(run()) == []


def _ready_value(registry) -> float | None:
    return registry.get_sample_value("gigbridge_worker_ready")


def test_ready_gauge_follows_readiness_and_is_set_by_the_heartbeat():
    """``gigbridge_worker_ready``: 0 while starting, 1 once ready, 0 again when a reason appears
    (here: Kafka stops answering, then draining), set by the heartbeat alone (no /readyz call)."""
    from prometheus_client import CollectorRegistry, Gauge

    registry = CollectorRegistry()
    gauge = Gauge("gigbridge_worker_ready", "test copy", registry=registry)
    gauge.set(1)
    h = WorkerHealth(broker_stale_s=10, ready_gauge=gauge)
    assert _ready_value(registry) == 0  # a new worker is "starting"
    fail = []

    async def probe():
        if fail:
            raise OSError("connection refused")

    async def becomes(value: float) -> None:
        async with asyncio.timeout(5):  # generous: the machine may be busy
            while _ready_value(registry) != value:
                await asyncio.sleep(0.005)

    async def run():
        tasks = [asyncio.create_task(h.heartbeat(0.01)), asyncio.create_task(h.probe_kafka(probe, 0.01, 1))]
        try:
            await asyncio.sleep(0.1)
            assert _ready_value(registry) == 0 and h.last_broker_ok is not None  # Kafka answers, not started
            h.started = True
            await becomes(1)
            fail.append(1)
            h.broker_stale_s = 0.05  # the last good answer goes stale fast
            await becomes(0)
            assert h.broker_error == "OSError: connection refused"
            fail.clear()
            h.broker_stale_s = 10
            await becomes(1)
            h.draining = True
            await becomes(0)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(run())


def test_ready_gauge_is_exported_on_the_worker_registry():
    """The default gauge is the one ``/metrics`` serves (the global registry), one series, no labels."""
    from prometheus_client import REGISTRY, generate_latest

    clock = Clock()
    h = healthy(clock)
    assert h.readiness()[0] and REGISTRY.get_sample_value("gigbridge_worker_ready") == 1
    h.draining = True
    assert not h.readiness()[0] and REGISTRY.get_sample_value("gigbridge_worker_ready") == 0
    lines = [ln for ln in generate_latest().decode().splitlines() if ln.startswith("gigbridge_worker_ready")]
    assert lines == ["gigbridge_worker_ready 0.0"]
