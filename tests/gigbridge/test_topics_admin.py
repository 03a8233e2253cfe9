"""TopicAdmin without a broker: a just-created topic that the asked broker does not know yet."""

import pytest
from kafka.errors import UnknownTopicOrPartitionError

from gigbridge.settings import Settings
from gigbridge.topics_admin import TopicAdmin


class NewTopicClient:
    """Creates topics; the first ``unknown_for`` ListOffsets calls fail as on a broker whose
    metadata has not caught up with the creation (a cluster of several brokers)."""

    def __init__(self, unknown_for: int) -> None:
        self.unknown_for, self.offset_calls = unknown_for, 0

    def list_topics(self):
        return []

    def create_topics(self, topics, raise_errors):
        return {"topics": [{"name": name, "error_code": 0} for name in topics]}

    def wait_for_topics(self, topics, timeout_ms):
        return None

    def describe_topics(self, topics):
        return [{"name": t, "partitions": [{"partition_index": 0}]} for t in topics]

    def list_partition_offsets(self, specs, timeout_ms):
        self.offset_calls += 1
        if self.offset_calls <= self.unknown_for:
            raise UnknownTopicOrPartitionError("The following partitions are not known: ...")
        return {tp: 0 for tp in specs}


def test_a_topic_another_broker_does_not_know_yet_is_asked_for_again(monkeypatch):
    pauses = []
    monkeypatch.setattr("gigbridge.topics_admin.time.sleep", pauses.append)
    client = NewTopicClient(unknown_for=2)
    admin = TopicAdmin(Settings(), client=client)
    assert admin.ensure(["hub.example"], partitions=1, configs={"cleanup.policy": "compact"}) == ["hub.example"]
    assert client.offset_calls == 3 and len(pauses) == 2


def test_a_topic_never_known_fails_after_the_deadline(monkeypatch):
    clock = iter([0.0, 10.0, 40.0])
    monkeypatch.setattr("gigbridge.topics_admin.time.monotonic", lambda: next(clock))
    monkeypatch.setattr("gigbridge.topics_admin.time.sleep", lambda s: None)
    with pytest.raises(UnknownTopicOrPartitionError):
        TopicAdmin(Settings(), client=NewTopicClient(unknown_for=99)).ensure(["hub.example"], partitions=1,
                                                                              configs={})
