"""``gigbridge worker`` with experimental patches, for ``python -m bench whatif`` only.

Each patch approximates a change suggested in docs/performance.md (or its ceiling) without
touching ``streams/``; they replace functions by name and fail loudly if a name has gone.
``BENCH_WHATIF=patch,patch`` selects them. Never use this to run a real hub.
"""

from __future__ import annotations

import os
import sys


def _no_ebb() -> None:
    """Faust's producer buffer never throttles the conductor (ProducerBuffer.max_messages=1e9)."""
    from faust.transport.producer import ProducerBuffer

    assert hasattr(ProducerBuffer, "max_messages")
    ProducerBuffer.max_messages = 10**9


def _remember_direct() -> None:
    """Deduper.remember writes without reading the entry again (the caller checked it already)."""
    import streams.dedupe as dedupe

    assert hasattr(dedupe.Deduper, "remember")
    dedupe.Deduper.remember = lambda self, event_id, now_ms: self._store.__setitem__(event_id, now_ms)


def _dict_dedupe() -> None:
    """Dedupe state in a plain dict: no RocksDB, no changelog (ceiling of a batch-oriented store)."""
    import streams.worker as worker

    real = worker.Deduper
    worker.Deduper = lambda store, window_ms: real({}, window_ms)


def _no_metrics() -> None:
    """metrics.record_batch does nothing (ceiling of per-batch aggregated metrics)."""
    import streams.metrics as metrics

    assert hasattr(metrics, "record_batch")
    metrics.record_batch = lambda plan, acked_ms: None


def _small_rocksdb() -> None:
    """The dedupe table's RocksDB with bounded memory: 8 MB memtables (2 per partition DB) and a
    32 MB block cache per partition, instead of Faust's defaults (64 MB x 3 and 2 GB)."""
    import streams.worker as worker

    real = worker.create_dedupe_table

    def create(app, settings):
        table = real(app, settings)
        table.options = {**(table.options or {}), "write_buffer_size": 8 * 2**20,
                         "max_write_buffer_number": 2, "block_cache_size": 32 * 2**20}
        return table

    worker.create_dedupe_table = create


def _memwatch() -> None:
    """Every 30 s log (JSON lines to $BENCH_MEMWATCH) Python object counts, tracemalloc's top
    growth since the first snapshot, and the sizes of Faust's per-partition ack bookkeeping."""
    import asyncio
    import gc
    import json
    import threading
    import time
    import tracemalloc

    import streams.worker as worker

    tracemalloc.start(1)
    out = open(os.environ.get("BENCH_MEMWATCH", "/dev/null"), "a", buffering=1)
    real_init = worker.HubWorker.__init__

    def init(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        hub = self

        async def watch() -> None:
            first = None
            while True:
                await asyncio.sleep(30)
                snap = tracemalloc.take_snapshot()
                consumer = hub.app.consumer
                doc = {"t": round(time.time()), "objects": len(gc.get_objects()),
                       "traced_mb": round(tracemalloc.get_traced_memory()[0] / 2**20, 1),
                       "threads": threading.active_count()}
                for name in ("_acked", "_gap", "_acked_index"):
                    value = getattr(consumer, name, None)
                    if isinstance(value, dict):
                        doc[name] = sum(len(v) for v in value.values())
                if first is None:
                    first = snap
                else:
                    doc["top_growth"] = [f"{s.size_diff / 2**20:.1f} MB {s.count_diff} {s.traceback}"
                                         for s in snap.compare_to(first, "lineno")[:8]]
                out.write(json.dumps(doc) + "\n")

        self.app.task(watch)

    worker.HubWorker.__init__ = init


def _trace() -> None:
    """Log per batch (JSON lines to $BENCH_TRACE): size, age of its oldest input when the batch
    starts, time in plan/write/rest of handle_batch (where a batch's latency goes)."""
    import json
    import time

    import streams.worker as worker
    import streams.writer as writer

    out = open(os.environ.get("BENCH_TRACE", "/dev/null"), "a", buffering=1)
    real_write, real_handle = writer.Writer.write, worker.HubWorker.handle_batch
    spans: dict = {}

    async def write(self, deliveries):
        started = time.perf_counter()
        try:
            return await real_write(self, deliveries)
        finally:
            spans["write_ms"] = (time.perf_counter() - started) * 1000

    async def handle_batch(self, stream, events):
        started, wall_ms = time.perf_counter(), time.time() * 1000
        oldest = min(e.message.timestamp for e in events) * 1000 if events else wall_ms
        await real_handle(self, stream, events)
        out.write(json.dumps({"at_ms": round(wall_ms), "size": len(events), "oldest_age_ms": round(wall_ms - oldest, 1),
                              "write_ms": round(spans.pop("write_ms", 0), 1),
                              "total_ms": round((time.perf_counter() - started) * 1000, 1)}) + "\n")

    writer.Writer.write = write
    worker.HubWorker.handle_batch = handle_batch


PATCHES = {"memwatch": _memwatch, "trace": _trace, "small_rocksdb": _small_rocksdb, "no_ebb": _no_ebb, "remember_direct": _remember_direct, "dict_dedupe": _dict_dedupe,
           "no_metrics": _no_metrics}


def main() -> int:
    for name in filter(None, os.environ.get("BENCH_WHATIF", "").split(",")):
        PATCHES[name]()
    from gigbridge.cli import main as cli

    sys.argv = ["gigbridge", "worker"]
    return cli(["worker"])


if __name__ == "__main__":
    sys.exit(main())
