"""``python -m bench soak [--duration 600] [--rate 2000]``: one hub worker under steady load,
its RSS sampled every 10 s; reports the growth after warm-up (target < 10 %).

Traffic is generated on the fly (seeded simulator, new event ids all the time, so the dedupe
store grows the way it does in production) and paced like ``bench run``'s offered loads.
Results: ``bench/results/<UTC timestamp>-soak.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from datetime import datetime, timezone

from bench.broker import BenchBroker
from bench.codec import bench_context
from bench.common import RESULTS_DIR, WORK_DIR, machine_info, prune_workdirs, say
from bench.dataset import EventSource, ingest_topics
from bench.kafkaio import Kafka
from bench.load import PlatformLoad
from bench.meter import Meter
from bench.procs import hub_process, memory_kb
from bench.report import TARGET_RSS_GROWTH_PCT
from bench.run import Hub, git_commit, output_topics, wait_processed


async def soak(duration: float, rate: float, every: float, seed: int, stop_broker: bool,
               whatif: str | None = None) -> dict:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    workdir = WORK_DIR / f"{stamp}-soak"
    prune_workdirs()
    source = EventSource(seed)
    ctx = bench_context()
    result: dict = {"timestamp": stamp, "kind": "soak", "commit": git_commit(), "machine": machine_info(),
                    "duration_s": duration, "rate_per_s": rate, "sample_every_s": every}
    broker = BenchBroker()
    conn = broker.start()
    try:
        async with Kafka(conn) as k:
            await k.prepare_topics(ingest_topics(source.platforms), output_topics(source, ctx, source.platforms))
            hub = Hub(conn, workdir, source.platforms, ctx.catalog, label="soak")
            tps = hub.primary_tps()
            if whatif:  # experimental patches of bench/whatif_worker.py
                proc = hub_process(conn, workdir, "soak", {"BENCH_WHATIF": whatif}, module="bench.whatif_worker").start()
                result["whatif"] = whatif
            else:
                proc = hub_process(conn, workdir, "soak").start()
            meter = Meter({"worker": proc.pid, "broker": broker.pid})
            try:
                warm = source.take(2_000)
                base = await k.end_offsets(tps)
                await k.produce_backlog([(e.topic, e.key, e.value) for e in warm])
                await wait_processed(k, tps, base, len(warm), proc, meter, timeout=180)
                say(f"soak: worker warm; {duration:.0f}s at {rate:,.0f} events/s, RSS sampled every {every:.0f}s")
                result["samples"] = await _steady(k, proc, meter, tps, source, rate, duration, every)
                result["log"] = str(proc.log_path)
            finally:
                proc.stop()
    finally:
        broker.stop_if_started(stop_broker)
    result.update(_growth(result["samples"], duration))
    _write(result)
    return result


async def _steady(k: Kafka, proc, meter: Meter, tps, source: EventSource, rate: float, duration: float,
                  every: float) -> list[dict]:
    samples: list[dict] = []
    base_total = await k.total(tps)
    sent = 0
    started = time.monotonic()
    next_sample = started
    last = None
    with PlatformLoad(k.cfg, "bench-soak") as producer:
        producer.warm(ingest_topics(source.platforms))
        while True:
            now = time.monotonic()
            if now >= next_sample:
                processed = await k.total(tps) - base_total
                snap = meter.snap()
                mem = memory_kb(proc.pid)
                sample = {"t_s": round(now - started, 1), "rss_mb": round(mem.get("VmRSS", 0) / 1024, 1),
                          "hwm_mb": round(mem.get("VmHWM", 0) / 1024, 1), "sent": sent, "processed": processed,
                          "lag": sent - processed, "producer_errors": producer.errors}
                if last is not None:
                    usage = meter.usage(last[0], snap)
                    sample["worker_core_pct"] = usage["core_pct"]["worker"]
                    sample["worker_cpu_wait_pct"] = usage["runqueue_wait_pct"]["worker"]
                    sample["broker_core_pct"] = usage["core_pct"].get("broker")
                    sample["machine_busy_pct"] = usage["machine_busy_pct_of_all_cores"]
                    sample["other_processes_core_pct"] = usage["other_processes_core_pct"]
                    sample["processed_per_s"] = round((processed - last[1]) / usage["wall_s"])
                samples.append(sample)
                last = (snap, processed)
                proc.check_alive()
                next_sample += every
                if now - started >= duration:
                    break
            due = int((now - started) * rate) + 1
            if due > sent and now - started < duration:
                batch = source.take(min(due - sent, int(rate)))
                for e in batch:
                    producer.send(e.topic, e.key, e.value)
                sent += len(batch)
            producer.poll()
            await asyncio.sleep(0.005)
    return samples


def _growth(samples: list[dict], duration: float) -> dict:
    """Growth of RSS from the end of warm-up (first minute, or 10 % of a shorter run) to the end
    (mean of the last three samples), and the least-squares slope over the same span."""
    if len(samples) < 3:
        return {"rss_growth_pct": None, "verdict": "too few samples"}
    warmup = min(60.0, duration * 0.1)
    steady = [s for s in samples if s["t_s"] >= warmup] or samples
    start = steady[0]["rss_mb"]
    tail = steady[-3:]
    end = sum(s["rss_mb"] for s in tail) / len(tail)
    xs = [s["t_s"] for s in steady]
    ys = [s["rss_mb"] for s in steady]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    var = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / var if var else 0.0
    growth = 100 * (end - start) / start if start else None
    last = samples[-1]
    events = tail[-1]["processed"] - steady[0]["processed"]
    return {
        "warmup_s": warmup,
        "rss_start_mb": start, "rss_end_mb": round(end, 1), "rss_max_mb": max(s["rss_mb"] for s in samples),
        "peak_rss_mb": last["hwm_mb"],
        "rss_growth_pct": round(growth, 1) if growth is not None else None,
        "rss_slope_mb_per_min": round(slope * 60, 2),
        "rss_growth_mb_per_100k_events": round((tail[-1]["rss_mb"] - start) / events * 1e5, 2) if events > 0 else None,
        "final_lag": last["lag"], "producer_errors": last["producer_errors"],
        "target_met": growth is not None and growth < TARGET_RSS_GROWTH_PCT,
    }


def _write(result: dict) -> None:
    lines = [f"# gigbridge soak {result['timestamp']}" + (f" (whatif: {result['whatif']})" if result.get("whatif") else ""),
             "",
             f"{result['duration_s']:.0f} s at {result['rate_per_s']:,.0f} events/s offered, one `gigbridge worker`; "
             f"commit {result['commit']}; {result['machine'].get('cpus')} cores; load average at start "
             f"{' '.join(result['machine'].get('loadavg_at_start', []))}.", "",
             f"RSS {result.get('rss_start_mb')} MB after {result.get('warmup_s', 0):.0f} s warm-up -> "
             f"{result.get('rss_end_mb')} MB at the end: growth **{result.get('rss_growth_pct')} %** "
             f"(target < {TARGET_RSS_GROWTH_PCT} %: {'met' if result.get('target_met') else 'NOT met'}); "
             f"slope {result.get('rss_slope_mb_per_min')} MB/min, "
             f"{result.get('rss_growth_mb_per_100k_events')} MB per 100k events processed; "
             f"peak (VmHWM) {result.get('peak_rss_mb')} MB; "
             f"lag at the end {result.get('final_lag')} events.", "",
             "| t (s) | RSS MB | processed/s | lag (events) | worker % core | worker waiting for a CPU % "
             "| broker % core | other processes % core | machine busy % |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for s in result.get("samples", []):
        lines.append(f"| {s['t_s']:.0f} | {s['rss_mb']} | {s.get('processed_per_s', '')} | {s['lag']:,} | "
                     f"{s.get('worker_core_pct', '')} | {s.get('worker_cpu_wait_pct', '')} | "
                     f"{s.get('broker_core_pct', '')} | {s.get('other_processes_core_pct', '')} | "
                     f"{s.get('machine_busy_pct', '')} |")
    text = "\n".join(lines) + "\n"
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stem = RESULTS_DIR / f"{result['timestamp']}-soak"
    stem.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    stem.with_suffix(".md").write_text(text)
    print(text)
    print(f"wrote {stem.with_suffix('.json')} and {stem.with_suffix('.md')}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench soak")
    parser.add_argument("--duration", type=float, default=600, help="seconds of steady load (default 600)")
    parser.add_argument("--rate", type=float, default=2000, help="offered events/s (default 2000)")
    parser.add_argument("--sample-every", type=float, default=10, help="RSS sampling period in s (default 10)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--stop-broker", action="store_true", help="stop the bench broker afterwards")
    parser.add_argument("--whatif", help="experimental worker patches (bench/whatif_worker.py), e.g. memwatch, trace")
    args = parser.parse_args(argv)
    result = asyncio.run(soak(args.duration, args.rate, args.sample_every, args.seed, args.stop_broker,
                              args.whatif))
    print("soak target " + ("met" if result.get("target_met") else "NOT met"))
    return 0
