"""The cover stage's two input topics exist with one partition count (co-partitioned).

``hub.validated.orders`` and ``hub.cover.incidents`` are keyed by ``"<platform_id>:<province>"``
(``streams.core.cover.keys``); the cover stage joins partition *n* of one with partition *n* of the
other, which is only right while both have the same number of partitions.
"""

from __future__ import annotations

from typing import Protocol

from streams.core.topics import COVER_INCIDENTS_TOPIC, validated_topic

COPARTITIONED_TOPICS = (validated_topic("orders"), COVER_INCIDENTS_TOPIC)


class CopartitionError(RuntimeError):
    """The cover stage's input topics exist with different partition counts."""


class _Admin(Protocol):
    def partitions_of(self, topics) -> dict[str, int]: ...
    def ensure(self, topics, partitions: int | None = None) -> list[str]: ...


def ensure_cover_topics(admin: _Admin) -> list[str]:
    """Create whichever of the two is missing with the partition count of the one that exists
    (both missing: the default count); returns the topics created. Raises
    :class:`CopartitionError` when both exist with different counts: repartitioning is an
    operator's decision (the cover state of a platform-province would move)."""
    counts = admin.partitions_of(COPARTITIONED_TOPICS)
    if len(set(counts.values())) > 1:
        raise CopartitionError(f"{' and '.join(COPARTITIONED_TOPICS)} must have the same partition count, "
                               f"found {counts}")
    partitions = next(iter(counts.values()), None)
    return admin.ensure(COPARTITIONED_TOPICS, partitions=partitions)
