"""The contract every Sink implementation honours (run once per entry of SINK_FACTORIES)."""

from __future__ import annotations

import asyncio

import pytest

from connectors.sinks.base import DeadLetter, Delivered, SinkRecord, SinkStopped


def make_records(n: int, prefix: str = "evt", keys: tuple[str | None, ...] = (None, "inc-a", "inc-b")) -> list[SinkRecord]:
    return [
        SinkRecord(key=keys[i % len(keys)],
                   value={"event_id": f"{prefix}-{i}", "seq": i, "province": "广东省", "amount": i * 1.5},
                   idempotency_key=f"{prefix}-{i}", meta=("offset", i))
        for i in range(n)
    ]


async def test_flush_delivers_every_record_once_in_order(sink_harness):
    async with sink_harness() as h:
        records = make_records(25)
        for r in records:
            h.sink.add(r)
        assert h.sink.pending == 25
        outcomes = await h.sink.flush()
        assert len(outcomes) == 25
        for record, outcome in zip(records, outcomes):
            assert isinstance(outcome, Delivered), outcome
            assert outcome.record is record and outcome.record.meta == record.meta
            assert outcome.receipt["attempts"] >= 1
            assert outcome.receipt.get("claim_reference")
        assert sorted(h.accepted_keys()) == sorted(r.idempotency_key for r in records)
        assert h.sink.pending == 0
        assert await h.sink.flush() == []  # the buffer was cleared


async def test_flush_with_nothing_buffered_returns_empty_list(sink_harness):
    async with sink_harness() as h:
        assert await h.sink.flush() == []
        assert h.accepted_keys() == []


async def test_redelivery_of_same_keys_creates_no_duplicate_claims(sink_harness):
    async with sink_harness() as h:
        first = make_records(10)
        for r in first:
            h.sink.add(r)
        refs = [o.receipt["claim_reference"] for o in await h.sink.flush()]
        again = make_records(10)  # new objects, same idempotency keys (a replay after a crash)
        for r in again:
            h.sink.add(r)
        outcomes = await h.sink.flush()
        assert all(isinstance(o, Delivered) for o in outcomes)
        assert [o.receipt["claim_reference"] for o in outcomes] == refs
        assert len(h.accepted_keys()) == 10
        assert len(set(h.accepted_keys())) == 10


async def test_permanent_failure_dead_letters_only_that_record(sink_harness):
    async with sink_harness() as h:
        if h.reject is None:
            pytest.skip("this implementation cannot simulate a permanent refusal")
        records = make_records(6)
        h.reject(records[2].idempotency_key)
        for r in records:
            h.sink.add(r)
        outcomes = await h.sink.flush()
        assert len(outcomes) == 6
        dead = outcomes[2]
        assert isinstance(dead, DeadLetter) and dead.record is records[2]
        assert dead.status == 422 and dead.reason == "http_422"
        assert "rejected" in dead.response_body
        assert all(isinstance(o, Delivered) for i, o in enumerate(outcomes) if i != 2)
        assert records[2].idempotency_key not in h.accepted_keys()
        assert len(h.accepted_keys()) == 5


async def test_same_key_records_reach_the_destination_in_order(sink_harness):
    async with sink_harness() as h:
        records = make_records(30, keys=("incident-1", None, "incident-2", None))
        for r in records:
            h.sink.add(r)
        await h.sink.flush()
        accepted = h.accepted_keys()
        for key in ("incident-1", "incident-2"):
            wanted = [r.idempotency_key for r in records if r.key == key]
            assert [k for k in accepted if k in wanted] == wanted


async def test_stop_during_outage_raises_and_keeps_records_buffered(sink_harness, poll):
    async with sink_harness() as h:
        if h.outage is None:
            pytest.skip("this implementation cannot simulate an outage")
        records = make_records(5)
        for r in records:
            h.sink.add(r)
        h.outage(True)
        flushing = asyncio.create_task(h.sink.flush())
        await poll(lambda: h.sink.paused, what="sink paused")
        await h.sink.stop()
        with pytest.raises(SinkStopped):
            await flushing
        assert h.sink.pending == 5
        with pytest.raises(SinkStopped):
            await h.sink.flush()  # stopped stays stopped until start()
        h.outage(False)
        await h.sink.start()
        outcomes = await h.sink.flush()
        assert [o.record for o in outcomes] == records
        assert all(isinstance(o, Delivered) for o in outcomes)
        assert sorted(h.accepted_keys()) == sorted(r.idempotency_key for r in records)


async def test_cancelled_flush_loses_nothing(sink_harness, poll):
    async with sink_harness() as h:
        if h.outage is None:
            pytest.skip("this implementation cannot simulate an outage")
        records = make_records(4)
        for r in records:
            h.sink.add(r)
        h.outage(True)
        flushing = asyncio.create_task(h.sink.flush())
        await poll(lambda: h.sink.paused, what="sink paused")
        flushing.cancel()
        with pytest.raises(asyncio.CancelledError):
            await flushing
        assert h.sink.pending == 4
        h.outage(False)
        outcomes = await h.sink.flush()
        assert [o.record for o in outcomes] == records
        assert all(isinstance(o, Delivered) for o in outcomes)
        assert len(h.accepted_keys()) == 4


async def test_records_added_during_a_flush_wait_for_the_next_one(sink_harness, poll):
    async with sink_harness() as h:
        if h.outage is None:
            pytest.skip("this implementation cannot simulate an outage")
        early, late = make_records(3, "early"), make_records(2, "late")
        for r in early:
            h.sink.add(r)
        h.outage(True)
        flushing = asyncio.create_task(h.sink.flush())
        await poll(lambda: h.sink.paused, what="sink paused")
        for r in late:
            h.sink.add(r)
        h.outage(False)
        assert [o.record for o in await flushing] == early
        assert h.sink.pending == 2
        assert [o.record for o in await h.sink.flush()] == late
