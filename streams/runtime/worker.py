"""The hub's stream worker, hosted by a Faust app (runtime, web pages, timers): the
validation stream and one HTTP delivery stream per endpoint, each on the batch loop
(``streams.runtime``), plus health and a once-a-second counts line.

Per validation batch (``streams.runtime.ingest_loop``, ``streams.runtime.validation_step``): plan outcomes
(pure), send every output, wait for the broker's acknowledgement of all of them; then the
accepted event ids go to the dedupe log, written for all batches of a
``dedupe_log_interval_ms`` together (``streams.runtime.dedupe``), and stored locally; only then are the
input offsets committed (``streams.runtime.checkpoint``). Nothing is committed before its
outcome is durable, so a crash or a broker outage re-delivers instead of losing; a message that
cannot be decoded becomes a DLQ record, never an exception, so one bad message cannot stop the
worker.
"""

from __future__ import annotations

import asyncio
import gc
import time
from typing import Callable

from gigbridge.heap import fix_mmap_threshold, heap_trimmer
from gigbridge.logs import get_logger
from gigbridge.settings import Settings
from gigbridge.topics_admin import TopicAdmin
from streams.runtime import metrics
from streams.runtime.app import create_app
from streams.runtime.claims import claims_agent
from streams.runtime.counts import Counts
from streams.runtime.cover_stage import CoverStage
from streams.runtime.dedupe import Dedupe
from streams.runtime.dedupe.log import log_topic
from streams.runtime.delivery import sink_routes
from streams.runtime.cases import register_case_flows
from streams.runtime.delivery_step import delivery_loop
from streams.runtime.health import SHUTDOWN_GRACE_S, WorkerHealth
from streams.runtime.ingest_monitor import IngestMonitor
from streams.runtime.ingest_loop import ingest_loop
from streams.runtime.notices.flows import register_notice_flows
from streams.context import build_context
from streams.core.route import new_topic_partitions
from streams.core.topics import DLQ_TOPIC, is_output_topic, validated_topics
from streams.runtime.cover_topics import COPARTITIONED_TOPICS, ensure_cover_topics
from streams.runtime.validation_step import ValidationStep
from streams.runtime.writer import Writer, create_producer

