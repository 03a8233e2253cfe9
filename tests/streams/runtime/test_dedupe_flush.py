"""DedupeLogFlusher without a broker (the log write is injected; the Kafka side is covered by
test_dedupe_log_kafka and the reliability suite): batches of one interval become one record per
ingest partition, a batch's future resolves only once its ids are in the log and the store, a
failed write fails every batch of its group and nothing is stored."""

import asyncio

import pytest

from schemas.catalog import default_catalog
from schemas.wire import decode
from streams.runtime.dedupe.flush import DedupeLogFlusher
from streams.runtime.writer import Ack

T = "platform.a.sites"
WINDOW_MS = 60_000


class RecordingLog:
    """Appends to per-partition lists; ``gate`` holds a write until the test opens it."""

    def __init__(self, fail: bool = False):
        self.writes: list[list] = []
        self.partitions: dict[tuple[str, int], list] = {}
        self.fail = fail
        self.gate: asyncio.Event | None = None

    async def write(self, deliveries):
        self.writes.append(deliveries)
        if self.gate is not None:
            await self.gate.wait()
        if self.fail:
            raise ConnectionError("broker gone")
        acks = []
        for d in deliveries:
            log = self.partitions.setdefault((d.topic, d.partition), [])
            log.append(d.value)
            acks.append(Ack(d.topic, d.partition, len(log) - 1))
        return acks


@pytest.fixture
def store(open_store):
    return open_store(WINDOW_MS)


def records_of(deliveries):
    return [(d.topic, d.partition, decode(default_catalog(), d.value).record) for d in deliveries]


def test_batches_of_one_interval_are_one_record_per_partition_with_the_latest_clock(store):
    log = RecordingLog()

    async def scenario():
        flusher = DedupeLogFlusher(log.write, store, default_catalog(), "hub", interval_s=0.05)
        first = flusher.add({(T, 0): ["a1"], (T, 1): ["b1"]}, now_ms=1_000)
        second = flusher.add({(T, 0): ["a2"]}, now_ms=1_020)
        assert not first.done() and not store.seen_before(T, 0, "a1", 1_100)
        await asyncio.wait_for(asyncio.gather(first, second), 5)
        return flusher

    flusher = asyncio.run(scenario())
    assert len(log.writes) == 1
    assert sorted(records_of(log.writes[0]), key=str) == sorted([
        ("hub-dedupe." + T, 0, {"first_seen_ms": 1_020, "event_ids": ["a1", "a2"]}),
        ("hub-dedupe." + T, 1, {"first_seen_ms": 1_020, "event_ids": ["b1"]})], key=str)
    assert all(store.seen_before(T, p, i, 1_100) for p, i in [(0, "a1"), (0, "a2"), (1, "b1")])
    assert store.next_log_offset(T, 0) == 1 and store.next_log_offset(T, 1) == 1
    assert flusher.pending == 0


def test_a_batch_added_during_a_write_goes_into_the_next_one_in_order(store):
    log = RecordingLog()

    async def scenario():
        log.gate = asyncio.Event()
        flusher = DedupeLogFlusher(log.write, store, default_catalog(), "hub", interval_s=0)
        first = flusher.add({(T, 0): ["a1"]}, now_ms=1)
        deadline = asyncio.get_running_loop().time() + 5
        while not log.writes:  # the first write has started and is held
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0)
        second = flusher.add({(T, 0): ["a2"]}, now_ms=2)
        third = flusher.add({(T, 0): ["a3"]}, now_ms=3)
        assert len(log.writes) == 1 and flusher.pending == 3
        log.gate.set()
        await asyncio.wait_for(asyncio.gather(first, second, third), 5)

    asyncio.run(scenario())
    assert [[r["event_ids"] for _, _, r in records_of(w)] for w in log.writes] == [[["a1"]], [["a2", "a3"]]]
    assert store.next_log_offset(T, 0) == 2


def test_a_failed_write_fails_every_batch_of_its_group_and_stores_nothing(store):
    log = RecordingLog(fail=True)

    async def scenario():
        flusher = DedupeLogFlusher(log.write, store, default_catalog(), "hub", interval_s=0.01)
        batches = [flusher.add({(T, 0): [f"e{i}"]}, now_ms=i) for i in range(3)]
        outcomes = await asyncio.wait_for(asyncio.gather(*batches, return_exceptions=True), 5)
        log.fail = False
        later = flusher.add({(T, 0): ["e9"]}, now_ms=9)  # the next group is written normally
        await asyncio.wait_for(later, 5)
        return outcomes

    outcomes = asyncio.run(scenario())
    assert [type(o) for o in outcomes] == [ConnectionError] * 3
    assert not any(store.seen_before(T, 0, f"e{i}", 10) for i in range(3))
    assert store.seen_before(T, 0, "e9", 10) and store.next_log_offset(T, 0) == 1


def test_close_fails_the_batches_still_waiting(store):
    async def scenario():
        flusher = DedupeLogFlusher(RecordingLog().write, store, default_catalog(), "hub", interval_s=60)
        waiting = flusher.add({(T, 0): ["a1"]}, now_ms=1)
        flusher.close()
        with pytest.raises(RuntimeError, match="closed"):
            await waiting

    asyncio.run(scenario())
