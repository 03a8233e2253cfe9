"""One consume loop for every high-volume stream (validation, each HTTP delivery endpoint,
the flows to come): a consumer group subscribed to topics or a pattern, a processing step, and
a :class:`~streams.runtime.checkpoint.Checkpoint` that owns the commit order.

Per batch (``getmany``: up to ``batch_size`` records, returned as soon as any are there, so a
quiet stream is not held back to fill a batch) ``step.start(records)`` processes the batch and
sends its outputs; it returns the awaitable of their acknowledgement. Up to
``pipeline_depth`` batches are in flight until their outputs are acknowledged: the next batch
is processed and sent while the broker acknowledges the previous one; state and commits trail
behind (see ``streams.runtime.checkpoint``). If ``start`` raises (a bug, or an outage it could
not ride out) no later batch is committed, the consumer seeks back to the batch's first offsets
and reads it again after a backoff: nothing is skipped.

A rebalance waits for the batches in flight before giving partitions up (``revoked`` is called
after their commits), and a newly assigned partition is only read after ``assigned`` returns
(e.g. the dedupe log replayed): aiokafka starts fetching a new assignment before it calls the
listener, so records that arrive earlier are sought back and read again once it is ready.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, ContextManager, Protocol, Sequence

from gigbridge.logs import get_logger
from streams.runtime.broker.protocols import Consumer, ConsumerStopped, Record
from streams.runtime.checkpoint import RETRY_BACKOFF_S, Checkpoint, State

log = get_logger("gigbridge.loop")

PartitionsCallback = Callable[[set], Awaitable[None]]


class Step(Protocol):
    async def start(self, records: list[Record]) -> Awaitable[Any]:
        """Process ``records`` and send their outputs; the returned awaitable resolves once the
        broker acknowledged every output, to what the checkpoint's state step persists."""


async def _nothing(_: set) -> None:
    return None


@dataclass(frozen=True)
class LoopConfig:
    name: str                       # for logs
    topics: Sequence[str] = ()
    pattern: str | None = None
    batch_size: int = 1000
    batch_timeout_s: float = 0.1
    pipeline_depth: int = 1
    backoff_s: tuple[float, float] = RETRY_BACKOFF_S


class BatchLoop:
    """``batch_scope()`` wraps the processing of each batch and the wait for its outputs
    (health: the drain waits for them); ``interrupt(revoked)`` runs before a rebalance waits
    for the batches in flight (a step that may wait without bound, like an HTTP endpoint that
    is down, gives its batch up: it fails and is read again); ``sleep`` is injected so tests do
    not wait out backoffs."""

    def __init__(self, config: LoopConfig, consumer: Consumer, step: Step, state: State | None = None, *,
                 assigned: PartitionsCallback = _nothing, revoked: PartitionsCallback = _nothing,
                 interrupt: PartitionsCallback = _nothing,
                 batch_scope: Callable[[], ContextManager] = contextlib.nullcontext,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.config, self.consumer, self.step = config, consumer, step
        self.checkpoint = Checkpoint(consumer, state, config.name, config.backoff_s)
        self.on_assigned, self.on_revoked, self.interrupt = assigned, revoked, interrupt
        self.batch_scope, self.sleep = batch_scope, sleep
        self.stopping = False
        self.ready: set = set()  # partitions whose ``assigned`` callback finished
        self._lock = asyncio.Lock()

    @property
    def group_id(self) -> str:
        return self.consumer.group_id

    def subscribed_topics(self) -> list[str]:
        return sorted(self.consumer.subscription())

    # --- rebalance listener ------------------------------------------------------------

    async def on_partitions_revoked(self, revoked: set) -> None:
        await self.interrupt(set(revoked))  # a step waiting without bound gives its batch up first
        async with self._lock:  # the batches in flight finish and commit first
            await self.checkpoint.drain()
            self.ready -= set(revoked)
            await self.on_revoked(set(revoked))

    async def on_partitions_assigned(self, assigned: set) -> None:
        async with self._lock:  # no batch while the new partitions are prepared
            await self.on_assigned(set(assigned))
            self.ready = self.consumer.assignment() & (self.ready | set(assigned))

    # --- the loop ----------------------------------------------------------------------

    async def run(self) -> None:
        """Consume until :meth:`stop`; a consumer that fails to start is retried. Returns only
        after the batches in flight are finished and committed (the caller may then close the
        producer they wait on)."""
        c = self.config
        self.consumer.subscribe(topics=c.topics, pattern=c.pattern, listener=self)
        await self._start_consumer()
        timeout_ms = int(c.batch_timeout_s * 1000)
        while not self.stopping:
            try:
                batches = await self.consumer.getmany(timeout_ms=timeout_ms, max_records=c.batch_size)
            except ConsumerStopped:  # stop() while waiting for records
                break
            if not batches:
                await self._settle_idle()
            elif not await self._handle(batches):
                await self.sleep(self.checkpoint.backoff_s)
        async with self._lock:
            await self.checkpoint.drain()

    async def _start_consumer(self) -> None:
        backoff = self.config.backoff_s[0]
        while not self.stopping:
            try:
                await self.consumer.start()
                return
            except Exception as exc:  # broker not reachable yet
                log.warning("consumer could not start, retrying", stream=self.config.name,
                            error=f"{type(exc).__name__}: {exc}")
                await self.sleep(backoff)
                backoff = min(backoff * 2, self.config.backoff_s[1])

    async def _settle_idle(self) -> None:
        """No new records: batches whose outputs were acknowledged meanwhile go on to their
        commits (otherwise the last batch before a quiet spell would wait for the next one)."""
        if self.checkpoint.in_flight:
            async with self._lock:
                settled = await self.checkpoint.settle(keep=self.config.pipeline_depth)
            if not settled:
                await self.sleep(self.checkpoint.backoff_s)

    async def _handle(self, batches: dict) -> bool:
        """One fetched batch; False after a failure (the caller backs off)."""
        checkpoint = self.checkpoint
        async with self._lock:
            if self.stopping:  # left uncommitted: re-read after the restart
                return True
            owned = self.consumer.assignment()
            for tp, recs in batches.items():
                if tp in owned and tp not in self.ready and recs:
                    self.consumer.seek(tp, recs[0].offset)  # its assignment callback has not run yet
            batches = {tp: recs for tp, recs in batches.items() if tp in owned and tp in self.ready and recs}
            if not batches:
                return True
            first = {tp: recs[0].offset for tp, recs in batches.items()}
            if checkpoint.unwound:
                await checkpoint.rewind(first)
                return False
            try:
                with self.batch_scope():
                    acknowledged = await self.step.start([r for recs in batches.values() for r in recs])
            except Exception as exc:  # noqa: BLE001 - never die on one batch; retry it
                await checkpoint.settle(keep=0)
                checkpoint.retry_from(first, exc)
                return False
            checkpoint.track(first, {tp: recs[-1].offset + 1 for tp, recs in batches.items()},
                             self._scoped(acknowledged))
            return await checkpoint.settle(keep=max(0, self.config.pipeline_depth - 1))

    async def _scoped(self, acknowledged: Awaitable[Any]) -> Any:
        with self.batch_scope():
            return await acknowledged

    async def stop(self) -> None:
        """Take no new batch, wait for the ones in flight (their commits included), leave the group."""
        self.stopping = True
        async with self._lock:
            await self.checkpoint.drain()
        await self.consumer.stop()
