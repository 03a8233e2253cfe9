"""Group commit of the dedupe log: the ids of every batch whose outputs were acknowledged are
gathered and written together, at most once per ``interval_s``.

Writing the log once per batch cost a second round trip per batch (the batch's commit waited
for it, and the next batch for the commit) and one partition batch per touched ingest
partition; gathered, a partition gets one record per interval however many batches touched it
(docs/performance.md, "Session 5").

Guarantees:

- a batch's future resolves only after its ids are appended to the log (acks=all) **and**
  applied to the local store; the ingest loop commits the batch's offsets only after that;
- flushes run one at a time, oldest group first, so a log partition receives its records in
  the order the batches were acknowledged;
- a failed flush fails the futures of every batch in its group (they are then read again; ids
  of a later group that did get written make the re-read batches' repeats duplicates, which
  is right: their outputs were acknowledged);
- a group's record carries the latest of its batches' clocks as ``first_seen_ms``, so an id is
  remembered at most ``interval_s`` longer than a window, never shorter.
"""

from __future__ import annotations

import asyncio
import time
from typing import Awaitable, Callable

from schemas.catalog import Catalog
from streams.runtime.dedupe.log import log_record
from streams.runtime.dedupe.store import DedupeStore
from streams.core.plan import Delivery

PartitionIds = dict[tuple[str, int], list[str]]  # (ingest topic, partition) -> accepted event ids


class DedupeLogFlusher:
    """``write(deliveries)`` appends records and returns their acknowledgements in order (the
    worker's :meth:`streams.runtime.writer.Writer.write`). Nothing happens in the constructor."""

    def __init__(self, write: Callable[[list[Delivery]], Awaitable[list]], store: DedupeStore,
                 catalog: Catalog, app_id: str, interval_s: float) -> None:
        self._write, self._store, self._catalog, self._app_id = write, store, catalog, app_id
        self.interval_s = interval_s
        self._group: PartitionIds = {}
        self._group_ms = 0
        self._waiters: list[asyncio.Future] = []
        self._timer: asyncio.TimerHandle | None = None
        self._flushing: asyncio.Task | None = None
        self._last_start = float("-inf")

    def add(self, accepted: PartitionIds, now_ms: int) -> asyncio.Future:
        """Queue one batch's accepted ids; the future resolves once they are in the log and the
        store (or fails with the flush's error)."""
        done = asyncio.get_running_loop().create_future()
        for key, ids in accepted.items():
            self._group.setdefault(key, []).extend(ids)
        self._group_ms = max(self._group_ms, now_ms)
        self._waiters.append(done)
        self._schedule()
        return done

    @property
    def pending(self) -> int:
        """Batches waiting for a flush or in the one running."""
        return len(self._waiters) + (0 if self._flushing is None else 1)

    def close(self) -> None:
        """Fail whatever still waits (the ingest loop settles every batch before the worker
        closes, so normally nothing does)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        _resolve(self._waiters, RuntimeError("dedupe log closed before the batch was written"))
        self._waiters = []

    def _schedule(self) -> None:
        if self._timer is not None or self._flushing is not None or not self._waiters:
            return
        delay = max(0.0, self._last_start + self.interval_s - time.monotonic())
        self._timer = asyncio.get_running_loop().call_later(delay, self._start)

    def _start(self) -> None:
        self._timer = None
        self._last_start = time.monotonic()
        group, group_ms, waiters = self._group, self._group_ms, self._waiters
        self._group, self._group_ms, self._waiters = {}, 0, []
        self._flushing = asyncio.ensure_future(self._flush(group, group_ms, waiters))

    async def _flush(self, group: PartitionIds, group_ms: int, waiters: list[asyncio.Future]) -> None:
        try:
            entries = [(topic, partition, ids) for (topic, partition), ids in group.items() if ids]
            if entries:
                records = [log_record(self._catalog, self._app_id, topic, partition, ids, group_ms)
                           for topic, partition, ids in entries]
                acks = await self._write(records)
                self._store.apply_many([(topic, partition, ids, ack.offset)
                                        for (topic, partition, ids), ack in zip(entries, acks)], group_ms)
        except BaseException as exc:  # noqa: BLE001 - every batch of the group is read again
            _resolve(waiters, exc if isinstance(exc, Exception) else RuntimeError(repr(exc)))
            if not isinstance(exc, Exception):
                raise
        else:
            _resolve(waiters, None)
        finally:
            self._flushing = None
            self._schedule()


def _resolve(waiters: list[asyncio.Future], error: Exception | None) -> None:
    """Fail every waiter still open with ``error``, or resolve it if there is none."""
    for waiter in waiters:
        if not waiter.done():
            if error is None:
                waiter.set_result(None)
            else:
                waiter.set_exception(error)
