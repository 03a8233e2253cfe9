"""``gigbridge worker`` with experimental patches, for ``python -m bench whatif`` / ``soak --whatif`` only.

Each patch approximates a change (or its ceiling) without touching ``streams/``: through the
worker's seams (the ingest loop's ``step``, the validation step's ``record_batch``, the
``HubWorker`` object handed to it before it runs), or, where there is no seam, by replacing a
function by name and failing loudly (:class:`PatchError`, the worker does not start) if that
name has gone or no longer does what the patch assumes. ``BENCH_WHATIF=patch,patch`` selects them.
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


def _no_metrics():
    """``metrics.record_batch`` does nothing (ceiling of any metrics optimisation; the batch
    histogram and the counts line stay)."""
    def customize(hub) -> None:
        _require(hub.validation, "record_batch", "no_metrics")
        hub.validation.record_batch = lambda plan, acked_ms: None
    return customize


def _no_dedupe_log():
    """No dedupe-log record: no ``dedupe_batch`` encode, no send, no wait for its
    acknowledgement. The ids still go into the local store (decisions unchanged), with no log
    offset. Ceiling of any cheaper durable copy of the dedupe state, for measurement only: a
    partition that moves to another worker would forget its ids."""
    from types import SimpleNamespace

    import streams.runtime.dedupe.flush as dedupe_flush
    from streams.core.plan import Delivery

    _require(dedupe_flush, "log_record", "no_dedupe_log")
    _require_source(dedupe_flush.DedupeLogFlusher._flush, ("log_record(", "self._write(", "ack.offset"),
                    "no_dedupe_log")

    def log_record(catalog, app_id, ingest_topic, partition, event_ids, first_seen_ms):
        return Delivery("dedupe", ingest_topic, None, b"", partition=partition)

    async def write(deliveries):
        return [SimpleNamespace(offset=None) for _ in deliveries]

    dedupe_flush.log_record = log_record

    def customize(hub) -> None:
        _require(hub.dedupe.log, "_write", "no_dedupe_log")
        hub.dedupe.log._write = write  # the flusher's injected writer: its records go nowhere
    return customize


def _gc_off():
    """No cyclic garbage collection in the worker (``gc.disable()`` after a last collection, once
    the ingest loop starts): the ceiling of GC tuning such as ``gc.freeze()`` after start-up or a
    higher gen-0 threshold. Measurement only: reference cycles are never freed."""
    import gc

    def customize(hub) -> None:
        real_run = _require(hub.ingest, "run", "gc_off")

        async def run():
            gc.collect()
            gc.disable()
            return await real_run()
        hub.ingest.run = run
    return customize


def _memwatch():
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

    import streams.runtime.metrics as metrics
    from gigbridge.heap import heap_usage_mb

    metric_objects = [m for m in vars(metrics).values() if hasattr(m, "_metrics")]
    traced = os.environ.get("BENCH_MEMWATCH_TRACEMALLOC", "1") != "0"
    if traced:
        tracemalloc.start(1)
    out = open(os.environ.get("BENCH_MEMWATCH", "/dev/null"), "a", buffering=1)
    rocksdb_props = ("rocksdb.cur-size-all-mem-tables", "rocksdb.block-cache-usage",
                     "rocksdb.estimate-table-readers-mem", "rocksdb.estimate-num-keys")

    def customize(hub) -> None:
        async def watch() -> None:
            first = None
            while True:
                await asyncio.sleep(30)
                snap = tracemalloc.take_snapshot() if traced else None
                doc = {"t": round(time.time()), "objects": len(gc.get_objects()),
                       "traced_mb": round(tracemalloc.get_traced_memory()[0] / 2**20, 1),
                       "threads": threading.active_count(), "pending_ids": len(hub.dedupe.pending),
                       "python_blocks": sys.getallocatedblocks(), **heap_usage_mb(),
                       "domain_sites": len(metrics.DOMAIN.sites), "domain_headcounts": len(metrics.DOMAIN.headcounts),
                       "domain_incident_cells": len(metrics.DOMAIN.incidents),
                       "metric_children": sum(len(getattr(m, "_metrics", {})) for m in metric_objects)}
                db = getattr(hub.dedupe.store, "_db", None)
                if db is not None:
                    for prop in rocksdb_props:
                        try:
                            doc[prop] = db.property_int_value(prop)
                        except Exception as exc:  # noqa: BLE001 - diagnostics only
                            doc[prop] = f"{type(exc).__name__}"
                fetcher = getattr(hub.ingest.consumer.client, "_fetcher", None)
                if fetcher is not None:
                    doc["fetch_buffer_partitions"] = len(getattr(fetcher, "_records", {}) or {})
                if snap is not None and first is None:
                    first = snap
                elif snap is not None:
                    doc["top_growth"] = [f"{s.size_diff / 2**20:.1f} MB {s.count_diff} {s.traceback}"
                                         for s in snap.compare_to(first, "lineno")[:8]]
                out.write(json.dumps(doc) + "\n")

        hub.app.task(watch)
    return customize


class _TracedStep:
    """The validation step, timed: per batch its size, the age of its oldest input when it
    starts, time to plan and send (``start``) and to the acknowledgement of its outputs."""

    def __init__(self, step, out) -> None:
        self.step, self.out = step, out

    async def start(self, records):
        import json
        import time

        started, wall_ms = time.perf_counter(), time.time() * 1000
        oldest = min((r.timestamp for r in records), default=wall_ms)
        acknowledged = await self.step.start(records)
        doc = {"at_ms": round(wall_ms), "size": len(records), "oldest_age_ms": round(wall_ms - oldest, 1),
               "plan_send_ms": round((time.perf_counter() - started) * 1000, 1)}

        async def traced():
            t0 = time.perf_counter()
            held = await acknowledged
            doc["finish_ms"] = round((time.perf_counter() - t0) * 1000, 1)
            doc["total_ms"] = round((time.perf_counter() - started) * 1000, 1)
            self.out.write(json.dumps(doc) + "\n")
            return held  # for the dedupe state step, which the checkpoint waits for before it commits
        return traced()


def _trace():
    """Log per batch (JSON lines to $BENCH_TRACE): size, age of its oldest input when the batch
    starts, time to plan and send and to the acknowledgement of its outputs (the dedupe log
    trails behind), i.e. where a batch's latency goes."""
    out = open(os.environ.get("BENCH_TRACE", "/dev/null"), "a", buffering=1)

    def customize(hub) -> None:
        hub.ingest.step = _TracedStep(_require(hub.ingest, "step", "trace"), out)
    return customize


PATCHES = {"no_metrics": _no_metrics, "no_dedupe_log": _no_dedupe_log, "gc_off": _gc_off, "memwatch": _memwatch,
           "trace": _trace}


def apply(names: list[str]) -> list:
    """Prepare the patches; returns what each does to the ``HubWorker`` before it runs."""
    unknown = [n for n in names if n not in PATCHES]
    if unknown:
        raise PatchError(f"unknown what-if patch(es) {unknown}; known: {sorted(PATCHES)}")
    return [PATCHES[name]() for name in names]


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
    customizers = apply([n for n in os.environ.get("BENCH_WHATIF", "").split(",") if n])
    from gigbridge.logs import configure_logging
    from gigbridge.settings import Settings
    from streams.runtime.worker import HubWorker, serve

    sys.argv = ["gigbridge", "worker"]
    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    hub = HubWorker(settings)
    for customize in customizers:
        customize(hub)
    return serve(hub)


if __name__ == "__main__":
    sys.exit(main())
