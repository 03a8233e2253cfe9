"""Case measures with several workers: every worker publishes the unsuppressed counts of each
case partition it owns; exactly one worker sums them, suppresses small cells and exports them.

Why: each worker's table holds only the cases of its partitions, and suppressing small cells per
worker drops cells that are large only in sum. The counts of a partition are additive
(:func:`streams.core.cases.measures.combine`), so the sum of every partition's counts is what one
worker holding every case would count.

How, with public Faust APIs only:

* Each deadline tick, a worker sends one snapshot per partition of ``hub.validated.cases`` it owns
  (``app.assignor.assigned_actives()``) -- even an empty one -- to the compacted one-partition
  topic ``<app_id>-cases-measures`` (key: the partition). A case's partition is the one the intake's
  producer chose for its key (murmur2, as :class:`~streams.runtime.writer.Writer` and the Java
  client do); the table shows only active partitions, so each snapshot covers exactly one
  partition's cases.
* An agent over that topic runs only on the worker Faust assigns its one partition to: the
  exporter. It keeps the latest snapshot per case partition. On its tick it publishes the gauges
  once it has a snapshot of every partition (a new exporter waits up to one tick instead of
  publishing a partial sum); every other worker clears its gauges, so the figures are exported once.

Staleness: a sum mixes snapshots up to one tick old; after a partition moves, the old owner's last
snapshot stands until the new owner's first one (one tick).
"""

from __future__ import annotations

import asyncio
from typing import Awaitable, Callable, Iterable

import faust
from aiokafka.partitioner import murmur2
from faust.types import TP

from gigbridge.logs import get_logger
from gigbridge.settings import Settings
from streams.core.cases.flow import VALIDATED_CASES
from streams.core.cases.lifecycle import CaseState
from streams.core.cases.measures import MeasureCounts, combine, measure_counts, suppressed
from streams.runtime.cases.metrics import publish_measures

Send = Callable[[int, dict], Awaitable[None]]
SEND_TIMEOUT_S = 30.0
log = get_logger("gigbridge.cases")


def case_partition(case_id: str, partitions: int) -> int:
    """The partition of ``hub.validated.cases`` the intake wrote a case to (murmur2 of the key)."""
    return (murmur2(case_id.encode()) & 0x7FFFFFFF) % partitions


class MeasureExport:
    """Registers the snapshot topic and its agent on ``app``; no I/O here. ``owned``, ``exporting``
    and ``send`` default to the Faust assignment and topic (tests inject them)."""

    def __init__(self, app: faust.App, settings: Settings, *, owned: Callable[[], set[int]] | None = None,
                 exporting: Callable[[], bool] | None = None, send: Send | None = None) -> None:
        self.partitions = settings.topic_partitions
        self.topic = app.topic(f"{settings.app_id}-cases-measures", key_type=bytes, key_serializer="raw",
                               value_serializer="json", partitions=1, internal=True,
                               config={"cleanup.policy": "compact"})
        app.agent(self.topic, name="cases-measures")(self._collect)
        self._owned = owned or (lambda: {tp.partition for tp in app.assignor.assigned_actives()
                                         if tp.topic == VALIDATED_CASES})
        self._exporting = exporting or (lambda: TP(self.topic.get_topic_name(), 0) in app.assignor.assigned_actives())
        self._send = send or self._send_to_topic
        self._latest: dict[int, MeasureCounts] = {}

    async def _send_to_topic(self, partition: int, snapshot: dict) -> None:
        sent = await self.topic.send(key=str(partition).encode(), value=snapshot)
        # acknowledged by the broker; bounded, so a send stuck in a rebalance cannot stop the timer
        # (the next tick sends the partition's counts again: the topic keeps the last per key)
        await asyncio.wait_for(asyncio.shield(sent), SEND_TIMEOUT_S)

    async def _collect(self, stream) -> None:
        async for snapshot in stream:
            self.collect(snapshot)

    def collect(self, snapshot: dict) -> None:
        """Keep the latest counts of one case partition (on the exporter)."""
        self._latest[snapshot["partition"]] = MeasureCounts.from_record(snapshot["counts"])

    async def tick(self, states: Iterable[CaseState], now_ms: int) -> None:
        """Publish this worker's partitions' counts; on the exporter, export the suppressed sum."""
        parts: dict[int, list[CaseState]] = {p: [] for p in self._owned()}
        for state in states:
            part = parts.get(case_partition(state.case_id, self.partitions))
            if part is not None:
                part.append(state)
        try:
            for partition, part in sorted(parts.items()):
                await self._send(partition, {"partition": partition,
                                             "counts": measure_counts(part, now_ms).as_record()})
        except Exception as exc:  # noqa: BLE001 - the deadline timer must go on; the next tick re-sends
            log.warning("case measures not published", error=type(exc).__name__)
        if not self._exporting():
            self._latest.clear()
            publish_measures([], {})
        elif len(self._latest) == self.partitions:
            publish_measures(*suppressed(combine(self._latest.values())))
        else:
            publish_measures([], {})
