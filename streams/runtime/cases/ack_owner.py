"""The owner of incident acknowledgements: a Faust agent over ``hub.validated.incident-acks`` with
its own durable Faust table ``incident-acks`` (key ``<platform>:<incident_id>``).

A second table rather than the ``cases`` table under another key space: an acknowledgement
belongs to an incident, not to a case, so its key never routes like a ``case_id``; the case
table's readers (deadline timer, measures, look-ups, ``table_route``) stay free of a second record
shape; and each changelog compacts records of one kind. The input topic and the changelog have
``GIGBRIDGE_TOPIC_PARTITIONS`` partitions, so one worker owns every acknowledgement of an incident
and applies them in the order the intake forwarded them.

Per record, as for cases: :func:`streams.core.cases.ack_owner.own_ack`, its outputs written and
acknowledged, then the table updated (Faust flushes the changelog before committing the offset).
A crash in between re-applies the record to the old state: the same output again.
"""

from __future__ import annotations

from typing import Callable

import faust

from gigbridge.settings import Settings
from gigbridge.topic_policy import topic_configs
from streams.core.cases.ack_owner import own_ack
from streams.core.cases.acks import VALIDATED_INCIDENT_ACKS, ack_key
from streams.core.context import Context
from streams.core.plan import InMessage
from streams.runtime.cases.metrics import CASE_STEPS
from streams.runtime.cases.owner import forwarded, own_forwarded, step_outcome
from streams.runtime.writer import Writer


class AckOwner:
    """Registers the agent and the table (``incident-acks``) on ``app``; no I/O here."""

    def __init__(self, app: faust.App, settings: Settings, ctx: Context, writer: Writer,
                 clock: Callable[[], int]) -> None:
        self.ctx, self.writer, self.clock = ctx, writer, clock
        partitions = settings.topic_partitions
        self.table = app.Table("incident-acks", default=None, partitions=partitions, key_type=str,
                               help="Each incident's accepted acknowledgements, keyed by <platform>:<incident_id>")
        self.inputs = app.topic(VALIDATED_INCIDENT_ACKS, key_type=bytes, value_type=bytes, key_serializer="raw",
                                value_serializer="raw", partitions=partitions, internal=True,
                                config=topic_configs(VALIDATED_INCIDENT_ACKS, int(settings.dedupe_window_s * 1000)))
        app.agent(self.inputs, name="incident-acks-owner")(self._own)

    async def _own(self, stream) -> None:
        async for msg in forwarded(stream):
            await self.handle(msg)

    async def handle(self, msg: InMessage) -> None:
        """Apply one forwarded acknowledgement; never raises for a bad record (dead letter instead)."""
        now_ms = self.clock()
        done = await own_forwarded("acknowledgement owner", msg, ctx=self.ctx, writer=self.writer, table=self.table,
                                   now_ms=now_ms, key_of=lambda ack: ack_key(ack["platform_id"], ack["incident_id"]),
                                   step=lambda before, ack: own_ack(before, ack, now_ms), contract="incident_ack")
        if done is not None:
            CASE_STEPS.labels(*step_outcome(msg.topic, *done)).inc()
