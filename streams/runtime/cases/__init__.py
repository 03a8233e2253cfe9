"""Concern cases (issue #16) on the worker: the intake on the batch loop
(:mod:`.intake`: senders' topics -> ``hub.validated.cases`` / ``hub.validated.case-events`` keyed by
case_id, rejections; acknowledgements to ``hub.validated.incident-acks``), the owners, Faust agents
with durable tables (:mod:`.owner` with its deadline timer, :mod:`.ack_owner`), and the look-ups on the worker's web server (:mod:`.pages`).
:func:`register_case_flows` is the worker's one wiring call."""

from __future__ import annotations

import asyncio
from typing import Callable, ContextManager

import faust

from gigbridge.settings import Settings
from streams.core.cases.acks import VALIDATED_INCIDENT_ACKS
from streams.core.cases.flow import STATE_TOPIC, VALIDATED_CASE_EVENTS, VALIDATED_CASES
from streams.core.cases.gateway_input import UNITS_GATEWAY_TOPIC
from streams.core.cases.units import UnitBook
from streams.core.context import Context
from streams.loaders.cases import load_units
from streams.runtime.cases.ack_owner import AckOwner
from streams.runtime.cases.intake import CaseIntakeStep, case_intake_loop
from streams.runtime.cases.owner import CaseOwner
from streams.runtime.cases.pages import CaseViewers, register_case_pages
from streams.runtime.writer import Writer


class CaseFlows:
    def __init__(self, app: faust.App, settings: Settings, ctx: Context, units: UnitBook, writer: Writer,
                 clock: Callable[[], int], batch_scope: Callable[[], ContextManager]) -> None:
        self.owner = CaseOwner(app, settings, ctx, units, writer, clock)
        self.acks = AckOwner(app, settings, ctx, writer, clock)
        self.intake = case_intake_loop(settings, CaseIntakeStep(ctx, units, writer, clock), batch_scope)
        app.task(self._run_intake)

    @staticmethod
    def static_topics() -> list[str]:
        """Created before the worker starts: Faust assigns only partitions of topics that exist
        when its group forms, and does not revisit a source topic created a moment later."""
        return [VALIDATED_CASES, VALIDATED_CASE_EVENTS, VALIDATED_INCIDENT_ACKS, STATE_TOPIC, UNITS_GATEWAY_TOPIC]

    def ensure_measures_topic(self, admin) -> None:
        """The measures' snapshot topic (compacted, ONE partition: one exporter), created before the
        worker starts like :meth:`static_topics` (an agent's topic missing when the group forms
        stays unassigned)."""
        admin.ensure([self.owner.measures.topic.get_topic_name()], partitions=1,
                     configs={"cleanup.policy": "compact"})

    async def _run_intake(self) -> None:
        try:
            await self.intake.run()
        finally:
            await asyncio.shield(self.intake.stop())


def register_case_flows(app: faust.App, settings: Settings, ctx: Context, writer: Writer,
                        clock: Callable[[], int], batch_scope: Callable[[], ContextManager]) -> CaseFlows:
    """Put the case intake and owner on the worker's Faust app (started with it)."""
    flows = CaseFlows(app, settings, ctx, load_units(), writer, clock, batch_scope)
    register_case_pages(app, flows.owner, CaseViewers.from_settings(settings), clock)
    return flows
