"""The validation worker: Faust agent + topic discovery + a once-a-second counts line.

Per batch (``stream.noack_take``): plan outcomes (pure), send every output, wait for the
broker's acknowledgement of all of them, remember accepted event ids in the dedupe table,
then ack the input events. Nothing is acked before its outcome is durable, so a crash or a
broker outage re-delivers instead of losing; a message that cannot be decoded becomes a DLQ
record, never an exception, so one bad message cannot stop the worker.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from dataclasses import dataclass
from typing import Callable

import faust
from faust.streams import _current_event  # see _point_table_at

from gigbridge.divisions import default_table
from gigbridge.logs import get_logger
from gigbridge.settings import Settings
from gigbridge.topics_admin import TopicAdmin
from schemas.catalog import default_catalog
from streams import metrics
from streams.app import create_app, create_dedupe_table
from streams.dedupe import Deduper
from streams.pipeline import BatchPlan, InMessage, plan_batch
from streams.writer import Writer
from streams.delivery import sink_routes
from streams.delivery_agent import DeliveryAgent
from streams.health import SHUTDOWN_GRACE_S, KafkaProbe, WorkerHealth
from streams.policy import Protector, SecretSource, load_policies
from streams.process import Accepted, Context, Rejected
from streams.route import RoutingConfig
from streams.topics import DLQ_TOPIC, parse_ingest_topic, rejected_topic, validated_topics
from streams.validate import DAY_MS, Rules

log = get_logger("gigbridge.worker")


@dataclass
class Counts:
    """Running totals for the periodic log line (the Prometheus counters hold the same)."""

    received: int = 0
    valid: int = 0
    rejected: int = 0
    duplicates: int = 0
    dlq: int = 0
    delivered: int = 0  # HTTP deliveries to insurers / webhooks
    refused: int = 0  # permanent refusals (sink DLQ)

    def add_sink_outcomes(self, delivered: int, refused: int) -> None:
        self.delivered += delivered
        self.refused += refused

    def add(self, plan: BatchPlan) -> None:
        for d in plan.decisions:
            self.received += 1
            if d.duplicate:
                self.duplicates += 1
            elif isinstance(d.outcome, Accepted):
                self.valid += 1
            elif isinstance(d.outcome, Rejected):
                self.rejected += 1
            else:
                self.dlq += 1


def _point_table_at(event) -> None:
    """The dedupe table is co-partitioned with the ingest topics and Faust picks the table
    partition from the *current event* context variable, which a batch (``noack_take``) does
    not set per event. Set only the context variable of this task: ``Stream.current_event``
    must stay untouched, the batch buffer is filled from it in the background (overwriting it
    once duplicated an old event into the buffer in place of a new one)."""
    _current_event.set(weakref.ref(event))


class GrowingTopic(faust.Topic):
    """A topic channel whose list of names grows at run time.

    Faust iterates over a *clone* of an agent's channel; clones made here share one list
    object, so names added to the template reach the subscribed clone, and the conductor is
    told to resubscribe (it coalesces changes for ``_resubscribe_sleep_lock_seconds``).
    """

    def __init__(self, app, *, topics: list[str], **kwargs) -> None:
        super().__init__(app, topics=topics, **kwargs)
        self.topics = topics  # Topic.__init__ replaces an empty list with a fresh one

    def add_topics(self, names) -> None:
        self.topics.extend(n for n in names if n not in self.topics)
        self.app.topics._flag_changes()  # no public "topics changed" hook in faust-streaming


DEV_MASTER_SECRET = "gigbridge-dev-master-secret-not-for-production"


def build_context(settings: Settings) -> Context:
    """Validation rules, routing and privacy policy from settings (shared by worker and tools)."""
    divisions = default_table()
    master = settings.privacy_master_secret
    if master is None:
        log.warning("GIGBRIDGE_PRIVACY_MASTER_SECRET is not set: using the development secret; "
                    "re-keyed refs are NOT private with it")
        master = DEV_MASTER_SECRET
    book = load_policies(settings.privacy_policy_file, secrets=SecretSource(master))
    return Context(
        catalog=default_catalog(),
        division_exists=divisions.exists,
        rules=Rules(max_future_skew_ms=int(settings.max_future_skew_s * 1000),
                    max_age_ms=int(settings.max_event_age_days * DAY_MS)),
        level_of=divisions.level_of,
        routing=RoutingConfig.from_names(settings.office_level, settings.office_level_overrides),
        protect=Protector(book),
        emit_validated=settings.emit_validated,
    )


class HubWorker:
    """Owns the Faust app and the agent; ``clock`` returns epoch ms (injected for tests)."""

    def __init__(self, settings: Settings, clock: Callable[[], int] | None = None) -> None:
        self.settings = settings
        self.clock = clock or (lambda: time.time_ns() // 1_000_000)
        self.health = WorkerHealth()  # /healthz, /readyz and the drain on SIGTERM (streams.health)
        self.health.partitions = self._partition_positions
        self.probe = KafkaProbe(settings.aiokafka_config)  # replaced once the app runs (_watch_health)
        self.app = create_app(settings, health=self.health)
        self.table = create_dedupe_table(self.app, settings)
        self.deduper = Deduper(self.table, int(settings.dedupe_window_s * 1000))
        self.ctx = build_context(settings)
        self.admin = TopicAdmin(settings)
        self.writer = Writer(self.app, self.admin)
        self.counts = Counts()
        self.next_offsets: dict[tuple[str, int], int] = {}
        # One Topic channel whose name list grows as platforms are onboarded (faust-streaming#62:
        # pattern= subscriptions subscribe to nothing, so topics are discovered explicitly).
        self.ingest = GrowingTopic(self.app, topics=[], value_serializer="raw", key_serializer="raw",
                                   allow_empty=True)
        self.app.agent(self.ingest, name="validate")(self._agent)
        self.app.timer(settings.topic_discovery_interval_s, on_leader=False)(self.discover_topics)
        self.app.timer(settings.stats_interval_s, on_leader=False)(self._log_counts)
        self.app.timer(5.0, on_leader=False)(self._measure_lag)
        self.app.task(self._on_start)
        self.app.task(self._watch_health)
        self.delivery_agents = [
            DeliveryAgent(self.app, settings, route, endpoint, self.ctx.catalog, self.writer, self.ctx.protect,
                          self.clock, on_outcomes=self.counts.add_sink_outcomes)
            for route, endpoint in sink_routes(settings)]
        for agent in self.delivery_agents:
            agent.handle_batch = self._tracked(agent.handle_batch)

    # --- agent -------------------------------------------------------------------------

    async def _agent(self, stream: faust.StreamT) -> None:
        async for events in stream.noack_take(self.settings.stream_batch_size,
                                              within=self.settings.stream_batch_timeout_s):
            if self.health.draining:  # shutting down: left unacked, re-read after the restart
                continue
            with self.health.batch():
                await self.handle_batch(stream, events)

    def _tracked(self, handle_batch):
        """A delivery agent's batch handler that skips new batches while draining and counts
        the one in flight, so the drain waits for it."""
        async def tracked(stream, events) -> None:
            if self.health.draining:
                return
            with self.health.batch(validation=False):
                await handle_batch(stream, events)
        return tracked

    async def drain(self, grace_s: float = SHUTDOWN_GRACE_S) -> None:
        """Graceful stop (SIGTERM, see ``streams.health.GracefulWorker``): take no new batches,
        let the ones in flight finish (outputs acknowledged, inputs acked), commit. A delivery
        flush backing off on a failing endpoint is interrupted at once (its batch is re-read
        later); anything still running after ``grace_s`` is left to Faust's cancellation."""
        self.health.draining = True
        started = time.monotonic()
        log.info("draining before shutdown", batches_in_flight=self.health.inflight)
        deadline = started + grace_s
        while not await self.health.wait_idle(0.2):
            for agent in self.delivery_agents:
                if agent.sink.paused or time.monotonic() > deadline:
                    await agent.sink.stop()
            if time.monotonic() > deadline:
                log.warning("batches still in flight after the grace period; they will be re-read",
                            batches_in_flight=self.health.inflight)
                break
        try:
            await asyncio.wait_for(self.app.consumer.commit(), max(1.0, deadline - time.monotonic()))
        except Exception as exc:  # broker unreachable: the offsets are committed by the next owner
            log.warning("commit before shutdown failed", error=f"{type(exc).__name__}: {exc}")
        log.info("drained", seconds=round(time.monotonic() - started, 3))

    def _partition_positions(self) -> dict:
        """(position, end offset) of every subscribed ingest partition as the health probe last
        saw them: the position is the group's committed offset, the next offset this worker
        will process or the earliest offset still in the log, whichever is furthest."""
        probe = self.probe
        return {key: (max(self.next_offsets.get(key, 0), probe.committed.get(key, 0), probe.begin_offsets.get(key, 0)),
                      end) for key, end in probe.end_offsets.items()}

    async def _watch_health(self) -> None:
        self.health.started = True  # app tasks start once the tables are recovered
        self.probe = probe = KafkaProbe(self.settings.aiokafka_config, self.app.conf.id, lambda: list(self.ingest.topics))
        try:
            await asyncio.gather(self.health.heartbeat(), self.health.probe_kafka(probe))
        finally:
            await probe.close()

    async def handle_batch(self, stream: faust.StreamT, events) -> None:
        started = time.perf_counter()
        now_ms = self.clock()
        messages = [InMessage(e.message.topic, e.message.partition, e.message.offset,
                              e.message.key, e.message.value, e) for e in events]

        def seen_before(msg: InMessage, event_id: str) -> bool:
            _point_table_at(msg.handle)
            return self.deduper.seen_before(event_id, now_ms)

        plan = plan_batch(messages, self.ctx, seen_before, now_ms)
        await self.writer.write(plan.deliveries)
        for decision in plan.decisions:
            if isinstance(decision.outcome, Accepted) and not decision.duplicate:
                _point_table_at(decision.message.handle)
                self.deduper.remember(decision.outcome.event_id, now_ms)
        for event in events:
            await stream.ack(event)
        for m in messages:
            self.next_offsets[(m.topic, m.partition)] = m.offset + 1
        metrics.record_batch(plan, self.clock())
        metrics.PROCESSING_SECONDS.observe(time.perf_counter() - started)
        self.counts.add(plan)

    # --- topics ------------------------------------------------------------------------

    async def _on_start(self) -> None:
        await asyncio.to_thread(self.admin.ensure, self.static_topics())
        await self.writer.learn_existing_topics()
        await self.discover_topics()

    def static_topics(self) -> list[str]:
        """Topics that must exist before the worker subscribes (consumer metadata for a topic
        created later can take minutes to be refreshed)."""
        topics = [*validated_topics(), DLQ_TOPIC]
        for route, _ in sink_routes(self.settings):
            topics += [*route.sources, route.receipts_topic, route.dlq_topic]
        return topics

    async def discover_topics(self) -> None:
        """Add ingest topics of newly onboarded platforms to the subscription."""
        try:
            found = await asyncio.to_thread(self._find_new_ingest_topics)
        except Exception as exc:  # broker briefly unreachable: try again next tick
            log.warning("topic discovery failed", error=str(exc))
            return
        if found:
            self.ingest.add_topics(found)
            log.info("subscribed to new ingest topics", topics=",".join(found))
        metrics.SUBSCRIBED_TOPICS.set(len(self.ingest.topics))

    def _find_new_ingest_topics(self) -> list[str]:
        known = set(self.ingest.topics)
        candidates = sorted(t for t in self.admin.list_topics() if t not in known and parse_ingest_topic(t))
        if not candidates:
            return []
        usable = []
        for topic, partitions in self.admin.partitions_of(candidates).items():
            if partitions > self.settings.topic_partitions:
                log.error("ingest topic has more partitions than the dedupe table; not consumed",
                          topic=topic, partitions=partitions, table_partitions=self.settings.topic_partitions)
                continue
            usable.append(topic)
        platforms = {parse_ingest_topic(t).platform_id for t in usable}
        self.admin.ensure(rejected_topic(p) for p in platforms)
        return sorted(usable)

    async def _measure_lag(self) -> None:
        """Lag per ingest topic: the partition's high watermark minus the next offset this worker
        will process, summed over the partitions it owns and has read from. (Faust's
        ``consumer.position()`` goes through the consumer thread and stalls consumption when
        called from a timer, so positions are tracked from processed batches instead.)"""
        consumer = self.app.consumer
        lag: dict[str, int] = {}
        for tp in consumer.assignment():
            next_offset = self.next_offsets.get((tp.topic, tp.partition))
            if next_offset is None:
                continue
            end = consumer.highwater(tp)
            if end is not None:
                lag[tp.topic] = lag.get(tp.topic, 0) + max(0, end - next_offset)
        for topic, value in lag.items():
            metrics.CONSUMER_LAG.labels(topic).set(value)

    async def _log_counts(self) -> None:
        c = self.counts
        log.info("counts", received=c.received, valid=c.valid, rejected=c.rejected,
                 duplicates=c.duplicates, dlq=c.dlq, delivered=c.delivered, refused=c.refused,
                 topics=len(self.ingest.topics))

