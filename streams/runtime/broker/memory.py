"""An in-memory broker for unit tests of the consume loop and its checkpoint: topics with
partitions and offsets, consumer groups with committed offsets and round-robin assignment,
revoke/assign callbacks when a member joins or leaves or a topic matching a pattern appears,
and a producer whose acknowledgements can be held back or failed on demand.

It behaves like Kafka for what the hub relies on (``tests/streams/runtime/test_broker_contract.py``
runs the same suite against both): a rebalance runs in the background as aiokafka's
coordinator does (every member gives up its partitions, then each gets its new ones; a member
busy with a batch is called meanwhile), a commit from a member that no longer owns the
partition fails. Simplifications: a new topic is seen at once (Kafka: at the next metadata
refresh), membership changes take effect at once (no session timeout), and the producer does
not retry: a failed send fails ``acknowledged`` (the hub's ``Writer`` retries on Kafka).
"""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from typing import Any, Callable, Iterable, Sequence

from aiokafka.partitioner import murmur2

from streams.runtime.broker.protocols import (Ack, CommitFailed, ConsumerStopped, RebalanceListener, Record,
                                      TopicPartition)


class ProduceFailed(Exception):
    """An injected produce failure."""


class MemoryBroker:
    """``clock`` returns epoch ms (record timestamps)."""

    def __init__(self, default_partitions: int = 1, clock: Callable[[], int] = lambda: time.time_ns() // 1_000_000):
        self.default_partitions = default_partitions
        self.clock = clock
        self.logs: dict[str, list[list[Record]]] = {}
        self.groups: dict[str, _Group] = {}
        self._wakeups: set[asyncio.Future] = set()

    # --- topics ------------------------------------------------------------------------

    def create_topic(self, topic: str, partitions: int | None = None) -> None:
        if topic in self.logs:
            return
        self.logs[topic] = [[] for _ in range(partitions or self.default_partitions)]
        for group in self.groups.values():
            if any(m.wants(topic) for m in group.members):
                group.start_rebalance()
        self.notify()

    def append(self, topic: str, partition: int, key: bytes | None, value: bytes | None,
               headers: Sequence = ()) -> int:
        log = self.logs[topic][partition]
        log.append(Record(topic, partition, len(log), key, value, self.clock(), tuple(headers)))
        self.notify()
        return len(log) - 1

    def end_offset(self, topic: str, partition: int) -> int:
        return len(self.logs[topic][partition])

    def records(self, topic: str) -> list[Record]:
        return [r for log in self.logs.get(topic, []) for r in log]

    def committed(self, group_id: str) -> dict[TopicPartition, int]:
        return dict(self.groups[group_id].committed) if group_id in self.groups else {}

    # --- waiting -----------------------------------------------------------------------

    def notify(self) -> None:
        for waiter in self._wakeups:
            if not waiter.done():
                waiter.set_result(None)
        self._wakeups.clear()

    async def changed(self, timeout_s: float) -> None:
        """Return at the next change (records, members, topics) or after ``timeout_s``."""
        waiter = asyncio.get_running_loop().create_future()
        self._wakeups.add(waiter)
        try:
            async with asyncio.timeout(timeout_s):
                await waiter
        except TimeoutError:
            pass
        finally:
            self._wakeups.discard(waiter)

    # --- clients -----------------------------------------------------------------------

    def consumer(self, group_id: str, auto_offset_reset: str = "earliest") -> "MemoryConsumer":
        return MemoryConsumer(self, group_id, auto_offset_reset)

    def producer(self) -> "MemoryProducer":
        return MemoryProducer(self)

    def admin(self) -> "MemoryAdmin":
        return MemoryAdmin(self)

    def partitions(self, topics: Iterable[str]) -> list[TopicPartition]:
        return [TopicPartition(t, p) for t in sorted(topics) if t in self.logs for p in range(len(self.logs[t]))]


class _Group:
    """Members in join order. A rebalance (a member joins or leaves, a matching topic appears)
    starts a new generation: every member gives its partitions up (revoke callback), and once
    all have, each takes its share (assign callback). As in aiokafka, the callbacks run in the
    background (a member's coordinator), not inside ``getmany``, which returns nothing while its
    member is rebalancing."""

    def __init__(self, broker: MemoryBroker) -> None:
        self.broker = broker
        self.members: list[MemoryConsumer] = []
        self.committed: dict[TopicPartition, int] = {}
        self.generation = 0
        self.rebalancing = False
        self.revoked: set[int] = set()  # ids of members that gave their partitions up this generation

    def start_rebalance(self) -> None:
        self.generation += 1
        self.rebalancing, self.revoked = True, set()
        for member in self.members:
            member.coordinate(member.rejoin(self.generation))
        self._assign_if_all_revoked()
        self.broker.notify()

    def member_revoked(self, member: "MemoryConsumer", generation: int) -> None:
        if generation == self.generation:
            self.revoked.add(member.member_id)
            self._assign_if_all_revoked()

    def leave(self, member: "MemoryConsumer") -> None:
        self.members = [m for m in self.members if m is not member]
        self.start_rebalance()

    def _assign_if_all_revoked(self) -> None:
        if not self.rebalancing or any(m.member_id not in self.revoked for m in self.members):
            return
        shares: dict[int, set] = {m.member_id: set() for m in self.members}
        for i, tp in enumerate(self.broker.partitions(self.broker.logs)):  # round robin, as aiokafka's default
            wanting = [m for m in self.members if m.wants(tp.topic)]
            if wanting:
                shares[wanting[i % len(wanting)].member_id].add(tp)
        self.rebalancing = False
        for member in self.members:
            member.coordinate(member.take(shares[member.member_id], self.generation))
        self.broker.notify()


_member_ids = itertools.count()


class MemoryConsumer:
    """A group member (see :class:`streams.runtime.broker.protocols.Consumer`)."""

    def __init__(self, broker: MemoryBroker, group_id: str, auto_offset_reset: str = "earliest") -> None:
        self.broker, self.group_id, self.auto_offset_reset = broker, group_id, auto_offset_reset
        self.member_id = next(_member_ids)
        self.topics: frozenset[str] = frozenset()
        self.pattern: re.Pattern | None = None
        self.listener: RebalanceListener | None = None
        self._assignment: set = set()
        self._positions: dict[TopicPartition, int] = {}
        self._highwater: dict[TopicPartition, int] = {}
        self._group: _Group | None = None
        self._generation = 0  # the generation whose assignment this member holds
        self._coordinator: asyncio.Lock | None = None  # one rebalance callback at a time
        self._tasks: set[asyncio.Task] = set()

    def wants(self, topic: str) -> bool:
        return topic in self.topics or (self.pattern is not None and self.pattern.match(topic) is not None)

    def subscribe(self, *, topics: Sequence[str] = (), pattern: str | None = None,
                  listener: RebalanceListener | None = None) -> None:
        self.topics, self.listener = frozenset(topics), listener
        self.pattern = re.compile(pattern) if pattern else None

    async def start(self) -> None:
        self._coordinator = asyncio.Lock()
        self._group = group = self.broker.groups.setdefault(self.group_id, _Group(self.broker))
        group.members.append(self)
        group.start_rebalance()

    async def stop(self) -> None:
        if self._group is not None:
            group, self._group = self._group, None
            group.leave(self)
            self._assignment, self._positions = set(), {}
            for task in self._tasks:
                task.cancel()
            self.broker.notify()

    # --- the member's coordinator ------------------------------------------------------

    def coordinate(self, step) -> None:
        task = asyncio.ensure_future(step)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def rejoin(self, generation: int) -> None:
        async with self._coordinator:
            group = self._group
            if group is None or generation != group.generation:
                return
            if self.listener is not None:
                await self.listener.on_partitions_revoked(set(self._assignment))
            self._assignment, self._positions = set(), {}
            group.member_revoked(self, generation)

    async def take(self, assigned: set, generation: int) -> None:
        async with self._coordinator:
            group = self._group
            if group is None or generation != group.generation:
                return
            self._assignment = set(assigned)
            for tp in assigned:
                start = group.committed.get(tp)
                if start is None:
                    start = 0 if self.auto_offset_reset == "earliest" else self.broker.end_offset(*tp)
                self._positions[tp] = start
            if self.listener is not None:
                await self.listener.on_partitions_assigned(set(assigned))
            self._generation = generation
            self.broker.notify()

    # --- the consumer ------------------------------------------------------------------

    def assignment(self) -> set:
        return set(self._assignment)

    def subscription(self) -> set[str]:
        return {t for t in self.broker.logs if self.wants(t)}

    def seek(self, tp: Any, offset: int) -> None:
        tp = TopicPartition(*tp)
        if tp not in self._assignment:
            raise ValueError(f"{tp} is not assigned to this consumer")
        self._positions[tp] = offset

    def highwater(self, tp: Any) -> int | None:
        return self._highwater.get(TopicPartition(*tp))

    async def committed(self, tp: Any) -> int | None:
        return self.broker.groups[self.group_id].committed.get(TopicPartition(*tp)) \
            if self.group_id in self.broker.groups else None

    async def commit(self, offsets: dict[Any, int]) -> None:
        group = self._group
        offsets = {TopicPartition(*tp): offset for tp, offset in offsets.items()}
        if group is None or any(tp not in self._assignment for tp in offsets):
            raise CommitFailed(f"member {self.member_id} does not own all of {sorted(offsets)}")
        group.committed.update(offsets)

    async def getmany(self, timeout_ms: int, max_records: int | None = None) -> dict[Any, list[Record]]:
        deadline = time.monotonic() + timeout_ms / 1000
        while True:
            group = self._group
            if group is None:
                raise ConsumerStopped()
            if not group.rebalancing and self._generation == group.generation:
                fetched = self._fetch(max_records)
                if fetched:
                    return fetched
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return {}
            await self.broker.changed(remaining)

    def _fetch(self, max_records: int | None) -> dict[TopicPartition, list[Record]]:
        out: dict[TopicPartition, list[Record]] = {}
        budget = max_records or float("inf")
        for tp in sorted(self._assignment):
            log = self.broker.logs[tp.topic][tp.partition]
            self._highwater[tp] = len(log)
            position = self._positions[tp]
            take = log[position:position + int(min(budget, len(log)))] if budget > 0 else []
            if take:
                out[tp] = take
                self._positions[tp] = position + len(take)
                budget -= len(take)
        return out


class MemoryProducer:
    """Appends deliveries (``streams.core.plan.Delivery``: topic, key, value, headers,
    partition) to the broker when it acknowledges them. Tests steer it:

    * :meth:`hold` / :meth:`release`: acknowledgements wait until released (a slow broker);
    * ``fail_next``: the next that many sends fail (nothing appended) with :class:`ProduceFailed`;
    * ``fail_when(delivery) -> bool``: fail the sends of the deliveries it picks.
    """

    def __init__(self, broker: MemoryBroker) -> None:
        self.broker = broker
        self.fail_next = 0
        self.fail_when: Callable[[Any], bool] = lambda delivery: False
        self._gate: asyncio.Event | None = None
        self._round_robin = itertools.count()

    def hold(self) -> None:
        self._gate = asyncio.Event()

    def release(self) -> None:
        if self._gate is not None:
            self._gate.set()
            self._gate = None

    async def send(self, deliveries: list) -> list[asyncio.Future]:
        """One future per delivery, resolved with its :class:`Ack` in order (per partition)."""
        failed = self.fail_next > 0
        self.fail_next = max(0, self.fail_next - 1)
        futures = [asyncio.get_running_loop().create_future() for _ in deliveries]
        asyncio.ensure_future(self._acknowledge(deliveries, futures, failed, self._gate))
        return futures

    async def _acknowledge(self, deliveries: list, futures: list[asyncio.Future], failed: bool,
                           gate: asyncio.Event | None) -> None:
        if gate is not None:
            await gate.wait()
        for d, future in zip(deliveries, futures):
            if failed or self.fail_when(d):
                future.set_exception(ProduceFailed(f"injected failure for {d.topic}"))
                continue
            self.broker.create_topic(d.topic)
            partition = d.partition if d.partition is not None else self._partition_of(d.topic, d.key)
            offset = self.broker.append(d.topic, partition, d.key, d.value, d.headers)
            future.set_result(Ack(d.topic, partition, offset))

    def _partition_of(self, topic: str, key: bytes | None) -> int:
        count = len(self.broker.logs[topic])
        return (murmur2(key) & 0x7FFFFFFF if key is not None else next(self._round_robin)) % count  # as Kafka's

    async def acknowledged(self, deliveries: list, sent: list[asyncio.Future]) -> list[Ack]:
        """Every :class:`Ack`; the first failure raises (after all sends finished)."""
        results = await asyncio.gather(*sent, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return results

    async def write(self, deliveries: list) -> list[Ack]:
        return await self.acknowledged(deliveries, await self.send(deliveries))

    async def stop(self) -> None:
        self.release()


class MemoryAdmin:
    def __init__(self, broker: MemoryBroker) -> None:
        self.broker = broker

    def list_topics(self) -> set[str]:
        return set(self.broker.logs)

    def partitions_of(self, topics: Iterable[str]) -> dict[str, int]:
        return {t: len(self.broker.logs[t]) for t in topics if t in self.broker.logs}

    def ensure(self, topics: Iterable[str], partitions: int | None = None, replication_factor: int | None = None,
               configs: dict[str, str] | None = None, listed: bool = True) -> list[str]:
        created = [t for t in sorted(set(topics)) if t not in self.broker.logs]
        for topic in created:
            self.broker.create_topic(topic, partitions)
        return created
