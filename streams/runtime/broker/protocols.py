"""What the hub needs from a broker, and nothing more.

* :class:`Consumer`: a group member with manual commits (the consume loop, ``streams.runtime``);
* :class:`Producer`: writes records and returns where the broker appended them, after
  acknowledging them (acks=all), as two steps so a batch's sends overlap the next batch's work;
* :class:`Admin`: lists, describes and creates topics.

Partitions are ``(topic, partition)`` named tuples (aiokafka's ``TopicPartition`` is one; any
tuple of the two compares equal to it), records carry ``topic, partition, offset, key, value,
timestamp``.
"""

from __future__ import annotations

from typing import Any, Iterable, NamedTuple, Protocol, Sequence, runtime_checkable


class TopicPartition(NamedTuple):
    topic: str
    partition: int


class Record(NamedTuple):
    """One consumed record (the fields of aiokafka's ``ConsumerRecord`` the hub reads)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: int
    headers: tuple = ()


class Ack(NamedTuple):
    """Where the broker appended one record."""

    topic: str
    partition: int
    offset: int


class CommitFailed(Exception):
    """A commit the group did not accept (the member no longer owns the partition)."""


class ConsumerStopped(Exception):
    """:meth:`Consumer.getmany` was interrupted by :meth:`Consumer.stop`."""


@runtime_checkable
class RebalanceListener(Protocol):
    """Called by the consumer around a change of its assignment: ``revoked`` with the
    partitions it gives up (before anyone else reads them), ``assigned`` with the ones it owns
    afterwards (before it returns records of them)."""

    async def on_partitions_revoked(self, revoked: set) -> None: ...

    async def on_partitions_assigned(self, assigned: set) -> None: ...


class Consumer(Protocol):
    """A member of one consumer group; offsets are committed only by :meth:`commit`. Nothing
    touches the network before :meth:`start`."""

    group_id: str

    def subscribe(self, *, topics: Sequence[str] = (), pattern: str | None = None,
                  listener: RebalanceListener | None = None) -> None: ...

    async def start(self) -> None: ...

    async def stop(self) -> None:
        """Leave the group (its partitions go to the other members) and close."""

    async def getmany(self, timeout_ms: int, max_records: int | None = None) -> dict[Any, list[Record]]:
        """Records of the owned partitions from each one's position on, in offset order per
        partition; empty after ``timeout_ms`` without any."""

    def assignment(self) -> set: ...

    def subscription(self) -> set[str]: ...

    def seek(self, tp: Any, offset: int) -> None:
        """The next :meth:`getmany` returns ``tp`` from ``offset`` on."""

    async def commit(self, offsets: dict[Any, int]) -> None:
        """Store ``offsets`` (the next offset to read) as the group's; raises if the group no
        longer lets this member commit them."""

    async def committed(self, tp: Any) -> int | None: ...

    def highwater(self, tp: Any) -> int | None:
        """The partition's end offset as last seen by a fetch (None before one)."""


class Producer(Protocol):
    """``send`` hands records over and returns a handle; ``acknowledged`` waits until the broker
    acknowledged all of them (re-sending failures) and returns each one's :class:`Ack`, in
    order. ``write`` is both. Records to one partition keep their order."""

    async def send(self, deliveries: list) -> Any: ...

    async def acknowledged(self, deliveries: list, sent: Any) -> list[Ack]: ...

    async def write(self, deliveries: list) -> list[Ack]: ...

    async def stop(self) -> None: ...


class Admin(Protocol):
    """Blocking calls (the hub runs them in a thread)."""

    def list_topics(self) -> set[str]: ...

    def partitions_of(self, topics: Iterable[str]) -> dict[str, int]: ...

    def ensure(self, topics: Iterable[str], partitions: int | None = None, replication_factor: int | None = None,
               configs: dict[str, str] | None = None, listed: bool = True) -> list[str]: ...

