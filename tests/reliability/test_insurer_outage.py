"""The provincial insurer's endpoint is down for a while, then slow (slower than the sink's
timeout, so every attempt times out *after* the insurer accepted the claim), then answers 429,
then recovers: every insured incident ends as exactly one claim per idempotency key with a
receipt, validation never waited for the insurer, and the consumer lag returns to 0. With orders
(issue #20) the same outage hits the WorkerDayCover records the cover stage sends the insurer."""

from __future__ import annotations

import json
import time

import pytest

from tests.reliability.harness import SEED, SimEndpoint, Worker, env_float, onboard_platforms, record, unique
from gigbridge.simulator.orders import PROVINCES as ORDER_PROVINCES
from tests.support.cover_delivery import wait_until_delivered
from tests.support.cover_ledger import wait_until_covered
from tests.support.kafka_io import wait_for
from tests.support.ledger import Traffic, delete_platform_topics, wait_until_accounted
from tests.support.order_traffic import OrderTraffic

pytestmark = [pytest.mark.reliability, pytest.mark.kafka]

SECRET = "insurer-44-reliability-secret"
RATE = 60
ORDER_RATE = 60


def test_insurer_down_slow_429_then_back(kafka, tmp_path, scenario_timer):
    outage_s = env_float("GIGBRIDGE_RELIABILITY_OUTAGE_S", 20)
    slow_s = 5
    endpoint = SimEndpoint(tmp_path, SECRET)
    endpoint.control(mode="down")  # before the worker starts: no claim gets through until switched back
    platforms = [unique("claims")]
    onboard_platforms(kafka, platforms)
    worker = Worker(kafka, tmp_path, unique("rel-claims"), {
        "GIGBRIDGE_INSURER_ENDPOINTS": json.dumps({"44": {"url": f"{endpoint.url}/claims", "secret": SECRET}}),
        "GIGBRIDGE_SINK_MAX_BACKOFF_S": "2", "GIGBRIDGE_SINK_TIMEOUT_S": "1"}).start()
    # every site in Guangdong: all insured incidents go to insurer-44
    traffic = Traffic(kafka, platforms, seed=SEED + 6, provinces=["44"])
    phases = {}
    try:
        worker.wait_subscribed(3)
        traffic.stream(n=int(RATE * (outage_s + slow_s + 5)), rate=RATE)
        started = time.monotonic()
        wait_for(lambda: worker.received() >= RATE, 60, "stream flowing")
        before = worker.received()
        time.sleep(max(0.0, outage_s - (time.monotonic() - started)))
        phases["validated during outage"] = int(worker.received() - before)
        phases["claims accepted while down"] = endpoint.stats()["accepted"]
        endpoint.control(mode="slow", delay_s=1.5)  # the sink gives up after 1 s; the insurer still books it
        time.sleep(slow_s)
        endpoint.control(mode="429", retry_after_s=1, count=40)  # then back to normal by itself
        traffic.join()
        report = wait_until_accounted(kafka, traffic, "insurer outage", 120, endpoint_url=endpoint.url,
                                      insurer_provinces=["44"])
        stats = endpoint.stats()
        lag = wait_for(lambda: (m := worker.metrics_text()) and "gigbridge_consumer_lag_messages{" in m
                       and _lag(m) == 0 and m, 60, "consumer lag back to 0")
        retries = worker.metric("gigbridge_sink_retries_total")
    finally:
        traffic.close()
        worker.stop()
        endpoint.stop()
        delete_platform_topics(kafka, platforms)
    record("insurer down/slow/429", report, scenario_timer(),
           f"outage {outage_s:.0f}s; {phases}; endpoint {stats['by_status']}, dropped {stats['dropped']}, "
           f"repeats recognised {stats['duplicates']}; sink retries {retries:.0f}")
    assert report.lost == 0, report.table()
    assert report.ok, report.table()
    assert report.claims_expected > 50 and report.claims == report.claims_expected, report.table()
    assert report.claim_repeats == 0  # exactly one claim per idempotency key
    assert report.receipts == report.claims_expected
    assert phases["claims accepted while down"] == 0 and stats["dropped"] > 0
    assert stats["by_status"].get("429", 0) > 0
    assert stats["duplicates"] > 0, "timeouts after acceptance were re-sent and recognised by key"
    assert phases["validated during outage"] >= RATE * outage_s / 2, "validation does not wait for the insurer"
    assert _lag(lag) == 0


