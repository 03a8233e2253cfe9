"""Smoke test of the orders bench (bench/orders.py, bench/faust_peer.py) on tiny input, no broker:
the records are what the hub accepts, and the Faust peer's per-record work gives the hub's
verdicts, drops a repeated event_id and aggregates worker-days exactly."""

from __future__ import annotations

from collections import Counter

from bench.faust_peer import OrderPeer
from aiokafka import TopicPartition

from bench.orders import make_orders, markdown, verdict
from bench.orders_cover import CommitLog
from schemas.catalog import default_catalog
from schemas.wire import decode
from streams.core.classify import Accepted, classify
from streams.core.context import Context
from streams.core.topics import parse_ingest_topic
from gigbridge.divisions import default_table
from streams.loaders.cover import load_rates

NOW = 1_780_000_000_000  # 2026-05-28


def test_peer_judges_like_the_hub_and_aggregates_each_order_once():
    records = make_orders(300, seed=3, now_ms=NOW)
    assert len(records) == 300
    ctx = Context(default_catalog(), default_table().exists, rates=load_rates())
    seen, days = {}, {}
    peer = OrderPeer(seen, days)
    kinds = Counter()
    for topic, _key, value in records:
        hub = classify(value, parse_ingest_topic(topic), ctx, NOW)
        kind, key, _ = peer.handle(topic, value, NOW)
        kinds[kind] += 1
        assert (kind == "accepted") == isinstance(hub, Accepted)
        if kind == "accepted":
            assert key == f"{hub.record['platform_id']}:{hub.record['division_code'][:2]}".encode()
    assert kinds["accepted"] > 250 and kinds["rejected"] > 0  # the simulator's mispriced share
    accepted = [decode(default_catalog(), v).record for t, _, v in records
                if isinstance(classify(v, parse_ingest_topic(t), ctx, NOW), Accepted)]
    topic, _, value = next(r for r in records if decode(default_catalog(), r[2]).record == accepted[0])
    assert peer.handle(topic, value, NOW) is None  # a repeated event_id adds nothing
    assert sum(orders for orders, *_ in days.values()) == len(accepted) == len(seen)
    assert sum(premium for _, premium, *_ in days.values()) == sum(r["premium_fen"] for r in accepted)


def test_targets_are_judged_against_the_passthrough_of_the_same_run():
    results = {"passthrough": {"orders_per_s": 30_000}, "hub": {"orders_per_s": 15_000}, "faust_peer": {"orders_per_s": 3_000}}
    targets = verdict(results)
    assert results["hub"]["ratio_to_passthrough"] == 0.5 and results["faust_peer"]["ratio_to_passthrough"] == 0.1
    assert targets["hub_meets_orders_per_s"] and targets["hub_meets_ratio"]
    assert not verdict({"passthrough": {"orders_per_s": 40_000}, "hub": {"orders_per_s": 11_000}})["hub_meets_ratio"]


def test_the_cover_stage_is_judged_against_its_targets_and_reported():
    results = {"passthrough": {"orders_per_s": 20_000},
               "hub": {"orders_per_s": 15_000, "cover_orders_per_s": 12_500, "peak_rss_mb": 200,
                       "cover_latency": {"rate": 2_000, "p50_ms": 90, "p99_ms": 240, "poll_ms": 50}}}
    targets = verdict(results)
    assert results["hub"]["cover_ratio_to_passthrough"] == 0.625
    assert targets["cover_meets_orders_per_s"] and targets["cover_meets_ratio"] and targets["cover_meets_p99"]
    text = markdown({"stamp": "T", "orders": 1, "machine": {}, "contenders": results, "targets": targets})
    assert "12,500 orders/s (met)" in text and "p99 240 ms" in text
    results["hub"]["cover_latency"]["p99_ms"] = 260
    assert not verdict(results)["cover_meets_p99"]


def test_an_order_is_durable_at_the_first_poll_whose_commit_is_past_it():
    log = CommitLog(None, "g")
    tp = TopicPartition("hub.validated.orders", 0)
    log.polls = [(100, {}), (150, {tp: 3}), (200, {tp: 10})]
    assert [log.durable_at(tp, offset) for offset in (0, 2, 3, 9, 10)] == [150, 150, 200, 200, None]
