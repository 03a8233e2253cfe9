"""``python -m bench run [--quick]``: baseline vs hub vs codec on one broker, one input.

Phases (nothing measured overlaps anything else the benchmark does):

1. broker: start or reuse ``.local/bench-kafka``; delete every topic left by an earlier run.
2. input: seeded simulator traffic, encoded once: a saturation set and one set per offered load
   (distinct events: the hub drops repeats of an event_id).
3. codec: in-process ``classify`` / ``plan_batch`` / stage breakdown (no Kafka running work).
4. topics: ingest topics (CreateTime) for the hub (``platform.<id>.<type>``) and an identical
   copy for the baseline (``bench.base.<id>.<type>``); every output topic pre-created with
   LogAppendTime (the hub's static topics and every office/insurer topic the input routes to).
   The saturation set is written to both copies before either contender starts.
5. per contender (baseline subprocess, then ``gigbridge worker`` subprocess):
   saturation: drain the backlog; throughput = outputs / (last - first output append time);
   then each offered load: produce at that rate (send time = record timestamp), wait until
   every input has its output, latency = output append time - input send time.
   CPU from /proc (utime+stime) over the measured windows; peak RSS = VmHWM.
6. profile (full run): a second, fresh hub drains everything again under py-spy.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import time
from collections import Counter, defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from aiokafka import TopicPartition

from bench import codec, profile, report
from bench.broker import BenchBroker
from bench.common import RESULTS_DIR, WORK_DIR, machine_info, percentile, prune_workdirs, say
from bench.dataset import BenchEvent, EventSource, baseline_topic, ingest_topics
from bench.kafkaio import Kafka, Sent, tps_of
from bench.meter import Meter
from bench.procs import Subprocess, hub_process, memory_kb, passthrough_process

BASELINE_OUT = "bench.base.out"


@dataclass
class Plan:
    quick: bool
    saturation_events: int
    loads: list[int]
    load_seconds: float
    codec_events: int
    codec_repeat: int
    profile_seconds: int  # 0 = no profile phase
    # Saturation runs per contender, interleaved; the median one is reported. One run of the same
    # code moved by 50 % from the next on the 2 shared cores (docs/performance.md, "Session 6").
    saturation_rounds: int = 1


FULL = Plan(False, 200_000, [500, 2_000, 8_000], 15, 100_000, 3, 20, 3)
QUICK = Plan(True, 10_000, [2_000], 4, 10_000, 1, 0, 1)


@dataclass
class Inputs:
    saturation: list[BenchEvent]
    loads: dict[int, list[BenchEvent]]
    platforms: list[str]


# --- contenders ------------------------------------------------------------------------------

class Contender:
    name: str

    def ingest(self, event: BenchEvent) -> str:
        raise NotImplementedError

    def primary_tps(self) -> list[TopicPartition]:
        raise NotImplementedError

    def launch(self) -> Subprocess:
        raise NotImplementedError

    def latencies(self, records: list, sent: list[Sent], events: list[BenchEvent]) -> tuple[list[int], int]:
        raise NotImplementedError

    @staticmethod
    def verdict(topic: str) -> str:
        return "copied"


class Baseline(Contender):
    name = "baseline"

    def __init__(self, conn, workdir, platforms) -> None:
        self.conn, self.workdir = conn, workdir
        self.sources = self.ingest_topics = [baseline_topic(t) for t in ingest_topics(platforms)]

    def ingest(self, event: BenchEvent) -> str:
        return baseline_topic(event.topic)

    def primary_tps(self) -> list[TopicPartition]:
        return tps_of([BASELINE_OUT])

    def launch(self) -> Subprocess:
        return passthrough_process(self.conn, self.workdir, self.sources, BASELINE_OUT).start()

    def latencies(self, records, sent, events):
        # Copies carry the input's key and value unchanged: match them (FIFO for equal bytes).
        by_bytes: dict[tuple, deque] = defaultdict(deque)
        for s, e in zip(sent, events):
            by_bytes[(e.key, e.value)].append(s.ts)
        out, unmatched = [], 0
        for r in records:
            queue = by_bytes.get((r.key, r.value))
            if queue:
                out.append(r.timestamp - queue.popleft())
            else:
                unmatched += 1
        return out, unmatched


class Hub(Contender):
    name = "hub"

    def __init__(self, conn, workdir, platforms, catalog, label: str = "hub", extra_env: dict | None = None,
                 module: str = "gigbridge.cli") -> None:
        from streams.core.topics import DLQ_TOPIC, rejected_topic, validated_topics

        self.conn, self.workdir, self.catalog, self.label = conn, workdir, catalog, label
        self.extra_env, self.module = extra_env or {}, module
        self.ingest_topics = ingest_topics(platforms)
        self.primary = [*validated_topics(), DLQ_TOPIC, *(rejected_topic(p) for p in platforms)]

    def ingest(self, event: BenchEvent) -> str:
        return event.topic

    def primary_tps(self) -> list[TopicPartition]:
        return tps_of(self.primary)

    def launch(self) -> Subprocess:
        return hub_process(self.conn, self.workdir, self.label, self.extra_env, self.module).start()

    @staticmethod
    def verdict(topic: str) -> str:
        if topic.startswith("hub.validated."):
            return "valid"
        return "dlq" if topic == "hub.dlq" else "rejected"

    def latencies(self, records, sent, events):
        from schemas.wire import decode

        by_source = {(s.topic, s.partition, s.offset): s.ts for s in sent}
        by_id: dict[str, int] = {}
        for s, e in zip(sent, events):
            if e.event_id is not None:
                by_id.setdefault(e.event_id, s.ts)
        out, unmatched = [], 0
        for r in records:
            sent_ts = None
            if r.topic.startswith("hub.validated."):
                sent_ts = by_id.get(decode(self.catalog, r.value).record["event_id"])
            elif r.topic == "hub.dlq":
                h = {k: v.decode() for k, v in r.headers}
                sent_ts = by_source.get((h.get("__connect.errors.topic"), int(h.get("__connect.errors.partition", -1)),
                                         int(h.get("__connect.errors.offset", -1))))
            else:
                rec = decode(self.catalog, r.value).record
                sent_ts = by_source.get((rec["source_topic"], rec["source_partition"], rec["source_offset"]))
            if sent_ts is None:
                unmatched += 1
            else:
                out.append(r.timestamp - sent_ts)
        return out, unmatched


# --- measurements ------------------------------------------------------------------------------

async def wait_processed(k: Kafka, tps, base: dict, expected: int, proc: Subprocess, meter: Meter,
                         timeout: float, poll: float = 0.25, stall_s: float = 30.0):
    """Poll the outputs' end offsets until ``expected`` records arrived after ``base``.

    Returns (first snapshot with output, its count), (snapshot of the last progress, count),
    complete?  Gives up after ``timeout`` s, or ``stall_s`` s without progress once outputs
    started to arrive (the snapshot returned is then the one of the last progress, so CPU per
    event is not diluted by idle time)."""
    base_total = sum(base.values())
    deadline = time.monotonic() + timeout
    first = last = None
    while True:
        total = await k.total(tps) - base_total
        snap = meter.snap()
        if first is None and total > 0:
            first = (snap, total)
        if last is None or total > last[1]:
            last = (snap, total)
        if total >= expected:
            return first, last, True
        proc.check_alive()
        stalled = first is not None and snap.wall - last[0].wall > stall_s
        if stalled or time.monotonic() > deadline:
            why = f"no progress for {stall_s:.0f}s" if stalled else f"timeout {timeout:.0f}s"
            say(f"warning: only {total:,} of {expected:,} outputs ({why})")
            return first or last, last, False
        await asyncio.sleep(poll)


async def diagnose(k: Kafka, proc: Subprocess, ingest: list[str], tag: str) -> dict:
    """Why did a worker stop short? Its consumer group's committed offsets against the ingest
    topics' end offsets, and a py-spy dump of its threads (saved next to its log)."""
    out: dict = {}
    group = proc.env.get("GIGBRIDGE_APP_ID")
    try:
        ends = await k.end_offsets(tps_of(ingest))
        committed = await k.admin.list_consumer_group_offsets(group) if group else {}
        out["uncommitted_partitions"] = {
            f"{tp.topic}/{tp.partition}": {"end": end, "committed": committed[tp].offset if tp in committed else None}
            for tp, end in ends.items() if end and (tp not in committed or committed[tp].offset < end)}
    except Exception as exc:  # noqa: BLE001 - diagnostics must not break the run
        out["offsets_error"] = f"{type(exc).__name__}: {exc}"
    if profile.py_spy() and proc.alive():
        dump = subprocess.run([profile.py_spy(), "dump", "--pid", str(proc.pid)], capture_output=True, text=True,
                              timeout=60)
        path = proc.log_path.with_name(f"{proc.name}-{tag}-py-spy-dump.txt")
        path.write_text(dump.stdout + dump.stderr)
        out["py_spy_dump"] = str(path)
    say(f"diagnostics: {out}")
    return out


