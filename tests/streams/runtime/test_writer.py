"""streams.runtime.writer.Writer without a broker: which topics it creates, with how many partitions."""

import asyncio

from streams.core.plan import Delivery
from streams.runtime.writer import Writer


class RecordingAdmin:
    def __init__(self):
        self.calls = []

    def ensure(self, topics, partitions, replication, configs, listed):
        self.calls.append((sorted(topics), partitions))


def test_missing_topics_are_created_with_their_partition_count_once():
    admin = RecordingAdmin()
    writer = Writer(lambda: None, admin, lambda t: 1 if t.startswith("gov.office.") else None)
    writer.known_topics = {"hub.validated.sites"}
    deliveries = [Delivery("validated", "hub.validated.sites", b"k", b"v"),
                  Delivery("office", "gov.office.310101.sites", b"k", b"v"),
                  Delivery("office", "gov.office.310104.sites", b"k", b"v"),
                  Delivery("insurance", "gov.insurance.31.incidents", b"k", b"v")]
    asyncio.run(writer._ensure_topics(deliveries))
    assert sorted(admin.calls, key=str) == sorted(
        [(["gov.office.310101.sites", "gov.office.310104.sites"], 1), (["gov.insurance.31.incidents"], None)], key=str)
    asyncio.run(writer._ensure_topics(deliveries))  # known now: nothing asked again
    assert len(admin.calls) == 2
