"""Wiring of the cover stage (``streams.runtime.cover_step``): its consumer (group
``<app_id>-cover``, range assignor so partition p of both inputs goes to the same worker), the
batch loop, the local store, the changelog restore on assignment, and the close timer.

On assignment, before any record of a new partition is read, the changelog topic exists (as
many partitions as the inputs, compacted) and the local store holds everything in the
partition's changelog (retried while the loop runs; the partition is not read meanwhile).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Awaitable, Callable, ContextManager, Iterable

from gigbridge.logs import get_logger
from gigbridge.settings import Settings
from schemas.catalog import Catalog
from streams.core.cover.cst import DAY_MS
from streams.core.topics import validated_topic
from streams.runtime.broker.kafka import KafkaConsumer
from streams.runtime.broker.protocols import Admin, Producer
from streams.runtime.cover_topics import COPARTITIONED_TOPICS
from streams.runtime.cover_state.changelog import changelog_configs, changelog_topic, replay
from streams.runtime.cover_state.store import CoverStore
from streams.runtime.cover_step import CoverStep
from streams.runtime.loop import BatchLoop, LoopConfig
from streams.runtime.retry import retry_with_backoff

log = get_logger("gigbridge.cover")

RESTORE_BACKOFF_S = (0.5, 10.0)
Restore = Callable[[set[int]], Awaitable[Any]]


def cover_inputs() -> list[str]:
    """The stage's input topics (created before the worker subscribes, with the same partition
    count: streams.runtime.cover_topics)."""
    return list(COPARTITIONED_TOPICS)


def cover_consumer(settings: Settings, group: str | None = None) -> KafkaConsumer:
    from aiokafka.coordinator.assignors.range import RangePartitionAssignor

    return KafkaConsumer(group or f"{settings.app_id}-cover", {
        "partition_assignment_strategy": (RangePartitionAssignor,), **settings.aiokafka_config})


class CoverStage:
    """``producer`` is the worker's ``Writer``; ``consumer`` and ``restore`` (changelog replay
    into the store for a set of partitions) default to Kafka. No I/O in the constructor."""

    def __init__(self, settings: Settings, catalog: Catalog, producer: Producer, admin: Admin,
                 clock: Callable[[], int], batch_scope: Callable[[], ContextManager], consumer=None,
                 restore: Restore | None = None) -> None:
        self.settings, self.admin = settings, admin
        self.store = CoverStore(settings.data_dir / settings.app_id / "cover")
        self.step = CoverStep(settings.app_id, catalog, producer, self.store, clock, int(settings.cover_grace_s * 1000))
        config = LoopConfig("cover", topics=cover_inputs(), batch_size=settings.stream_batch_size,
                            batch_timeout_s=settings.stream_batch_timeout_s, pipeline_depth=1)
        self.loop = BatchLoop(config, consumer or cover_consumer(settings), self.step, self.step,
                              assigned=self._assigned, revoked=self._revoked, batch_scope=batch_scope)
        self.restore = restore or self._restore_from_kafka
        self._replayer: Any = None
        self._clock = clock
        self._next_prune_ms = 0  # the first tick after start prunes: a worker may never live a whole day

    def open(self) -> None:
        self.store.open()

    async def close(self) -> None:
        """After the loop stopped: the timer finds no partition to close from now on."""
        await self.step.give_up(set(self.step.owned))
        if self._replayer is not None:
            await self._replayer.stop()
        self.store.close()

    async def tick(self) -> None:
        """The close timer: emits what has closed, and prunes when due (every
        ``cover_prune_interval_s``). A failure is logged; the next tick retries."""
        if not self.step.owned:
            return
        try:
            await self.step.close_due()
            if self._clock() >= self._next_prune_ms:
                await self.step.prune(int(self.settings.cover_retention_days * DAY_MS))
                self._next_prune_ms = self._clock() + int(self.settings.cover_prune_interval_s * 1000)
        except Exception as exc:  # noqa: BLE001 - broker outage: nothing was kept, the next tick redoes it
            log.warning("closing or pruning cover days failed; retried at the next tick",
                        error=f"{type(exc).__name__}: {exc}")

    async def _assigned(self, assigned: set) -> None:
        partitions = {tp.partition for tp in assigned} - self.step.owned
        if not partitions:
            return
        await retry_with_backoff(lambda: self.restore(partitions), lambda: not self.loop.stopping, log,
                                 "cover changelog restore failed, retrying", RESTORE_BACKOFF_S)
        await self.step.take(partitions)

    async def _revoked(self, revoked: set) -> None:
        still = {tp.partition for tp in self.loop.consumer.assignment() if tp not in revoked}
        await self.step.give_up({tp.partition for tp in revoked} - still)

    async def _restore_from_kafka(self, partitions: Iterable[int]) -> None:
        from aiokafka import AIOKafkaConsumer

        await asyncio.to_thread(self._ensure_changelog)
        if self._replayer is None:
            self._replayer = AIOKafkaConsumer(client_id=f"{self.settings.app_id}-cover-restore", group_id=None,
                                              enable_auto_commit=False, **self.settings.aiokafka_config)
            await self._replayer.start()
        started = time.monotonic()
        applied = await replay(self._replayer, self.store, self.settings.app_id, partitions)
        log.info("cover changelog restored", partitions=sorted(partitions), records=applied,
                 seconds=round(time.monotonic() - started, 3))

    def _ensure_changelog(self) -> None:
        topic = changelog_topic(self.settings.app_id)
        if topic in self.admin.partitions_of([topic]):
            return
        partitions = self.admin.partitions_of([validated_topic("orders")]).get(validated_topic("orders"))
        self.admin.ensure([topic], partitions, None, changelog_configs(self.settings.app_id), listed=False)
