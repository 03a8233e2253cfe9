"""The thin Kafka edge of the console's read model: one consumer that folds every followed topic.

It runs as the hub principal (the console is part of the hub; ``hub.*`` topics are hub-only),
without a consumer group and without commits: on every start it reads every followed topic from
its oldest kept record (compacted and retained topics rebuild the view), then follows. One
pattern subscription (aiokafka's group-less assignment takes every partition of every matching
topic and picks up new ones at each metadata refresh), so a new office, platform or province
topic shows without a restart. Records that do not decode are counted and skipped: the hub wrote
them, so there is nothing to reject to anyone.

The feed runs in the console's event loop; queries (:mod:`.queries`) read the view between
batches, so nothing is locked.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any, Callable

from connectors.console_feed.fold import TOPIC_PATTERN, Folder, contract_of_topic
from connectors.console_feed.freshness import Freshness, FreshnessStatus
from gigbridge.logs import get_logger
from schemas.catalog import Catalog
from schemas.wire import WireFormatError, decode

log = get_logger("gigbridge.console.feed")

POLL_TIMEOUT_MS = 500
POSITION_WAIT_S = 0.05  # a partition whose offset is still being reset counts as not read yet
RETRY_START_S = 2.0  # between attempts to reach the broker at start


def kafka_consumer(settings: Any) -> Any:
    """The feed's consumer (created inside the running loop; no I/O until ``start``)."""
    from aiokafka import AIOKafkaConsumer

    return AIOKafkaConsumer(
        group_id=None, enable_auto_commit=False, auto_offset_reset="earliest", client_id="gigbridge-console",
        metadata_max_age_ms=int(settings.topic_discovery_interval_s * 1000), **settings.aiokafka_config)


class ConsoleFeed:
    """Folds the followed topics into ``folder.view``; ``status()`` says how current it is."""

    def __init__(self, folder: Folder, catalog: Catalog, new_consumer: Callable[[], Any], *,
                 clock: Callable[[], float] = time.time, stale_after_s: float = 15.0) -> None:
        self.folder = folder
        self._catalog = catalog
        self._new_consumer = new_consumer
        self._clock = clock
        self.freshness = Freshness(stale_after_ms=int(stale_after_s * 1000))
        self.skipped: Counter = Counter()  # (topic, reason) of records left out of the view

    def status(self) -> FreshnessStatus:
        return self.freshness.status(self._now_ms())

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    async def run(self, stop: asyncio.Event) -> None:
        """Until ``stop`` is set: reach the broker (retrying), then fold and follow."""
        self.freshness.started_ms = self._now_ms()
        consumer = self._new_consumer()
        while not stop.is_set():
            try:
                await consumer.start()
                break
            except Exception as exc:  # the broker is unreachable: the banner says so, keep trying
                log.warning("console feed cannot reach Kafka", error=str(exc))
                await consumer.stop()
                consumer = self._new_consumer()
                await _wait(stop, RETRY_START_S)
        if stop.is_set():
            return
        try:
            consumer.subscribe(pattern=TOPIC_PATTERN)
            while not stop.is_set():
                batches = await consumer.getmany(timeout_ms=POLL_TIMEOUT_MS, max_records=5000)
                for messages in batches.values():
                    for message in messages:
                        self.fold(message.topic, message.key, message.value, message.timestamp)
                await self._observe(consumer)
        finally:
            await consumer.stop()

    def fold(self, topic: str, key: bytes | None, value: bytes | None, timestamp_ms: int) -> None:
        """Decode one record of a followed topic and fold it into the view."""
        contract = contract_of_topic(topic)
        if contract is None:
            return
        try:
            record = None if value is None else decode(self._catalog, value, expect_contract=contract).record
        except WireFormatError as exc:
            self.skipped[(topic, exc.reason)] += 1
            return
        refused = self.folder.apply(topic, key, record, timestamp_ms)
        if refused is not None:
            self.skipped[(topic, refused.reason)] += 1

    async def _observe(self, consumer: Any) -> None:
        assigned = consumer.assignment()
        for tp in assigned:
            try:
                position = await asyncio.wait_for(consumer.position(tp), POSITION_WAIT_S)
            except asyncio.TimeoutError:
                self.freshness.observe(tp, 0, None, None)
                continue
            self.freshness.observe(tp, position, consumer.highwater(tp), consumer.last_poll_timestamp(tp))
        self.freshness.forget_except(set(assigned))


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except asyncio.TimeoutError:
        pass
