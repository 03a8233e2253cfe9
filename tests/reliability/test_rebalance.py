"""A second worker of the same app joins mid-stream (partitions move to it, dedupe table
partitions with them) and leaves again (they move back): nothing is lost."""

from __future__ import annotations

import time

import pytest

from tests.reliability.harness import SEED, Worker, onboard_platforms, record, unique
from tests.support.kafka_io import wait_for
from tests.support.ledger import Traffic, delete_platform_topics, wait_until_accounted

pytestmark = [pytest.mark.reliability, pytest.mark.kafka]


def test_worker_joins_and_leaves_mid_stream(kafka, tmp_path, scenario_timer):
    platforms = [unique("rebal-a"), unique("rebal-b")]
    onboard_platforms(kafka, platforms)
    app_id = unique("rel-rebal")
    first = Worker(kafka, tmp_path / "first", app_id).start()
    second = Worker(kafka, tmp_path / "second", app_id)  # own web port and data dir
    traffic = Traffic(kafka, platforms, seed=SEED + 3)
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
        report = wait_until_accounted(kafka, traffic, "rebalance", 90)
        diagnosis = first.diagnosis()
    finally:
        traffic.close()
        first.stop()
        second.stop()
        delete_platform_topics(kafka, platforms)
    record("rebalance: join + leave", report, scenario_timer(),
           f"second worker exit {rc} after {seconds:.1f}s")
    assert report.lost == 0, f"{report.table()}\n{diagnosis}"
    assert report.ok, report.table()
    assert rc == 0
