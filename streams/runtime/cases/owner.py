"""The case owner: a Faust agent with a durable Faust table of every case, keyed by case_id.

It consumes ``hub.validated.cases`` and ``hub.validated.case-events``, which the intake writes keyed
by case_id: both topics and the table's changelog have the same partition count, so partition p of
each holds the same cases and Faust gives all three to one worker -- every input of a case is
applied by the one owner of its key, in order. Per record: the pure
:func:`streams.core.cases.flow.own_step`, its outputs written and acknowledged (the worker's
:class:`~streams.runtime.writer.Writer`), then the table updated (its changelog is flushed before
Faust commits the offset). A crash in between re-applies the record: identical outputs, or a
replay that re-sends the current state. A record that cannot be handled is dead-lettered.

The deadline timer reads the table (never writes it: Faust tables change only inside a stream),
re-sends a case's state to its assigned unit when a deadline passes, and hands the cases to the
measures export (:mod:`.measures_export`: one worker exports the sum over every partition).
"""

from __future__ import annotations

from typing import AsyncIterator, Callable

import faust

from gigbridge.logs import get_logger
from gigbridge.settings import Settings
from gigbridge.topic_policy import topic_configs
from schemas.wire import decode
from streams.core.cases.deadlines import overdue
from streams.core.cases.flow import VALIDATED_CASE_EVENTS, VALIDATED_CASES, own_step
from streams.core.cases.intake import dead_letter, encode_output
from streams.core.cases.lifecycle import CaseState, Output
from streams.core.cases.units import UnitBook
from streams.core.context import Context
from streams.core.plan import InMessage
from streams.runtime.cases.measures_export import MeasureExport
from streams.runtime.cases.metrics import CASE_BREACHES, CASE_STEPS
from streams.runtime.writer import Writer

log = get_logger("gigbridge.cases")


def step_outcome(topic: str, before: dict | None, after: dict | None, outputs: tuple[Output, ...]) -> tuple[str, str]:
    if outputs and outputs[0].topic.endswith(".case-rejections"):
        return "refused", outputs[0].value["reason"]
    if after is before:
        return "replayed", ""
    return ("opened" if topic == VALIDATED_CASES else "applied"), ""


async def forwarded(stream) -> AsyncIterator[InMessage]:
    """The records of an owner's Faust stream (``hub.validated.*``), as the pure steps take them."""
    async for event in stream.events():
        msg = event.message
        yield InMessage(msg.topic, msg.partition, msg.offset, msg.key, msg.value)


def encode_outputs(ctx: Context, outputs: tuple[Output, ...]) -> list:
    return [encode_output(ctx.catalog, o, "rejected" if o.topic.endswith("-rejections") else "validated")
            for o in outputs]


async def dead_lettered(owner: str, writer: Writer, ctx: Context, msg: InMessage, exc: Exception, now_ms: int) -> None:
    """A record ``owner`` could not handle goes to ``hub.dlq`` (``processing_error``) instead of stopping it."""
    log.warning("record dead-lettered", owner=owner, topic=msg.topic, offset=msg.offset, error=type(exc).__name__)
    await writer.write([dead_letter(ctx.catalog, msg, "processing_error", f"{owner} failed: {type(exc).__name__}",
                                    now_ms)])
    CASE_STEPS.labels("dead_lettered", "").inc()


Step = Callable[[dict | None, dict], tuple[dict | None, tuple[Output, ...]]]


async def own_forwarded(owner: str, msg: InMessage, *, ctx: Context, writer: Writer, table, now_ms: int,
                        key_of: Callable[[dict], str], step: Step, contract: str | None = None):
    """One forwarded record through an owner: decoded, its stored record looked up by key, the
    pure ``step`` applied, the outputs written and acknowledged, THEN the table updated (a crash in
    between re-applies the record). Returns (before, after, outputs), or None when the record was
    dead-lettered; never raises for a bad record."""
    try:
        record = decode(ctx.catalog, msg.value or b"", expect_contract=contract).record
        key = key_of(record)
        before = table.get(key)
        after, outputs = step(before, record)
        deliveries = encode_outputs(ctx, outputs)
    except Exception as exc:  # noqa: BLE001 - a record the owner cannot handle must not stop it
        await dead_lettered(owner, writer, ctx, msg, exc, now_ms)
        return None
    await writer.write(deliveries)
    if after is not before:
        table[key] = after
    return before, after, outputs


class CaseOwner:
    """Registers the agent, the table (``cases``) and the deadline timer on ``app``; no I/O here."""

    def __init__(self, app: faust.App, settings: Settings, ctx: Context, units: UnitBook, writer: Writer,
                 clock: Callable[[], int], deadline_interval_s: float = 10.0,
                 measures: MeasureExport | None = None) -> None:
        self.ctx, self.units, self.writer, self.clock = ctx, units, writer, clock
        partitions = settings.topic_partitions
        window_ms = int(settings.dedupe_window_s * 1000)
        self.table = app.Table("cases", default=None, partitions=partitions, key_type=str,
                               help="Every concern case's current CaseState, keyed by case_id")
        self.inputs = app.topic(VALIDATED_CASES, VALIDATED_CASE_EVENTS, key_type=bytes, value_type=bytes,
                                key_serializer="raw", value_serializer="raw", partitions=partitions,
                                internal=True,  # the hub's own: Faust creates them, co-partitioned with the table
                                config=topic_configs(VALIDATED_CASES, window_ms))
        app.agent(self.inputs, name="cases-owner")(self._own)
        app.timer(deadline_interval_s, on_leader=False)(self.watch_deadlines)
        self.measures = measures or MeasureExport(app, settings)
        self._announced: set[tuple[str, str, int]] = set()  # (case, deadline, due) re-sent by this process

    async def _own(self, stream) -> None:
        async for msg in forwarded(stream):
            await self.handle(msg)

    async def handle(self, msg: InMessage) -> None:
        """Apply one forwarded record; never raises for a bad record (dead letter instead)."""
        now_ms = self.clock()
        done = await own_forwarded("case owner", msg, ctx=self.ctx, writer=self.writer, table=self.table,
                                   now_ms=now_ms, key_of=lambda record: record["case_id"],
                                   step=lambda before, record: own_step(msg.topic, before, record, self.units, now_ms))
        if done is not None:
            CASE_STEPS.labels(*step_outcome(msg.topic, *done)).inc()

    def states(self) -> list[CaseState]:
        """The cases of the partitions this worker owns."""
        return [CaseState.from_record(value) for value in self.table.values() if value is not None]

    async def watch_deadlines(self) -> None:
        """Find breaches by the clock (no event needed), tell the assigned unit, publish the counts."""
        now_ms = self.clock()
        states = self.states()
        by_id = {s.case_id: s for s in states}
        breaches = [b for b in overdue(states, now_ms) if (b.case_id, b.deadline, b.due) not in self._announced]
        for b in breaches:
            state = by_id[b.case_id]
            output = Output(f"gov.units.{state.assigned_unit}.case-updates", state.case_id, state.as_record())
            await self.writer.write([encode_output(self.ctx.catalog, output, "validated")])
            self._announced.add((b.case_id, b.deadline, b.due))
            CASE_BREACHES.labels(b.deadline, b.urgency).inc()
        open_ids = {b.case_id for b in overdue(states, now_ms)}
        self._announced = {a for a in self._announced if a[0] in open_ids}
        await self.measures.tick(states, now_ms)
