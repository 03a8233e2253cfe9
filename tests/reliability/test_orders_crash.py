"""kill -9 during order ingest (issue #20): every order offset is accounted for -- in
hub.validated.orders, or rejected with its reason -- none lost, a repeat only inside a crash
window. Reduced in ``make test`` (2 kills; ``GIGBRIDGE_RELIABILITY_TRIALS`` raises it)."""

from __future__ import annotations

import random
import time

import pytest

from tests.reliability.harness import SEED, Worker, env_int, onboard_platforms, record, unique
from tests.support.kafka_io import wait_for
from tests.support.ledger import delete_platform_topics, wait_until_accounted
from tests.support.order_traffic import OrderTraffic

pytestmark = [pytest.mark.reliability, pytest.mark.kafka]


@pytest.fixture
def platforms(kafka):
    names = [unique("orders-a"), unique("orders-b")]
    onboard_platforms(kafka, names)
    yield names
    delete_platform_topics(kafka, names)


def test_kill_9_during_order_ingest_loses_no_order(kafka, platforms, tmp_path, scenario_timer):
    trials = min(env_int("GIGBRIDGE_RELIABILITY_TRIALS", 2), 10)
    rng = random.Random(SEED + 20)
    worker = Worker(kafka, tmp_path, unique("rel-orders")).start()
    traffic = OrderTraffic(kafka, platforms, seed=SEED + 20)
    kill_points = []
    try:
        worker.wait_subscribed(8)
        traffic.stream(n=10_000_000, rate=200)  # open-ended; stopped after the last trial
        for trial in range(trials):
            wait_for(lambda: worker.received() >= 100, 90, f"trial {trial}: worker processing orders")
            delay = rng.uniform(0.2, 3.0)
            time.sleep(delay)  # a random kill point, not a wait for a condition
            kill_points.append((round(delay, 2), int(worker.received())))
            worker.kill()
            worker.start()
        wait_for(lambda: worker.received() >= 100, 90, "worker processing after the last restart")
        traffic.stop()
        traffic.join()
        report = wait_until_accounted(kafka, traffic, "orders kill -9", 90)
        diagnosis = worker.diagnosis()
    finally:
        traffic.close()
        worker.stop()
    record(f"orders kill -9 x{trials}", report, scenario_timer(),
           f"kill points (s after resume, events done): {kill_points}")
    assert report.sent == report.inputs, "every order the traffic sent is in the input topics"
    assert report.rejected > 0, "the simulator's mispriced orders came back rejected"
    assert report.lost == 0, f"{report.table()}\n{diagnosis}"
    assert report.ok, report.table()
