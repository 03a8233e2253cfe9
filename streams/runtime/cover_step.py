"""The cover stage (issue 20): cover by the day, premium statements and cover gaps, on the batch
loop (``streams.runtime.loop``), group ``<app_id>-cover``, over ``hub.validated.orders`` and
``hub.cover.incidents`` (co-partitioned by ``<platform>:<province>``: partition p of both topics
goes to one worker, range assignor, and shares one state).

One *unit of work* at a time -- a batch, or a close of the days that ended (the timer,
:meth:`CoverStep.close_due`) -- runs the pure state machines (``streams.core.cover``) on the
partitions' state. A batch sends the emitted records and, once the broker acknowledged them all,
writes the changed rows to the changelog (acks=all) and then to the local store
(``streams.runtime.cover_state``); its offsets are committed only after that
(``streams.runtime.checkpoint``). A failure drops the batch's changes: it is read again and
recomputes the same records (same versions and keys) from the restored state and its inputs.
A close has no input to recompute it from (more orders may be read before the next tick), so it
is written down first: its changes and records go to the changelog as one commit (an outbox,
``streams.runtime.cover_state.outbox``), then its rows, then its records are sent, then the
outbox is cleared. After its commit a close is only ever completed with the same records -- by
this worker before its next unit of work, or by the partition's next owner before it uses the
partition's records. A replayed input changes nothing and emits nothing
(``streams.core.cover.daycover``).
"""

from __future__ import annotations

import asyncio
from typing import Awaitable, Callable, Iterable

from gigbridge.logs import get_logger
from schemas.catalog import Catalog
from schemas.wire import WireFormatError, decode, encode
from streams.core.cover import daycover, gaps, links
from streams.core.cover.emits import Emit
from streams.core.plan import Delivery
from streams.runtime import cover_metrics
from streams.runtime.broker.protocols import Producer, Record
from streams.runtime.cover_state import outbox
from streams.runtime.cover_state.changelog import changelog_records
from streams.runtime.cover_state.store import CoverStore

log = get_logger("gigbridge.cover")

#: The IncidentReport fields the gap check reads (a pending incident keeps only these).
INCIDENT_FIELDS = ("event_id", "platform_id", "incident_id", "worker_ref", "order_ref", "division_code",
                   "occurred_at", "insured")


