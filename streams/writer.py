"""Writes a batch's output records durably: creates missing topics, sends everything, and
returns only when the broker acknowledged every record (acks=all).
Shared by the validation loop and the HTTP delivery agents, which commit or ack their input
only after ``write`` returns. Records to one partition keep their order (one producer,
sends in order; a failed record is re-sent with the rest of the failures, in order)."""

from __future__ import annotations

import asyncio
from typing import Any, Callable

from gigbridge.logs import get_logger
from gigbridge.topics_admin import TopicAdmin
from streams import metrics
from streams.pipeline import Delivery

log = get_logger("gigbridge.writer")


def create_producer(settings) -> Any:
    """The hub's aiokafka producer (not started). Faust's own producer is not used for outputs:
    its per-record driver work costs more than the record itself."""
    from aiokafka import AIOKafkaProducer

    # Not idempotent: aiokafka's idempotent producer cannot recover a partition's sequence after
    # one failed batch (every later send fails with OutOfOrderSequenceNumber); duplicates from
    # its internal retries are what at-least-once allows, and event_id identifies them.
    return AIOKafkaProducer(
        client_id=f"{settings.app_id}-writer", acks="all",
        linger_ms=settings.producer_linger_ms, max_batch_size=settings.producer_batch_bytes,
        # aiokafka can stall on NotLeaderForPartition for a just-created topic (aiokafka#1018):
        # expired sends fail after 30 s and are re-sent, instead of hanging for minutes.
        request_timeout_ms=30_000, **settings.aiokafka_config)


class Writer:
    """``make_producer()`` returns an aiokafka producer; it is made and started on the first
    write, inside the event loop (no I/O before)."""

    def __init__(self, make_producer: Callable[[], Any], admin: TopicAdmin) -> None:
        self.make_producer = make_producer
        self.producer: Any = None
        self.admin = admin
        self.known_topics: set[str] = set()
        self._started: asyncio.Future | None = None

    async def start(self) -> None:
        if self._started is None:
            self.producer = self.make_producer()
            self._started = asyncio.ensure_future(self.producer.start())
        await asyncio.shield(self._started)

    async def stop(self) -> None:
        if self._started is not None:
            await self.producer.stop()

    async def learn_existing_topics(self, outputs: Callable[[str], bool] = lambda topic: True) -> None:
        """Remember which topics exist (no creation attempt for them) and fetch the metadata of
        those ``outputs`` accepts in one request, before the first batch."""
        self.known_topics |= await asyncio.to_thread(self.admin.list_topics)
        await self.start()
        await self._learn_metadata({t for t in self.known_topics if outputs(t)})

    async def write(self, deliveries: list[Delivery]) -> list[Any]:
        """Returns the broker's RecordMetadata of each delivery, in order."""
        return await self.acknowledged(deliveries, await self.send(deliveries))

    async def send(self, deliveries: list[Delivery]) -> list[asyncio.Future]:
        """Create missing topics and hand every record to the producer; the futures resolve
        when the broker acknowledges them (see :meth:`acknowledged`)."""
        await self.start()
        await self._ensure_topics(deliveries)
        await self._learn_metadata({d.topic for d in deliveries})
        send = self.producer.send
        return [await send(d.topic, d.value, key=d.key, partition=d.partition,
                           headers=list(d.headers) if d.headers else None) for d in deliveries]

    async def _learn_metadata(self, topics: set[str]) -> None:
        """One metadata request for every topic of the batch the producer has not sent to yet.
        Left to itself, aiokafka's ``send`` asks for metadata once per new topic, each time for
        every topic it knows: quadratic in the number of office topics."""
        client = self.producer.client
        unknown = [t for t in topics if client.cluster.partitions_for_topic(t) is None]
        if unknown:
            for topic in unknown:
                client.add_topic(topic)
            await client.force_metadata_update()

    async def _ensure_topics(self, deliveries: list[Delivery]) -> None:
        """Create destination topics on first use (offices and provinces appear as events do)."""
        missing = {d.topic for d in deliveries} - self.known_topics
        if not missing:
            return
        backoff = 0.5
        while True:
            try:
                await asyncio.to_thread(self.admin.ensure, missing, None, None, None, False)
                break
            except Exception as exc:  # broker unreachable: the batch waits, nothing is acked
                log.warning("topic creation failed, retrying", topics=sorted(missing), error=str(exc))
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
        self.known_topics |= missing

    async def acknowledged(self, deliveries: list[Delivery], futures: list[asyncio.Future]) -> list[Any]:
        """Wait for every acknowledgement; re-send failures with backoff until they succeed
        (the batch is not committed meanwhile, so a stop just re-delivers it)."""
        results: list[Any] = [None] * len(deliveries)
        pending = list(range(len(deliveries)))
        backoff = 0.2
        while True:
            failed, error = [], None
            for i, future in zip(pending, futures):
                try:
                    results[i] = await future
                except Exception as exc:  # noqa: BLE001 - any send failure is retried
                    failed.append(i)
                    error = exc
            if not failed:
                return results
            metrics.DELIVERY_RETRIES.inc()
            log.warning("delivery failed, retrying", failed=len(failed), error=str(error), backoff_s=backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 10.0)
            pending = failed
            futures = await self.send([deliveries[i] for i in failed])
