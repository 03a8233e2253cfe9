"""``python -m bench orders [--quick] [--orders N]``: the order firehose of issue #20, three
contenders over the same OrderCover records on the bench broker, one after the other, in one run:

(a) ``passthrough``: raw consume -> produce of the same records (``bench/passthrough.py``), no work;
(b) ``hub``: ``gigbridge worker``, the production path (decode, ``check_order_cover``, event_id
    dedupe with its disk store and log, ``hub.validated.orders`` keyed by platform and province,
    rejections to ``platform.<id>.rejected``);
(c) ``faust_peer``: an idiomatic Faust agent with tables doing the same validation, dedupe and
    per-worker-day aggregation (``bench/faust_peer.py``).

Each drains a backlog of the same records (one output per input for all three); throughput is
outputs / (last - first output append time, LogAppendTime topics), reported as orders/s and as a
ratio to (a) of the same run, against the targets (>= 12,000 orders/s, >= 50 % of passthrough).
For (b) the run also waits until the cover stage (same worker) has every validated order in
durable state (``bench/orders_cover.py``) and reports ``cover_orders_per_s`` over first output ->
all durable, the worker's peak RSS, and then (``cover_latency``) feeds the same hub, backlog
done, at 2,000 orders/s: p99 from send to cover state durable (target <= 250 ms).
Results: bench/results/<UTC>-orders.{json,md}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import time
from collections import Counter
from datetime import date, datetime, timedelta, timezone

from aiokafka import TopicPartition

from bench.broker import BenchBroker
from bench.common import PARTITIONS, RESULTS_DIR, WORK_DIR, machine_info, python_executable, say
from bench.kafkaio import Kafka
from bench.meter import Meter
from bench.orders_cover import cover_latency, validated_tps, wait_cover_durable
from bench.procs import Subprocess, hub_process, memory_kb, passthrough_process

TARGET_ORDERS_PER_S = 12_000
TARGET_RATIO = 0.5
TARGET_P99_MS, LATENCY_RATE = 250, 2_000
PASS_OUT, PEER_OUT, PEER_REJECTED = "bench.orders.base.out", "bench.orders.peer.out", "bench.orders.peer.rejected"
CONTENDERS = ("passthrough", "hub", "faust_peer")


def make_orders(n: int, seed: int = 42, now_ms: int | None = None) -> list[tuple[str, bytes, bytes]]:
    """``n`` (topic, key, value) OrderCover records of the simulator (its mispriced and duplicated
    shares included) from the CST day before yesterday: every timestamp is in the past and
    within the 90 days validation accepts. Each has its own event_id: one output per input."""
    from gigbridge.divisions import default_table
    from gigbridge.simulator.orders import OrderSimulator
    from schemas.catalog import default_catalog
    from schemas.wire import encode
    from streams.core.cover.cst import service_date
    from streams.loaders.cover import load_rates

    now_ms = now_ms or time.time_ns() // 1_000_000
    day = (date.fromisoformat(service_date(now_ms)) - timedelta(days=2)).isoformat()
    sim = OrderSimulator(default_table(), load_rates(), seed=seed, workers=n // 20 + 3, late_share=0.0)
    schema = default_catalog().contract("order_cover").latest
    orders = [o.record for o in sim.day(day).orders][:n]
    if len(orders) < n:
        raise ValueError(f"the simulated day has {len(orders)} orders, fewer than {n}")
    return [(f"platform.{r['platform_id']}.orders", r["order_ref"].encode(), encode(schema, r)) for r in orders]


def contender(name: str, conn, workdir, sources: list[str]) -> tuple[Subprocess, list[str]]:
    """The process of a contender and the topics its outputs go to."""
    if name == "passthrough":
        return passthrough_process(conn, workdir, sources, PASS_OUT), [PASS_OUT]
    if name == "hub":
        platforms = sorted({t.split(".")[1] for t in sources})
        return hub_process(conn, workdir, "orders-hub"), ["hub.validated.orders", *(f"platform.{p}.rejected" for p in platforms)]
    import os

    env = {**os.environ, **conn.as_env()}
    argv = [python_executable(), "-m", "bench.faust_peer", "--app-id", f"bench-peer-{secrets.token_hex(4)}",
            "--target", PEER_OUT, "--rejected", PEER_REJECTED, *sources]
    return Subprocess("faust_peer", argv, env, workdir / "faust_peer.log"), [PEER_OUT, PEER_REJECTED]


async def drain(k: Kafka, name: str, proc: Subprocess, outputs: list[str], expected: int, broker_pid) -> dict:
    tps = [TopicPartition(t, p) for t in outputs for p in range(PARTITIONS)]
    base = await k.end_offsets(tps)
    meter = Meter({"worker": proc.pid, "broker": broker_pid})
    s0, started = meter.snap(), time.monotonic()
    deadline = started + 120 + expected / 500
    done = 0
    while time.monotonic() < deadline:
        proc.check_alive()
        end = await k.end_offsets(tps)
        done = sum(end[tp] - base[tp] for tp in tps)
        if done >= expected:
            break
        await asyncio.sleep(0.2)
    s1 = meter.snap()
    peak_rss_mb = round(memory_kb(proc.pid).get("VmHWM", 0) / 1024)
    end = await k.end_offsets(tps)
    records = await k.read({tp: (base[tp], end[tp]) for tp in tps})
    stamps = [r.timestamp for r in records]
    window_ms = (max(stamps) - min(stamps)) if len(stamps) > 1 else 0
    rate = round(len(records) / (window_ms / 1000)) if window_ms else None
    say(f"{name}: {len(records):,}/{expected:,} outputs, {rate or 0:,} orders/s")
    return {"outputs": len(records), "complete": len(records) >= expected, "orders_per_s": rate,
            "append_window_s": round(window_ms / 1000, 2),
            "cpu_s_per_1k_orders": round((s1.procs["worker"] - s0.procs["worker"]) / max(1, len(records)) * 1000, 3),
            "cpu": meter.usage(s0, s1), "peak_rss_mb": peak_rss_mb, "first_output_ms": min(stamps, default=None),
            "outputs_by_topic": dict(Counter(r.topic for r in records))}


def verdict(results: dict) -> dict:
    """Each contender's ratio to the passthrough and the hub against the targets."""
    base = results.get("passthrough", {}).get("orders_per_s")
    for r in results.values():
        r["ratio_to_passthrough"] = round(r["orders_per_s"] / base, 3) if base and r.get("orders_per_s") else None
    hub = results.get("hub", {})
    cover_rate, p99 = hub.get("cover_orders_per_s"), hub.get("cover_latency", {}).get("p99_ms")
    cover_ratio = round(cover_rate / base, 3) if base and cover_rate else None
    hub["cover_ratio_to_passthrough"] = cover_ratio
    return {"target_orders_per_s": TARGET_ORDERS_PER_S, "target_ratio": TARGET_RATIO, "target_p99_ms": TARGET_P99_MS,
            "hub_meets_orders_per_s": bool(hub.get("orders_per_s") and hub["orders_per_s"] >= TARGET_ORDERS_PER_S),
            "hub_meets_ratio": bool(hub.get("ratio_to_passthrough") and hub["ratio_to_passthrough"] >= TARGET_RATIO),
            "cover_meets_orders_per_s": bool(cover_rate and cover_rate >= TARGET_ORDERS_PER_S),
            "cover_meets_ratio": bool(cover_ratio and cover_ratio >= TARGET_RATIO),
            "cover_meets_p99": bool(p99 is not None and p99 <= TARGET_P99_MS)}