def _timestamp_types(records) -> dict:
    types = Counter("LogAppendTime" if r.timestamp_type == 1 else "CreateTime" for r in records)
    return dict(types)


async def saturation(k: Kafka, c: Contender, proc: Subprocess, meter: Meter, expected: int, base: dict,
                     started: float) -> dict:
    tps = c.primary_tps()
    first, done, complete = await wait_processed(k, tps, base, expected, proc, meter,
                                                 timeout=180 + expected / 500)
    diagnostics = None if complete else await diagnose(k, proc, c.ingest_topics, "saturation")
    end = await k.end_offsets(tps)
    records = await k.read({tp: (base[tp], end[tp]) for tp in tps})
    stamps = [r.timestamp for r in records]
    window_ms = (max(stamps) - min(stamps)) if stamps else 0
    (s0, n0), (s1, n1) = first, done
    worker_cpu = s1.procs["worker"] - s0.procs["worker"]
    events_in_window = n1 - n0
    return {
        "events": expected,
        "outputs_read": len(records),
        "complete": complete,
        "events_per_s": round(len(records) / (window_ms / 1000)) if window_ms else None,
        "append_time_window_s": round(window_ms / 1000, 2),
        "append_time_window_epoch_ms": [min(stamps), max(stamps)] if stamps else None,
        "startup_to_first_output_s": round(s0.wall - started, 1),
        "polled_events_per_s": round(events_in_window / (s1.wall - s0.wall)) if s1.wall > s0.wall else None,
        "cpu_s_per_1k_events": round(worker_cpu / events_in_window * 1000, 3) if events_in_window else None,
        "cpu": meter.usage(s0, s1),
        "verdicts": dict(Counter(c.verdict(r.topic) for r in records)),
        "output_timestamps": _timestamp_types(records),
        **({"diagnostics": diagnostics} if diagnostics else {}),
    }


