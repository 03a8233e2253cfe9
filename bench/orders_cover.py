"""The cover stage in the orders bench (issue #20): when is an order's cover state durable?

The stage commits its input offsets on ``hub.validated.orders`` (group ``<app_id>-cover``) only
after the unit's outputs were acknowledged and its rows written to the changelog and the local
store, so "the cover group's committed offset is past a record" is "that order is counted in
durable cover state". Polling the committed offsets (every ``POLL_S``) therefore gives, for
every validated order, an upper bound on the moment it became durable (late by at most one poll).

* :func:`wait_cover_durable`: the backlog case -- when every validated order is durable;
* :func:`cover_latency`: the paced case -- per order, send time -> durable (p50 / p99).
"""

from __future__ import annotations

import asyncio
import time

from aiokafka import TopicPartition

from bench.common import PARTITIONS, now_ms, percentile
from bench.kafkaio import Kafka

VALIDATED = "hub.validated.orders"
POLL_S = 0.05


def cover_group(proc) -> str:
    return f"{proc.env['GIGBRIDGE_APP_ID']}-cover"


def validated_tps() -> list[TopicPartition]:
    return [TopicPartition(VALIDATED, p) for p in range(PARTITIONS)]


async def committed(k: Kafka, group: str) -> dict[TopicPartition, int]:
    offsets = await k.admin.list_consumer_group_offsets(group, partitions=validated_tps())
    return {tp: meta.offset for tp, meta in offsets.items() if meta is not None and meta.offset >= 0}


class CommitLog:
    """(epoch ms, committed offsets) of the cover group, polled until :meth:`stop`."""

    def __init__(self, k: Kafka, group: str) -> None:
        self.k, self.group = k, group
        self.polls: list[tuple[int, dict[TopicPartition, int]]] = []
        self._task: asyncio.Task | None = None

    def start(self) -> "CommitLog":
        self._task = asyncio.ensure_future(self._run())
        return self

    async def _run(self) -> None:
        while True:
            offsets = await committed(self.k, self.group)
            self.polls.append((now_ms(), offsets))
            await asyncio.sleep(POLL_S)

    async def stop(self) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    def durable_at(self, tp: TopicPartition, offset: int) -> int | None:
        """The first poll whose committed offset of ``tp`` is past ``offset``."""
        for at, offsets in self.polls:
            if offsets.get(tp, -1) > offset:
                return at
        return None


async def wait_cover_durable(k: Kafka, proc, ends: dict[TopicPartition, int], timeout_s: float) -> int | None:
    """Epoch ms at which the cover group's committed offsets reached ``ends`` (None: timed out)."""
    group, deadline = cover_group(proc), time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        proc.check_alive()
        offsets = await committed(k, group)
        if all(offsets.get(tp, 0) >= end for tp, end in ends.items() if end > 0):
            return now_ms()
        await asyncio.sleep(POLL_S)
    return None


async def cover_latency(k: Kafka, proc, records, rate: float) -> dict:
    """Send ``records`` at ``rate``/s to a running hub and measure, for every validated order,
    send time -> cover state durable. Rejected orders never reach the stage and are not counted."""
    from schemas.catalog import default_catalog
    from schemas.wire import decode

    catalog = default_catalog()
    base = await k.end_offsets(validated_tps())
    log = CommitLog(k, cover_group(proc)).start()
    try:
        sent, took = await k.produce_paced(records, rate)
        sent_at = {decode(catalog, value).record["event_id"]: s.ts for (_, _, value), s in zip(records, sent)}
        await asyncio.sleep(0)  # let the poller run while the stage catches up
        ends = await _wait_validated_settled(k, proc, base)
        if await wait_cover_durable(k, proc, ends, 120) is None:
            raise RuntimeError("the cover stage did not commit every validated order within 120 s")
        await asyncio.sleep(2 * POLL_S)
    finally:
        await log.stop()
    outputs = await k.read({tp: (base[tp], ends[tp]) for tp in ends})
    latencies = sorted(log.durable_at(TopicPartition(r.topic, r.partition), r.offset)
                       - sent_at[decode(catalog, r.value).record["event_id"]] for r in outputs)
    return {"rate": rate, "sent": len(records), "send_s": round(took, 1), "validated": len(outputs),
            "poll_ms": int(POLL_S * 1000), "p50_ms": percentile(latencies, 50), "p99_ms": percentile(latencies, 99),
            "max_ms": latencies[-1] if latencies else None}


async def _wait_validated_settled(k: Kafka, proc, base: dict, quiet_s: float = 3.0) -> dict[TopicPartition, int]:
    """End offsets of the validated topic once they stopped moving for ``quiet_s``."""
    ends, still_since = await k.end_offsets(validated_tps()), time.monotonic()
    while time.monotonic() - still_since < quiet_s:
        proc.check_alive()
        await asyncio.sleep(0.2)
        now = await k.end_offsets(validated_tps())
        if now != ends:
            ends, still_since = now, time.monotonic()
    return ends
