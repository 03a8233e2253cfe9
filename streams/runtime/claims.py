"""The claim-status workflow stream: a Faust agent with a Faust table (low volume, stateful; not
on the batch loop).

The agent reads ``gov.insurance.<province>.claim-status`` of every insurer declared in
``deploy/access.yaml`` (a list, not a pattern: Faust's aiokafka driver subscribes to topic names
only, so a new insurer needs a worker restart) plus ``hub.claim-status.gateway`` (the updates the
gateway accepted over HTTP, province in a header; the hub may not write an insurer's topic) and
judges each
message with :func:`streams.core.cover.claim_flow.judge_claim_message` against the table
``claims`` (key ``<province>:<claim_ref>``, value the claim's state as JSON; RocksDB locally,
restored from its changelog topic ``<app_id>-claims-changelog``).

At-least-once, in this order per message: (1) every output (the platform's copy keyed by incident,
``hub.validated.claim-status``, or the rejection to the insurer) is written with the hub's
:class:`~streams.runtime.writer.Writer`, which returns only when the broker acknowledged all of
them; (2) only then is the table updated; (3) the message's offset is committed by Faust after the
agent has moved past it, and Faust flushes its producer (the changelog record) before it commits.
A crash before (2) re-reads the message and routes it again (a duplicate the platform can spot by
``event_id``), never loses it; a crash between (2) and (3) finds the new state and drops the
re-read message as an exact repeat after its outputs were already acknowledged.

A timer (every ``claims_overdue_scan_interval_s``) counts the open claims of this worker's table
partitions whose determination is overdue (5 working days, ``streams.core.cover.workdays``).
"""

from __future__ import annotations

import functools
from typing import Any, Awaitable, Callable, Iterable

import faust
from prometheus_client import Counter, Gauge

from gigbridge.logs import get_logger
from schemas.catalog import Catalog
from schemas.wire import encode
from streams.core.cover.claim_flow import (
    GATEWAY_CLAIM_STATUS_TOPIC,
    ClaimVerdict,
    Source,
    claim_status_topic,
    judge_claim_message,
    overdue_by_province_platform,
    province_of_message,
    state_from_plain,
    state_to_plain,
)
from streams.core.cover.workdays import WorkCalendar
from streams.core.plan import Delivery
from streams.core.validate import Rules

log = get_logger("gigbridge.claims")

TABLE_NAME = "claims"
CLAIM_UPDATES = Counter("gigbridge_claim_updates_total",
                        "Insurer claim-status messages by outcome (routed, repeat, illegal, invalid) and reason",
                        ["province", "outcome", "reason"])
CLAIMS_OVERDUE = Gauge("gigbridge_claims_determination_overdue",
                       "Open claims (RECEIVED or UNDER_REVIEW) past their 5-working-day determination deadline",
                       ["province", "platform"])
_DELIVERY_KIND_OF_CONTRACT = {"rejection_record": "rejected"}  # else "claims" (writer's label only)


class ClaimsAgent:
    """Registers the agent, its table and the overdue timer on ``app`` (no I/O here). ``write``
    is :meth:`streams.runtime.writer.Writer.write`; ``clock`` returns epoch ms; ``calendar`` is
    called once, on the first scan."""

    def __init__(self, app: Any, provinces: Iterable[str], catalog: Catalog, rules: Rules,
                 write: Callable[[list[Delivery]], Awaitable], clock: Callable[[], int],
                 calendar: Callable[[], WorkCalendar], *, emit_validated: bool = True,
                 scan_interval_s: float = 60.0) -> None:
        self.catalog = catalog
        self.rules = rules
        self.write = write
        self.clock = clock
        self.emit_validated = emit_validated
        self._calendar = functools.cache(calendar)
        self.provinces = sorted(set(provinces))
        if not self.provinces:
            self.input_topics: list[str] = []
            return  # no insurer declared: no table, no agent, no timer
        #: the insurers' topics and the gateway's, which must exist (with one partition count, as
        #: the table is co-partitioned with them) before the worker subscribes (HubWorker.static_topics)
        self.input_topics = [*(claim_status_topic(p) for p in self.provinces), GATEWAY_CLAIM_STATUS_TOPIC]
        self.table = app.Table(TABLE_NAME, default=None,
                               schema=faust.Schema(key_serializer="json", value_serializer="json"),
                               help="claim state by <province>:<claim_ref>")
        self.topic = app.topic(*self.input_topics, key_serializer="raw", value_serializer="raw")
        app.agent(self.topic, name="gigbridge.claims")(self.process)
        app.timer(scan_interval_s, on_leader=False)(self.scan_overdue)

    async def process(self, stream) -> None:
        async for event in stream.events():
            message = event.message
            await self.handle(Source(message.topic, message.partition, message.offset), message.key, message.value,
                              event.headers)

    async def handle(self, source: Source, key: bytes | None, value: bytes | None,
                     headers: dict[str, bytes] | None = None) -> ClaimVerdict | None:
        """Judge one message, write its outputs (acknowledged), then store the claim's new state.
        A gateway record without a declared insurer's province (only a hub bug can write one) is
        counted and logged, and skipped: there is no insurer to send a rejection to."""
        province = province_of_message(source.topic, headers, self.provinces)
        if province is None:
            CLAIM_UPDATES.labels("", "invalid", "province_unknown").inc()
            log.error("gateway claim update without a declared province; skipped", topic=source.topic,
                      partition=source.partition, offset=source.offset)
            return None
        verdict = judge_claim_message(self._load, source, key, value, catalog=self.catalog, now_ms=self.clock(),
                                      rules=self.rules, emit_validated=self.emit_validated, province=province)
        if verdict.outputs:
            await self.write([
                Delivery(_DELIVERY_KIND_OF_CONTRACT.get(o.contract, "claims"), o.topic, o.key,
                         encode(self.catalog.contract(o.contract).latest, o.record))
                for o in verdict.outputs])
        if verdict.state is not None:
            self.table[verdict.state_key] = state_to_plain(verdict.state)
        CLAIM_UPDATES.labels(province, verdict.kind, verdict.reason or "").inc()
        if verdict.kind in ("illegal", "invalid"):
            log.info("claim update refused", topic=source.topic, partition=source.partition, offset=source.offset,
                     reason=verdict.reason)
        return verdict

    def _load(self, state_key: str):
        return state_from_plain(self.table.get(state_key))

    async def scan_overdue(self) -> None:
        """Set the overdue gauge from this worker's table partitions (stale label sets cleared)."""
        states = ((key, state_from_plain(plain)) for key, plain in self.table.items() if plain is not None)
        counts = overdue_by_province_platform(states, self.clock(), self._calendar())
        CLAIMS_OVERDUE.clear()
        for (province, platform), n in counts.items():
            CLAIMS_OVERDUE.labels(province, platform).set(n)


def claims_agent(app: Any, settings: Any, ctx: Any, write: Callable[[list[Delivery]], Awaitable],
                 clock: Callable[[], int]) -> ClaimsAgent:
    """The agent as the worker wires it: the insurers of the access file, the worker's rules and
    writer, the packaged calendar."""
    from gigbridge.access import load_access
    from streams.loaders.cover import load_calendar

    provinces = [insurer.province for insurer in load_access().insurers]
    return ClaimsAgent(app, provinces, ctx.catalog, ctx.rules, write, clock, load_calendar,
                       emit_validated=ctx.emit_validated, scan_interval_s=settings.claims_overdue_scan_interval_s)