async def latency(k: Kafka, c: Contender, proc: Subprocess, meter: Meter, rate: int,
                  events: list[BenchEvent]) -> dict:
    tps = c.primary_tps()
    base = await k.end_offsets(tps)
    s0 = meter.snap()
    sent, took = await k.produce_paced([(c.ingest(e), e.key, e.value) for e in events], rate)
    _, (s1, n1), complete = await wait_processed(k, tps, base, len(events), proc, meter,
                                                 timeout=60 + len(events) / 1000)
    diagnostics = None if complete else await diagnose(k, proc, c.ingest_topics, f"load-{rate}")
    end = await k.end_offsets(tps)
    records = await k.read({tp: (base[tp], end[tp]) for tp in tps})
    lat, unmatched = c.latencies(records, sent, events)
    lat.sort()
    worker_cpu = s1.procs["worker"] - s0.procs["worker"]
    return {
        "offered_per_s": rate,
        "events": len(events),
        "sent_per_s": round(len(events) / took),
        "complete": complete,
        "matched": len(lat),
        "unmatched_outputs": unmatched,
        "p50_ms": percentile(lat, 50), "p95_ms": percentile(lat, 95), "p99_ms": percentile(lat, 99),
        "max_ms": lat[-1] if lat else None,
        "cpu_s_per_1k_events": round(worker_cpu / n1 * 1000, 3) if n1 else None,
        "cpu": meter.usage(s0, s1),
        **({"diagnostics": diagnostics} if diagnostics else {}),
    }


