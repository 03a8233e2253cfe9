"""One suite, two brokers: the in-memory broker (``streams.runtime.broker.memory``) must behave like
Kafka (``streams.runtime.broker.kafka`` on the session's real broker) for everything the hub relies
on: produce and acknowledge, fetch order per partition, commit / committed, seek, a group's
assignment with revoke/assign callbacks when a second member joins, and a pattern
subscription picking up a topic created later."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from streams.runtime.broker.memory import MemoryBroker
from streams.runtime.broker.protocols import TopicPartition
from streams.core.plan import Delivery

DEADLINE_S = 60.0


class MemoryWorld:
    def __init__(self) -> None:
        self.broker = MemoryBroker()

    def create(self, topic: str, partitions: int) -> None:
        self.broker.admin().ensure([topic], partitions)

    def consumer(self, group: str):
        return self.broker.consumer(group)

    def producer(self):
        return self.broker.producer()

    def close(self) -> None:
        pass


class KafkaWorld:
    def __init__(self, conn) -> None:
        from gigbridge.topics_admin import TopicAdmin
        from tests.support.kafka_io import hub_settings

        self.settings = hub_settings(conn)
        self.admin = TopicAdmin(self.settings)

    def create(self, topic: str, partitions: int) -> None:
        self.admin.ensure([topic], partitions)

    def consumer(self, group: str):
        from streams.runtime.broker.kafka import KafkaConsumer

        # quick heartbeats and metadata refreshes: a join or a new topic is noticed in a second
        return KafkaConsumer(group, {"heartbeat_interval_ms": 300, "metadata_max_age_ms": 500,
                                     **self.settings.aiokafka_config})

    def producer(self):
        from streams.runtime.writer import Writer, create_producer

        return Writer(lambda: create_producer(self.settings), self.admin)

    def close(self) -> None:
        self.admin.close()


@pytest.fixture(params=["memory", pytest.param("kafka", marks=pytest.mark.kafka)])
def world(request):
    made = MemoryWorld() if request.param == "memory" else KafkaWorld(request.getfixturevalue("kafka"))
    yield made
    made.close()


def names() -> tuple[str, str]:
    tag = uuid.uuid4().hex[:8]
    return f"contract-{tag}", f"contract-{tag}-group"


class Recorder:
    """A rebalance listener that notes every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, set]] = []

    async def on_partitions_revoked(self, revoked: set) -> None:
        self.calls.append(("revoked", {TopicPartition(*tp) for tp in revoked}))

    async def on_partitions_assigned(self, assigned: set) -> None:
        self.calls.append(("assigned", {TopicPartition(*tp) for tp in assigned}))


async def poll_until(consumers, done, what: str, into: list | None = None) -> None:
    """Call ``getmany`` on every consumer (concurrently: a rebalance needs all members) until
    ``done()``; fetched records go to ``into``."""
    deadline = time.monotonic() + DEADLINE_S
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        for fetched in await asyncio.gather(*(c.getmany(timeout_ms=100) for c in consumers)):
            for records in fetched.values():
                (into if into is not None else []).extend(records)


def owned(consumer) -> set:
    return {TopicPartition(*tp) for tp in consumer.assignment()}


def test_produce_acknowledges_and_fetch_keeps_order_per_partition(world):
    topic, group = names()
    world.create(topic, 3)
    deliveries = [Delivery("office", topic, f"k{i % 5}".encode(), f"v{i}".encode(), partition=i % 3)
                  for i in range(30)]

    async def scenario():
        producer, consumer = world.producer(), world.consumer(group)
        try:
            acks = await producer.write(deliveries)
            consumer.subscribe(topics=[topic])
            await consumer.start()
            got: list = []
            await poll_until([consumer], lambda: len(got) >= 30, "all 30 records", got)
            return acks, got
        finally:
            await consumer.stop()
            await producer.stop()

    acks, got = asyncio.run(scenario())
    assert [(a.topic, a.partition) for a in acks] == [(topic, i % 3) for i in range(30)]
    for p in range(3):
        offsets = [a.offset for a in acks if a.partition == p]
        assert offsets == list(range(offsets[0], offsets[0] + 10))
        values = [r.value for r in got if r.partition == p]
        assert values == [f"v{i}".encode() for i in range(30) if i % 3 == p]  # produce order
        assert [r.offset for r in got if r.partition == p] == offsets
    assert len(got) == 30


