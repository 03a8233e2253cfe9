"""The broker protocols on Kafka: :class:`KafkaConsumer` (aiokafka), the producer is
:class:`streams.runtime.writer.Writer` and the admin :class:`gigbridge.topics_admin.TopicAdmin`."""

from __future__ import annotations

from typing import Any, Sequence

from aiokafka.abc import ConsumerRebalanceListener

from streams.runtime.broker.protocols import CommitFailed, ConsumerStopped, RebalanceListener, Record


class KafkaConsumer:
    """A consumer-group member with manual commits (:class:`streams.runtime.broker.protocols.Consumer`).
    ``config`` is passed to ``AIOKafkaConsumer`` (connection settings and fetch tuning); the
    client is made in :meth:`start`, inside the event loop."""

    def __init__(self, group_id: str, config: dict[str, Any], auto_offset_reset: str = "earliest") -> None:
        self.group_id = group_id
        self.config = {"client_id": group_id, "auto_offset_reset": auto_offset_reset, **config}
        self.client: Any = None  # the AIOKafkaConsumer once started: for metrics and diagnostics only
        self._subscription: dict[str, Any] = {}

    def subscribe(self, *, topics: Sequence[str] = (), pattern: str | None = None,
                  listener: RebalanceListener | None = None) -> None:
        self._subscription = {"topics": tuple(topics), "pattern": pattern, "listener": listener}

    async def start(self) -> None:
        """Join the group. A failed start leaves nothing behind: it may be called again."""
        from aiokafka import AIOKafkaConsumer

        if self.client is None:
            client = AIOKafkaConsumer(group_id=self.group_id, enable_auto_commit=False, **self.config)
            sub = self._subscription
            listener = _Listener(sub["listener"]) if sub.get("listener") is not None else None
            if sub.get("pattern"):
                client.subscribe(pattern=sub["pattern"], listener=listener)
            else:
                client.subscribe(topics=list(sub.get("topics", ())), listener=listener)
            self.client = client
        await self.client.start()

    async def stop(self) -> None:
        if self.client is not None:
            await self.client.stop()

    async def getmany(self, timeout_ms: int, max_records: int | None = None) -> dict[Any, list[Record]]:
        from aiokafka.errors import ConsumerStoppedError

        try:
            return await self.client.getmany(timeout_ms=timeout_ms, max_records=max_records)
        except ConsumerStoppedError as exc:
            raise ConsumerStopped() from exc

    def assignment(self) -> set:
        return set(self.client.assignment()) if self.client is not None else set()

    def subscription(self) -> set[str]:
        return set(self.client.subscription()) if self.client is not None else set()

    def seek(self, tp: Any, offset: int) -> None:
        self.client.seek(_tp(tp), offset)

    async def commit(self, offsets: dict[Any, int]) -> None:
        from aiokafka.errors import CommitFailedError, IllegalStateError

        try:
            await self.client.commit({_tp(tp): offset for tp, offset in offsets.items()})
        except (CommitFailedError, IllegalStateError) as exc:
            raise CommitFailed(str(exc)) from exc

    async def committed(self, tp: Any) -> int | None:
        return await self.client.committed(_tp(tp))

    def highwater(self, tp: Any) -> int | None:
        return self.client.highwater(_tp(tp))


def _tp(tp: Any):
    from aiokafka import TopicPartition

    return tp if isinstance(tp, TopicPartition) else TopicPartition(*tp)


class _Listener(ConsumerRebalanceListener):
    """aiokafka wants a ``ConsumerRebalanceListener``; this one passes sets on."""

    def __init__(self, listener: RebalanceListener) -> None:
        self.listener = listener

    async def on_partitions_revoked(self, revoked) -> None:
        await self.listener.on_partitions_revoked(set(revoked))

    async def on_partitions_assigned(self, assigned) -> None:
        await self.listener.on_partitions_assigned(set(assigned))
