"""The worker's notice flows (low volume, stateful): one batch loop and a Faust timer.

Registered by :func:`register_notice_flows` on the HubWorker's app, one call:

* one :class:`streams.runtime.loop.BatchLoop` (group ``<app_id>-notices``) subscribed by pattern
  to ``hub.validated.sites`` (where platforms have open sites), ``gov.notices.<province>``,
  ``platform.<id>.measures`` and ``platform.<id>.algorithm-changes``: a new platform's topics
  are picked up at the next metadata refresh, without a restart. Per batch,
  :class:`~streams.runtime.notices.steps.NoticeSteps` decides, and the outputs AND the state
  changes (:mod:`.state`) are written acknowledged through the worker's Writer before the input
  is committed;
* ``hub.validated.incidents`` and ``hub.validated.headcounts`` too, for injuries during warnings
  (:mod:`.incident_steps`: incidents in a notice's area and window, latest active workers);
* each WeatherNotice record is also copied to ``gov.notices.webhooks.<platform>`` for every
  concerned platform with a notice webhook (``platform_notice_webhooks``), which the worker's
  HTTP delivery posts (:mod:`streams.runtime.delivery`);
* a Faust timer every ``notice_check_interval_s``: ORANGE/RED tracks unanswered after
  ``notice_overdue_after_s`` get one OVERDUE NoticeStatus; gauges of overdue and of all tracks,
  and of injuries per 10,000 active workers during warnings before/after the first measure.

Why not Faust agents and tables: Faust's aiokafka driver cannot subscribe to a topic pattern,
and a table written outside an agent (the timer) needs the partitioner, whose producer has no
metadata for a changelog it never wrote to. The state is small and restored on start by
reading its compacted topic by the one worker that owns the flows (:mod:`.ownership`: a
single-owner assignor, the other workers stand by and take over when the owner leaves).
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Awaitable, Callable

import faust

from gigbridge.logs import get_logger
from gigbridge.settings import Settings
from streams.core.classify import Source
from streams.core.context import Context
from streams.core.notices.rule_changes import ChangeRules
from streams.core.notices.tracking import TrackingRules
from streams.core.plan import Delivery
from streams.core.topics import validated_topic
from streams.runtime.broker.kafka import KafkaConsumer
from streams.runtime.broker.single_owner import SingleOwnerAssignor
from streams.runtime.broker.protocols import Record
from streams.runtime.delivery import notice_webhook_topic
from streams.runtime.loop import BatchLoop, LoopConfig
from streams.runtime.notices import metrics
from streams.runtime.notices.incident_steps import IncidentSteps
from streams.runtime.notices.kafka_edges import read_to_end
from streams.runtime.notices.ownership import NoticeOwnership
from streams.runtime.notices.state import LoggedTables
from streams.runtime.notices.steps import NoticeSteps

log = get_logger("gigbridge.notices")

SITES = validated_topic("sites")
INCIDENTS, HEADCOUNTS = validated_topic("incidents"), validated_topic("headcounts")
NOTICES = re.compile(r"gov\.notices\.\d{2}")
MEASURES = re.compile(r"platform\.([a-z][a-z0-9-]{1,31})\.measures")
CHANGES = re.compile(r"platform\.([a-z][a-z0-9-]{1,31})\.algorithm-changes")
PATTERN = r"^(hub\.validated\.(sites|incidents|headcounts)|gov\.notices\.\d{2}|platform\.[a-z][a-z0-9-]{1,31}\.(measures|algorithm-changes))$"
TABLES = ("open_sites", "notice_areas", "tracks")
LIVE_NOTICES = "live_notices"
INJURY_TABLES = ("notice_windows", "active_workers", "linked_incidents")

Write = Callable[[list[Delivery]], Awaitable[object]]


def state_topic(app_id: str) -> str:
    """Compacted (the topic policy's "state" family)."""
    return f"{app_id}-notices-state-changelog"


class NoticeStep:
    """The batch loop's step: dispatch each record by topic; write the outputs and the state
    changes, all acknowledged, before returning."""

    def __init__(self, steps: NoticeSteps, incidents: IncidentSteps, tables: LoggedTables, write: Write,
                 clock: Callable[[], int], webhook_platforms: frozenset[str] = frozenset()) -> None:
        self.steps, self.incidents, self.tables, self.write, self.clock = steps, incidents, tables, write, clock
        self.webhook_platforms = webhook_platforms

    async def start(self, records: list[Record]) -> Awaitable[None]:
        deliveries: list[Delivery] = []
        # a batch's sites first (a warning then sees them), its warnings before its incidents
        for r in sorted(records, key=_order):
            deliveries += self.one(r, self.clock())
        metrics.OPEN_SITES.set(len(self.steps.open_sites))
        await self.write_with_state(deliveries)
        return asyncio.sleep(0)  # already acknowledged

    def one(self, r: Record, now: int) -> list[Delivery]:
        source = Source(r.topic, r.partition, r.offset)
        if r.topic == SITES:
            return self.steps.on_site(r.value or b"", now)
        if r.topic == HEADCOUNTS:
            self.incidents.on_headcount(r.value or b"")
            return []
        if r.topic == INCIDENTS:
            self.incidents.on_incident(r.value or b"")
            return []
        if NOTICES.fullmatch(r.topic):
            notice_id = self.incidents.on_notice(r.value or b"")
            return self.steps.on_notice(r.value or b"", now) + self.webhook_copies(notice_id, r)
        if match := MEASURES.fullmatch(r.topic):
            out = self.steps.on_measure(r.value or b"", source, match[1], now)
            metrics.MEASURES.labels("rejected" if any(d.kind == "rejected" for d in out) else "accepted").inc()
            return out
        if match := CHANGES.fullmatch(r.topic):
            out = self.steps.on_rule_change(r.value or b"", source, match[1], now)
            metrics.RULE_CHANGES.labels("rejected" if out[0].kind == "rejected" else "accepted").inc()
            return out
        return []

    def webhook_copies(self, notice_id: str, r: Record) -> list[Delivery]:
        """The WeatherNotice record, unchanged, for each concerned platform (tracked for this
        notice, after the record was applied) that has a notice webhook."""
        tracked = {key.split("|", 1)[1] for key in self.steps.tracks if key.split("|", 1)[0] == notice_id}
        return [Delivery("validated", notice_webhook_topic(p), r.key, r.value)
                for p in sorted(tracked & self.webhook_platforms)]

    async def write_with_state(self, deliveries: list[Delivery]) -> None:
        deliveries = deliveries + self.tables.changes()
        if deliveries:
            await self.write(deliveries)


def _order(record: Record) -> int:
    return 0 if record.topic in (SITES, HEADCOUNTS) else 1 if NOTICES.fullmatch(record.topic) else 2


@dataclass
class NoticeFlows:
    steps: NoticeSteps
    loop: BatchLoop


def register_notice_flows(app: faust.App, settings: Settings, ctx: Context, write: Write,
                          clock: Callable[[], int]) -> NoticeFlows:
    """Declare the loop (started as an app task) and the timer on ``app``; nothing runs until it starts."""
    tables = LoggedTables(state_topic(settings.app_id), *TABLES, LIVE_NOTICES, *INJURY_TABLES)
    steps = NoticeSteps(
        ctx.catalog, ctx.division_exists, *(tables[name] for name in TABLES), rules=ctx.rules,
        tracking_rules=TrackingRules(overdue_after_ms=int(settings.notice_overdue_after_s * 1000)),
        change_rules=ChangeRules(notice_period_ms=int(settings.algorithm_notice_period_days * 86_400_000)),
        live_notices=tables[LIVE_NOTICES])
    incidents = IncidentSteps(ctx.catalog, tables["notice_areas"], tables["tracks"],
                              *(tables[name] for name in INJURY_TABLES))
    step = NoticeStep(steps, incidents, tables, write, clock, frozenset(settings.platform_notice_webhooks))
    consumer = KafkaConsumer(f"{settings.app_id}-notices", {
        "metadata_max_age_ms": int(settings.topic_discovery_interval_s * 1000),
        "partition_assignment_strategy": (SingleOwnerAssignor,), **settings.aiokafka_config})
    config = LoopConfig("notices", pattern=PATTERN, batch_size=500, batch_timeout_s=settings.stream_batch_timeout_s)
    ownership = NoticeOwnership(tables, lambda: asyncio.to_thread(
        read_to_end, settings.kafka_python_config, state_topic(settings.app_id).__eq__, 60.0),
        keep_trying=lambda: not loop.stopping)
    loop = BatchLoop(config, consumer, step, assigned=ownership.assigned, revoked=ownership.revoked)

    @app.task
    async def run_loop() -> None:
        await loop.run()  # the state is restored when the partitions are assigned

    @app.timer(settings.notice_check_interval_s, on_leader=False)
    async def overdue() -> None:
        async with ownership.guard() as owner:
            if not owner:  # standing by (or not restored yet): another worker publishes
                return
            deliveries, overdue_counts, states = steps.overdue_tick(clock())
            metrics.set_gauges(overdue_counts, states)
            metrics.set_injury_rates(incidents.rates())
            await step.write_with_state(deliveries)

    return NoticeFlows(steps, loop)
