"""HTTP delivery on the batch loop with the in-memory broker and sink: every routed record gets
a receipt before its offset is committed, and an endpoint that is down while its partitions move
to another member gives its batch up (read again) instead of holding the rebalance."""

from __future__ import annotations

import asyncio
import contextlib
import uuid

from connectors.sinks.memory import InMemorySink
from gigbridge.settings import Endpoint, Settings
from schemas.catalog import default_catalog
from schemas.examples import load_examples
from schemas.wire import decode, encode
from streams.runtime.broker.memory import MemoryBroker
from streams.runtime.broker.protocols import TopicPartition
from streams.runtime.delivery import sink_routes
from streams.runtime.delivery_step import delivery_loop
from tests.support.aio import no_wait, until

CATALOG = default_catalog()
INCIDENT = next(e.payload for e in load_examples(contract="incident_report", kind="valid"))
SETTINGS = Settings(insurer_endpoints={"44": Endpoint(url="http://127.0.0.1:1/claims", secret="s" * 20)},
                    stream_batch_size=4, stream_batch_timeout_s=0.01)
ROUTE, ENDPOINT = sink_routes(SETTINGS)[0]
SOURCE = ROUTE.sources[0]
GROUP, RECORDS = "hub-deliver-insurer-44", 20


def world() -> MemoryBroker:
    broker = MemoryBroker()
    broker.create_topic(SOURCE, 2)
    schema = CATALOG.contract("incident_report").latest
    for i in range(RECORDS):
        broker.append(SOURCE, i % 2, f"site-{i}".encode(), encode(schema, {**INCIDENT, "event_id": str(uuid.uuid4())}))
    return broker


def make_loop(broker, sink, legacy_offsets=None):
    loop = delivery_loop(SETTINGS, ROUTE, ENDPOINT, CATALOG, broker.producer(), lambda route, r: r,
                         lambda: 1_780_272_000_000, lambda delivered, refused: None, contextlib.nullcontext,
                         consumer=broker.consumer(GROUP), sink=sink, legacy_offsets=legacy_offsets)
    loop.sleep = loop.on_assigned.sleep = no_wait
    return loop


def receipted(broker) -> list[tuple[int, int]]:
    return [(r["source_partition"], r["source_offset"])
            for r in (decode(CATALOG, rec.value).record for rec in broker.records(ROUTE.receipts_topic))]


def fully_committed(broker) -> bool:
    committed = broker.committed(GROUP)
    return all(committed.get(TopicPartition(SOURCE, p)) == broker.end_offset(SOURCE, p) for p in (0, 1))


def every_source() -> set[tuple[int, int]]:
    return {(i % 2, i // 2) for i in range(RECORDS)}


def test_each_record_gets_a_receipt_before_its_offset_is_committed():
    async def scenario():
        broker, sink = world(), InMemorySink(ROUTE.destination)
        loop = make_loop(broker, sink)
        task = asyncio.ensure_future(loop.run())
        await until(lambda: fully_committed(broker), "every offset committed")
        await loop.stop()
        await task
        return broker, sink
    broker, sink = asyncio.run(scenario())
    assert sorted(receipted(broker)) == sorted(every_source())  # one each, none twice
    assert len(sink.delivered) == RECORDS


def test_a_down_endpoint_gives_its_batch_up_when_partitions_move():
    async def scenario():
        broker = world()
        down, up = InMemorySink(ROUTE.destination), InMemorySink(ROUTE.destination)
        down.go_down()
        first = make_loop(broker, down)
        first_task = asyncio.ensure_future(first.run())
        await until(lambda: down.paused, "the first member retrying a down endpoint")
        second = make_loop(broker, up)
        second_task = asyncio.ensure_future(second.run())
        await until(lambda: first.consumer.assignment() and second.consumer.assignment(),
                    "the partitions shared between both members")  # the stuck flush did not hold it up
        assert not receipted(broker) or set(receipted(broker)) < every_source()
        down.come_up()
        await until(lambda: fully_committed(broker), "every offset committed")
        for loop, task in ((first, first_task), (second, second_task)):
            await loop.stop()
            await task
        return broker
    broker = asyncio.run(scenario())
    assert set(receipted(broker)) == every_source()  # nothing lost; repeats allowed (idempotency key)


def deliver_all(broker, legacy_offsets=None) -> InMemorySink:
    """Run one delivery loop until every offset is committed."""
    async def scenario():
        sink = InMemorySink(ROUTE.destination)
        loop = make_loop(broker, sink, legacy_offsets)
        task = asyncio.ensure_future(loop.run())
        await until(lambda: fully_committed(broker), "every offset committed")
        await loop.stop()
        await task
        return sink
    return asyncio.run(scenario())


def test_a_new_delivery_group_starts_where_the_old_shared_group_left_off():
    broker, legacy = world(), {(SOURCE, 0): 6, (SOURCE, 1): 4}
    sink = deliver_all(broker, lambda: legacy)
    expected = {(p, o) for p, o in every_source() if o >= legacy[(SOURCE, p)]}
    assert sorted(receipted(broker)) == sorted(expected)  # nothing before the old group's offsets again
    assert len(sink.delivered) == len(expected)


def test_a_group_with_its_own_offsets_ignores_the_old_groups():
    broker = world()
    deliver_all(broker)
    schema = CATALOG.contract("incident_report").latest
    for p in (0, 1):
        broker.append(SOURCE, p, b"late", encode(schema, {**INCIDENT, "event_id": str(uuid.uuid4())}))
    sink = deliver_all(broker, lambda: {(SOURCE, 0): 0, (SOURCE, 1): 0})
    assert len(sink.delivered) == 2  # only the new records: its own commits win
    assert sorted(receipted(broker)) == sorted(every_source() | {(0, RECORDS // 2), (1, RECORDS // 2)})


def test_an_unreadable_old_group_is_retried_then_means_the_earliest_offset_not_a_stop():
    calls = []

    def refused():
        calls.append(1)
        raise PermissionError("GROUP_AUTHORIZATION_FAILED")
    broker = world()
    sink = deliver_all(broker, refused)
    assert len(sink.delivered) == RECORDS
    assert len(calls) == 3  # tried again before giving up


def test_a_passing_failure_to_read_the_old_group_is_ridden_out():
    answers = [ConnectionError("coordinator not available"), {(SOURCE, 0): 6, (SOURCE, 1): 4}]

    def flaky():
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer
    broker = world()
    sink = deliver_all(broker, flaky)
    assert len(sink.delivered) == RECORDS - 10
