"""``python -m bench cover-scale [--days D] [--workers W] [--orders-per-day N] [--batch B]``:
the cover state on its own -- the pure state machines over the RocksDB mappings, no Kafka, no
validation, one partition -- to see how throughput, RSS and disk grow with the worker-days held.

Each batch of ``B`` orders runs ``daycover.apply_order`` on the partition's state, then writes the
changed rows to RocksDB the way the stage does after the changelog acknowledged them
(``CoverStore.apply``). Orders are synthetic (distinct order_refs, one province, ``W`` workers
taking ``N`` orders on each of ``D`` consecutive days), so the figure is the state's cost alone.
Prints one JSON line per day and a summary line.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

from streams.core.cover import daycover
from streams.core.cover.cst import day_start_ms
from streams.runtime.cover_state.store import CoverStore

FIRST_DAY = "2026-05-01"


def _orders_of_day(day_index: int, workers: int, per_worker: int):
    start = day_start_ms(FIRST_DAY) + day_index * 86_400_000 + 8 * 3_600_000
    for n in range(per_worker):
        for w in range(workers):
            ref = f"{day_index:04d}{w:08d}{n:04d}".ljust(64, "a")
            yield {"event_id": f"e-{ref[:16]}", "order_ref": ref, "platform_id": "bench",
                   "division_code": "110101001001", "worker_ref": f"{w:08d}".ljust(64, "b"),
                   "accepted_at": start + n * 60_000 + w, "premium_fen": 5}


def _disk_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(days: int, workers: int, per_worker: int, batch: int, path: Path) -> dict:
    store = CoverStore(path).open()
    part = store.partition(0)
    orders = 0
    elapsed = 0.0
    try:
        for d in range(days):
            pending: list[dict] = []
            day_started = time.perf_counter()
            for order in _orders_of_day(d, workers, per_worker):
                pending.append(order)
                if len(pending) == batch:
                    _unit(store, part, pending)
                    pending = []
            if pending:
                _unit(store, part, pending)
            day_s = time.perf_counter() - day_started
            elapsed += day_s
            orders += workers * per_worker
            print(json.dumps({"day": d + 1, "worker_days": (d + 1) * workers,
                              "orders_per_s": round(workers * per_worker / day_s),
                              "rss_mb": round(_rss_mb()), "disk_mb": round(_disk_bytes(path) / 1e6)}), flush=True)
    finally:
        store.close()
    return {"orders": orders, "worker_days": days * workers, "orders_per_s": round(orders / elapsed),
            "max_rss_mb": round(_rss_mb()), "disk_mb": round(_disk_bytes(path) / 1e6),
            "disk_bytes_per_worker_day": round(_disk_bytes(path) / (days * workers))}


def _unit(store: CoverStore, part, orders: list[dict]) -> None:
    for order in orders:
        daycover.apply_order(part.state, order, 0)
    store.apply(0, part.take_changes(), None, None)
    part.committed()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench cover-scale")
    parser.add_argument("--days", type=int, default=5)
    parser.add_argument("--workers", type=int, default=10_000)
    parser.add_argument("--orders-per-day", type=int, default=20)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--dir", type=Path, default=None, help="RocksDB directory (default: a temporary one)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="cover-scale-") as tmp:
        path = args.dir or Path(tmp) / "cover"
        summary = run(args.days, args.workers, args.orders_per_day, args.batch, path)
    print(json.dumps({"summary": summary}), flush=True)
    return 0
