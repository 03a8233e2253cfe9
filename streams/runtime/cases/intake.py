"""The case intake on the batch loop (``streams.runtime.loop``): one consumer in group
``<app_id>-cases-intake`` subscribed by pattern to every sender's case topic
(``streams.core.cases.flow.INPUT_PATTERN``, and ``hub.units.gateway``: units' HTTP writes; Faust's own pattern subscription does not work with
its aiokafka driver), each batch planned by ``streams.core.cases.intake`` and written with the
worker's :class:`~streams.runtime.writer.Writer`. Offsets are committed only after every output
was acknowledged, so a crash re-reads instead of losing (the owner ignores what it already applied).
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Awaitable, Callable, ContextManager

from gigbridge.settings import Settings
from streams.core.cases.flow import INPUT_PATTERN
from streams.core.cases.gateway_input import UNITS_GATEWAY_TOPIC
from streams.core.cases.intake import input_stream, plan_intake
from streams.core.cases.units import UnitBook
from streams.core.context import Context
from streams.core.plan import Delivery, InMessage
from streams.runtime.broker.kafka import KafkaConsumer
from streams.runtime.broker.protocols import Record
from streams.runtime.cases.metrics import CASE_INPUTS
from streams.runtime.loop import BatchLoop, LoopConfig
from streams.runtime.writer import Writer

_OUTCOME = {"validated": "forwarded", "rejected": "rejected", "dlq": "dead_lettered"}


class CaseIntakeStep:
    """``streams.runtime.loop.Step`` of the intake; ``clock`` returns epoch ms."""

    def __init__(self, ctx: Context, units: UnitBook, writer: Writer, clock: Callable[[], int]) -> None:
        self.ctx, self.units, self.writer, self.clock = ctx, units, writer, clock

    async def start(self, records: list[Record]) -> Awaitable[None]:
        messages = [InMessage(r.topic, r.partition, r.offset, r.key, r.value, None, r.timestamp, tuple(r.headers or ()))
                    for r in records]
        deliveries = plan_intake(messages, self.ctx, self.units, self.clock())
        sent = await self.writer.send(deliveries)
        return self._acknowledged(messages, deliveries, sent)

    async def _acknowledged(self, messages: list[InMessage], deliveries: list[Delivery], sent) -> None:
        await self.writer.acknowledged(deliveries, sent)
        # plan_intake gives one delivery per case input, in order (the subscription has no other topics)
        streams = [stream for stream in map(input_stream, messages) if stream is not None]
        tally = Counter((stream, _OUTCOME[d.kind]) for stream, d in zip(streams, deliveries))
        for labels, n in tally.items():
            CASE_INPUTS.labels(*labels).inc(n)


def case_intake_loop(settings: Settings, step: CaseIntakeStep, batch_scope: Callable[[], ContextManager]) -> BatchLoop:
    group = f"{settings.app_id}-cases-intake"
    consumer = KafkaConsumer(group, {"metadata_max_age_ms": int(settings.topic_discovery_interval_s * 1000),
                                     **settings.aiokafka_config})
    config = LoopConfig("cases-intake", pattern=f"^(?:{INPUT_PATTERN}|{re.escape(UNITS_GATEWAY_TOPIC)})$", batch_size=500,
                        batch_timeout_s=settings.stream_batch_timeout_s)
    return BatchLoop(config, consumer, step, None, batch_scope=batch_scope)