class CoverStep:
    """The loop's step and state step. ``producer`` sends outputs and changelog records (the
    worker's ``Writer``); ``clock`` returns epoch ms. Nothing happens in the constructor."""

    def __init__(self, app_id: str, catalog: Catalog, producer: Producer, store: CoverStore,
                 clock: Callable[[], int], grace_ms: int) -> None:
        self.app_id, self.catalog, self.producer, self.store = app_id, catalog, producer, store
        self.clock, self.grace_ms = clock, grace_ms
        self.owned: set[int] = set()  # input partitions whose state this worker keeps
        # Held from a unit's first change until its changes are durable or dropped: units never
        # overlap, so each one's changes are exactly what it emitted.
        self._unit = asyncio.Lock()
        self._pending: set[int] = set()  # partitions whose store may hold outbox rows (closes)
        self._committing: dict[int, list] = {}  # commit rows whose write failed: maybe durable

    # --- batches (streams.runtime.loop.Step and checkpoint.State) -------------------------

    async def start(self, records: list[Record]) -> Awaitable[set[int]]:
        await self._unit.acquire()
        try:
            await self._complete_pending()
            now_ms = self.clock()
            emits: list = []
            for r in records:
                emits += self._apply(r, now_ms)
            deliveries = self._deliveries(emits)
            sent = await self.producer.send(deliveries)
        except BaseException:
            self._abandon()
            raise
        return self._acknowledged(deliveries, sent, emits, {r.partition for r in records})

    async def _acknowledged(self, deliveries, sent, emits, partitions: set[int]) -> set[int]:
        try:
            await self.producer.acknowledged(deliveries, sent)
        except BaseException:
            self._abandon()
            raise
        cover_metrics.record_emits(emits)
        return partitions

    def persist(self, partitions: set[int]) -> Awaitable[None]:
        """The batch's outputs are acknowledged: its rows to the changelog, then the store."""
        return asyncio.ensure_future(self._durable_then_release(partitions))

    def _apply(self, record: Record, now_ms: int) -> list:
        try:
            decoded = decode(self.catalog, record.value)
        except WireFormatError as exc:  # a hub topic: only a bug writes this; never stop the stage
            log.error("undecodable cover input skipped", topic=record.topic, partition=record.partition,
                      offset=record.offset, reason=exc.reason)
            return []
        state = self.store.partition(record.partition).state
        if decoded.contract == "order_cover":
            return daycover.apply_order(state, decoded.record, now_ms)[1]
        if decoded.contract == "incident_report":
            incident = {name: decoded.record.get(name) for name in INCIDENT_FIELDS}
            return links.link_emits(state, gaps.check_incident(state, incident, now_ms, self.grace_ms)[1], now_ms)
        log.error("unexpected contract on a cover input skipped", topic=record.topic, contract=decoded.contract)
        return []

    # --- the timer ---------------------------------------------------------------------

    async def close_due(self) -> int:
        """Emit the days and statements whose day ended plus the grace, and the links or gaps
        of pending incidents, for every owned partition. Returns the number of records emitted.

        Unlike a batch, a close is committed before it is sent (``cover_state.outbox``): its
        changes and outputs go to the changelog as one commit, then its rows, then its outputs.
        A failure before the commit drops the changes (the next tick closes again); after it,
        the close is completed -- the same records, never others -- before the next unit of
        work here, or by the partition's next owner before it reads the partition."""
        await self._unit.acquire()
        try:
            await self._complete_pending()
            now_ms = self.clock()
            emits: list = []
            closes: dict[int, outbox.Close] = {}
            parts: dict[int, list] = {}
            commits: dict[int, list] = {}
            for partition in sorted(self.owned):
                partition_state = self.store.partition(partition)
                mine = links.link_emits(partition_state.state,
                                        daycover.close_due(partition_state.state, now_ms, self.grace_ms)[1], now_ms)
                changes, deliveries = partition_state.take_changes(), self._deliveries(mine)
                if changes or deliveries:
                    closes[partition], parts[partition], commit = outbox.staged(f"{now_ms:015d}", changes, deliveries)
                    commits[partition] = [commit]
                emits += mine
            self._pending |= set(closes)  # from the first part on: orphans, or a commit, to clear
            await self._persist(parts)
            # The commit point. A failed commit write may still have landed: it is written again
            # (the same bytes) before anything else here, never replaced by another close.
            self._committing.update(commits)
            await self._persist(commits)
            self._committing.clear()
            await self._complete(closes)
        except BaseException:
            self._abandon()
            raise
        self._pending -= set(closes)
        cover_metrics.record_emits(emits)
        self._unit.release()
        return sum(isinstance(e, Emit) for e in emits)

    async def prune(self, keep_ms: int) -> None:
        """Forget what ended more than ``keep_ms`` ago in every owned partition
        (``daycover.prune``); durable like a batch (rows removed in the changelog too: tombstones).
        Emits nothing. A failure drops the changes; the next prune does it again."""
        await self._unit.acquire()
        try:
            await self._complete_pending()
            now_ms = self.clock()
            for partition in sorted(self.owned):
                daycover.prune(self.store.partition(partition).state, now_ms, keep_ms)
        except BaseException:
            self._abandon()
            raise
        await self._durable_then_release(set(self.owned))

    # --- partitions (BatchLoop assigned / revoked) ----------------------------------------

    async def take(self, partitions: Iterable[int]) -> None:
        """``partitions`` were restored: a close committed by their last owner and not completed
        is completed at the start of the next unit of work, before any of their records is used."""
        async with self._unit:
            self.owned |= set(partitions)
            self._pending |= set(partitions)

    async def give_up(self, partitions: Iterable[int]) -> None:
        async with self._unit:
            for p in partitions:
                self.owned.discard(p)
                self._pending.discard(p)
                self._committing.pop(p, None)  # the next owner reads the changelog: committed or not
                self.store.forget(p)

    # --- internals ---------------------------------------------------------------------

    def _deliveries(self, emits: list) -> list[Delivery]:
        deliveries = []
        for e in emits:
            if isinstance(e, Emit):
                value = encode(self.catalog.contract(e.contract).latest, e.record)
                deliveries += [Delivery("cover", topic, e.key.encode(), value) for topic in e.topics]
        return deliveries

    async def _durable_then_release(self, partitions: set[int]) -> None:
        try:
            await self._persist({p: self.store.partition(p).take_changes() for p in partitions})
            for p in partitions:
                self.store.partition(p).committed()
        except BaseException:
            self.store.rollback()
            raise
        finally:
            self._unit.release()

    async def _persist(self, changed: dict[int, list]) -> None:
        """``changed`` rows to the changelog (acks=all), then to the store."""
        records = [d for p, changes in changed.items() for d in changelog_records(self.app_id, p, changes)]
        acks = await self.producer.write(records) if records else []
        for p, changes in changed.items():
            mine = [a.offset for a, d in zip(acks, records) if d.partition == p]
            self.store.apply(p, changes, mine[0] if mine else None, mine[-1] + 1 if mine else None)

    async def _complete(self, closes: dict[int, outbox.Close]) -> None:
        """Committed closes: their rows durable, their outputs sent, their outbox rows cleared."""
        if not closes:
            return
        await self._persist({p: c.changes for p, c in closes.items()})
        for p in closes:
            self.store.partition(p).committed()
        await self.producer.write([d for c in closes.values() for d in c.deliveries])
        for tombstones in zip(*(c.cleared() for c in closes.values())):  # the commits, then the parts
            await self._persist(dict(zip(closes, tombstones)))

    async def _complete_pending(self) -> None:
        """Complete the closes committed but not completed (a failure, or a previous owner's
        crash, after the commit point), oldest first, and discard uncommitted parts."""
        if self._committing:
            await self._persist(self._committing)
            self._committing.clear()
        for p in sorted(self._pending & self.owned):
            closes, leftovers = outbox.pending(self.store.rows(p, outbox.PART_PREFIX),
                                             self.store.rows(p, outbox.COMMIT_PREFIX))
            for close in closes:
                await self._complete({p: close})
            if leftovers:
                await self._persist({p: leftovers})
            self.store.forget(p)  # the rows changed under the cache: read them again
            self._pending.discard(p)

    def _abandon(self) -> None:
        self.store.rollback()
        self._unit.release()

