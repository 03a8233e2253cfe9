"""The validation stream's processing step (``streams.runtime.loop.Step``): plan a batch
(pure: decode, validate, dedupe, route; ``streams.core.plan``), send every output, and, once
the broker acknowledged them all, hand the batch's accepted ids to the checkpoint's state step
(``streams.runtime.dedupe.Dedupe.persist``). Ids accepted by a batch still in flight count as seen for
the batches after it (``Dedupe.hold``); if its outputs fail they are released and the batch is
read again."""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Awaitable, Callable

from streams.runtime import metrics
from streams.runtime.broker.protocols import Producer, Record
from streams.runtime.dedupe import Dedupe, Held
from streams.core.plan import BatchPlan, InMessage, plan_batch
from streams.core.classify import Accepted
from streams.core.context import Context


class ValidationStep:
    """``on_batch(plan)`` is told about every finished batch (the counts line);
    ``record_batch(plan, acked_ms)`` records its metrics; ``clock`` returns epoch ms."""

    def __init__(self, ctx: Context, producer: Producer, dedupe: Dedupe, clock: Callable[[], int],
                 on_batch: Callable[[BatchPlan], None] = lambda plan: None,
                 record_batch: Callable[[BatchPlan, int], None] = metrics.record_batch) -> None:
        self.ctx, self.producer, self.dedupe, self.clock = ctx, producer, dedupe, clock
        self.on_batch, self.record_batch = on_batch, record_batch
        self.next_offsets: dict[tuple[str, int], int] = {}  # the next offset to process, per partition

    async def start(self, records: list[Record]) -> Awaitable[Held]:
        """Plan the batch and send its outputs; returns the awaitable of their acknowledgement."""
        started = time.perf_counter()
        now_ms = self.clock()
        messages = [InMessage(r.topic, r.partition, r.offset, r.key, r.value, None, r.timestamp) for r in records]
        dedupe = self.dedupe

        def seen_before(msg: InMessage, event_id: str) -> bool:
            return dedupe.seen_before(msg.topic, msg.partition, event_id, now_ms)

        plan = plan_batch(messages, self.ctx, seen_before, now_ms)
        accepted: dict[tuple[str, int], list[str]] = defaultdict(list)
        for decision in plan.decisions:
            if isinstance(decision.outcome, Accepted) and not decision.duplicate:
                accepted[(decision.message.topic, decision.message.partition)].append(decision.outcome.event_id)
        held = dedupe.hold(accepted, now_ms)
        try:
            deliveries = plan.deliveries
            sent = await self.producer.send(deliveries)
        except BaseException:
            dedupe.release(held)
            raise
        return self._acknowledged(plan, deliveries, sent, held, started)

    async def _acknowledged(self, plan: BatchPlan, deliveries, sent, held: Held, started: float) -> Held:
        """Every output acknowledged; returns the held ids for the state step."""
        try:
            await self.producer.acknowledged(deliveries, sent)
        except BaseException:
            self.dedupe.release(held)
            raise
        for d in plan.decisions:
            self.next_offsets[(d.message.topic, d.message.partition)] = d.message.offset + 1
        self.record_batch(plan, self.clock())
        metrics.PROCESSING_SECONDS.observe(time.perf_counter() - started)
        self.on_batch(plan)
        return held
