"""The dedupe state of the validation stream, as the worker and the consume loop see it.

* :meth:`Dedupe.seen_before`: an id accepted within the window, by a durable batch (the local
  store) or by a batch still in flight (held);
* :meth:`Dedupe.hold`: a batch's accepted ids count as seen for the batches after it from the
  moment its outputs are sent; released if they fail, remembered once they are acknowledged;
* :meth:`Dedupe.persist` (the checkpoint's state step, ``streams.runtime.checkpoint``):
  remember a held batch; the future resolves once its ids are in the dedupe log (group
  commit, ``streams.runtime.dedupe.flush``) and the store. The loop commits the batch only after that;
* :meth:`Dedupe.replay` (on assignment): the dedupe logs of newly assigned partitions exist
  and the store holds everything in them, retried until it succeeds.

No I/O in the constructor: :meth:`open` opens the store, the replay consumer is made on first use.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Awaitable, Callable

from gigbridge.logs import get_logger
from gigbridge.settings import Settings
from schemas.catalog import Catalog
from streams.runtime.broker.protocols import Admin
from streams.runtime.dedupe.flush import DedupeLogFlusher, PartitionIds
from streams.runtime.dedupe.log import log_topic, log_topic_configs, replay
from streams.runtime.dedupe.store import DedupeStore
from streams.runtime.retry import retry_with_backoff

log = get_logger("gigbridge.dedupe")

REPLAY_BACKOFF_S = (0.5, 10.0)


class Held:
    """The ids a batch in flight accepted, counted as seen until remembered or released."""

    __slots__ = ("accepted", "keys", "now_ms")

    def __init__(self, accepted: PartitionIds, now_ms: int) -> None:
        self.accepted, self.now_ms = accepted, now_ms
        self.keys = {(t, p, event_id) for (t, p), ids in accepted.items() for event_id in ids}


class Dedupe:
    """``write(deliveries)`` appends dedupe-log records and returns their acknowledgements (the
    worker's producer); ``admin`` creates the log topics."""

    def __init__(self, settings: Settings, catalog: Catalog, write: Callable[[list], Awaitable[list]],
                 admin: Admin) -> None:
        self.settings, self.catalog, self.admin = settings, catalog, admin
        self.store = DedupeStore(settings.data_dir / settings.app_id / "dedupe", int(settings.dedupe_window_s * 1000))
        self.log = DedupeLogFlusher(write, self.store, catalog, settings.app_id, settings.dedupe_log_interval_ms / 1000)
        self.pending: set[tuple[str, int, str]] = set()  # held by batches in flight
        self._replayer: Any = None  # a group-less consumer for replays, made on first use

    def open(self) -> None:
        self.store.open()

    async def close(self) -> None:
        if self._replayer is not None:
            await self._replayer.stop()
        self.log.close()
        self.store.close()

    # --- decisions ---------------------------------------------------------------------

    def seen_before(self, topic: str, partition: int, event_id: str, now_ms: int) -> bool:
        return (topic, partition, event_id) in self.pending or \
            self.store.seen_before(topic, partition, event_id, now_ms)

    def hold(self, accepted: PartitionIds, now_ms: int) -> Held:
        held = Held(accepted, now_ms)
        self.pending |= held.keys
        return held

    def release(self, held: Held) -> None:
        """The batch's outputs failed: its ids are not seen (the batch is read again)."""
        self.pending -= held.keys

    def persist(self, held: Held | None) -> asyncio.Future | None:
        """Remember a batch whose outputs were acknowledged; None if it accepted nothing."""
        if held is None:
            return None
        if not held.accepted:
            self.release(held)
            return None
        durable = self.log.add(held.accepted, held.now_ms)
        durable.add_done_callback(lambda done: self._forget(done, held))
        return durable

    def _forget(self, done: asyncio.Future, held: Held) -> None:
        self.pending -= held.keys  # in the store now, or failed (read again)
        if not done.cancelled():
            done.exception()  # retrieved: a failed entry is reported by the checkpoint that awaits it

    # --- assignment --------------------------------------------------------------------

    async def replay(self, assigned: set, keep_trying: Callable[[], bool] = lambda: True) -> None:
        """Before newly assigned partitions are read: their dedupe logs exist (same partition
        count as the ingest topic) and the store holds everything in them. Retried while
        ``keep_trying()`` (the partitions are not read meanwhile, and readiness reports it)."""
        if not assigned:
            return
        await retry_with_backoff(lambda: self._replay(assigned), keep_trying, log,
                                 "dedupe log replay failed, retrying", REPLAY_BACKOFF_S)

    async def _replay(self, assigned: set) -> None:
        from aiokafka import AIOKafkaConsumer

        topics = sorted({tp.topic for tp in assigned})
        log.info("ingest partitions assigned", partitions=len(assigned), topics=",".join(topics))
        await asyncio.to_thread(self._ensure_logs, topics)
        if self._replayer is None:
            self._replayer = AIOKafkaConsumer(client_id=f"{self.settings.app_id}-dedupe-replay", group_id=None,
                                              enable_auto_commit=False, **self.settings.aiokafka_config)
            await self._replayer.start()
        started = time.monotonic()
        applied = await replay(self._replayer, self.store, self.catalog, self.settings.app_id,
                               [(tp.topic, tp.partition) for tp in assigned])
        log.info("dedupe log replayed", records=applied, seconds=round(time.monotonic() - started, 3))

    def _ensure_logs(self, ingest_topics: list[str]) -> None:
        """A dedupe log per ingest topic, with its partition count (described, not listed: a
        topic listing is a full metadata request)."""
        logs = {topic: log_topic(self.settings.app_id, topic) for topic in ingest_topics}
        existing = self.admin.partitions_of(logs.values())
        missing = [topic for topic, name in logs.items() if name not in existing]
        if not missing:
            return
        partitions = self.admin.partitions_of(missing)
        configs = log_topic_configs(int(self.settings.dedupe_window_s * 1000))
        for topic in missing:
            self.admin.ensure([logs[topic]], partitions.get(topic), None, configs, listed=False)
