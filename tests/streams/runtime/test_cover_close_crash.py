"""A close is never sent twice with other content (issue 20, the kill -9 ledger failure): a
worker dies at each point of a close -- its commit, its state rows, its outputs, the clearing of
its outbox -- more orders of the closed day arrive, and a new owner on a fresh disk (restored
from the changelog), or the worker restarted on its own disk, takes over. Every copy of a version is the same bytes, the first version
holds the orders the close saw (or, if nothing of the close was durable, all of them), and the
later orders come as the next version. Nothing is lost: the last version counts every order."""

from __future__ import annotations

import asyncio
from collections import defaultdict

import pytest

from streams.runtime.cover_state.changelog import changelog_topic
from streams.runtime.cover_state.outbox import COMMIT_PREFIX, PART_PREFIX
from tests.streams.runtime.test_cover_stage import (COVER, ORDERS, Clock, committed_to_end, make_stage, produce,
                                                    run_until_committed, setup_broker, stop, values)
from tests.support.aio import until
from tests.support.cover_inputs import CLOSED, NOON, decoded, order, ref

CHANGELOG = changelog_topic("covertest")


def memory_restore(broker, store):
    """The changelog replay (``cover_state.changelog.replay``) over the in-memory broker."""
    async def restore(partitions) -> None:
        for r in broker.records(CHANGELOG):
            if r.partition in partitions and r.offset >= store.next_changelog_offset(r.partition):
                store.apply(r.partition, [(r.key, r.value)], r.offset, r.offset + 1)
    return restore


def is_commit(d) -> bool:
    return d.topic == CHANGELOG and d.key.startswith(COMMIT_PREFIX) and d.value is not None


def is_state_row(d) -> bool:
    return d.topic == CHANGELOG and not d.key.startswith((COMMIT_PREFIX, PART_PREFIX))


def is_output(d) -> bool:
    return d.topic == COVER


def is_commit_cleared(d) -> bool:
    return d.topic == CHANGELOG and d.key.startswith(COMMIT_PREFIX) and d.value is None


def versions(broker) -> dict[tuple[str, int], set[bytes]]:
    """Each (worker_ref, version) of WorkerDayCover -> the distinct record values sent for it."""
    sent = defaultdict(set)
    for value, record in zip(values(broker, COVER), decoded(values(broker, COVER))):
        sent[(record["worker_ref"], record["version"])].add(value)
    return sent


def totals(value: bytes) -> tuple[int, int]:
    [record] = decoded([value])
    return record["orders"], record["premium_fen"]


@pytest.mark.parametrize("crash_at, first_orders", [
    (is_commit, 10),          # nothing of the close is durable: it is made again, with every order
    (is_state_row, 7),        # committed: the next owner completes it as it was
    (is_output, 7),
    (is_commit_cleared, 7),   # sent already: sent again, the same bytes
])
@pytest.mark.parametrize("disk", ["fresh", "same"])
def test_a_close_killed_at_any_point_is_sent_with_one_content_and_later_orders_make_v2(tmp_path, crash_at,
                                                                                         first_orders, disk):
    async def scenario():
        broker, clock = setup_broker(), Clock(NOON + 3_600_000)
        produce(broker, ORDERS, *[order(n, "w1") for n in range(1, 8)])
        stage = make_stage(broker, tmp_path / "dead", clock)
        task = await run_until_committed(broker, stage)
        clock.now = CLOSED
        stage.step.producer.fail_when = crash_at  # the worker dies at this write: nothing after it runs
        with pytest.raises(Exception):
            await stage.step.close_due()
        await stop(stage, task)

        # Orders 8..10 of the closed day arrive; a new owner (a fresh disk restored from the
        # changelog, or the restarted worker on its own disk) reads every input again.
        produce(broker, ORDERS, *[order(n, "w1") for n in range(8, 11)])
        stage = make_stage(broker, tmp_path / ("dead" if disk == "same" else "fresh"), clock, group="cover-next")
        stage.restore = memory_restore(broker, stage.store)
        task = await run_until_committed(broker, stage, "cover-next")
        await stage.step.close_due()

        sent = versions(broker)
        assert all(len(copies) == 1 for copies in sent.values()), "a version sent with two contents"
        [v1] = sent[(ref("w1"), 1)]
        assert totals(v1) == (first_orders, 4 * first_orders)
        last = max(v for (_, v) in sent)
        assert totals(next(iter(sent[(ref("w1"), last)]))) == (10, 40)
        assert sorted(v for (_, v) in sent) == list(range(1, last + 1))  # each late order amends at once
        assert (last == 1) == (first_orders == 10)
        # the outbox is cleared once the close is complete: no commit left to redo
        state = {}
        for r in broker.records(CHANGELOG):
            state[r.key] = r.value
        assert not [k for k, v in state.items() if k.startswith(COMMIT_PREFIX) and v is not None]
        await stop(stage, task)

    asyncio.run(scenario())


def test_a_failed_commit_write_is_written_again_before_another_close(tmp_path):
    """The commit's write failed but may have landed: the same worker keeps it, and the next
    tick completes that close rather than closing the day again with the orders read since."""
    async def scenario():
        broker, clock = setup_broker(), Clock(NOON + 3_600_000)
        produce(broker, ORDERS, order(1, "w1"), order(2, "w1"))
        stage = make_stage(broker, tmp_path, clock)
        task = await run_until_committed(broker, stage)
        clock.now = CLOSED
        stage.step.producer.fail_when = is_commit
        with pytest.raises(Exception):
            await stage.step.close_due()
        assert values(broker, COVER) == []
        stage.step.producer.fail_when = lambda d: False
        produce(broker, ORDERS, order(3, "w1"))
        await until(lambda: committed_to_end(broker, "cover"), "the late order")
        await stage.step.close_due()
        sent = versions(broker)
        assert [totals(v) for (_, version), vs in sorted(sent.items(), key=lambda kv: kv[0][1]) for v in vs] == \
            [(2, 8), (3, 12)]
        await stop(stage, task)

    asyncio.run(scenario())
