"""Results: ``bench/results/<UTC timestamp>.json`` and ``.md`` (the table is also printed).

Targets are reported here, never asserted by tests."""

from __future__ import annotations

import json

from bench.common import RESULTS_DIR

TARGET_HUB_EVENTS_PER_S = 12_000
TARGET_RATIO = 0.5
TARGET_P99_MS_AT_2000 = 100
TARGET_CODEC_EVENTS_PER_S = 100_000
TARGET_RSS_GROWTH_PCT = 10


def _fmt(value, digits: int = 0) -> str:
    if value is None:
        return "–"
    if isinstance(value, float) and digits:
        return f"{value:,.{digits}f}"
    if isinstance(value, (int, float)):
        return f"{value:,.0f}"
    return str(value)


def _core_pct(saturation: dict, process: str) -> float | None:
    """Percent of one core ``process`` ("worker", "broker") used during a saturation run."""
    return saturation.get("cpu", {}).get("core_pct", {}).get(process)


def _machine_bound(saturation: dict, cpus: int | None) -> float | None:
    """The most events/s this machine could give a contender if its worker and the broker had
    every core to themselves with no scheduling loss: cores / (worker + broker CPU seconds per
    event at saturation). A target above it cannot be met here by parallelism alone."""
    worker_s = (saturation.get("cpu_s_per_1k_events") or 0) / 1000
    broker_pct = _core_pct(saturation, "broker")
    rate = saturation.get("events_per_s")
    if not (cpus and worker_s and broker_pct is not None and rate):
        return None
    return cpus / (worker_s + broker_pct / 100 / rate)


def _runs(contender: dict) -> str | None:
    runs = contender.get("saturation_runs")
    if not runs:
        return None
    return ", ".join(f"{_fmt(r.get('events_per_s'))} @ {_fmt((r.get('cpu_s_per_1k_events') or 0) * 1000)}"
                     for r in runs)


def targets(result: dict) -> list[dict]:
    hub = result.get("contenders", {}).get("hub", {})
    base = result.get("contenders", {}).get("baseline", {})
    hub_rate = hub.get("saturation", {}).get("events_per_s")
    base_rate = base.get("saturation", {}).get("events_per_s")
    ratio = hub_rate / base_rate if hub_rate and base_rate else None
    p99 = hub.get("latency", {}).get("2000", {}).get("p99_ms")
    codec_rate = result.get("codec", {}).get("classify_events_per_s")
    rows = [
        ("hub saturation throughput, one worker", f">= {TARGET_HUB_EVENTS_PER_S:,} events/s", hub_rate,
         hub_rate is not None and hub_rate >= TARGET_HUB_EVENTS_PER_S, _fmt(hub_rate) + " events/s"),
        ("hub / baseline throughput", f">= {TARGET_RATIO:.0%}", ratio,
         ratio is not None and ratio >= TARGET_RATIO, f"{ratio:.0%}" if ratio is not None else "–"),
        ("hub p99 latency at 2,000 events/s", f"<= {TARGET_P99_MS_AT_2000} ms", p99,
         p99 is not None and p99 <= TARGET_P99_MS_AT_2000, _fmt(p99) + " ms" if p99 is not None else "not measured"),
        ("codec: decode + validate (classify)", f">= {TARGET_CODEC_EVENTS_PER_S:,} events/s", codec_rate,
         codec_rate is not None and codec_rate >= TARGET_CODEC_EVENTS_PER_S, _fmt(codec_rate) + " events/s"),
    ]
    out = [{"target": name, "goal": goal, "value": value, "met": met, "shown": shown}
           for name, goal, value, met, shown in rows]
    out.append({"target": "worker RSS flat", "goal": f"< {TARGET_RSS_GROWTH_PCT} % growth over 10 min",
                "value": None, "met": None, "shown": "see `make soak`"})
    return out


