"""Faust's seek back to committed offsets also rewinds the agent partitions with nothing committed
(streams/runtime/faust_rewind.py: records dropped in a rebalance at the start of a partition were
otherwise skipped and then committed unapplied)."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer, TopicPartition

from streams.runtime.faust_rewind import partitions_to_rewind, with_rewind

AGENT, CHANGELOG = "hub.validated.case-events", "app-cases-changelog"


def test_only_agent_partitions_with_nothing_committed_are_rewound():
    committed = {TopicPartition(AGENT, 0): None, TopicPartition(AGENT, 1): 0, TopicPartition(AGENT, 2): 5,
                 TopicPartition(CHANGELOG, 0): None}
    assert sorted(partitions_to_rewind(committed, lambda t: t == AGENT)) == [TopicPartition(AGENT, 0),
                                                                             TopicPartition(AGENT, 1)]


class FakeConsumer:
    def __init__(self) -> None:
        self.seeks: list[tuple[TopicPartition, int]] = []

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.seeks.append((tp, offset))


def test_the_wrapped_seek_rewinds_after_the_original_and_returns_its_offsets():
    committed = {TopicPartition(AGENT, 0): None, TopicPartition(AGENT, 1): 7}

    async def original(consumer, *partitions):
        consumer.seek(TopicPartition(AGENT, 1), 7)  # what aiokafka does for an offset above 0
        return committed

    consumer = FakeConsumer()
    assert asyncio.run(with_rewind(original, lambda t: t == AGENT)(consumer)) == committed
    assert consumer.seeks == [(TopicPartition(AGENT, 1), 7), (TopicPartition(AGENT, 0), 0)]


def test_the_worker_app_installs_the_rewind_once(tmp_path):
    from gigbridge.settings import Settings
    from streams.runtime.app import create_app

    settings = Settings(kafka_bootstrap="127.0.0.1:9", data_dir=tmp_path)
    create_app(settings)
    installed = AIOKafkaConsumer.seek_to_committed
    create_app(settings)
    assert installed.rewinds_uncommitted and AIOKafkaConsumer.seek_to_committed is installed
