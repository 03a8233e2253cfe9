"""Broker faults on clusters of the test's own (never the session broker):

* the only broker stopped and started while platforms produce and the worker processes:
  ``/readyz`` turns 503 within a bound and back to 200 after the restart, ``/healthz`` stays
  200, the same worker process recovers by itself, nothing is lost; with orders (issue #20)
  every WorkerDayCover / PremiumStatement is exact too (tests/support/cover_ledger.py);
* a 3-broker cluster (RF 3, min ISR 2, acks=all) loses one broker mid-stream (SIGKILL):
  processing continues without pause beyond the leader elections, nothing is lost.
"""

from __future__ import annotations

import time

import pytest

from tests.reliability.harness import SEED, Worker, group_coordinator, onboard_platforms, record, unique
from tests.support.cover_ledger import wait_until_covered
from tests.support.kafka_io import wait_for
from tests.support.ledger import Traffic, wait_until_accounted
from tests.support.order_traffic import OrderTraffic

pytestmark = [pytest.mark.reliability, pytest.mark.kafka]  # own_cluster: tests/reliability/conftest.py

NOT_READY_WITHIN_S = 30   # broker gone -> /readyz 503 (health.BROKER_STALE_S + probe interval + timeout)
READY_AGAIN_WITHIN_S = 60  # broker back -> /readyz 200


@pytest.mark.parametrize("kind", ["events", "orders"])
@pytest.mark.parametrize("own_cluster", [1], indirect=True)
def test_broker_stopped_and_started_while_streaming(own_cluster, tmp_path, scenario_timer, kind):
    conn = own_cluster.connection
    platforms = [unique("outage-a"), unique("outage-b")]
    onboard_platforms(conn, platforms)
    fast_close = {"GIGBRIDGE_COVER_CLOSE_INTERVAL_S": "1"} if kind == "orders" else {}  # the orders' days are past
    worker = Worker(conn, tmp_path, unique(f"rel-outage-{kind}"), fast_close).start()
    traffic = (OrderTraffic(conn, platforms, seed=SEED + 23) if kind == "orders"
               else Traffic(conn, platforms, seed=SEED + 4))
    liveness = []
    cover = None
    try:
        worker.wait_subscribed(8)  # 2 platforms x (sites, headcounts, incidents, orders)
        worker.wait_ready(60)
        traffic.stream(n=3000, rate=150)
        wait_for(lambda: worker.received() >= 300, 90, "stream flowing")
        own_cluster.stop_broker(0)
        stopped = time.monotonic()
        wait_for(lambda: worker.get("/readyz")[0] == 503, NOT_READY_WITHIN_S, "/readyz 503 while the broker is down")
        not_ready_after = time.monotonic() - stopped
        _, doc = worker.get("/readyz")
        while time.monotonic() - stopped < 15:  # keep it down a while; liveness must not flap
            liveness.append(worker.get("/healthz")[0])
            time.sleep(1)
        own_cluster.start_broker(0)
        started = time.monotonic()
        wait_for(lambda: worker.get("/readyz")[0] == 200, READY_AGAIN_WITHIN_S, "/readyz 200 after the restart")
        ready_after = time.monotonic() - started
        traffic.join()
        report = wait_until_accounted(conn, traffic, f"broker stop/start {kind}", 90)
        if kind == "orders":
            cover = wait_until_covered(conn, platforms, traffic.started_ms - 60_000, 90)
        diagnosis = worker.diagnosis()
        alive, starts = worker.alive, worker.starts
    finally:
        traffic.close()
        worker.stop()
    cover_line = f"; {str(cover).splitlines()[0]}" if cover is not None else ""
    record(f"broker stop/start (1 broker) {kind}", report, scenario_timer(),
           f"readyz 503 after {not_ready_after:.1f}s, 200 {ready_after:.1f}s after restart{cover_line}")
    assert "kafka unreachable" in doc["reasons"], doc
    assert set(liveness) == {200}, liveness
    assert alive and starts == 1, "the worker recovered without a restart"
    assert report.lost == 0, f"{report.table()}\n{diagnosis}"
    assert report.ok, report.table()
    if cover is not None:  # no order lost or counted twice in any worker-day or statement
        assert cover.ok, str(cover)


@pytest.mark.parametrize("own_cluster", [3], indirect=True)
def test_one_of_three_brokers_killed_mid_stream(own_cluster, tmp_path, scenario_timer):
    conn = own_cluster.connection
    platforms = [unique("rf3-a"), unique("rf3-b")]
    onboard_platforms(conn, platforms, replication_factor=3)
    worker = Worker(conn, tmp_path, unique("rel-rf3"), {"GIGBRIDGE_TOPIC_REPLICATION_FACTOR": "3"}).start()
    traffic = Traffic(conn, platforms, seed=SEED + 5)  # acks=all
    try:
        worker.wait_subscribed(6, timeout=180)
        traffic.stream(n=10_000_000, rate=150)
        wait_for(lambda: worker.received() >= 300, 120, "stream flowing")
        # the group coordinator: its loss also moves the group and forces a rebalance
        victim = group_coordinator(conn, worker.app_id)
        victim = 1 if victim is None else victim
        own_cluster.kill_broker(victim)
        killed = time.monotonic()
        at_kill = worker.received()
        wait_for(lambda: worker.received() >= at_kill + 300, 120, "processing continues with 2 of 3 brokers")
        continued_after = time.monotonic() - killed
        traffic.stop()
        traffic.join()
        report = wait_until_accounted(conn, traffic, "rf3 broker killed", 90)
        diagnosis = worker.diagnosis()
    finally:
        traffic.close()
        worker.stop()
    record("RF3: 1 of 3 brokers killed", report, scenario_timer(),
           f"broker {victim} (group coordinator) killed; 300 more events processed "
           f"{continued_after:.1f}s after the kill")
    assert report.lost == 0, f"{report.table()}\n{diagnosis}"
    assert report.ok, report.table()