def markdown(result: dict) -> str:
    c = result.get("contenders", {})
    base, hub = c.get("baseline", {}), c.get("hub", {})
    codec = result.get("codec", {})
    lines = [f"# gigbridge benchmark {result['timestamp']} ({result['mode']})", ""]
    m = result.get("machine", {})
    lines.append(f"commit {result.get('commit')} · {m.get('cpus')} cores ({m.get('cpu_model', '?')}) · "
                 f"Python {m.get('python')} · load average at start {' '.join(m.get('loadavg_at_start', []))} · "
                 f"input: {result['input']['saturation_events']:,} events backlog + "
                 f"{', '.join(f'{v:,} @ {k}/s' for k, v in result['input']['load_events'].items())} · "
                 f"{result['input']['mean_value_bytes']} B/event")
    lines += ["", "| metric | baseline (aiokafka passthrough) | hub (`gigbridge worker`) | hub / baseline |",
              "|---|---:|---:|---:|"]

    def row(label, b, h, ratio=True, digits=0):
        r = f"{h / b:.0%}" if ratio and isinstance(b, (int, float)) and isinstance(h, (int, float)) and b else ""
        lines.append(f"| {label} | {_fmt(b, digits)} | {_fmt(h, digits)} | {r} |")

    bs, hs = base.get("saturation", {}), hub.get("saturation", {})
    row("saturation throughput (events/s, output append times; the median run, as every saturation row)",
        bs.get("events_per_s"), hs.get("events_per_s"))
    if len(base.get("saturation_runs", ())) > 1 or len(hub.get("saturation_runs", ())) > 1:
        row("saturation runs, in order (events/s @ worker CPU µs/event)", _runs(base), _runs(hub), ratio=False)
    row("CPU s per 1k events at saturation (worker process)", bs.get("cpu_s_per_1k_events"),
        hs.get("cpu_s_per_1k_events"), digits=3)
    row("worker CPU at saturation (% of one core)", _core_pct(bs, "worker"), _core_pct(hs, "worker"), ratio=False)
    row("worker threads waiting for a CPU at saturation (% of wall time)",
        bs.get("cpu", {}).get("runqueue_wait_pct", {}).get("worker"),
        hs.get("cpu", {}).get("runqueue_wait_pct", {}).get("worker"), ratio=False)
    cap_b = 1000 / bs["cpu_s_per_1k_events"] if bs.get("cpu_s_per_1k_events") else None
    cap_h = 1000 / hs["cpu_s_per_1k_events"] if hs.get("cpu_s_per_1k_events") else None
    row("CPU-bound capacity: events/s per core of worker CPU (1 / CPU per event)", cap_b, cap_h)
    row("broker CPU at saturation (% of one core)", _core_pct(bs, "broker"), _core_pct(hs, "broker"), ratio=False)
    cpus = m.get("cpus")
    row(f"machine bound: events/s if worker and broker shared all {cpus} cores perfectly "
        "(cores / their CPU per event at saturation)", _machine_bound(bs, cpus), _machine_bound(hs, cpus))
    row("other processes on the machine at saturation (% of one core)",
        bs.get("cpu", {}).get("other_processes_core_pct"), hs.get("cpu", {}).get("other_processes_core_pct"),
        ratio=False)
    row("machine busy at saturation (% of all cores)", bs.get("cpu", {}).get("machine_busy_pct_of_all_cores"),
        hs.get("cpu", {}).get("machine_busy_pct_of_all_cores"), ratio=False)
    loads = sorted({int(k) for k in base.get("latency", {})} | {int(k) for k in hub.get("latency", {})})
    for rate in loads:
        bl, hl = base.get("latency", {}).get(str(rate), {}), hub.get("latency", {}).get(str(rate), {})

        def trio(x):
            if not x:
                return None
            text = f"{_fmt(x.get('p50_ms'))} / {_fmt(x.get('p95_ms'))} / {_fmt(x.get('p99_ms'))}"
            if not x.get("complete", True):
                text += " (incomplete)"
            if x.get("sent_per_s") and x["sent_per_s"] < 0.95 * rate:
                text += f" (sent only {x['sent_per_s']:,}/s)"
            return text

        row(f"latency p50 / p95 / p99 ms @ {rate:,}/s offered", trio(bl), trio(hl), ratio=False)
        row(f"CPU s per 1k events @ {rate:,}/s", bl.get("cpu_s_per_1k_events"), hl.get("cpu_s_per_1k_events"),
            digits=3)
    row("peak RSS MB (VmHWM)", base.get("peak_rss_mb"), hub.get("peak_rss_mb"), digits=1)
    row("startup to first output (s)", bs.get("startup_to_first_output_s"), hs.get("startup_to_first_output_s"),
        ratio=False, digits=1)
    lines += ["", "| codec (in-process, one core, no Kafka) | events/s | µs/event |", "|---|---:|---:|",
              f"| `classify` (decode + validate) | {_fmt(codec.get('classify_events_per_s'))} | "
              f"{codec.get('classify_us_per_event')} |",
              f"| `plan_batch` (classify + route + privacy + encode {codec.get('deliveries_per_event')} outputs/event) | "
              f"{_fmt(codec.get('plan_batch_events_per_s'))} | {codec.get('plan_batch_us_per_event')} |"]
    for stage, us in codec.get("stages_us_per_event", {}).items():
        lines.append(f"| stage: {stage.strip()} | | {us} |")
    lines += ["", "| target | goal | measured | met |", "|---|---|---:|:---:|"]
    for t in result.get("targets", []):
        met = "n/a" if t["met"] is None else ("yes" if t["met"] else "**no**")
        lines.append(f"| {t['target']} | {t['goal']} | {t['shown']} | {met} |")
    prof = result.get("profile")
    if prof and "groups" in prof:
        cpu = prof.get("cpu", {})
        lines += ["", f"Profile of the worker (py-spy {prof['samples']:,} samples over {prof['events']:,} events at "
                      f"{prof['events_per_s_while_profiled']:,}/s; worker CPU **{prof['worker_cpu_us_per_event']} µs "
                      f"per event**; worker {cpu.get('core_pct', {}).get('worker')} % of a core, waiting for a CPU "
                      f"{cpu.get('runqueue_wait_pct', {}).get('worker')} %, other processes "
                      f"{cpu.get('other_processes_core_pct')} % of a core):", "",
                  "| where the worker's CPU goes (exclusive groups) | share | CPU µs/event |", "|---|---:|---:|"]
        for label, v in prof["groups"].items():
            lines.append(f"| {label} | {v['share_pct']} % | {_fmt(v['cpu_us_per_event'], 1)} |")
        lines += ["", "| inclusive (a function and everything it calls) | share | CPU µs/event |", "|---|---:|---:|"]
        for label, v in prof["inclusive"].items():
            indent = len(label) - len(label.lstrip())
            lines.append(f"| {'&nbsp;' * indent}{label.strip()} | {v['share_pct']} % | {_fmt(v['cpu_us_per_event'], 1)} |")
        o = prof["main_thread_outside_batch_work"]
        lines.append(f"| main thread outside the batch work ({o['what']}) | {o['share_pct']} % | "
                     f"{_fmt(o['cpu_us_per_event'], 1)} |")
        for thread, v in prof["threads"].items():
            lines.append(f"| thread {thread} (busy samples) | {v['share_pct']} % | |")
        if prof.get("svg"):
            lines.append(f"\nFlame graph: `{prof['svg']}`; raw stacks: `{prof['raw']}`.")
        if prof.get("regrouped"):
            lines.append(f"Profile groups recomputed from the raw stacks with the groups of bench/profile.py as of "
                         f"{prof['regrouped']} (`python -m bench report {result['timestamp']}`).")
    elif prof:
        lines += ["", f"Profile: {prof}"]
    checks = []
    exp = result.get("expected_verdicts_of_saturation_set")
    if exp and hs.get("verdicts"):
        got = hs["verdicts"]
        keys = set(got).union(*exp)
        same = all(min(e.get(k, 0) for e in exp) <= got.get(k, 0) <= max(e.get(k, 0) for e in exp) for k in keys)
        checks.append(f"hub verdicts {got} {'match' if same else '**differ from**'} the in-process classification "
                      f"at the start/end of the hub's window {exp}")
    ts = hs.get("output_timestamps")
    if ts:
        checks.append(f"output timestamp types: {ts}")
    if result.get("topics_created_by_hub"):
        checks.append(f"topics the hub created itself (CreateTime): {result['topics_created_by_hub'][:10]}")
    if checks:
        lines += ["", *(f"- {c}" for c in checks)]
    return "\n".join(lines) + "\n"


