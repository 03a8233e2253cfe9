"""kill -9 during order ingest (issue #20): every order offset is accounted for -- in
hub.validated.orders, or rejected with its reason -- none lost, a repeat only inside a crash
window. Reduced in ``make test`` (2 kills; ``GIGBRIDGE_RELIABILITY_TRIALS`` raises it)."""

from __future__ import annotations

import random

import pytest

from tests.reliability.harness import SEED, Worker, env_int, kill_9_trials, onboard_platforms, record, unique
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
    try:
        worker.wait_subscribed(8)
        kill_points = kill_9_trials(worker, traffic, trials, rng, rate=200, busy=100)
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
