"""``gigbridge worker`` with experimental patches, for ``python -m bench whatif`` / ``soak --whatif`` only.

Each patch approximates a change (or its ceiling) without touching ``streams/``: it replaces a
function by name and fails loudly (:class:`PatchError`, the worker does not start) if that name
has gone or no longer does what the patch assumes. ``BENCH_WHATIF=patch,patch`` selects them.
Never use this to run a real hub: ``no_dedupe_log`` gives up the durability of the dedupe state.
"""

from __future__ import annotations

import inspect
import os
import sys


class PatchError(RuntimeError):
    """The hot path changed under a what-if patch: update ``bench/whatif_worker.py``."""


def _require(owner, name: str, patch: str):
    if not hasattr(owner, name):
        where = getattr(owner, "__qualname__", None) or getattr(owner, "__name__", repr(owner))
        raise PatchError(f"what-if patch {patch!r}: {where}.{name} is gone; the hot path changed, "
                         "update bench/whatif_worker.py")
    return getattr(owner, name)


def _require_source(func, needles: tuple[str, ...], patch: str) -> None:
    """The patched name must still be used where the patch expects it."""
    source = inspect.getsource(func)
    missing = [n for n in needles if n not in source]
    if missing:
        raise PatchError(f"what-if patch {patch!r}: {func.__qualname__} no longer contains {missing}; "
                         "the hot path changed, update bench/whatif_worker.py")


def _no_metrics() -> None:
    """``metrics.record_batch`` does nothing (ceiling of any metrics optimisation; the batch
    histogram and the counts line stay)."""
    import streams.metrics as metrics
    import streams.worker as worker

    _require(metrics, "record_batch", "no_metrics")
    _require_source(worker.HubWorker._finish_batch, ("metrics.record_batch(",), "no_metrics")
    metrics.record_batch = lambda plan, acked_ms: None


def _no_dedupe_log() -> None:
    """No dedupe-log record: no ``dedupe_batch`` encode, no send, no wait for its
    acknowledgement. The ids still go into the local store (decisions unchanged), with no log
    offset. Ceiling of any cheaper durable copy of the dedupe state, for measurement only: a
    partition that moves to another worker would forget its ids."""
    from types import SimpleNamespace

    import streams.dedupe_flush as dedupe_flush
    import streams.writer as writer
    from streams.plan import Delivery

    _require(dedupe_flush, "log_record", "no_dedupe_log")
    real_write = _require(writer.Writer, "write", "no_dedupe_log")
    _require_source(dedupe_flush.DedupeLogFlusher._flush, ("log_record(", "self._write(", "ack.offset"),
                    "no_dedupe_log")

    def log_record(catalog, app_id, ingest_topic, partition, event_ids, first_seen_ms):
        return Delivery("dedupe", ingest_topic, None, b"", partition=partition)

    async def write(self, deliveries):
        if deliveries and all(d.kind == "dedupe" for d in deliveries):
            return [SimpleNamespace(offset=None) for _ in deliveries]
        return await real_write(self, deliveries)

    dedupe_flush.log_record = log_record
    writer.Writer.write = write


def _gc_off() -> None:
    """No cyclic garbage collection in the worker (``gc.disable()`` after a last collection, once
    the ingest loop starts): the ceiling of GC tuning such as ``gc.freeze()`` after start-up or a
    higher gen-0 threshold. Measurement only: reference cycles are never freed."""
    import gc

    import streams.ingest_loop as ingest_loop

    real_run = _require(ingest_loop.IngestLoop, "run", "gc_off")

    async def run(self):
        gc.collect()
        gc.disable()
        return await real_run(self)

    ingest_loop.IngestLoop.run = run