def markdown(result: dict) -> str:
    lines = [f"# Orders bench {result['stamp']}", "",
             f"{result['orders']:,} OrderCover records, {result['machine'].get('cpus')} CPUs, "
             f"load at start {result['machine'].get('loadavg_at_start')}", "",
             "| contender | orders/s | ratio to passthrough | CPU s / 1k orders | complete |", "|---|---|---|---|---|"]
    for name, r in result["contenders"].items():
        lines.append(f"| {name} | {r.get('orders_per_s') or '-'} | {r.get('ratio_to_passthrough') or '-'} | "
                     f"{r.get('cpu_s_per_1k_orders')} | {r.get('complete')} |")
    t = result["targets"]
    lines += ["", f"Targets (hub): >= {t['target_orders_per_s']:,} orders/s: "
              f"{'met' if t['hub_meets_orders_per_s'] else 'MISSED'}; >= {t['target_ratio']:.0%} of passthrough: "
              f"{'met' if t['hub_meets_ratio'] else 'MISSED'}."]
    hub = result["contenders"].get("hub", {})
    if hub.get("cover_orders_per_s"):
        lat = hub.get("cover_latency", {})
        ok = {True: "met", False: "MISSED"}
        lines += ["", f"With the cover stage (all validated orders in durable cover state): {hub['cover_orders_per_s']:,} "
                  f"orders/s ({ok[t['cover_meets_orders_per_s']]}), {hub['cover_ratio_to_passthrough']} of passthrough "
                  f"({ok[t['cover_meets_ratio']]}); worker peak RSS {hub.get('peak_rss_mb')} MB.",
                  f"Send -> cover durable at {lat.get('rate', 0):,} orders/s: p50 {lat.get('p50_ms')} ms, p99 "
                  f"{lat.get('p99_ms')} ms (target <= {t['target_p99_ms']} ms: {ok[t['cover_meets_p99']]}; "
                  f"poll resolution {lat.get('poll_ms')} ms).",
                  "10 M worker-days: not built here (see `python -m bench cover-scale` and docs/cover.md)."]
    return "\n".join(lines) + "\n"


