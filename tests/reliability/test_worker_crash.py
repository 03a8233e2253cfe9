"""Worker crashes and stops while a stream is flowing: kill -9 at random points (restarted each
time) loses nothing, also during order ingest (issue #20: every order offset in
hub.validated.orders or rejected with its reason; and every WorkerDayCover and PremiumStatement
exact, versions stepping by one: tests/support/cover_ledger.py; 2 kills in ``make test``); SIGTERM drains the batch in flight, exits 0 within the bound, and after a
restart nothing is lost and nothing is repeated. Concern cases (issue #16, ``kind="cases"``): killed
while the owner applies a round of steps, no case input is lost or applied twice and every case's
state equals the pure replay of the accepted inputs (tests/support/case_ledger.py)."""

from __future__ import annotations

import random

import pytest

from tests.reliability.case_scenarios import case_kill_9
from tests.reliability.harness import SEED, Worker, env_int, kill_9_trials, onboard_platforms, record, unique
from tests.support.cover_ledger import wait_until_covered
from tests.support.kafka_io import wait_for
from tests.support.ledger import Traffic, delete_platform_topics, wait_until_accounted
from tests.support.order_traffic import OrderTraffic

pytestmark = [pytest.mark.reliability, pytest.mark.kafka]

SHUTDOWN_BOUND_S = 30


@pytest.fixture
def platforms(kafka):
    names = [unique("crash-a"), unique("crash-b")]
    onboard_platforms(kafka, names)
    yield names
    delete_platform_topics(kafka, names)


# (traffic, kills in make test, messages/s, messages done before a kill point, seed offset)
KILL_SCENARIOS = {"events": (Traffic, 3, 100, 50, 1), "orders": (OrderTraffic, 2, 200, 100, 20)}


@pytest.mark.parametrize("kind", sorted([*KILL_SCENARIOS, "cases"]))
def test_kill_9_at_random_points_loses_nothing(kafka, platforms, tmp_path, scenario_timer, kind):
    if kind == "cases":  # rounds of case inputs, killed mid-round (tests/reliability/case_scenarios.py)
        return case_kill_9(kafka, tmp_path, scenario_timer)
    traffic_class, default_trials, rate, busy, seed = KILL_SCENARIOS[kind]
    trials = env_int("GIGBRIDGE_RELIABILITY_TRIALS", default_trials)
    rng = random.Random(SEED + seed - 1)
    fast_close = {"GIGBRIDGE_COVER_CLOSE_INTERVAL_S": "1"} if kind == "orders" else {}  # the orders' days are past
    worker = Worker(kafka, tmp_path, unique(f"rel-kill-{kind}"), fast_close).start()
    traffic = traffic_class(kafka, platforms, seed=SEED + seed)
    name = "kill -9" if kind == "events" else "orders kill -9"
    try:
        worker.wait_subscribed(8)  # 2 platforms x (sites, headcounts, incidents, orders)
        kill_points = kill_9_trials(worker, traffic, trials, rng, rate=rate, busy=busy)
        report = wait_until_accounted(kafka, traffic, name, 90)
        cover = wait_until_covered(kafka, platforms, traffic.started_ms - 60_000, 90) if kind == "orders" else None
        status, _ = worker.get("/healthz")
        diagnosis = worker.diagnosis()
    finally:
        traffic.close()
        worker.stop()
    cover_line = f"; {str(cover).splitlines()[0]}" if cover is not None else ""
    record(f"{name} x{trials}", report, scenario_timer(),
           f"kill points (s after resume, events done): {kill_points}{cover_line}")
    assert status == 200
    assert report.sent == report.inputs, "every message the traffic sent is in the input topics"
    assert report.rejected > 0, "the traffic's invalid share (orders: mispriced) came back rejected"
    assert report.lost == 0, f"{report.table()}\n{diagnosis}"
    assert report.ok, report.table()
    if cover is not None:  # no order lost or counted twice in any worker-day or statement
        assert cover.ok, str(cover)


def test_sigterm_drains_the_batch_in_flight_and_exits_0(kafka, platforms, tmp_path, scenario_timer):
    worker = Worker(kafka, tmp_path, unique("rel-term")).start()
    traffic = Traffic(kafka, platforms, seed=SEED + 2)
    try:
        worker.wait_subscribed(6)
        traffic.stream(n=2000, rate=300)
        wait_for(lambda: worker.received() >= 500, 90, "stream flowing through the worker")
        rc, seconds = worker.terminate(timeout=SHUTDOWN_BOUND_S + 30)
        log = worker.log_text()
        traffic.join()
        worker.start()  # the restart picks up exactly where the drained worker committed
        wait_for(lambda: worker.received() >= 1, 90, "restarted worker processing")
        report = wait_until_accounted(kafka, traffic, "sigterm", 90)
    finally:
        traffic.close()
        worker.stop()
    record("SIGTERM mid-stream + restart", report, scenario_timer(), f"exit {rc} after {seconds:.1f}s")
    assert rc == 0, log[-3000:]
    assert seconds < SHUTDOWN_BOUND_S
    assert '"draining before shutdown"' in log and '"drained"' in log
    assert report.lost == 0 and report.ok, report.table()
    # graceful: the batch in flight was finished, acked and committed, so the restart re-did nothing
    assert report.duplicates == 0, report.table()