def _memwatch() -> None:
    """Every 30 s log (JSON lines to $BENCH_MEMWATCH) Python object counts, tracemalloc's top
    growth since the first snapshot, RocksDB's own memory figures of the dedupe store, the
    ingest consumer's fetch buffer, glibc's heap (``mallinfo2``: in use vs free inside the
    heap, i.e. allocations vs fragmentation) and the sizes of the worker's long-lived tables.
    ``BENCH_MEMWATCH_TRACEMALLOC=0`` leaves tracemalloc off: it slows the worker enough to fall
    behind at 2,000 events/s, and a lag grows the fetch buffer, which then hides everything else."""
    import asyncio
    import gc
    import json
    import threading
    import time
    import tracemalloc

    import streams.metrics as metrics
    import streams.worker as worker
    from gigbridge.heap import heap_usage_mb

    metric_objects = [m for m in vars(metrics).values() if hasattr(m, "_metrics")]
    real_init = _require(worker.HubWorker, "__init__", "memwatch")
    traced = os.environ.get("BENCH_MEMWATCH_TRACEMALLOC", "1") != "0"
    if traced:
        tracemalloc.start(1)
    out = open(os.environ.get("BENCH_MEMWATCH", "/dev/null"), "a", buffering=1)
    rocksdb_props = ("rocksdb.cur-size-all-mem-tables", "rocksdb.block-cache-usage",
                     "rocksdb.estimate-table-readers-mem", "rocksdb.estimate-num-keys")

    def init(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        hub = self

        async def watch() -> None:
            first = None
            while True:
                await asyncio.sleep(30)
                snap = tracemalloc.take_snapshot() if traced else None
                doc = {"t": round(time.time()), "objects": len(gc.get_objects()),
                       "traced_mb": round(tracemalloc.get_traced_memory()[0] / 2**20, 1),
                       "threads": threading.active_count(), "pending_ids": len(hub._pending_ids),
                       "python_blocks": sys.getallocatedblocks(), **heap_usage_mb(),
                       "domain_sites": len(metrics.DOMAIN.sites), "domain_headcounts": len(metrics.DOMAIN.headcounts),
                       "domain_incident_cells": len(metrics.DOMAIN.incidents),
                       "metric_children": sum(len(getattr(m, "_metrics", {})) for m in metric_objects)}
                db = getattr(hub.store, "_db", None)
                if db is not None:
                    for prop in rocksdb_props:
                        try:
                            doc[prop] = db.property_int_value(prop)
                        except Exception as exc:  # noqa: BLE001 - diagnostics only
                            doc[prop] = f"{type(exc).__name__}"
                consumer = hub.ingest.consumer
                fetcher = getattr(consumer, "_fetcher", None)
                if fetcher is not None:
                    doc["fetch_buffer_partitions"] = len(getattr(fetcher, "_records", {}) or {})
                if snap is not None and first is None:
                    first = snap
                elif snap is not None:
                    doc["top_growth"] = [f"{s.size_diff / 2**20:.1f} MB {s.count_diff} {s.traceback}"
                                         for s in snap.compare_to(first, "lineno")[:8]]
                out.write(json.dumps(doc) + "\n")

        self.app.task(watch)

    worker.HubWorker.__init__ = init


def _trace() -> None:
    """Log per batch (JSON lines to $BENCH_TRACE): size, age of its oldest input when the batch
    starts, time to plan and send (``start_batch``) and to finish it (``_finish_batch``: outputs
    acknowledged, metrics; the dedupe log trails behind), i.e. where a batch's latency goes."""
    import json
    import time

    import streams.worker as worker

    out = open(os.environ.get("BENCH_TRACE", "/dev/null"), "a", buffering=1)
    real_start = _require(worker.HubWorker, "start_batch", "trace")
    _require_source(worker.HubWorker.start_batch, ("self._finish_batch(",), "trace")

    async def start_batch(self, records):
        started, wall_ms = time.perf_counter(), time.time() * 1000
        oldest = min((r.timestamp for r in records), default=wall_ms)
        finish = await real_start(self, records)
        doc = {"at_ms": round(wall_ms), "size": len(records), "oldest_age_ms": round(wall_ms - oldest, 1),
               "plan_send_ms": round((time.perf_counter() - started) * 1000, 1)}

        async def traced():
            t0 = time.perf_counter()
            durable = await finish
            doc["finish_ms"] = round((time.perf_counter() - t0) * 1000, 1)
            doc["total_ms"] = round((time.perf_counter() - started) * 1000, 1)
            out.write(json.dumps(doc) + "\n")
            return durable  # the dedupe-log entry the loop waits for before it commits
        return traced()

    worker.HubWorker.start_batch = start_batch


PATCHES = {"no_metrics": _no_metrics, "no_dedupe_log": _no_dedupe_log, "gc_off": _gc_off, "memwatch": _memwatch,
           "trace": _trace}


def apply(names: list[str]) -> None:
    unknown = [n for n in names if n not in PATCHES]
    if unknown:
        raise PatchError(f"unknown what-if patch(es) {unknown}; known: {sorted(PATCHES)}")
    for name in names:
        PATCHES[name]()


def check_settings_env(env: dict[str, str]) -> None:
    """Every ``GIGBRIDGE_*`` variable of a variant must be a setting (pydantic-settings ignores
    unknown ones, so a renamed setting would silently measure the unchanged hub)."""
    from gigbridge.settings import Settings

    fields = {name.upper() for name in Settings.model_fields}
    unknown = [k for k in env if k.startswith("GIGBRIDGE_") and k.removeprefix("GIGBRIDGE_") not in fields]
    if unknown:
        raise PatchError(f"what-if variant sets {unknown}, which gigbridge.settings.Settings does not know; "
                         "update bench/whatif.py")


def main() -> int:
    apply([n for n in os.environ.get("BENCH_WHATIF", "").split(",") if n])
    from gigbridge.cli import main as cli

    sys.argv = ["gigbridge", "worker"]
    return cli(["worker"])


if __name__ == "__main__":
    sys.exit(main())