def finish(result: dict) -> None:
    result["targets"] = targets(result)
    base = result.get("contenders", {}).get("baseline", {}).get("saturation", {}).get("events_per_s")
    hub = result.get("contenders", {}).get("hub", {}).get("saturation", {}).get("events_per_s")
    result["hub_over_baseline"] = round(hub / base, 3) if hub and base else None
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stem = RESULTS_DIR / result["timestamp"]
    stem.with_suffix(".json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    text = markdown(result)
    stem.with_suffix(".md").write_text(text)
    print(text)
    print(f"wrote {stem.with_suffix('.json')} and {stem.with_suffix('.md')}")


def rerender(stamp: str) -> int:
    """``python -m bench report <timestamp>``: the markdown of a run again from its JSON, with the
    profile re-summarised from its raw stacks (after a change of the groups in bench/profile.py)."""
    from datetime import datetime, timezone
    from pathlib import Path

    from bench import profile

    stem = RESULTS_DIR / stamp
    result = json.loads(stem.with_suffix(".json").read_text())
    prof = result.get("profile") or {}
    raw = Path(RESULTS_DIR.parent.parent / prof["raw"]) if prof.get("raw") else None
    if raw is not None and raw.exists():
        prof.update(profile.summarise(raw, prof.get("rate_hz", 100), prof["events"], prof.get("cpu_us_per_event")))
        prof.pop("main_thread_outside_handle_batch", None)
        prof["regrouped"] = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    stem.with_suffix(".json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    stem.with_suffix(".md").write_text(markdown(result))
    print(f"rewrote {stem.with_suffix('.md')}")
    return 0
