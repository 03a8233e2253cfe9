"""A second worker of the same app joins mid-stream (partitions move to it, dedupe table
partitions with them) and leaves again (they move back): nothing is lost. With orders (issue
#20) the cover stage's partitions move too (state restored from its changelog) and every
WorkerDayCover / PremiumStatement stays exact (tests/support/cover_ledger.py). With concern cases
(issue #16) the case table moves and back: the case ledger stays exact, and while both workers run
exactly one exports the case measures, equal to one worker's (tests/support/case_ledger.py)."""

from __future__ import annotations

import time

import pytest

from tests.reliability.case_scenarios import case_rebalance
from tests.reliability.harness import SEED, Worker, onboard_platforms, record, unique
from tests.support.cover_ledger import wait_until_covered
from tests.support.kafka_io import wait_for
from tests.support.ledger import Traffic, delete_platform_topics, wait_until_accounted
from tests.support.order_traffic import OrderTraffic

pytestmark = [pytest.mark.reliability, pytest.mark.kafka]


@pytest.mark.parametrize("kind", ["events", "orders", "cases"])
def test_worker_joins_and_leaves_mid_stream(kafka, tmp_path, scenario_timer, kind):
    if kind == "cases":  # the case owner's table moves (tests/reliability/case_scenarios.py)
        return case_rebalance(kafka, tmp_path, scenario_timer)
    platforms = [unique("rebal-a"), unique("rebal-b")]
    onboard_platforms(kafka, platforms)
    app_id = unique(f"rel-rebal-{kind}")
    env = {"GIGBRIDGE_COVER_CLOSE_INTERVAL_S": "1"} if kind == "orders" else {}  # the orders' days are past
    first = Worker(kafka, tmp_path / "first", app_id, env).start()
    second = Worker(kafka, tmp_path / "second", app_id, env)  # own web port and data dir
    traffic = (OrderTraffic if kind == "orders" else Traffic)(kafka, platforms, seed=SEED + 3)
    cover = None
    try:
        first.wait_subscribed(6)
        traffic.stream(n=10_000_000, rate=150)
        wait_for(lambda: first.received() >= 300, 90, "first worker processing")
        second.start()
        wait_for(lambda: second.received() >= 100, 120, "second worker got partitions and processes")
        time.sleep(2)
        rc, seconds = second.terminate()  # leaves: its partitions go back to the first worker
        received_after_leave = first.received()
        wait_for(lambda: first.received() >= received_after_leave + 300, 120,
                 "first worker processing after the second left")
        traffic.stop()
        traffic.join()
        report = wait_until_accounted(kafka, traffic, f"rebalance {kind}", 90)
        if kind == "orders":
            cover = wait_until_covered(kafka, platforms, traffic.started_ms - 60_000, 90)
        diagnosis = first.diagnosis()
    finally:
        traffic.close()
        first.stop()
        second.stop()
        delete_platform_topics(kafka, platforms)
    cover_line = f"; {str(cover).splitlines()[0]}" if cover is not None else ""
    record(f"rebalance {kind}: join + leave", report, scenario_timer(),
           f"second worker exit {rc} after {seconds:.1f}s{cover_line}")
    assert report.lost == 0, f"{report.table()}\n{diagnosis}"
    assert report.ok, report.table()
    assert rc == 0
    if cover is not None:  # no order lost or counted twice in any worker-day or statement
        assert cover.ok, str(cover)
