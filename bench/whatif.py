"""``python -m bench whatif``: how much would a suggested change save? Runs the hub's saturation
phase once per variant (``bench/whatif_worker.py`` patches, or settings), interleaved over
``--rounds`` to even out the load of other processes, and compares the worker's CPU time per
event (robust on a shared machine) and throughput. Results: ``bench/results/<ts>-whatif.{json,md}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
from datetime import datetime, timezone

from bench.broker import BenchBroker
from bench.codec import bench_context
from bench.common import RESULTS_DIR, WORK_DIR, machine_info, prune_workdirs, say
from bench.dataset import EventSource, ingest_topics
from bench.kafkaio import Kafka
from bench.run import BASELINE_OUT, Hub, git_commit, output_topics, saturation_only

# name -> (description, extra environment of the worker). BENCH_WHATIF selects patches of
# bench/whatif_worker.py; GIGBRIDGE_* are settings. Both are checked before anything runs.
VARIANTS = {
    "as-is": ("the hub as it is (batches of up to 2,000, two in flight)", {}),
    "no_validated": ("GIGBRIDGE_EMIT_VALIDATED=false: no hub.validated.* copy (-1 output record per valid event)",
                     {"GIGBRIDGE_EMIT_VALIDATED": "false"}),
    "batch_500": ("GIGBRIDGE_INGEST_BATCH_SIZE=500 (default 2000; the default before session 6)",
                  {"GIGBRIDGE_INGEST_BATCH_SIZE": "500"}),
    "batch_5000": ("GIGBRIDGE_INGEST_BATCH_SIZE=5000 (default 2000)", {"GIGBRIDGE_INGEST_BATCH_SIZE": "5000"}),
    "depth_1": ("GIGBRIDGE_STREAM_PIPELINE_DEPTH=1: one batch in flight (default 2)",
                {"GIGBRIDGE_STREAM_PIPELINE_DEPTH": "1"}),
    "no_metrics": ("metrics.record_batch does nothing (ceiling of cheaper metrics)", {"BENCH_WHATIF": "no_metrics"}),
    "no_dedupe_log": ("no dedupe-log record per batch (ceiling; measurement only, not durable)",
                      {"BENCH_WHATIF": "no_dedupe_log"}),
    "gc_off": ("no cyclic GC once the ingest loop runs (ceiling of GC tuning; measurement only)",
               {"BENCH_WHATIF": "gc_off"}),
    "gc_default": ("GIGBRIDGE_GC_GEN0_THRESHOLD=0: Python's young-generation threshold (700) instead of 50,000 "
                   "(start-up objects still frozen)", {"GIGBRIDGE_GC_GEN0_THRESHOLD": "0"}),
    "depth_3": ("GIGBRIDGE_STREAM_PIPELINE_DEPTH=3: three batches in flight (default 2)",
                {"GIGBRIDGE_STREAM_PIPELINE_DEPTH": "3"}),
}
DEFAULT_VARIANTS = list(VARIANTS)


def check_variant(name: str) -> None:
    """Fail before the run if a variant's patch or setting is gone (not after minutes of runs)."""
    from bench.whatif_worker import apply, check_settings_env

    env = VARIANTS[name][1]
    check_settings_env(env)
    patches = [p for p in env.get("BENCH_WHATIF", "").split(",") if p]
    if patches:
        apply(patches)  # patches this process's modules only: it runs no worker


class VariantHub(Hub):
    def __init__(self, conn, workdir, platforms, catalog, name: str, env: dict, office_topics: list[str]) -> None:
        super().__init__(conn, workdir, platforms, catalog, label=f"whatif-{name.replace('+', '-').replace('_', '-')}",
                         extra_env=env, module="bench.whatif_worker")
        if env.get("GIGBRIDGE_EMIT_VALIDATED") == "false":
            # No hub.validated copy: every valid event has exactly one office copy instead.
            self.primary = [t for t in self.primary if not t.startswith("hub.validated.")] + office_topics

    def verdict(self, topic: str) -> str:
        return "valid" if topic.startswith("gov.office.") else super().verdict(topic)