async def hub_cover(k: Kafka, hub: dict, proc: Subprocess, n: int) -> None:
    """After the hub's outputs are in: wait until the cover stage has them all durable."""
    ends = await k.end_offsets(validated_tps())
    done_ms = await wait_cover_durable(k, proc, ends, 120 + n / 500)
    if done_ms and hub.get("first_output_ms"):
        hub["cover_orders_per_s"] = round(n / ((done_ms - hub["first_output_ms"]) / 1000))
        hub["peak_rss_mb"] = round(memory_kb(proc.pid).get("VmHWM", 0) / 1024)
    say(f"hub with cover stage: {hub.get('cover_orders_per_s') or 0:,} orders/s, peak RSS {hub.get('peak_rss_mb')} MB")


async def paced_cover_latency(k: Kafka, proc: Subprocess, records) -> dict:
    """The same hub, backlog done, then fed at LATENCY_RATE: send -> cover state durable per order."""
    latency = await cover_latency(k, proc, records, LATENCY_RATE)
    say(f"send -> cover durable at {LATENCY_RATE:,}/s: p50 {latency['p50_ms']} ms, p99 {latency['p99_ms']} ms")
    return latency


async def scenario(n: int, contenders: tuple[str, ...] = CONTENDERS, latency_n: int = 20 * LATENCY_RATE) -> dict:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    workdir = WORK_DIR / f"orders-{stamp}"
    records = make_orders(n)
    sources = sorted({t for t, _, _ in records})
    broker = BenchBroker()
    conn = broker.start()
    result = {"stamp": stamp, "orders": n, "machine": machine_info(), "contenders": {}}
    try:
        async with Kafka(conn) as k:
            # the hub subscribes to every platform.* topic: leave only this run's
            stale = [t for t in await k.admin.list_topics() if t.startswith("platform.") and t not in sources]
            if stale:
                await k.admin.delete_topics(stale, timeout_ms=60_000)
            platforms = sorted({t.split(".")[1] for t in sources})
            outputs = [PASS_OUT, PEER_OUT, PEER_REJECTED, "hub.validated.orders", "hub.cover.incidents",
                       *(f"platform.{p}.rejected" for p in platforms)]
            say(f"topics: {await k.prepare_topics(sources, outputs)}")
            say(f"backlog of {n:,} orders written in {await k.produce_backlog(records):.1f}s")
            for name in contenders:
                proc, outs = contender(name, conn, workdir, sources)
                proc.start()
                try:
                    result["contenders"][name] = await drain(k, name, proc, outs, n, broker.pid)
                    if name == "hub":
                        await hub_cover(k, result["contenders"]["hub"], proc, n)
                        result["contenders"]["hub"]["cover_latency"] = await paced_cover_latency(
                            k, proc, make_orders(latency_n, seed=7))
                finally:
                    proc.stop()
    finally:
        broker.stop_if_started(False)
    result["targets"] = verdict(result["contenders"])
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / f"{stamp}-orders.json").write_text(json.dumps(result, indent=2))
    (RESULTS_DIR / f"{stamp}-orders.md").write_text(markdown(result))
    print(markdown(result))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench orders")
    parser.add_argument("--quick", action="store_true", help="20,000 orders instead of 200,000")
    parser.add_argument("--orders", type=int, default=None)
    parser.add_argument("--contenders", nargs="+", choices=CONTENDERS, default=list(CONTENDERS),
                        help="ratios need passthrough in the same run")
    args = parser.parse_args(argv)
    asyncio.run(scenario(args.orders or (20_000 if args.quick else 200_000), tuple(args.contenders),
                         (5 if args.quick else 20) * LATENCY_RATE))
    return 0
