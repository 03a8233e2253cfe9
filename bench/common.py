"""Paths, logging and small helpers shared by the benchmark modules."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO_ROOT / "bench" / "results"
KAFKA_DIR = REPO_ROOT / ".local" / "bench-kafka"  # the benchmark's own broker (never `make kafka-up`'s)
WORK_DIR = REPO_ROOT / ".local" / "bench"  # hub data dirs and logs of benchmark runs

#: Topic layout: everything the bench creates has this many partitions (the hub's default
#: ``GIGBRIDGE_TOPIC_PARTITIONS``; each ingest topic's dedupe log gets the same count).
PARTITIONS = 6


def partitions_of(topic: str) -> int:
    """Partitions the bench gives a topic: what the hub would create it with (office topics:
    the ``GIGBRIDGE_OFFICE_TOPIC_PARTITIONS`` default; every other topic ``PARTITIONS``)."""
    from gigbridge.settings import Settings
    from streams.core.route import new_topic_partitions

    return new_topic_partitions(topic, PARTITIONS, Settings.model_fields["office_topic_partitions"].default)

_T0 = time.monotonic()


def say(message: str) -> None:
    """One progress line on stderr, prefixed with the seconds since the benchmark started."""
    print(f"[bench {time.monotonic() - _T0:6.1f}s] {message}", file=sys.stderr, flush=True)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def percentile(sorted_values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of an already sorted list; None if empty."""
    if not sorted_values:
        return None
    rank = max(1, min(len(sorted_values), int(-(-q * len(sorted_values) // 100))))
    return sorted_values[rank - 1]


def python_executable() -> str:
    """The interpreter of the project's venv when present (``make`` runs us with it anyway)."""
    venv = REPO_ROOT / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def machine_info() -> dict:
    info = {"cpus": os.cpu_count(), "python": sys.version.split()[0]}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu_model"] = line.split(":", 1)[1].strip()
                break
        info["mem_total_mb"] = int(Path("/proc/meminfo").read_text().split()[1]) // 1024
        info["loadavg_at_start"] = Path("/proc/loadavg").read_text().split()[:3]
    except OSError:
        pass
    return info


def prune_workdirs(keep: int = 5) -> None:
    """Remove all but the ``keep`` newest run directories under ``.local/bench`` (logs, RocksDB)."""
    import shutil

    if not WORK_DIR.exists():
        return
    runs = sorted((p for p in WORK_DIR.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in runs[keep:]:
        shutil.rmtree(old, ignore_errors=True)
