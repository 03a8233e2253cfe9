"""Sampling profile of a running worker with py-spy, summarised into the costs the docs talk
about (Faust machinery, decode, rules, identifier scan, routing, privacy, encode, producer...).

py-spy samples every thread that is not idle ``rate`` times a second; a sample is
``1/rate`` s of a thread being busy (running Python or native code, or waiting for the GIL),
so shares are shares of busy thread time. They are turned into CPU µs per event by
multiplying with the worker's CPU time per event over the same window (utime+stime from /proc).
"""

from __future__ import annotations

import shutil
import subprocess
from collections import Counter
from pathlib import Path

from bench.common import REPO_ROOT

# (label, function name or qualified-name suffix, file suffix): a sample counts for a label
# if any frame of its stack matches (inclusive time). Order = nesting, for the report.
INCLUSIVE = (
    ("HubWorker.handle_batch (everything per batch)", "handle_batch", "streams/worker.py"),
    ("  plan_batch (pure per-event work)", "plan_batch", "streams/pipeline.py"),
    ("    classify (decode + rules)", "classify", "streams/process.py"),
    ("      wire.decode (header + fastavro reader)", "decode", "schemas/wire.py"),
    ("      check_rules", "check_rules", "streams/validate.py"),
    ("        find_identifier (identifier scan)", "find_identifier", "streams/privacy.py"),
    ("    dedupe lookup (seen_before -> RocksDB table)", "seen_before", "streams/worker.py"),
    ("    _deliveries (route + protect + encode)", "_deliveries", "streams/pipeline.py"),
    ("      routes_for", "routes_for", "streams/route.py"),
    ("      Protector (privacy policy)", "__call__", "streams/policy.py"),
    ("      wire.encode (fastavro writer + shape check)", "encode", "schemas/wire.py"),
    ("        shape.find_problem (shape check)", "find_problem", "schemas/shape.py"),
    ("  Writer.write (producer send + wait for acks)", "write", "streams/writer.py"),
    ("  Deduper.remember (dedupe table writes)", "remember", "streams/dedupe.py"),
    ("  stream.ack (input offsets)", "ack", "faust/streams.py"),
    ("  metrics.record_batch (Prometheus + domain)", "record_batch", "streams/metrics.py"),
)


def _any(frames, names=(), paths=()) -> bool:
    return any(any(n in name for n in names) or any(p in path for p in paths) for name, path in frames)


# Exclusive groups: each sample goes to the first group whose test matches its stack, so the
# groups add up to 100 % of the busy samples.
GROUPS = (
    ("dedupe table: Faust Table over RocksDB, its changelog producer buffer and flow control",
     lambda f: _any(f, names=("Deduper.", "ProducerBuffer.", "_on_changelog_sent", "Topic._on_published",
                              "wait_until_ebb", "seen_before", "set_persisted_offset"),
                    paths=("faust/stores/", "faust/tables/"))),
    ("per-event codec work in plan_batch: decode, rules, identifier scan, routing, privacy, encode",
     lambda f: _any(f, names=("plan_batch",))),
    ("Prometheus and domain metrics (metrics.record_batch)",
     lambda f: _any(f, names=("record_batch", "Histogram.observe"))),
    ("output producer: Writer.write, aiokafka sender, produce responses and per-record futures",
     lambda f: _any(f, names=("Writer.", "Sender.", "MessageAccumulator", "MessageBatch"),
                    paths=("aiokafka/producer/",))),
    ("Faust consumer and stream machinery: fetcher, conductor, channel queues, noack_take, acks, sensors",
     lambda f: _any(f, paths=("faust/", "mode/", "aiokafka/consumer/"))),
    ("asyncio event loop and socket I/O not attributable to one of the above",
     lambda f: _any(f, paths=("asyncio/", "selectors.py", "aiokafka/conn.py"))),
    ("everything else (logging, timers, web, GC, ...)", lambda f: True),
)


def py_spy() -> str | None:
    venv = REPO_ROOT / ".venv" / "bin" / "py-spy"
    return str(venv) if venv.exists() else shutil.which("py-spy")


