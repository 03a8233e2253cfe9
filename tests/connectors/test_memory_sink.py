"""InMemorySink as a caller's test double."""

from __future__ import annotations

import asyncio

from connectors.sinks.base import DeadLetter, Delivered, SinkRecord, SinkStopped
from connectors.sinks.memory import InMemorySink


def rec(i: int) -> SinkRecord:
    return SinkRecord(key=None, value={"i": i}, idempotency_key=f"e{i}", meta={"offset": i})


async def test_fail_permanently_at_construction_and_references():
    sink = InMemorySink(fail_permanently={"e1"}, fail_status=400, fail_body="nope")
    for i in range(3):
        sink.add(rec(i))
    outcomes = await sink.flush()
    assert [type(o) for o in outcomes] == [Delivered, DeadLetter, Delivered]
    assert (outcomes[1].status, outcomes[1].reason, outcomes[1].response_body) == (400, "http_400", "nope")
    assert [o.receipt["claim_reference"] for o in (outcomes[0], outcomes[2])] == ["MEM-1", "MEM-2"]
    assert [r.idempotency_key for r in sink.delivered] == ["e0", "e2"]
    assert sink.claims_for("e0") == 1 and sink.claims_for("e1") == 0
    await sink.stop()


async def test_outage_blocks_flush_until_up_and_counts_retries(poll):
    retries = []
    sink = InMemorySink(on_retry=retries.append)
    sink.add(rec(1))
    sink.go_down("http_503")
    flushing = asyncio.create_task(sink.flush())
    await poll(lambda: len(retries) >= 3, what="retries")
    assert not flushing.done() and sink.down
    sink.come_up()
    [outcome] = await flushing
    assert isinstance(outcome, Delivered) and outcome.receipt["attempts"] == len(retries) + 1
    assert {r.reason for r in retries} == {"http_503"}
    assert outcome.record.meta == {"offset": 1}
    await sink.stop()


async def test_discard_drops_buffer_and_stop_then_flush_raises():
    sink = InMemorySink()
    sink.add(rec(1))
    sink.add(rec(2))
    assert [r.idempotency_key for r in sink.discard()] == ["e1", "e2"]
    assert sink.pending == 0
    await sink.stop()
    sink.add(rec(3))
    try:
        await sink.flush()
    except SinkStopped:
        pass
    else:
        raise AssertionError("flush after stop must raise SinkStopped")
    assert sink.pending == 1
    await sink.start()
    assert len(await sink.flush()) == 1


async def test_outcomes_reached_before_a_cancelled_flush_are_kept_not_resent(poll):
    from connectors.sinks.base import RetryableError

    class Flaky(InMemorySink):
        blocked = {"e1"}

        async def _attempt(self, record, attempt):
            if record.idempotency_key in self.blocked:
                await asyncio.sleep(0)
                raise RetryableError(reason="http_503")
            return await super()._attempt(record, attempt)

    sink = Flaky(concurrency=1)
    sink.add(rec(0))
    sink.add(rec(1))
    flushing = asyncio.create_task(sink.flush())
    await poll(lambda: sink.paused and len(sink.delivered) == 1, what="e0 delivered, e1 retrying")
    flushing.cancel()
    try:
        await flushing
    except asyncio.CancelledError:
        pass
    assert sink.pending == 2  # both stay buffered until a flush returns
    sink.blocked = set()
    outcomes = await sink.flush()
    assert [o.record.idempotency_key for o in outcomes] == ["e0", "e1"]
    assert all(isinstance(o, Delivered) for o in outcomes)
    assert [r.idempotency_key for r in sink.attempts].count("e0") == 1  # not re-sent
    await sink.stop()