async def _start_and_saturate(k: Kafka, c: Contender, backlog: int, broker_pid: int | None,
                              what: str) -> tuple[Subprocess, Meter, dict]:
    """Launch a fresh ``c`` (its own consumer group and dedupe store) and measure it draining the
    ``backlog`` events; returns the still running process, its meter and the saturation figures."""
    base = await k.end_offsets(c.primary_tps())
    say(f"{c.name}: {what} over a backlog of {backlog:,} events")
    started = time.monotonic()
    proc = c.launch()
    try:
        meter = Meter({"worker": proc.pid, "broker": broker_pid})
        sat = await saturation(k, c, proc, meter, backlog, base, started)
    except BaseException:
        proc.stop()
        raise
    say(f"{c.name}: {sat['events_per_s']:,} events/s, {sat['cpu_s_per_1k_events']} CPU s/1k events")
    return proc, meter, sat


async def saturation_only(k: Kafka, c: Contender, backlog: int, broker_pid: int | None,
                          what: str = "extra saturation run") -> dict:
    """A saturation run of a fresh ``c`` over ``backlog`` events, whose process stops after it
    (the full run's extra runs come before the latency phases, so the ingest topics hold the
    backlog only; what-if variants use it too)."""
    proc, _, sat = await _start_and_saturate(k, c, backlog, broker_pid, what)
    proc.stop()
    return sat


def median_run(runs: list[dict]) -> dict:
    """The run with the median throughput (the lower middle one of an even count)."""
    ranked = sorted(runs, key=lambda r: r.get("events_per_s") or 0)
    return ranked[(len(ranked) - 1) // 2]


async def run_contender(k: Kafka, c: Contender, inputs: Inputs, broker_pid: int | None,
                        earlier_runs: Sequence[dict] = ()) -> dict:
    """Saturation over the backlog, then each offered load, with one process. ``earlier_runs``
    are saturation runs of the same contender made before (``saturation_only``): the result's
    ``saturation`` is the median of them and this one, ``saturation_runs`` lists them all."""
    proc, meter, sat = await _start_and_saturate(k, c, len(inputs.saturation), broker_pid, "starting; saturation")
    try:
        runs = [*earlier_runs, sat]
        result = {"saturation": median_run(runs), "saturation_runs": runs}
        result["latency"] = {}
        for rate, events in inputs.loads.items():
            await asyncio.sleep(1.0)  # let the worker go idle between phases
            say(f"{c.name}: {len(events):,} events at {rate:,}/s")
            lat = await latency(k, c, proc, meter, rate, events)
            result["latency"][str(rate)] = lat
            say(f"{c.name}: @{rate:,}/s p50 {lat['p50_ms']} p95 {lat['p95_ms']} p99 {lat['p99_ms']} ms "
                f"(sent {lat['sent_per_s']:,}/s)")
        mem = memory_kb(proc.pid)
        result["peak_rss_mb"] = round(mem.get("VmHWM", 0) / 1024, 1)
        result["rss_at_end_mb"] = round(mem.get("VmRSS", 0) / 1024, 1)
        result["log"] = str(proc.log_path)
        return result
    finally:
        proc.stop()


async def profile_hub(k: Kafka, conn, workdir, inputs: Inputs, catalog, seconds: int, stamp: str,
                      broker_pid) -> dict:
    """A second hub with a fresh consumer group re-drains everything under py-spy."""
    if profile.py_spy() is None:
        return {"skipped": "py-spy is not installed (pip install py-spy)"}
    hub = Hub(conn, workdir, inputs.platforms, catalog, label="hub-profile")
    tps = hub.primary_tps()
    base = await k.end_offsets(tps)
    proc = hub.launch()
    meter = Meter({"worker": proc.pid, "broker": broker_pid})
    out: dict = {}
    try:
        await wait_processed(k, tps, base, 1, proc, meter, timeout=180)
        await asyncio.sleep(3)  # past the first batches (topic metadata, dedupe log creation)
        raw = RESULTS_DIR / f"{stamp}-profile.txt"
        n0, s0 = await k.total(tps), meter.snap()
        say(f"profile: py-spy record {seconds}s of the worker (pid {proc.pid}) while it drains a backlog")
        res = await asyncio.to_thread(profile.record, proc.pid, raw, seconds, "raw")
        n1, s1 = await k.total(tps), meter.snap()
        if res.returncode != 0 or not raw.exists():
            return {"error": res.stdout[-2000:]}
        events = n1 - n0
        cpu_us = (s1.procs["worker"] - s0.procs["worker"]) / events * 1e6 if events else None
        out = profile.summarise(raw, 100, events, cpu_us)
        out["raw"] = str(raw.relative_to(RESULTS_DIR.parent.parent))
        out["events_per_s_while_profiled"] = round(events / (s1.wall - s0.wall))
        out["worker_cpu_us_per_event"] = round(cpu_us, 1) if cpu_us else None
        out["cpu"] = meter.usage(s0, s1)
        svg = RESULTS_DIR / f"{stamp}-profile.svg"
        res = await asyncio.to_thread(profile.record, proc.pid, svg, 10, "flamegraph")
        if res.returncode == 0 and svg.exists():
            out["svg"] = str(svg.relative_to(RESULTS_DIR.parent.parent))
        return out
    finally:
        proc.stop()


# --- orchestration -------------------------------------------------------------------------------

def make_inputs(plan: Plan, seed: int) -> tuple[Inputs, EventSource]:
    source = EventSource(seed)
    say(f"generating {plan.saturation_events:,} + {sum(r * plan.load_seconds for r in plan.loads):,.0f} events")
    saturation = source.take(plan.saturation_events)
    loads = {rate: source.take(int(rate * plan.load_seconds)) for rate in plan.loads}
    return Inputs(saturation, loads, source.platforms), source


def output_topics(source: EventSource, ctx, platforms: list[str]) -> set[str]:
    """Every topic the hub can write for this input: its static topics plus the office and
    insurer topics of every simulated site (an event's division code is its site's)."""
    from streams.core.route import routes_for
    from streams.core.topics import DLQ_TOPIC, rejected_topic, validated_topics
    from streams.core.validate import EVENT_TYPES

    topics = {*validated_topics(), DLQ_TOPIC, *(rejected_topic(p) for p in platforms)}
    for sites in source.sim.sites.values():
        for site in sites:
            for event_type in EVENT_TYPES:
                record = {"division_code": site.division_code, "insured": True}
                topics.update(r.topic for r in routes_for(event_type, record, ctx.routing, ctx.level_of))
    return topics


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True, timeout=10).stdout.strip()
        return out.stdout.strip() + ("+dirty" if dirty else "") if out.returncode == 0 else None
    except OSError:
        return None


