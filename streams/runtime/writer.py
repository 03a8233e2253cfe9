"""Writes a batch's output records durably: creates missing topics, sends everything, and
returns only when the broker acknowledged every record (acks=all).
Shared by the validation loop and the HTTP delivery agents, which commit or ack their input
only after ``write`` returns. Records to one partition keep their order (one producer, one
produce batch per partition and call, batches handed over in order; a failed batch is re-sent
with the rest of the failures, in order)."""

from __future__ import annotations

import asyncio
import random
from typing import Any, Callable, NamedTuple

from aiokafka.partitioner import murmur2

from gigbridge.logs import get_logger
from gigbridge.topics_admin import TopicAdmin
from streams.runtime import metrics
from streams.core.plan import Delivery

log = get_logger("gigbridge.writer")

NO_HEADERS: list = []  # aiokafka's record builder wants a list; it only reads it
KEY_HASH_CACHE_SIZE = 100_000  # distinct keys (site ids) whose partition hash is remembered


class SentBatch(NamedTuple):
    """One produce batch handed to the producer: its future resolves to the metadata of its
    first record; ``indices`` are its records' positions in the deliveries, in batch order."""

    future: asyncio.Future
    indices: list[int]


class Ack(NamedTuple):
    """Where the broker appended one delivery."""

    topic: str
    partition: int
    offset: int


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

    def __init__(self, make_producer: Callable[[], Any], admin: TopicAdmin,
                 partitions_for: Callable[[str], int | None] = lambda topic: None) -> None:
        self.make_producer = make_producer
        self.partitions_for = partitions_for  # partitions of a topic created on first use (None: default)
        self.producer: Any = None
        self.admin = admin
        self.known_topics: set[str] = set()
        self._key_hashes: dict[bytes, int] = {}
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

    async def write(self, deliveries: list[Delivery]) -> list[Ack]:
        """Returns where the broker appended each delivery, in order."""
        return await self.acknowledged(deliveries, await self.send(deliveries))

    async def send(self, deliveries: list[Delivery]) -> list[SentBatch]:
        """Create missing topics and hand every record to the producer, grouped into one
        produce batch per partition (aiokafka's per-record ``send`` costs more than encoding
        the record: a future, a partitioner call and a partition-set copy per record). The
        batches' futures resolve when the broker acknowledges them (see :meth:`acknowledged`)."""
        await self.start()
        await self._ensure_topics(deliveries)
        return await self._send_batches(deliveries, range(len(deliveries)))

    async def _send_batches(self, deliveries: list[Delivery], indices) -> list[SentBatch]:
        producer = self.producer
        await self._learn_metadata({deliveries[i].topic for i in indices}, wait=True)
        partition_of = self._partitioner()
        groups: dict[tuple[str, int], list[int]] = {}
        for i in indices:
            d = deliveries[i]
            partition = d.partition if d.partition is not None else partition_of(d.topic, d.key)
            groups.setdefault((d.topic, partition), []).append(i)
        sent = []
        for (topic, partition), members in groups.items():
            batch, in_batch = producer.create_batch(), []
            for i in members:
                d = deliveries[i]
                headers = list(d.headers) if d.headers else NO_HEADERS
                if batch.append(timestamp=None, key=d.key, value=d.value, headers=headers) is None:
                    # Full (max_batch_size): hand it over, go on in a new one. A record is
                    # always accepted by an empty batch, however large.
                    sent.append(SentBatch(await producer.send_batch(batch, topic, partition=partition), in_batch))
                    batch, in_batch = producer.create_batch(), []
                    batch.append(timestamp=None, key=d.key, value=d.value, headers=headers)
                in_batch.append(i)
            sent.append(SentBatch(await producer.send_batch(batch, topic, partition=partition), in_batch))
        return sent

    def _partitioner(self) -> Callable[[str, bytes | None], int]:
        """aiokafka's default partitioner (murmur2 of the key, as Java clients do, so a key
        lands where any client would put it; no key: a random available partition), with each
        topic's partitions read once per call and key hashes cached (keys repeat: sites)."""
        cluster, hashes, partitions = self.producer.client.cluster, self._key_hashes, {}
        if len(hashes) > KEY_HASH_CACHE_SIZE:
            hashes.clear()

        def partition_of(topic: str, key: bytes | None) -> int:
            known = partitions.get(topic)
            if known is None:
                known = partitions[topic] = (sorted(cluster.partitions_for_topic(topic)),
                                             sorted(cluster.available_partitions_for_topic(topic)))
            every, available = known
            if key is None:
                return random.choice(available or every)
            h = hashes.get(key)
            if h is None:
                h = hashes[key] = murmur2(key) & 0x7FFFFFFF
            return every[h % len(every)]
        return partition_of

    async def _learn_metadata(self, topics: set[str], wait: bool = False) -> None:
        """One metadata request for every topic of the batch the producer has not sent to yet.
        Left to itself, aiokafka asks for metadata once per new topic, each time for every
        topic it knows: quadratic in the number of office topics. With ``wait`` (before a send),
        a topic that request does not answer yet (just created) is waited for as aiokafka's
        ``send`` would."""
        client = self.producer.client
        unknown = [t for t in topics if client.cluster.partitions_for_topic(t) is None]
        if unknown:
            for topic in unknown:
                client.add_topic(topic)
            await client.force_metadata_update()
            if wait:
                for topic in unknown:
                    if client.cluster.partitions_for_topic(topic) is None:
                        await client._wait_on_metadata(topic)

    async def _ensure_topics(self, deliveries: list[Delivery]) -> None:
        """Create destination topics on first use (offices and provinces appear as events do)."""
        missing = {d.topic for d in deliveries} - self.known_topics
        if not missing:
            return
        backoff = 0.5
        while True:
            try:
                by_count: dict[int | None, list[str]] = {}
                for topic in sorted(missing):
                    by_count.setdefault(self.partitions_for(topic), []).append(topic)
                for partitions, topics in by_count.items():
                    await asyncio.to_thread(self.admin.ensure, topics, partitions, None, None, False)
                break
            except Exception as exc:  # broker unreachable: the batch waits, nothing is acked
                log.warning("topic creation failed, retrying", topics=sorted(missing), error=str(exc))
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
        self.known_topics |= missing

    async def acknowledged(self, deliveries: list[Delivery], sent: list[SentBatch]) -> list[Ack]:
        """Wait for every acknowledgement; re-send failures with backoff until they succeed
        (the batch is not committed meanwhile, so a stop just re-delivers it). Returns each
        delivery's topic, partition and offset, in order."""
        results: list[Any] = [None] * len(deliveries)
        backoff = 0.2
        while True:
            failed, error = [], None
            for batch in sent:
                try:
                    meta = await batch.future
                except Exception as exc:  # noqa: BLE001 - any send failure is retried
                    failed.extend(batch.indices)
                    error = exc
                    continue
                for relative, i in enumerate(batch.indices):
                    results[i] = Ack(meta.topic, meta.partition, meta.offset + relative)
            if not failed:
                return results
            metrics.DELIVERY_RETRIES.inc()
            log.warning("delivery failed, retrying", failed=len(failed), error=str(error), backoff_s=backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 10.0)
            failed.sort()
            sent = await self._send_batches(deliveries, failed)
