"""streams.runtime.writer.Writer on the real broker: every delivery lands once, where its Ack says,
keyed records where any Kafka client's default partitioner puts them, in order per partition;
a failed produce batch is re-sent."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka.partitioner import DefaultPartitioner

from gigbridge.topics_admin import TopicAdmin
from streams.runtime import metrics
from streams.core.plan import Delivery
from streams.runtime.writer import Writer, create_producer
from tests.support.kafka_io import hub_settings, read_all

pytestmark = pytest.mark.kafka


def deliveries_for(topics: list[str]) -> list[Delivery]:
    out = []
    for i in range(300):
        key = None if i % 7 == 0 else f"site-{i % 20}".encode()
        headers = (("n", str(i).encode()),) if i % 5 == 0 else ()
        out.append(Delivery("office", topics[i % 2], key, f"value-{i}".encode(), headers))
    # over the producer's 256 KiB batch size: the partition's batch is split around it
    out.insert(150, Delivery("office", topics[0], b"site-3", b"x" * (300 * 1024)))
    return out


def run_writer(kafka, deliveries, wrap=lambda producer: producer):
    settings = hub_settings(kafka)
    admin = TopicAdmin(settings)
    writer = Writer(lambda: wrap(create_producer(settings)), admin)

    async def go():
        try:
            return await writer.write(deliveries)
        finally:
            await writer.stop()
    try:
        return asyncio.run(go())
    finally:
        admin.close()


def check_landed(kafka, deliveries, acks):
    stored = {}
    for topic in {d.topic for d in deliveries}:
        for r in read_all(kafka, topic):
            stored[(topic, r.partition, r.offset)] = r
    assert len(stored) == len(deliveries)  # nothing twice, nothing extra
    partitions = {}
    for d, ack in zip(deliveries, acks):
        r = stored[(ack.topic, ack.partition, ack.offset)]
        assert (ack.topic, r.key, r.value, tuple(r.headers)) == (d.topic, d.key, d.value, d.headers)
        partitions.setdefault(d.topic, set()).add(ack.partition)
    assert all(len(used) > 1 for used in partitions.values()), "keys spread over partitions"


def test_every_delivery_lands_once_where_its_ack_says_in_order(kafka):
    topics = [f"gov.office.test-{uuid.uuid4().hex[:8]}.{n}" for n in ("a", "b")]
    deliveries = deliveries_for(topics)
    acks = run_writer(kafka, deliveries)
    check_landed(kafka, deliveries, acks)
    settings = hub_settings(kafka)
    admin = TopicAdmin(settings)
    try:
        counts = admin.partitions_of(topics)
    finally:
        admin.close()
    last = {}
    for d, ack in zip(deliveries, acks):
        if d.key is not None:  # where any client's default partitioner puts the key
            every = list(range(counts[d.topic]))
            assert ack.partition == DefaultPartitioner()(d.key, every, every)
        where = (ack.topic, ack.partition)
        assert ack.offset > last.get(where, -1), "order kept per partition"
        last[where] = ack.offset


class FailingFirstBatch:
    """The real producer, except that the first produce batch is never sent and its future
    fails (as after a request timeout)."""

    def __init__(self, producer):
        self._producer, self.failed = producer, 0

    def __getattr__(self, name):
        return getattr(self._producer, name)

    async def send_batch(self, batch, topic, *, partition):
        if not self.failed:
            self.failed += 1
            future = asyncio.get_running_loop().create_future()
            future.set_exception(TimeoutError("request timed out"))
            return future
        return await self._producer.send_batch(batch, topic, partition=partition)


def test_a_failed_batch_is_sent_again(kafka):
    topics = [f"gov.office.test-{uuid.uuid4().hex[:8]}.{n}" for n in ("a", "b")]
    deliveries = deliveries_for(topics)
    wrappers = []
    retries = metrics.DELIVERY_RETRIES._value.get()

    def wrap(producer):
        wrappers.append(FailingFirstBatch(producer))
        return wrappers[-1]
    acks = run_writer(kafka, deliveries, wrap)
    assert wrappers[0].failed == 1 and metrics.DELIVERY_RETRIES._value.get() == retries + 1
    check_landed(kafka, deliveries, acks)