async def bench(plan: Plan, seed: int, stop_broker: bool) -> dict:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    workdir = WORK_DIR / stamp
    prune_workdirs()
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    result: dict = {"timestamp": stamp, "mode": "quick" if plan.quick else "full", "commit": git_commit(),
                    "machine": machine_info(), "plan": plan.__dict__, "seed": seed}
    load1 = float(result["machine"].get("loadavg_at_start", ["0"])[0])
    if load1 > (result["machine"].get("cpus") or 1) / 2:
        say(f"warning: load average {load1} on {result['machine'].get('cpus')} cores before the run: other "
            "processes will take CPU from the broker and the worker (see 'other processes' in the table)")
    inputs, source = make_inputs(plan, seed)
    result["input"] = {
        "saturation_events": len(inputs.saturation),
        "load_events": {str(r): len(e) for r, e in inputs.loads.items()},
        "platforms": inputs.platforms,
        "mix": dict(Counter(e.event_type for e in inputs.saturation)),
        "mean_value_bytes": round(sum(len(e.value) for e in inputs.saturation) / len(inputs.saturation), 1),
    }
    result["codec"] = codec.run(inputs.saturation[:plan.codec_events], repeat=plan.codec_repeat)
    ctx = codec.bench_context()
    topics_out = output_topics(source, ctx, inputs.platforms)
    result["codec"]["delivery_topics"] = len(result["codec"]["delivery_topics"])
    say(f"codec: classify {result['codec']['classify_events_per_s']:,} events/s, "
        f"plan_batch {result['codec']['plan_batch_events_per_s']:,} events/s")

    broker = BenchBroker()
    conn = broker.start()
    try:
        async with Kafka(conn) as k:
            hub_in = ingest_topics(inputs.platforms)
            topics = await k.prepare_topics(hub_in + [baseline_topic(t) for t in hub_in],
                                            [*topics_out, BASELINE_OUT])
            say(f"topics: {topics}")
            backlog = [(t, e.key, e.value) for e in inputs.saturation for t in (e.topic, baseline_topic(e.topic))]
            took = await k.produce_backlog(backlog)
            say(f"backlog of {len(backlog):,} records written in {took:.1f}s")
            del backlog
            topics_before = set(await k.admin.list_topics())
            result["contenders"] = {}
            contenders = (Baseline(conn, workdir, inputs.platforms), Hub(conn, workdir, inputs.platforms, ctx.catalog))
            earlier: dict[str, list[dict]] = {c.name: [] for c in contenders}
            for _ in range(plan.saturation_rounds - 1):  # interleaved: drift hits both alike
                for c in contenders:
                    earlier[c.name].append(await saturation_only(k, c, len(inputs.saturation), broker.pid))
            for c in contenders:
                result["contenders"][c.name] = await run_contender(k, c, inputs, broker.pid, earlier[c.name])
            created_by_hub = set(await k.admin.list_topics()) - topics_before
            result["topics_created_by_hub"] = sorted(t for t in created_by_hub if not t.startswith(("__", "bench-")))
            if plan.profile_seconds:
                result["profile"] = await profile_hub(k, conn, workdir, inputs, ctx.catalog, plan.profile_seconds,
                                                      stamp, broker.pid)
    finally:
        broker.stop_if_started(stop_broker)
    # Verdicts can depend on the clock (a timestamp a few minutes ahead is refused now, accepted
    # later), so the in-process classification is done at both ends of the hub's window.
    window = result.get("contenders", {}).get("hub", {}).get("saturation", {}).get("append_time_window_epoch_ms")
    result["expected_verdicts_of_saturation_set"] = [_expected(inputs.saturation, ctx, now)
                                                     for now in (window or [time.time_ns() // 1_000_000])]
    report.finish(result)
    return result


def _expected(events: list[BenchEvent], ctx, now: int) -> dict:
    from streams.core.classify import Accepted, DeadLettered, classify
    from streams.core.topics import parse_ingest_topic

    counts: Counter = Counter()
    for e in events:
        o = classify(e.value, parse_ingest_topic(e.topic), ctx, now)
        counts["valid" if isinstance(o, Accepted) else "dlq" if isinstance(o, DeadLettered) else "rejected"] += 1
    return dict(counts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench run")
    parser.add_argument("--quick", action="store_true", help="small set, one offered load, no profile (<= 60 s)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--events", type=int, help="saturation set size (default 200,000; quick 25,000)")
    parser.add_argument("--loads", help="comma-separated offered loads in events/s (default 500,2000,8000)")
    parser.add_argument("--load-seconds", type=float, help="seconds of traffic per offered load")
    parser.add_argument("--no-profile", action="store_true", help="skip the py-spy phase")
    parser.add_argument("--saturation-rounds", type=int,
                        help="saturation runs per contender, median reported (default 3; quick 1)")
    parser.add_argument("--stop-broker", action="store_true",
                        help="stop the bench broker afterwards if this run started it (default: keep it)")
    args = parser.parse_args(argv)
    plan = Plan(**(QUICK if args.quick else FULL).__dict__)
    if args.events:
        plan.saturation_events = args.events
        plan.codec_events = min(plan.codec_events, args.events)
    if args.loads:
        plan.loads = [int(x) for x in args.loads.split(",") if x.strip()]
    if args.load_seconds:
        plan.load_seconds = args.load_seconds
    if args.no_profile:
        plan.profile_seconds = 0
    if args.saturation_rounds:
        plan.saturation_rounds = max(1, args.saturation_rounds)
    asyncio.run(bench(plan, args.seed, args.stop_broker))
    return 0