log = get_logger("gigbridge.worker")


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
    """Wiring only: the Faust app (runtime, web pages, timers), the ingest loop with its
    validation step and dedupe state, one delivery loop per HTTP endpoint, health. ``clock``
    returns epoch ms (injected for tests)."""

    def __init__(self, settings: Settings, clock: Callable[[], int] | None = None) -> None:
        self.settings = settings
        self.clock = clock or (lambda: time.time_ns() // 1_000_000)
        self.health = WorkerHealth()  # /healthz, /readyz and the drain on SIGTERM (streams.runtime.health)
        self.app = create_app(settings, health=self.health)
        self.ctx = build_context(settings)
        self.admin = TopicAdmin(settings)
        self.writer = Writer(lambda: create_producer(settings), self.admin, self._partitions_of_new_topic)
        self.counts = Counts()
        self.dedupe = Dedupe(settings, self.ctx.catalog, self.writer.write, self.admin)
        self.validation = ValidationStep(self.ctx, self.writer, self.dedupe, self.clock, on_batch=self.counts.add)
        self.ingest = ingest_loop(settings, self.validation, self.dedupe, self._on_assigned, self.health.batch)
        self.deliveries = [
            delivery_loop(settings, route, endpoint, self.ctx.catalog, self.writer, self.ctx.protect, self.clock,
                          self.counts.add_sink_outcomes, lambda: self.health.batch(validation=False),
                          # the Faust delivery agents before them shared the app's own group
                          legacy_offsets=lambda: self.admin.group_offsets(settings.app_id))
            for route, endpoint in sink_routes(settings)]
        self.claims = claims_agent(self.app, settings, self.ctx, self.writer.write, self.clock)
        self.cover = CoverStage(settings, self.ctx.catalog, self.writer, self.admin, self.clock,
                                lambda: self.health.batch(validation=False))  # issue 20: streams.runtime.cover_stage
        self.app.timer(settings.cover_close_interval_s, on_leader=False)(self.cover.tick)
        self.cases = register_case_flows(self.app, settings, self.ctx, self.writer, self.clock,
                                         lambda: self.health.batch(validation=False))  # docs/cases.md
        self.monitor = IngestMonitor(settings, self.health, self.ingest, self.validation.next_offsets)
        self.app.timer(settings.stats_interval_s, on_leader=False)(self._log_counts)
        self.app.timer(5.0, on_leader=False)(self.monitor.measure_lag)
        self._trim_heap = heap_trimmer() if settings.heap_trim_interval_s else None
        if self._trim_heap is not None:
            self.app.timer(settings.heap_trim_interval_s, on_leader=False)(self._give_back_heap)
        self.notices = register_notice_flows(self.app, settings, self.ctx, self.writer.write, self.clock)
        self.app.task(self._run)
        self.app.task(self.monitor.watch)

    async def _run(self) -> None:
        await asyncio.to_thread(self.ensure_topics)
        dedupe_logs = log_topic(self.settings.app_id, "")
        await self.writer.learn_existing_topics(lambda t: is_output_topic(t) or t.startswith(dedupe_logs))
        fix_mmap_threshold()  # before RocksDB allocates: gigbridge.heap
        self.dedupe.open()
        self.cover.open()
        tune_gc(self.settings.gc_gen0_threshold)
        self.health.started = True  # /readyz: not before the stores are open and the loops start
        try:
            await asyncio.gather(self.ingest.run(), self.cover.loop.run(), *(loop.run() for loop in self.deliveries))
        finally:
            await asyncio.shield(self._close())

    async def _close(self) -> None:
        for loop in self.deliveries:
            await loop.step.close()
        await self.dedupe.close()
        await self.cover.close()
        # not the writer: the Faust agents (case owners, claims) write with it until the app has
        # stopped them; serve() stops it after that (GracefulWorker's after_stop)

    async def _on_assigned(self, assigned: set) -> None:
        metrics.SUBSCRIBED_TOPICS.set(len(self.ingest.subscribed_topics()))
        await self.dedupe.replay(assigned, keep_trying=lambda: not self.ingest.stopping)

    def _partitions_of_new_topic(self, topic: str) -> int:
        return new_topic_partitions(topic, self.settings.topic_partitions, self.settings.office_topic_partitions)

    def ensure_topics(self) -> None:
        """Create the static topics, the cover stage's two co-partitioned ones first."""
        ensure_cover_topics(self.admin)
        self.admin.ensure(self.static_topics())
        self.cases.ensure_measures_topic(self.admin)

    def static_topics(self) -> list[str]:
        """Topics that must exist before the worker starts (outputs every batch may need)."""
        topics = [*validated_topics(), *COPARTITIONED_TOPICS, DLQ_TOPIC]
        for route, _ in sink_routes(self.settings):
            topics += [*route.sources, route.receipts_topic, route.dlq_topic]
        topics += self.claims.input_topics
        return topics + self.cases.static_topics()

    async def drain(self, grace_s: float = SHUTDOWN_GRACE_S) -> None:
        """Graceful stop (SIGTERM, see ``streams.runtime.health.GracefulWorker``): every loop takes no
        new batch, lets the ones in flight finish (outputs acknowledged, offsets committed) and
        leaves its group. A delivery flush backing off on a failing endpoint is interrupted at
        once (its batch is re-read later); anything still running after ``grace_s`` is left to
        Faust's cancellation."""
        self.health.draining = True
        started = time.monotonic()
        log.info("draining before shutdown", batches_in_flight=self.health.inflight)
        deadline = started + grace_s
        stopping = asyncio.ensure_future(asyncio.gather(*(loop.stop() for loop in (
            self.ingest, self.cover.loop, *self.deliveries, self.notices.loop, self.cases.intake))))
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

    async def _give_back_heap(self) -> None:
        """gigbridge.heap: RSS follows the memory in use, not RocksDB's churn (in a thread: the
        call takes the allocator's locks, not the GIL)."""
        await asyncio.to_thread(self._trim_heap)

    async def _log_counts(self) -> None:
        self.counts.log_line(topics=len(self.ingest.subscribed_topics()))


def serve(hub: HubWorker) -> int:
    """Run ``hub`` until SIGTERM/SIGINT, which first finishes and commits the batches in flight
    (:meth:`HubWorker.drain`); returns the exit code (0)."""
    from streams.runtime.health import GracefulWorker

    hub.ensure_topics()  # before subscribing: see HubWorker.static_topics
    worker = GracefulWorker(hub.app, drain=hub.drain, after_stop=hub.writer.stop, loglevel=hub.settings.log_level,
                            override_logging=False, redirect_stdouts=False, quiet=True)
    worker.execute_from_commandline()
    return 0
