"""The consume loop and its checkpoint on the in-memory broker: a crash between each step of
the checkpoint (outputs acknowledged -> state durable -> offsets committed), a failed produce,
a rebalance in the middle of a batch and a failed state write. Each ends with an offset
ledger: every input offset is in the outputs or was read again, and the group's committed
offsets reach the end of every partition. No sleeps: the broker wakes its waiters, backoffs
are not waited out, and conditions are polled with a deadline."""

from __future__ import annotations

import asyncio

from streams.runtime.broker.memory import MemoryBroker
from streams.runtime.broker.protocols import TopicPartition
from streams.core.plan import Delivery
from streams.runtime.loop import BatchLoop, LoopConfig
from tests.support.aio import no_wait, until

IN, OUT, GROUP = "in", "out", "copy"
PARTITIONS, RECORDS = 3, 60


class Copy:
    """The processing step: one output per input naming it; remembers every input it saw."""

    def __init__(self, producer) -> None:
        self.producer, self.seen = producer, []

    async def start(self, records):
        self.seen += [(r.partition, r.offset) for r in records]
        deliveries = [Delivery("office", OUT, None, f"{r.partition}/{r.offset}".encode()) for r in records]
        sent = await self.producer.send(deliveries)

        async def acknowledged():
            await self.producer.acknowledged(deliveries, sent)
            return [(r.partition, r.offset) for r in records]
        return acknowledged()


class Log:
    """The state step: a log of the offsets whose outputs were acknowledged; ``hold`` keeps
    the next persists pending, ``fail_next`` fails them."""

    def __init__(self) -> None:
        self.durable: list = []
        self.fail_next = 0
        self.gate: asyncio.Event | None = None
        self.calls = 0

    def persist(self, outcome):
        self.calls += 1
        failing = self.fail_next > 0
        self.fail_next -= failing
        gate = self.gate

        async def durable():
            if gate is not None:
                await gate.wait()
            if failing:
                raise OSError("injected dedupe-log write failure")
            self.durable += outcome
        return asyncio.ensure_future(durable())


class HeldCommits:
    """A consumer whose commits wait for ``release`` (to crash between durable and commit)."""

    def __init__(self, consumer) -> None:
        self.inner, self.gate = consumer, asyncio.Event()

    def __getattr__(self, name):
        return getattr(self.inner, name)

    async def commit(self, offsets):
        await self.gate.wait()
        await self.inner.commit(offsets)


def world() -> MemoryBroker:
    broker = MemoryBroker()
    broker.create_topic(IN, PARTITIONS)
    broker.create_topic(OUT, 1)
    for i in range(RECORDS):
        broker.append(IN, i % PARTITIONS, None, b"x")
    return broker


def make_loop(broker, consumer=None, producer=None, state=None, batch_size=7, depth=2):
    step = Copy(producer or broker.producer())
    config = LoopConfig("test", topics=(IN,), batch_size=batch_size, batch_timeout_s=0.01, pipeline_depth=depth)
    return BatchLoop(config, consumer or broker.consumer(GROUP), step, state or Log(), sleep=no_wait), step


def outputs(broker) -> list[tuple[int, int]]:
    return [tuple(int(x) for x in r.value.decode().split("/")) for r in broker.records(OUT)]


