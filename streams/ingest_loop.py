"""The validation worker's consume loop: one aiokafka consumer in group ``<app_id>-ingest``,
subscribed by pattern to every ``platform.<id>.<type>`` topic (a newly onboarded platform's
topics are picked up at the next metadata refresh, ``topic_discovery_interval_s``).

Guarantees, per batch (``getmany``: up to ``ingest_batch_size`` records, returned as soon as
any are there, so a quiet stream is not held back to fill a batch):

1. ``handle(records)`` plans the batch and sends every output; the awaitable it returns
   finishes the batch: all outputs acknowledged by the broker (acks=all). It returns the
   batch's *durability* awaitable (or None): the dedupe log written, grouped with other
   batches (``streams.dedupe_flush``);
2. only after both are the batch's offsets committed. At-least-once: a crash before the commit
   re-delivers the batch, never loses it.

Up to ``stream_pipeline_depth`` batches are in flight until their outputs are acknowledged: the
next batch is planned and sent while the broker acknowledges the previous one. Durability and
commits trail behind in a chain, strictly in batch order, without holding up the next batch;
if a batch's durability fails, neither it nor any later batch is committed, and the loop seeks
back to the first offsets of all of them before it handles another batch. Records
of one partition are sent in offset order through one producer, so they keep their order
(unless a send fails and is retried after later ones, which at-least-once allows). A rebalance
waits for the batches in flight before giving partitions up (``revoked``), and a newly assigned
partition is only read after ``assigned`` (the dedupe log replay) returns. If a batch fails (a
bug, or an outage it could not ride out), no later batch is committed, the consumer seeks back
to the failed batch's first offsets and everything from there is read again after a backoff:
nothing is skipped, and readiness reports the worker stuck if it keeps failing. Faust's stream machinery is not on this
path (it cost more per event than all of the hub's own work, see docs/performance.md).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from gigbridge.logs import get_logger
from gigbridge.settings import Settings

log = get_logger("gigbridge.ingest")

INGEST_PATTERN = r"^platform\.[a-z][a-z0-9-]{1,31}\.(sites|headcounts|incidents)$"
RETRY_BACKOFF_S = (0.5, 10.0)

# handle(records) plans a batch and sends its outputs; it returns an awaitable that finishes the
# batch (outputs acknowledged) and returns its durability awaitable (dedupe log written) or None.
# The loop commits after both.
Handler = Callable[[list[Any]], Awaitable[Awaitable[Awaitable[None] | None]]]
PartitionsCallback = Callable[[set[Any]], Awaitable[None]]


async def _nothing(_: set) -> None:
    return None


def _keep_earliest(first: dict, offsets: dict) -> dict:
    """Merge ``offsets`` (partition -> offset) into ``first``, keeping the lower per partition."""
    for tp, offset in offsets.items():
        first[tp] = min(first.get(tp, offset), offset)
    return first


@dataclass
class _InFlight:
    first: dict   # tp -> first offset of the batch
    next: dict    # tp -> offset to commit once it is finished
    done: asyncio.Future


class IngestLoop:
    def __init__(self, settings: Settings, handle: Handler, assigned: PartitionsCallback = _nothing,
                 revoked: PartitionsCallback = _nothing) -> None:
        self.settings = settings
        self.group_id = f"{settings.app_id}-ingest"
        self.handle, self.on_assigned, self.on_revoked = handle, assigned, revoked
        self.consumer = None
        self.stopping = False
        self._batch_lock = asyncio.Lock()
        # The last link of the commit chain: each link waits for the one before it and for its
        # batch's durability, then commits (see _commit_when_durable).
        self._commit: asyncio.Future | None = None
        # Set by a link whose batch's durability failed: first offsets of it and every later
        # batch (none of them committed), to be read again.
        self._unwound: dict | None = None
        self._unwound_error: BaseException | None = None
        # Partitions whose ``assigned`` callback finished. aiokafka starts fetching a new
        # assignment before it calls the listener, so records can arrive earlier; they are
        # sought back and read again once the partition is ready.
        self.ready: set = set()
        self._inflight: collections.deque[_InFlight] = collections.deque()
        self._backoff = RETRY_BACKOFF_S[0]

    def subscribed_topics(self) -> list[str]:
        return sorted(self.consumer.subscription()) if self.consumer is not None else []

    def assignment(self) -> set:
        return set(self.consumer.assignment()) if self.consumer is not None else set()

    async def run(self) -> None:
        """Consume until :meth:`stop`; a consumer that fails to start is retried."""
        from aiokafka import AIOKafkaConsumer
        from aiokafka.abc import ConsumerRebalanceListener
        from aiokafka.errors import ConsumerStoppedError

        loop_self = self

        class Listener(ConsumerRebalanceListener):
            async def on_partitions_revoked(self, revoked) -> None:
                async with loop_self._batch_lock:  # the batches in flight finish and commit first
                    await loop_self._settle(keep=0)
                    await loop_self._commit_done()
                    loop_self.ready -= set(revoked)
                    await loop_self.on_revoked(set(revoked))

            async def on_partitions_assigned(self, assigned) -> None:
                async with loop_self._batch_lock:  # no batch while the dedupe state is replayed
                    await loop_self.on_assigned(set(assigned))
                    loop_self.ready = set(loop_self.consumer.assignment()) & (loop_self.ready | set(assigned))

        s = self.settings
        self.consumer = consumer = AIOKafkaConsumer(
            client_id=self.group_id, group_id=self.group_id, enable_auto_commit=False,
            auto_offset_reset="earliest", metadata_max_age_ms=int(s.topic_discovery_interval_s * 1000),
            max_partition_fetch_bytes=1024 * 1024, fetch_max_bytes=s.ingest_fetch_max_bytes,
            fetch_min_bytes=s.ingest_fetch_min_bytes, fetch_max_wait_ms=s.ingest_fetch_max_wait_ms,
            **s.aiokafka_config)
        consumer.subscribe(pattern=INGEST_PATTERN, listener=Listener())
        backoff = RETRY_BACKOFF_S[0]
        while not self.stopping:
            try:
                await consumer.start()
                break
            except Exception as exc:  # broker not reachable yet
                log.warning("ingest consumer could not start, retrying", error=f"{type(exc).__name__}: {exc}")
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, RETRY_BACKOFF_S[1])
        timeout_ms = int(s.stream_batch_timeout_s * 1000)
        while not self.stopping:
            try:
                batches = await consumer.getmany(timeout_ms=timeout_ms, max_records=s.ingest_batch_size)
            except ConsumerStoppedError:  # stop() while waiting for records
                break
            if not batches:
                continue
            async with self._batch_lock:
                if self.stopping:  # left uncommitted: re-read after the restart
                    break
                owned = consumer.assignment()
                for tp, recs in batches.items():
                    if tp in owned and tp not in self.ready and recs:
                        consumer.seek(tp, recs[0].offset)  # its assignment callback has not run yet
                batches = {tp: recs for tp, recs in batches.items() if tp in owned and tp in self.ready and recs}
                if not batches:
                    continue
                first = {tp: recs[0].offset for tp, recs in batches.items()}
                if self._unwound is not None:
                    await self._rewind(first)
                    continue
                try:
                    finish = await self.handle([r for recs in batches.values() for r in recs])
                except Exception as exc:  # noqa: BLE001 - never die on one batch; retry it
                    await self._settle(keep=0)
                    self._retry_from(first, exc)
                    await asyncio.sleep(self._backoff)
                    continue
                self._inflight.append(_InFlight(first,
                                                {tp: recs[-1].offset + 1 for tp, recs in batches.items()},
                                                asyncio.ensure_future(finish)))
                if not await self._settle(keep=max(0, s.stream_pipeline_depth - 1)):
                    await asyncio.sleep(self._backoff)
        # Leaving the loop (stop() set ``stopping``) must not end run() before the batches in
        # flight are finished and committed: the caller closes the producer they wait on once
        # run() returns. stop() may be settling them right now; the lock waits for it.
        async with self._batch_lock:
            await self._settle(keep=0)
            await self._commit_done()

    async def _settle(self, keep: int) -> bool:
        """Finish in-flight batches, oldest first, until at most ``keep`` are left (and every
        one already done), adding each one to the commit chain. If one fails, none after it is
        committed: they are awaited, and every partition is sought back to the failed batch's
        first offsets (the later ones are read again, never skipped). False after a failure."""
        while self._inflight and (len(self._inflight) > keep or self._inflight[0].done.done()):
            oldest = self._inflight.popleft()
            try:
                durable = await oldest.done
            except Exception as exc:  # noqa: BLE001 - a failed batch is read again
                first = dict(oldest.first)
                while self._inflight:
                    later = self._inflight.popleft()
                    with contextlib.suppress(Exception):
                        await later.done
                    _keep_earliest(first, later.first)
                self._retry_from(first, exc)
                return False
            self._backoff = RETRY_BACKOFF_S[0]
            self._commit = asyncio.ensure_future(self._commit_when_durable(self._commit, durable, oldest))
        return True

    async def _commit_when_durable(self, previous: asyncio.Future | None, durable: Awaitable[None] | None,
                                   batch: _InFlight) -> None:
        """One link of the commit chain: after the link before it, once ``batch`` is durable,
        commit its offsets. Never raises: a failure is recorded in ``_unwound`` instead."""
        if previous is not None:
            await previous
        if durable is not None and self._unwound is None:
            try:
                await durable
            except Exception as exc:  # noqa: BLE001 - the batch and everything after it is read again
                self._unwound, self._unwound_error = {}, exc
        if self._unwound is not None:
            _keep_earliest(self._unwound, batch.first)
            return
        await self._commit_offsets(batch.next)

    async def _rewind(self, fetched: dict) -> None:
        """A batch's durability failed: let every batch in flight finish (none is committed now),
        then seek back to the first uncommitted offsets, including the batch just ``fetched``."""
        await self._settle(keep=0)
        await self._commit_done()
        first = _keep_earliest(self._unwound, fetched)
        error, self._unwound, self._unwound_error = self._unwound_error, None, None
        self._retry_from(first, error)
        await asyncio.sleep(self._backoff)

    def _retry_from(self, first: dict, exc: Exception) -> None:
        log.error("batch failed; it will be read again", error=f"{type(exc).__name__}: {exc}",
                  backoff_s=self._backoff, exc_info=exc)
        owned = self.consumer.assignment()
        for tp, offset in first.items():
            if tp in owned:
                self.consumer.seek(tp, offset)
        self._backoff = min(self._backoff * 2, RETRY_BACKOFF_S[1])

    async def _commit_offsets(self, offsets: dict) -> None:
        """Commit after the outcome is durable; it runs while the next batch is processed (the
        next commit, a rebalance and a stop wait for it). A failed commit (rebalance, broker
        gone) is not retried: the batch is then read again, and the dedupe log drops what it
        already delivered."""
        try:
            await self.consumer.commit(offsets)
        except Exception as exc:  # noqa: BLE001
            log.warning("offset commit failed; the batch may be read again", error=f"{type(exc).__name__}: {exc}")

    async def _commit_done(self) -> None:
        if self._commit is not None:
            await self._commit
            self._commit = None

    async def stop(self) -> None:
        """Take no new batch, wait for the one in flight (its commit included), leave the group."""
        self.stopping = True
        async with self._batch_lock:
            await self._settle(keep=0)
            await self._commit_done()
        if self.consumer is not None:
            await self.consumer.stop()