def _lag(metrics_text: str) -> float:
    return sum(float(line.rpartition(" ")[2]) for line in metrics_text.splitlines()
               if line.startswith("gigbridge_consumer_lag_messages{"))


def test_insurer_outage_while_day_covers_are_delivered(kafka, tmp_path, scenario_timer):
    """[orders] The insurer is down, then slow, then answers 429 while the cover stage's
    WorkerDayCover records (past days: version 1 at the next close tick, then one amendment per
    late order) go out over the insurer sink: after recovery every version is at the endpoint
    once under its key ``platform:worker:date:v<version>``, with a receipt, and the cover ledger
    is exact (tests/support/cover_ledger.py, tests/support/cover_delivery.py)."""
    outage_s = env_float("GIGBRIDGE_RELIABILITY_OUTAGE_S", 20)
    endpoint = SimEndpoint(tmp_path, SECRET)
    endpoint.control(mode="down")
    platforms = [unique("cover-a"), unique("cover-b")]
    onboard_platforms(kafka, platforms)
    insurer = {"url": f"{endpoint.url}/claims", "secret": SECRET}  # one simulated insurer for every province
    worker = Worker(kafka, tmp_path, unique("rel-cover-sink"), {
        "GIGBRIDGE_INSURER_ENDPOINTS": json.dumps({p: insurer for p in ORDER_PROVINCES}),
        "GIGBRIDGE_SINK_MAX_BACKOFF_S": "2", "GIGBRIDGE_SINK_TIMEOUT_S": "1",
        "GIGBRIDGE_COVER_CLOSE_INTERVAL_S": "1"}).start()  # the orders' days are past
    traffic = OrderTraffic(kafka, platforms, seed=SEED + 22)
    try:
        worker.wait_subscribed(8)
        traffic.stream(n=int(ORDER_RATE * (outage_s + 6)), rate=ORDER_RATE)
        started = time.monotonic()
        wait_for(lambda: worker.received() >= ORDER_RATE, 60, "orders flowing")
        time.sleep(max(0.0, outage_s - (time.monotonic() - started)))
        accepted_while_down = endpoint.stats()["accepted"]
        endpoint.control(mode="slow", delay_s=1.5)  # accepted after the sink's 1 s timeout: re-sent
        time.sleep(5)
        endpoint.control(mode="429", retry_after_s=1, count=40)  # then back to normal by itself
        traffic.join()
        report = wait_until_accounted(kafka, traffic, "insurer outage orders", 90)
        since = traffic.started_ms - 60_000
        cover = wait_until_covered(kafka, platforms, since, 90)
        delivery = wait_until_delivered(kafka, endpoint.url, cover.day_versions, platforms, ORDER_PROVINCES,
                                        since, 120)
        stats = endpoint.stats()
        diagnosis = worker.diagnosis()
    finally:
        traffic.close()
        worker.stop()
        endpoint.stop()
        delete_platform_topics(kafka, platforms)
    record("insurer outage orders: cover sink", report, scenario_timer(),
           f"outage {outage_s:.0f}s; {str(cover).splitlines()[0]}; {str(delivery).splitlines()[0]}; "
           f"endpoint {stats['by_status']}, dropped {stats['dropped']}, repeats recognised {stats['duplicates']}")
    assert report.lost == 0, f"{report.table()}\n{diagnosis}"
    assert report.ok, report.table()
    assert cover.ok, str(cover)  # no order lost or counted twice in any worker-day or statement
    assert accepted_while_down == 0 and stats["dropped"] > 0
    assert stats["by_status"].get("429", 0) > 0
    assert stats["duplicates"] > 0, "timeouts after acceptance were re-sent and recognised by key"
    assert delivery.ok, str(delivery)  # every version once in the endpoint's deduplicated view
    assert delivery.expected > cover.day_keys, "late orders amended closed days: versions above 1 delivered"