def record(pid: int, out: Path, duration: int, fmt: str = "raw", rate: int = 100) -> subprocess.CompletedProcess:
    """``py-spy record`` (non-blocking: the worker is never paused) of every thread."""
    cmd = [py_spy(), "record", "--pid", str(pid), "--duration", str(duration), "--rate", str(rate),
           "--nonblocking", "--threads", "--format", fmt, "-o", str(out)]
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=duration + 60)


def _parse_frame(frame: str) -> tuple[str, str]:
    """``'HubWorker.handle_batch (streams/worker.py:140)'`` -> (qualified name, file)."""
    name, _, where = frame.rpartition(" (")
    return name, where.rsplit(":", 1)[0]


def _matches(name: str, path: str, func: str, file_suffix: str) -> bool:
    return path.endswith(file_suffix) and (name == func or name.endswith("." + func)
                                            or name.endswith(f".{func}") or f".{func}." in name
                                            or name.endswith(f"<locals>.{func}"))


def summarise(raw: Path, rate: int, events: int, cpu_us_per_event: float | None = None) -> dict:
    """Exclusive groups, inclusive shares of the labelled functions, busy time per thread and the
    top leaf frames. With ``cpu_us_per_event`` (the worker's CPU time per event from /proc), every
    share is also given as CPU µs per event (share x CPU per event)."""
    inclusive: Counter = Counter()
    threads: Counter = Counter()
    leaves: Counter = Counter()
    groups: Counter = Counter()
    main_outside_batch = 0
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        thread = frames[0].split(": ", 1)[-1]
        parsed = [_parse_frame(f) for f in frames[1:] if " (" in f]
        total += count
        threads[thread] += count
        hit = set()
        for label, func, suffix in INCLUSIVE:
            if any(_matches(name, path, func, suffix) for name, path in parsed):
                hit.add(label)
                inclusive[label] += count
        # Group by what runs *inside* the event loop: the frames below it (cli -> mode Worker ->
        # run_forever) are the same for every sample of the main thread.
        loop_at = max((i for i, (name, _) in enumerate(parsed) if name.endswith("_run_once")), default=-1)
        inner = parsed[loop_at + 1:] or parsed[max(loop_at, 0):]
        for label, test in GROUPS:
            if test(inner):
                groups[label] += count
                break
        if parsed:
            name, path = parsed[-1]
            leaves[f"{name} ({_short(path)})"] += count
        if thread == "MainThread" and INCLUSIVE[0][0] not in hit:
            main_outside_batch += count

    def us_per_event(samples: int) -> float | None:
        return round(samples / rate / events * 1e6, 2) if events else None

    def share(samples: int) -> float:
        return round(100 * samples / total, 1) if total else 0.0

    def cpu_us(samples: int) -> float | None:
        return round(samples / total * cpu_us_per_event, 1) if total and cpu_us_per_event else None

    return {
        "samples": total, "rate_hz": rate, "events": events,
        "busy_us_per_event": us_per_event(total),
        "cpu_us_per_event": cpu_us_per_event,
        "groups": {label: {"share_pct": share(groups[label]), "cpu_us_per_event": cpu_us(groups[label])}
                   for label, _ in GROUPS},
        "threads": {t: {"share_pct": share(c), "us_per_event": us_per_event(c)} for t, c in threads.most_common()},
        "main_thread_outside_handle_batch": {"share_pct": share(main_outside_batch),
                                             "cpu_us_per_event": cpu_us(main_outside_batch),
                                             "what": "Faust stream/consumer machinery, asyncio loop, timers, web"},
        "inclusive": {label: {"share_pct": share(inclusive[label]), "cpu_us_per_event": cpu_us(inclusive[label])}
                      for label, _, _ in INCLUSIVE},
        "top_leaf_frames": [{"frame": f, "share_pct": share(c), "cpu_us_per_event": cpu_us(c)}
                            for f, c in leaves.most_common(25)],
    }


def _short(path: str) -> str:
    for marker in ("site-packages/", "python3.11/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path.removeprefix(str(REPO_ROOT) + "/")
