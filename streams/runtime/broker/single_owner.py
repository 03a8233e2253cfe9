"""A consumer-group assignor that gives every partition to ONE member: a single owner, the others
stand by.

Guarantee: in each generation of the group, every partition of every topic any member subscribes
to is assigned to the same member (the lowest member id subscribed to it, so the choice is
deterministic); every other member gets an empty assignment. When the owner leaves or its session
expires, the next rebalance hands everything to one of the remaining members.

Cost: no parallelism (meant for low-volume, globally stateful flows such as the weather notices)
and a failover takes the group's rebalance (a graceful leave: at once; a crash: the session
timeout) plus whatever the new owner needs to restore its state. Public aiokafka API only: pass
the class in ``partition_assignment_strategy``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from aiokafka.cluster import ClusterMetadata
from aiokafka.coordinator.assignors.abstract import AbstractPartitionAssignor
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment, ConsumerProtocolMemberMetadata


class SingleOwnerAssignor(AbstractPartitionAssignor):
    name = "single-owner"
    version = 0

    @classmethod
    def assign(cls, cluster: ClusterMetadata,
               members: Mapping[str, ConsumerProtocolMemberMetadata]) -> dict[str, ConsumerProtocolMemberAssignment]:
        owned: dict[str, dict[str, list[int]]] = {member: {} for member in members}
        for topic in sorted({t for meta in members.values() for t in meta.subscription}):
            partitions = cluster.partitions_for_topic(topic)
            if not partitions:  # no metadata yet: assigned at the next rebalance
                continue
            owner = min(m for m, meta in members.items() if topic in meta.subscription)
            owned[owner][topic] = sorted(partitions)
        return {member: ConsumerProtocolMemberAssignment(cls.version, sorted(topics.items()), b"")
                for member, topics in owned.items()}

    @classmethod
    def metadata(cls, topics: Iterable[str]) -> ConsumerProtocolMemberMetadata:
        return ConsumerProtocolMemberMetadata(cls.version, list(topics), b"")

    @classmethod
    def on_assignment(cls, assignment: ConsumerProtocolMemberAssignment) -> None:
        pass  # stateless