def every_input() -> set[tuple[int, int]]:
    return {(i % PARTITIONS, i // PARTITIONS) for i in range(RECORDS)}


def fully_committed(broker) -> bool:
    committed = broker.committed(GROUP)
    return all(committed.get(TopicPartition(IN, p)) == broker.end_offset(IN, p) for p in range(PARTITIONS))


def check_ledger(broker, before_crash: set, reread: set) -> None:
    """Every input offset is in the outputs; those that were not before the crash were read again."""
    assert set(outputs(broker)) == every_input()
    assert every_input() - before_crash <= reread
    assert fully_committed(broker)


async def run_to_end(broker, **kwargs):
    loop, step = make_loop(broker, **kwargs)
    task = asyncio.ensure_future(loop.run())
    await until(lambda: fully_committed(broker), "every offset committed")
    await loop.stop()
    await task
    return step


async def crash(loop, task) -> None:
    """kill -9: the loop does nothing more, its member leaves the group (session expiry)."""
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await loop.consumer.stop()


def crash_scenario(prepare, reached):
    """Run until a batch is stuck at the step ``prepare`` holds back (``reached(state)``), crash, restart."""
    async def scenario():
        broker = world()
        producer, state = broker.producer(), Log()
        consumer = broker.consumer(GROUP)
        hold = prepare(producer, state)
        loop, step = make_loop(broker, consumer=hold(consumer) if hold else consumer, producer=producer, state=state)
        task = asyncio.ensure_future(loop.run())
        await until(lambda: step.seen, "a batch started")
        await until(lambda: reached(state), "the batch stuck at the held step")
        before = set(outputs(broker))
        committed_before = broker.committed(GROUP)
        await crash(loop, task)
        second = await run_to_end(broker)
        return broker, before, set(second.seen), committed_before
    return asyncio.run(scenario())


def test_crash_before_the_outputs_are_acknowledged():
    def prepare(producer, state):
        producer.hold()
    broker, before, reread, committed = crash_scenario(prepare, lambda state: True)
    assert before == set() and committed == {}
    check_ledger(broker, before, reread)


def test_crash_after_the_outputs_before_the_state_is_durable():
    def prepare(producer, state):
        state.gate = asyncio.Event()
    broker, before, reread, committed = crash_scenario(prepare, lambda state: state.calls)
    assert before and committed == {}  # outputs written, nothing committed
    check_ledger(broker, before, reread)
    assert before & reread  # acknowledged but not durable: read again (at-least-once)


def test_crash_after_the_state_is_durable_before_the_commit():
    def prepare(producer, state):
        return HeldCommits
    broker, before, reread, committed = crash_scenario(prepare, lambda state: state.durable)
    assert before and committed == {}
    check_ledger(broker, before, reread)


def test_a_failed_produce_rewinds_and_nothing_is_skipped():
    async def scenario():
        broker = world()
        producer = broker.producer()
        producer.fail_next = 1
        step = await run_to_end(broker, producer=producer)
        return broker, step
    broker, step = asyncio.run(scenario())
    assert set(outputs(broker)) == every_input() and fully_committed(broker)
    assert len(step.seen) > len(set(step.seen))  # the failed batch was read again


def test_a_failed_state_write_rewinds_that_batch_and_every_later_one():
    async def scenario():
        broker, state = world(), Log()
        state.fail_next = 1
        step = await run_to_end(broker, state=state, depth=3)
        return broker, step, state
    broker, step, state = asyncio.run(scenario())
    assert set(outputs(broker)) == every_input() and fully_committed(broker)
    assert set(state.durable) == every_input()  # every offset's state durable before its commit
    assert len(step.seen) > len(set(step.seen))


def test_rebalance_in_the_middle_of_a_batch():
    async def scenario():
        broker = world()
        producer = broker.producer()
        producer.hold()
        first, first_step = make_loop(broker, producer=producer)
        first_task = asyncio.ensure_future(first.run())
        await until(lambda: first.checkpoint.in_flight, "a batch in flight on the first member")
        second, second_step = make_loop(broker)
        second_task = asyncio.ensure_future(second.run())
        await until(lambda: first.consumer.member_id in broker.groups[GROUP].revoked
                    or broker.groups[GROUP].rebalancing, "the rebalance started")
        assert not broker.committed(GROUP)  # the batch in flight holds the revoke back
        producer.release()
        await until(lambda: fully_committed(broker), "every offset committed")
        assert first.consumer.assignment() and second.consumer.assignment()
        for loop, task in ((first, first_task), (second, second_task)):
            await loop.stop()
            await task
        return broker, set(first_step.seen), set(second_step.seen)
    broker, seen_first, seen_second = asyncio.run(scenario())
    assert seen_first | seen_second == every_input()
    check_ledger(broker, set(), seen_first | seen_second)
