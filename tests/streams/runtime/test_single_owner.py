"""The single-owner assignor and the notice flows' ownership callbacks, without a broker."""

from __future__ import annotations

import asyncio
import json

from aiokafka.coordinator.protocol import ConsumerProtocolMemberMetadata
from prometheus_client import REGISTRY

from streams.runtime.broker.protocols import Record
from streams.runtime.broker.single_owner import SingleOwnerAssignor
from streams.runtime.notices.ownership import NoticeOwnership
from streams.runtime.notices.state import LoggedTables


class Cluster:
    """The one ClusterMetadata method an assignor calls."""

    def __init__(self, partitions: dict[str, int]) -> None:
        self.partitions = partitions

    def partitions_for_topic(self, topic: str):
        return set(range(self.partitions[topic])) if topic in self.partitions else None


def member(*topics: str) -> ConsumerProtocolMemberMetadata:
    return SingleOwnerAssignor.metadata(topics)


def owned(assignment) -> dict[str, list[tuple[str, list[int]]]]:
    return {m: [(t, list(ps)) for t, ps in a.assignment] for m, a in assignment.items()}


def test_every_partition_goes_to_the_lowest_member_and_the_others_get_nothing():
    cluster = Cluster({"a": 3, "b": 1, "gov.notices.44": 2})
    members = {f"notices-{m}": member("a", "b", "gov.notices.44") for m in ("c3", "a1", "b2")}
    result = owned(SingleOwnerAssignor.assign(cluster, members))
    assert result == {"notices-a1": [("a", [0, 1, 2]), ("b", [0]), ("gov.notices.44", [0, 1])],
                      "notices-b2": [], "notices-c3": []}
    # the owner leaves: everything goes to the next one, deterministically
    del members["notices-a1"]
    again = owned(SingleOwnerAssignor.assign(cluster, members))
    assert again == {"notices-b2": [("a", [0, 1, 2]), ("b", [0]), ("gov.notices.44", [0, 1])], "notices-c3": []}
    assert owned(SingleOwnerAssignor.assign(cluster, members)) == again


def test_a_topic_without_metadata_yet_is_left_out_and_a_topic_only_some_subscribe_to_goes_to_one_of_them():
    cluster = Cluster({"a": 1, "late": 2})
    members = {"m1": member("a"), "m2": member("a", "late", "unknown")}
    assert owned(SingleOwnerAssignor.assign(cluster, members)) == {"m1": [("a", [0])], "m2": [("late", [0, 1])]}


def state_record(table: str, key: str, value) -> Record:
    return Record("s", 0, 0, f"{table}|{key}".encode(), json.dumps(value).encode(), 0)


def test_ownership_restores_on_the_first_assignment_drops_on_losing_everything_and_gates_the_timer():
    tables = LoggedTables("s", "tracks")
    log = [state_record("tracks", "n1|p1", {"state": "OVERDUE"})]
    reads: list[int] = []

    async def read_state():
        reads.append(1)
        return list(log)

    ownership = NoticeOwnership(tables, read_state, keep_trying=lambda: True)

    async def tick_sees() -> bool:
        async with ownership.guard() as owner:
            return owner

    async def scenario():
        assert not await tick_sees()  # nothing assigned yet: the timer does nothing
        await ownership.revoked(set())  # a stand-by member's (empty) revocation changes nothing
        await ownership.assigned(set())
        assert not await tick_sees() and reads == []
        await ownership.assigned({("gov.notices.44", 0), ("gov.notices.44", 1)})
        assert await tick_sees() and reads == [1]
        assert dict(tables["tracks"]) == {"n1|p1": {"state": "OVERDUE"}}
        assert REGISTRY.get_sample_value("gigbridge_notice_owner") == 1
        await ownership.assigned({("platform.x.measures", 0)})  # more partitions: no second restore
        assert reads == [1]
        await ownership.revoked({("gov.notices.44", 0)})  # still owns the others: state kept
        assert await tick_sees() and len(tables["tracks"]) == 1
        tables["tracks"]["n2|p1"] = {"state": "AWAITING"}
        await ownership.revoked({("gov.notices.44", 1), ("platform.x.measures", 0)})
        assert not await tick_sees()
        assert len(tables["tracks"]) == 0 and tables.changes() == []  # dropped, nothing left to publish
        assert REGISTRY.get_sample_value("gigbridge_notice_owner") == 0
        log.append(state_record("tracks", "n2|p1", {"state": "ANSWERED"}))
        await ownership.assigned({("gov.notices.44", 0)})  # taken back: restored from the log again
        assert reads == [1, 1] and dict(tables["tracks"]) == {
            "n1|p1": {"state": "OVERDUE"}, "n2|p1": {"state": "ANSWERED"}}

    asyncio.run(scenario())


def test_a_stopping_worker_does_not_take_ownership_without_its_state():
    async def unreachable():
        raise OSError("broker down")

    ownership = NoticeOwnership(LoggedTables("s", "tracks"), unreachable, keep_trying=lambda: False)
    asyncio.run(ownership.assigned({("gov.notices.44", 0)}))
    assert not ownership.owner


def test_a_failed_restore_is_retried_before_any_record_is_read():
    attempts: list[int] = []

    async def flaky():
        attempts.append(1)
        if len(attempts) == 1:
            raise OSError("broker not reachable yet")
        return [state_record("tracks", "n1|p1", {"state": "AWAITING"})]

    tables = LoggedTables("s", "tracks")
    ownership = NoticeOwnership(tables, flaky, keep_trying=lambda: True, backoff_s=(0.0, 0.0))
    asyncio.run(ownership.assigned({("gov.notices.44", 0)}))
    assert ownership.owner and len(attempts) == 2 and dict(tables["tracks"]) == {"n1|p1": {"state": "AWAITING"}}
