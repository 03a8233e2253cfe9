"""The demo's live order traffic (gigbridge/simulator/order_feed.py): records are released in
publishing order, never before their time, and the hub's validation gives each the verdict the
simulator meant; on the real broker, what run_order_traffic writes is what the hub accepts."""

from __future__ import annotations

import time
from collections import Counter
from datetime import date, timedelta

import pytest

from gigbridge.divisions import default_table
from gigbridge.simulator.order_feed import OrderFeed, event_type_of, run_order_traffic, verdict_of
from gigbridge.simulator.orders import OrderSimulator
from schemas.catalog import default_catalog
from schemas.wire import encode
from streams.core.classify import Accepted, Rejected, classify
from streams.core.context import Context
from streams.core.cover.cst import day_start_ms
from streams.core.topics import IngestTopic
from streams.loaders.cover import load_rates

CATALOG = default_catalog()
DIVISIONS = default_table()
RATES = load_rates()
CTX = Context(CATALOG, DIVISIONS.exists, rates=RATES)
FIRST = date(2026, 5, 30)


def judge(item, now_ms):
    event_type = event_type_of(item)
    value = encode(CATALOG.by_event_type(event_type).latest, item.record)
    return classify(value, IngestTopic(item.record["platform_id"], event_type), CTX, now_ms)


def test_records_are_released_in_order_and_only_when_due():
    feed = OrderFeed(OrderSimulator(DIVISIONS, RATES, seed=7, workers=6), FIRST)
    assert feed.next_due(day_start_ms(FIRST.isoformat())) is None  # the first order ends later that day
    now = day_start_ms((FIRST + timedelta(days=2)).isoformat()) + 12 * 3_600_000
    released = []
    while (item := feed.next_due(now)) is not None:
        released.append(item)
    assert all(item.publish_at <= now for item in released)
    days = Counter(date.fromisoformat(FIRST.isoformat()) + timedelta(days=(i.publish_at - day_start_ms(FIRST.isoformat()))
                                                                      // 86_400_000) for i in released)
    assert set(days) == {FIRST, FIRST + timedelta(days=1), FIRST + timedelta(days=2)}, days
    first_day = [i for i in released if i.publish_at < day_start_ms((FIRST + timedelta(days=1)).isoformat())]
    assert [i.publish_at for i in first_day] == sorted(i.publish_at for i in first_day)


def test_each_released_record_gets_the_verdict_the_simulator_meant():
    feed = OrderFeed(OrderSimulator(DIVISIONS, RATES, seed=11, workers=40, incident_share=0.02), FIRST)
    now = day_start_ms((FIRST + timedelta(days=2)).isoformat())
    verdicts = Counter()
    while (item := feed.next_due(now)) is not None:
        outcome = judge(item, item.publish_at)  # judged the moment it is published: nothing in the future
        verdict = verdict_of(item)
        verdicts[verdict] += 1
        if verdict == "premium_mismatch":
            assert isinstance(outcome, Rejected) and outcome.rejection.reason == "premium_mismatch"
        else:
            assert isinstance(outcome, Accepted), (verdict, outcome)
    assert {"valid", "premium_mismatch", "duplicate", "late", "incident"} <= set(verdicts), verdicts


@pytest.mark.kafka
def test_run_order_traffic_writes_what_the_hub_accepts(kafka):
    from tests.connectors.gateway.helpers import kafka_settings
    from tests.support.kafka_io import read_all

    seed = time.time_ns() % 2**32
    sent = run_order_traffic(kafka_settings(kafka), rate=0, seed=seed, count=300, workers=10)
    assert sum(sent.values()) == 300 and sent["valid"] > 0
    ctx = Context(CATALOG, DIVISIONS.exists, rates=RATES)
    now = int(time.time() * 1000)
    outcomes = Counter()
    for topic in ("platform.swiftmeal.orders", "platform.rideon.orders", "platform.haulnet.orders"):
        for r in read_all(kafka, topic):
            outcome = classify(r.value, IngestTopic(topic.split(".")[1], "orders"), ctx, now)
            outcomes[type(outcome).__name__] += 1
            if isinstance(outcome, Accepted):
                assert r.key == outcome.record["order_ref"].encode()  # the platform keys by order
    assert outcomes["Accepted"] >= sent["valid"] and outcomes["DeadLettered"] == 0
