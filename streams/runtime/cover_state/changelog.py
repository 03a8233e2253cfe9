"""The cover changelog: the durable copy of the cover stage's state.

One compacted topic, ``<app_id>-cover-changelog``, with the cover inputs' partition count;
partition p holds the rows of input partition p (``streams.runtime.cover_state.codec``), one
record per changed row, a tombstone (no value) per removed row. The last record of a key is
the row. Written after a batch's outputs were acknowledged, or, for a close, as an outbox
commit before its outputs are sent (``streams.runtime.cover_state.outbox``); replayed into the
local :class:`~streams.runtime.cover_state.store.CoverStore` when a worker takes a partition
(on a fresh disk: from the start).
"""

from __future__ import annotations

from typing import Iterable

from gigbridge.topic_policy import topic_configs
from streams.core.plan import Delivery
from streams.runtime.cover_state.store import Change, CoverStore
from streams.runtime.dedupe.log import assign_for_replay


def changelog_topic(app_id: str) -> str:
    return f"{app_id}-cover-changelog"


def changelog_configs(app_id: str) -> dict[str, str]:
    return topic_configs(changelog_topic(app_id), 0)  # the compacted "state" family (gigbridge.topic_policy)


def changelog_records(app_id: str, partition: int, changes: Iterable[Change]) -> list[Delivery]:
    topic = changelog_topic(app_id)
    return [Delivery("cover-changelog", topic, key, value, partition=partition) for key, value in changes]


async def replay(consumer, store: CoverStore, app_id: str, partitions: Iterable[int],
                 fetch_timeout_ms: int = 1000) -> int:
    """Bring ``store`` up to date for ``partitions``: each changelog partition from the store's
    ``next_changelog_offset`` (or the earliest offset still there) to the end offset seen at the
    start. ``consumer`` is an aiokafka consumer without a group. Returns the records applied."""
    from aiokafka import TopicPartition

    topic = changelog_topic(app_id)
    wanted = {TopicPartition(topic, p): p for p in partitions}
    if not wanted:
        return 0
    begins, ends = await assign_for_replay(consumer, list(wanted))
    todo = {}
    for tp, p in wanted.items():
        start = max(store.next_changelog_offset(p), begins[tp])
        if start != store.next_changelog_offset(p):
            store.skip_to(p, min(start, ends[tp]))
        if start < ends[tp]:
            todo[tp] = ends[tp]
            consumer.seek(tp, start)
        else:
            consumer.pause(tp)
    applied = 0
    while todo:
        batches = await consumer.getmany(*todo, timeout_ms=fetch_timeout_ms)
        for tp, records in batches.items():
            records = [r for r in records if r.offset < todo.get(tp, -1)]
            if records:
                store.apply(wanted[tp], [(r.key, r.value) for r in records], store.next_changelog_offset(wanted[tp]),
                            records[-1].offset + 1)
                applied += len(records)
        for tp in list(todo):
            if await consumer.position(tp) >= todo[tp]:
                store.skip_to(wanted[tp], todo.pop(tp))
                consumer.pause(tp)
    return applied
