"""Topic administration with kafka-python's admin client (sync; call from a thread in async code)."""

from __future__ import annotations

import threading
import time
from typing import Iterable

from kafka import KafkaAdminClient, TopicPartition
from kafka.admin import OffsetSpec
from kafka.errors import TopicAlreadyExistsError, UnknownTopicOrPartitionError

from gigbridge.broker_errors import client_config
from gigbridge.settings import Settings
from gigbridge.topic_policy import topic_configs


def _serialized(method):
    """kafka-python's admin client is not thread-safe (concurrent calls from worker threads
    left it failing every later request with NodeNotReadyError); one call at a time."""
    def call(self, *args, **kwargs):
        with self._lock:
            return method(self, *args, **kwargs)
    call.__doc__, call.__name__ = method.__doc__, method.__name__
    return call


class TopicAdmin:
    """Creates and lists topics. Opens its connection lazily (no I/O in the constructor).
    Safe to call from several threads (calls are serialized)."""

    def __init__(self, settings: Settings, client: KafkaAdminClient | None = None) -> None:
        self._settings = settings
        self._client = client  # injected in tests; else opened on first use
        self._lock = threading.RLock()

    @property
    def client(self) -> KafkaAdminClient:
        if self._client is None:
            self._client = KafkaAdminClient(client_id="gigbridge-admin", **client_config(self._settings))
        return self._client

    @_serialized
    def list_topics(self) -> set[str]:
        return set(self.client.list_topics())

    @_serialized
    def partitions_of(self, topics: Iterable[str]) -> dict[str, int]:
        described = self.client.describe_topics(list(topics))
        return {t["name"]: len(t["partitions"]) for t in described if not t.get("error_code")}

    @_serialized
    def ensure(self, topics: Iterable[str], partitions: int | None = None,
               replication_factor: int | None = None, configs: dict[str, str] | None = None,
               listed: bool = True) -> list[str]:
        """Create the topics that do not exist yet and wait until they have leaders; returns
        the names it created. Idempotent, and safe against a concurrent creator. Without
        ``configs``, each topic gets its family's retention from :mod:`gigbridge.topic_policy`. With
        ``listed=False`` the caller believes they are missing and the topic list (a full
        metadata request: expensive on a cluster of office topics) is not fetched first."""
        missing = sorted(set(topics) - self.list_topics()) if listed else sorted(set(topics))
        if not missing:
            return []
        spec = {"num_partitions": partitions or self._settings.topic_partitions,
                "replication_factor": replication_factor or self._settings.topic_replication_factor}
        window_ms = int(self._settings.dedupe_window_s * 1000)
        result = self.client.create_topics(
            {name: {**spec, "configs": configs or topic_configs(name, window_ms)} for name in missing},
            raise_errors=False)
        created, failed = [], []
        for topic in result["topics"]:
            if topic["error_code"] == 0:
                created.append(topic["name"])
            elif topic["error_code"] != TopicAlreadyExistsError.errno:
                failed.append(f'{topic["name"]}: {topic.get("error_message") or topic["error_code"]}')
        if failed:
            raise RuntimeError("could not create topics: " + "; ".join(failed))
        self.client.wait_for_topics(missing, timeout_ms=30_000)
        self._wait_until_leaders_serve(missing)
        return created

    def _wait_until_leaders_serve(self, topics: list[str]) -> None:
        """Return once every partition's leader answers for it. Metadata names a new partition's
        leader before that broker has taken over the partition (KRaft applies the change
        asynchronously); a produce in between gets NotLeaderForPartition, which aiokafka retries
        and logs every 100 ms, for each new office topic. A ListOffsets request fails the same
        way until then, and kafka-python retries it quietly (bounded by the timeout). On a cluster of
        several brokers, the broker asked for metadata may not know a just-created topic yet
        (UnknownTopicOrPartition, which kafka-python raises at once): asked again until the deadline."""
        partitions = self.partitions_of(topics)
        specs = {TopicPartition(topic, p): OffsetSpec.LATEST for topic, n in partitions.items() for p in range(n)}
        deadline = time.monotonic() + 30.0
        while specs:
            try:
                self.client.list_partition_offsets(specs, timeout_ms=30_000)
                return
            except UnknownTopicOrPartitionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)  # metadata propagates between brokers within milliseconds

    @_serialized
    def group_offsets(self, group_id: str) -> dict[tuple[str, int], int]:
        """The committed offsets of consumer group ``group_id``: (topic, partition) -> offset
        (empty for a group that never committed)."""
        committed = self.client.list_group_offsets({group_id: None}).get(group_id, {})
        return {(tp.topic, tp.partition): meta.offset for tp, meta in committed.items() if meta.offset >= 0}

    @_serialized
    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