def test_commit_committed_and_seek(world):
    topic, group = names()
    world.create(topic, 1)
    tp = TopicPartition(topic, 0)

    async def scenario():
        producer = world.producer()
        await producer.write([Delivery("office", topic, None, f"v{i}".encode(), partition=0) for i in range(10)])
        await producer.stop()
        first = world.consumer(group)
        first.subscribe(topics=[topic])
        await first.start()
        got: list = []
        await poll_until([first], lambda: len(got) >= 10, "ten records", got)
        assert await first.committed(tp) is None
        await first.commit({tp: 6})
        assert await first.committed(tp) == 6
        first.seek(tp, 2)
        again: list = []
        await poll_until([first], lambda: len(again) >= 8, "records from the sought offset", again)
        assert [r.offset for r in again] == list(range(2, 10))
        await first.stop()
        second = world.consumer(group)  # the same group resumes from the committed offset
        second.subscribe(topics=[topic])
        await second.start()
        resumed: list = []
        await poll_until([second], lambda: len(resumed) >= 4, "records after the committed offset", resumed)
        await second.stop()
        return resumed

    assert [r.offset for r in asyncio.run(scenario())] == [6, 7, 8, 9]


def test_second_member_joining_revokes_then_assigns(world):
    topic, group = names()
    world.create(topic, 4)
    every = {TopicPartition(topic, p) for p in range(4)}

    async def scenario():
        a, b = world.consumer(group), world.consumer(group)
        heard_a, heard_b = Recorder(), Recorder()
        a.subscribe(topics=[topic], listener=heard_a)
        await a.start()
        try:
            await poll_until([a], lambda: owned(a) == every, "the only member owning every partition")
            b.subscribe(topics=[topic], listener=heard_b)
            await b.start()
            await poll_until([a, b], lambda: owned(a) and owned(b) and not owned(a) & owned(b)
                             and owned(a) | owned(b) == every, "both members owning a share")
            return heard_a.calls, heard_b.calls, owned(a), owned(b)
        finally:
            await b.stop()
            await a.stop()

    calls_a, calls_b, mine_a, mine_b = asyncio.run(scenario())
    assigned_a = [parts for kind, parts in calls_a if kind == "assigned"]
    assert assigned_a[0] == every and assigned_a[-1] == mine_a
    revoked_after_join = [parts for kind, parts in calls_a[calls_a.index(("assigned", every)) + 1:] if kind == "revoked"]
    assert revoked_after_join and revoked_after_join[0] == every  # gave everything up before the new split
    assert [parts for kind, parts in calls_b if kind == "assigned"][-1] == mine_b


def test_pattern_subscription_picks_up_a_new_topic(world):
    prefix, group = names()
    first, later = f"{prefix}.first", f"{prefix}.later"
    world.create(first, 2)

    async def scenario():
        consumer, heard = world.consumer(group), Recorder()
        consumer.subscribe(pattern=rf"^{prefix}\..*$", listener=heard)
        await consumer.start()
        try:
            await poll_until([consumer], lambda: {tp.topic for tp in owned(consumer)} == {first}, "the first topic")
            world.create(later, 2)
            await poll_until([consumer], lambda: {tp.topic for tp in owned(consumer)} == {first, later},
                             "the topic created later")
            return heard.calls, consumer.subscription()
        finally:
            await consumer.stop()

    calls, subscription = asyncio.run(scenario())
    assert {first, later} <= subscription
    assigned = [parts for kind, parts in calls if kind == "assigned"]
    assert {tp.topic for tp in assigned[-1]} == {first, later}
