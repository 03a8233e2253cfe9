"""The validation worker: ingest loop + dedupe store + a once-a-second counts line, hosted by
a Faust app (web pages, timers, the HTTP delivery agents).

Per batch (``streams.ingest_loop``): plan outcomes (pure), send every output, wait for the
broker's acknowledgement of all of them; then the accepted event ids go to the dedupe log,
written for all batches of a ``dedupe_log_interval_ms`` together (``streams.dedupe_flush``),
and stored locally; only then are the input offsets committed. Nothing is committed
before its outcome is durable, so a crash or a broker outage re-delivers instead of losing; a
message that cannot be decoded becomes a DLQ record, never an exception, so one bad message
cannot stop the worker.
"""

from __future__ import annotations

import asyncio
import gc
import time
from dataclasses import dataclass
from typing import Callable

from gigbridge.divisions import default_table
from gigbridge.heap import fix_mmap_threshold, heap_trimmer
from gigbridge.logs import get_logger
from gigbridge.settings import Settings
from gigbridge.topics_admin import TopicAdmin
from schemas.catalog import default_catalog
from streams import metrics
from streams.app import create_app
from streams.dedupe import Dedupe
from streams.dedupe.log import log_topic
from streams.delivery import sink_routes
from streams.delivery_step import delivery_loop
from streams.health import SHUTDOWN_GRACE_S, KafkaProbe, WorkerHealth
from streams.ingest_loop import ingest_loop
from streams.pipeline import BatchPlan
from streams.policy import Protector, SecretSource, load_policies
from streams.process import Accepted, Context, Rejected
from streams.route import RoutingConfig, new_topic_partitions
from streams.topics import DLQ_TOPIC, is_output_topic, validated_topics
from streams.validate import DAY_MS, Rules
from streams.validation_step import ValidationStep
from streams.writer import Writer, create_producer

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


def tune_gc(gen0_threshold: int) -> None:
    """Keep the cyclic garbage collector off the hot path: everything alive after start-up
    (modules, Faust, clients, the catalog) is frozen out of collections, and young collections
    run every ``gen0_threshold`` allocations (0: Python's default) so a batch's short-lived
    objects die young instead of being promoted and scanned by full collections (GC was ~20 %
    of the worker's CPU per event, see docs/performance.md)."""
    gc.collect()
    gc.freeze()
    if gen0_threshold:
        _, gen1, gen2 = gc.get_threshold()
        gc.set_threshold(gen0_threshold, gen1, gen2)


