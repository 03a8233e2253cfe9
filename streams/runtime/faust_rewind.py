"""Faust re-reads, after a rebalance, the records it dropped -- also at the start of a partition.

Why: while a rebalance or a table recovery holds the flow, Faust drops the records its consumer
has already fetched (and clears the agents' buffers), then seeks every partition back to its
committed offset (``perform_seek``, through aiokafka's ``seek_to_committed``) to read them again.
aiokafka seeks only partitions whose committed offset is above 0: a partition of an agent's topic
with nothing committed yet (or 0) keeps its advanced position, so the dropped records are never
handed to the agent; once a later record is acknowledged, Faust commits past them and they are
lost. Found by the case ledger (issue #16): a case step forwarded to a fresh
``hub.validated.case-events`` partition while a second worker joined was committed unapplied;
a worker whose group re-formed while its first cases waited applied none of them.

The fix: after aiokafka's seek, the partitions of Faust's acknowledged (agent source) topics whose
committed offset is None or 0 are seeked to offset 0 -- where the consumer's ``earliest`` reset
starts them anyway (an offset 0 already deleted by retention falls back to that reset). Changelog
topics (not acknowledged) keep Faust's own recovery positions. Re-reading is at-least-once: an
owner applies a record it sees again as a replay.
"""

from __future__ import annotations

import weakref
from typing import Callable, Mapping

from aiokafka import AIOKafkaConsumer

_APPS: weakref.WeakSet = weakref.WeakSet()  # the Faust apps of this process (tests make many)


def partitions_to_rewind(committed: Mapping, acked_topic: Callable[[str], bool]) -> list:
    """The partitions ``seek_to_committed`` left where they were although records before their
    position may not have been processed: nothing (or 0) committed, on a topic an agent acknowledges."""
    return [tp for tp, offset in committed.items() if not offset and acked_topic(tp.topic)]


def _any_app_acks(topic: str) -> bool:
    return any(app.topics.acks_enabled_for(topic) for app in list(_APPS))


def with_rewind(seek_to_committed, acked_topic: Callable[[str], bool]):
    """``seek_to_committed`` (aiokafka's), then the :func:`partitions_to_rewind` seeked to 0."""
    async def seek_then_rewind(consumer, *partitions):
        committed = await seek_to_committed(consumer, *partitions)
        for tp in partitions_to_rewind(committed, acked_topic):
            consumer.seek(tp, 0)
        return committed

    seek_then_rewind.rewinds_uncommitted = True
    seek_then_rewind.__doc__ = seek_to_committed.__doc__
    return seek_then_rewind


def rewind_uncommitted_partitions(app) -> None:
    """Make Faust's seek back to committed offsets also cover the partitions of ``app``'s agent
    topics with nothing committed (idempotent; wraps aiokafka's public ``seek_to_committed`` once
    per process, and uses only ``app.topics.acks_enabled_for``)."""
    _APPS.add(app)
    if not getattr(AIOKafkaConsumer.seek_to_committed, "rewinds_uncommitted", False):
        AIOKafkaConsumer.seek_to_committed = with_rewind(AIOKafkaConsumer.seek_to_committed, _any_app_acks)