async def whatif(names: list[str], events: int, rounds: int, seed: int, stop_broker: bool) -> dict:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    workdir = WORK_DIR / f"{stamp}-whatif"
    prune_workdirs()
    source = EventSource(seed)
    ctx = bench_context()
    backlog = source.take(events)
    outputs = output_topics(source, ctx, source.platforms)
    offices = sorted(t for t in outputs if t.startswith("gov.office."))
    result: dict = {"timestamp": stamp, "kind": "whatif", "commit": git_commit(), "machine": machine_info(),
                    "events": events, "rounds": rounds, "runs": []}
    broker = BenchBroker()
    conn = broker.start()
    try:
        async with Kafka(conn) as k:
            await k.prepare_topics(ingest_topics(source.platforms), [*outputs, BASELINE_OUT])
            await k.produce_backlog([(e.topic, e.key, e.value) for e in backlog])
            for r in range(rounds):
                for name in names:
                    hub = VariantHub(conn, workdir, source.platforms, ctx.catalog, name, VARIANTS[name][1], offices)
                    sat = await saturation_only(k, hub, events, broker.pid, f"whatif round {r + 1}/{rounds}, {name}")
                    sat["variant"], sat["round"] = name, r + 1
                    say(f"  {name}: {sat['events_per_s']:,} events/s, "
                        f"{sat['cpu_s_per_1k_events'] * 1000:.0f} µs CPU/event, verdicts {sat['verdicts']}")
                    result["runs"].append(sat)
    finally:
        broker.stop_if_started(stop_broker)
    _summarise(result, names)
    return result


def _summarise(result: dict, names: list[str]) -> None:
    rows = []
    for name in names:
        runs = [r for r in result["runs"] if r["variant"] == name and r["cpu_s_per_1k_events"]]
        if not runs:
            continue
        cpu = statistics.median(r["cpu_s_per_1k_events"] * 1000 for r in runs)
        rate = statistics.median(r["events_per_s"] or 0 for r in runs)
        wait = round(statistics.median(r["cpu"]["runqueue_wait_pct"].get("worker", 0) for r in runs), 1)
        other = round(statistics.median(r["cpu"]["other_processes_core_pct"] for r in runs), 1)
        spread = [round(r["cpu_s_per_1k_events"] * 1000) for r in runs]
        rows.append({"variant": name, "what": VARIANTS[name][0], "cpu_us_per_event": round(cpu, 1),
                     "cpu_us_per_event_runs": spread,
                     "events_per_s": round(rate), "worker_cpu_wait_pct": wait, "other_core_pct": other,
                     "runs": len(runs)})
    base = next((r for r in rows if r["variant"] == "as-is"), None)
    for r in rows:
        if base:
            r["saves_us_per_event"] = round(base["cpu_us_per_event"] - r["cpu_us_per_event"], 1)
            r["saves_pct"] = round(100 * r["saves_us_per_event"] / base["cpu_us_per_event"], 1)
    result["summary"] = rows
    lines = [f"# gigbridge what-if {result['timestamp']}", "",
             f"{result['events']:,} events backlog per run, {result['rounds']} interleaved round(s), medians; "
             f"commit {result['commit']}; {result['machine'].get('cpus')} cores; load average at start "
             f"{' '.join(result['machine'].get('loadavg_at_start', []))}.", "",
             "| variant | what | worker CPU µs/event (runs) | saves | events/s | worker waiting for CPU % | "
             "other processes % core |", "|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        saves = f"{r.get('saves_us_per_event', 0)} µs ({r.get('saves_pct', 0)} %)" if base else ""
        runs_text = ", ".join(map(str, r["cpu_us_per_event_runs"]))
        lines.append(f"| {r['variant']} | {r['what']} | {r['cpu_us_per_event']} ({runs_text}) | {saves} | {r['events_per_s']:,} | "
                     f"{r['worker_cpu_wait_pct']} | {r['other_core_pct']} |")
    text = "\n".join(lines) + "\n"
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stem = RESULTS_DIR / f"{result['timestamp']}-whatif"
    stem.with_suffix(".json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    stem.with_suffix(".md").write_text(text)
    print(text)
    print(f"wrote {stem.with_suffix('.json')} and {stem.with_suffix('.md')}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench whatif")
    parser.add_argument("--variants", default=",".join(DEFAULT_VARIANTS),
                        help=f"comma-separated, from: {', '.join(VARIANTS)}")
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--stop-broker", action="store_true", help="stop the bench broker afterwards")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.variants.split(",") if n.strip()]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        parser.error(f"unknown variant(s) {unknown}")
    for name in names:
        check_variant(name)
    asyncio.run(whatif(names, args.events, args.rounds, args.seed, args.stop_broker))
    return 0