class HubWorker:
    """Owns the Faust app, the ingest loop and the dedupe state; ``clock`` returns epoch ms
    (injected for tests)."""

    def __init__(self, settings: Settings, clock: Callable[[], int] | None = None) -> None:
        self.settings = settings
        self.clock = clock or (lambda: time.time_ns() // 1_000_000)
        self.health = WorkerHealth()  # /healthz, /readyz and the drain on SIGTERM (streams.health)
        self.health.partitions = self._partition_positions
        self.probe = KafkaProbe(settings.aiokafka_config)  # replaced once the app runs (_watch_health)
        self.app = create_app(settings, health=self.health)
        self.ctx = build_context(settings)
        self.admin = TopicAdmin(settings)
        self.writer = Writer(lambda: create_producer(settings), self.admin, self._partitions_of_new_topic)
        self.counts = Counts()
        self.dedupe = Dedupe(settings, self.ctx.catalog, self.writer.write, self.admin)
        self.validation = ValidationStep(self.ctx, self.writer, self.dedupe, self.clock, on_batch=self.counts.add)
        self.ingest = ingest_loop(settings, self.validation, self.dedupe, self._on_assigned, self.health.batch)
        self.app.timer(settings.stats_interval_s, on_leader=False)(self._log_counts)
        self.app.timer(5.0, on_leader=False)(self._measure_lag)
        self._trim_heap = heap_trimmer() if settings.heap_trim_interval_s else None
        if self._trim_heap is not None:
            self.app.timer(settings.heap_trim_interval_s, on_leader=False)(self._give_back_heap)
        self.app.task(self._run)
        self.app.task(self._watch_health)
        self.deliveries = [
            delivery_loop(settings, route, endpoint, self.ctx.catalog, self.writer, self.ctx.protect, self.clock,
                          self.counts.add_sink_outcomes, lambda: self.health.batch(validation=False))
            for route, endpoint in sink_routes(settings)]

    # --- ingest ------------------------------------------------------------------------

    async def _run(self) -> None:
        await asyncio.to_thread(self.admin.ensure, self.static_topics())
        dedupe_logs = log_topic(self.settings.app_id, "")
        await self.writer.learn_existing_topics(lambda t: is_output_topic(t) or t.startswith(dedupe_logs))
        fix_mmap_threshold()  # before RocksDB allocates: gigbridge.heap
        self.dedupe.open()
        tune_gc(self.settings.gc_gen0_threshold)
        try:
            await asyncio.gather(self.ingest.run(), *(loop.run() for loop in self.deliveries))
        finally:
            await asyncio.shield(self._close())

    async def _close(self) -> None:
        for loop in self.deliveries:
            await loop.step.close()
        await self.dedupe.close()
        await self.writer.stop()

    async def _on_assigned(self, assigned: set) -> None:
        metrics.SUBSCRIBED_TOPICS.set(len(self.ingest.subscribed_topics()))
        await self.dedupe.replay(assigned, keep_trying=lambda: not self.ingest.stopping)

    def _partitions_of_new_topic(self, topic: str) -> int:
        return new_topic_partitions(topic, self.settings.topic_partitions, self.settings.office_topic_partitions)

    async def drain(self, grace_s: float = SHUTDOWN_GRACE_S) -> None:
        """Graceful stop (SIGTERM, see ``streams.health.GracefulWorker``): take no new batches,
        let the ones in flight finish (outputs acknowledged, offsets committed), leave the
        ingest group. A delivery flush backing off on a failing endpoint is interrupted at once
        (its batch is re-read later); anything still running after ``grace_s`` is left to
        Faust's cancellation."""
        self.health.draining = True
        started = time.monotonic()
        log.info("draining before shutdown", batches_in_flight=self.health.inflight)
        deadline = started + grace_s
        stopping = asyncio.ensure_future(asyncio.gather(*(loop.stop() for loop in (self.ingest, *self.deliveries))))
        while not await self.health.wait_idle(0.2):
            for loop in self.deliveries:
                if loop.step.sink.paused or time.monotonic() > deadline:
                    await loop.step.sink.stop()
            if time.monotonic() > deadline:
                log.warning("batches still in flight after the grace period; they will be re-read",
                            batches_in_flight=self.health.inflight)
                break
        try:
            async with asyncio.timeout(max(1.0, deadline - time.monotonic())):
                await asyncio.shield(stopping)
        except Exception as exc:  # broker unreachable: the offsets are committed by the next owner
            log.warning("commit before shutdown failed", error=f"{type(exc).__name__}: {exc}")
        log.info("drained", seconds=round(time.monotonic() - started, 3))

    def _partition_positions(self) -> dict:
        """(position, end offset) of every subscribed ingest partition as the health probe last
        saw them: the position is the group's committed offset, the next offset this worker
        will process or the earliest offset still in the log, whichever is furthest."""
        probe = self.probe
        return {key: (max(self.validation.next_offsets.get(key, 0), probe.committed.get(key, 0), probe.begin_offsets.get(key, 0)),
                      end) for key, end in probe.end_offsets.items()}

    async def _watch_health(self) -> None:
        self.health.started = True  # app tasks start once Faust is up
        self.probe = probe = KafkaProbe(self.settings.aiokafka_config, self.ingest.group_id,
                                        self.ingest.subscribed_topics)
        try:
            await asyncio.gather(self.health.heartbeat(), self.health.probe_kafka(probe))
        finally:
            await probe.close()

    # --- topics ------------------------------------------------------------------------

    def static_topics(self) -> list[str]:
        """Topics that must exist before the worker starts (outputs every batch may need)."""
        topics = [*validated_topics(), DLQ_TOPIC]
        for route, _ in sink_routes(self.settings):
            topics += [*route.sources, route.receipts_topic, route.dlq_topic]
        return topics

    async def _measure_lag(self) -> None:
        """Lag per ingest topic: the partition's high watermark minus the next offset this worker
        will process, summed over the partitions it owns and has read from."""
        consumer = self.ingest.consumer
        lag: dict[str, int] = {}
        for tp in consumer.assignment():
            next_offset = self.validation.next_offsets.get((tp.topic, tp.partition))
            if next_offset is None:
                continue
            end = consumer.highwater(tp)
            if end is not None:
                lag[tp.topic] = lag.get(tp.topic, 0) + max(0, end - next_offset)
        for topic, value in lag.items():
            metrics.CONSUMER_LAG.labels(topic).set(value)

    async def _give_back_heap(self) -> None:
        """gigbridge.heap: RSS follows the memory in use, not RocksDB's churn (in a thread: the
        call takes the allocator's locks, not the GIL)."""
        await asyncio.to_thread(self._trim_heap)

    async def _log_counts(self) -> None:
        c = self.counts
        log.info("counts", received=c.received, valid=c.valid, rejected=c.rejected,
                 duplicates=c.duplicates, dlq=c.dlq, delivered=c.delivered, refused=c.refused,
                 topics=len(self.ingest.subscribed_topics()))


def serve(hub: HubWorker) -> int:
    """Run ``hub`` until SIGTERM/SIGINT, which first finishes and commits the batches in flight
    (:meth:`HubWorker.drain`); returns the exit code (0)."""
    from streams.health import GracefulWorker

    hub.admin.ensure(hub.static_topics())  # before subscribing: see HubWorker.static_topics
    worker = GracefulWorker(hub.app, drain=hub.drain, loglevel=hub.settings.log_level, override_logging=False,
                            redirect_stdouts=False, quiet=True)
    worker.execute_from_commandline()
    return 0
