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
from collections import defaultdict
from dataclasses import dataclass
from typing import Awaitable, Callable

from gigbridge.heap import fix_mmap_threshold, heap_trimmer
from gigbridge.logs import get_logger
from gigbridge.settings import Settings
from gigbridge.topics_admin import TopicAdmin
from streams import metrics
from streams.app import create_app
from streams.classify import Accepted, Rejected
from streams.context import build_context
from streams.dedupe_flush import DedupeLogFlusher
from streams.dedupe_log import log_topic, log_topic_configs, replay
from streams.dedupe_store import DedupeStore
from streams.delivery import sink_routes
from streams.delivery_agent import DeliveryAgent
from streams.health import SHUTDOWN_GRACE_S, KafkaProbe, WorkerHealth
from streams.ingest_loop import IngestLoop
from streams.plan import BatchPlan, InMessage, plan_batch
from streams.route import new_topic_partitions
from streams.topics import DLQ_TOPIC, is_output_topic, validated_topics
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
    """Owns the Faust app, the ingest loop and the dedupe store; ``clock`` returns epoch ms
    (injected for tests)."""

    def __init__(self, settings: Settings, clock: Callable[[], int] | None = None) -> None:
        self.settings = settings
        self.clock = clock or (lambda: time.time_ns() // 1_000_000)
        self.health = WorkerHealth()  # /healthz, /readyz and the drain on SIGTERM (streams.health)
        self.health.partitions = self._partition_positions
        self.probe = KafkaProbe(settings.aiokafka_config)  # replaced once the app runs (_watch_health)
        self.app = create_app(settings, health=self.health)
        self.store = DedupeStore(settings.data_dir / settings.app_id / "dedupe", int(settings.dedupe_window_s * 1000))
        self.ctx = build_context(settings)
        self.admin = TopicAdmin(settings)
        self.writer = Writer(lambda: create_producer(settings), self.admin, self._partitions_of_new_topic)
        self.counts = Counts()
        self.next_offsets: dict[tuple[str, int], int] = {}
        self._pending_ids: set[tuple[str, int, str]] = set()  # accepted by batches still in flight
        self.dedupe_log = DedupeLogFlusher(self.writer.write, self.store, self.ctx.catalog, settings.app_id,
                                           settings.dedupe_log_interval_ms / 1000)
        self.ingest = IngestLoop(settings, self._start_tracked, assigned=self._on_assigned)
        self._replayer = None  # a group-less consumer for dedupe log replays, made on first use
        self.app.timer(settings.stats_interval_s, on_leader=False)(self._log_counts)
        self.app.timer(5.0, on_leader=False)(self._measure_lag)
        self._trim_heap = heap_trimmer() if settings.heap_trim_interval_s else None
        if self._trim_heap is not None:
            self.app.timer(settings.heap_trim_interval_s, on_leader=False)(self._give_back_heap)
        self.app.task(self._run)
        self.app.task(self._watch_health)
        self.delivery_agents = [
            DeliveryAgent(self.app, settings, route, endpoint, self.ctx.catalog, self.writer, self.ctx.protect,
                          self.clock, on_outcomes=self.counts.add_sink_outcomes)
            for route, endpoint in sink_routes(settings)]
        for agent in self.delivery_agents:
            agent.handle_batch = self._tracked(agent.handle_batch)

    # --- ingest ------------------------------------------------------------------------

    async def _run(self) -> None:
        await asyncio.to_thread(self.admin.ensure, self.static_topics())
        dedupe_logs = log_topic(self.settings.app_id, "")
        await self.writer.learn_existing_topics(lambda t: is_output_topic(t) or t.startswith(dedupe_logs))
        fix_mmap_threshold()  # before RocksDB allocates: gigbridge.heap
        self.store.open()
        tune_gc(self.settings.gc_gen0_threshold)
        try:
            await self.ingest.run()
        finally:
            await asyncio.shield(self._close())

    async def _close(self) -> None:
        if self._replayer is not None:
            await self._replayer.stop()
        self.dedupe_log.close()
        await self.writer.stop()
        self.store.close()

    async def _start_tracked(self, records) -> Awaitable[asyncio.Future | None]:
        with self.health.batch():
            finish = await self.start_batch(records)

        async def tracked() -> asyncio.Future | None:
            with self.health.batch():
                return await finish
        return tracked()

    async def _on_assigned(self, assigned: set) -> None:
        """Before a newly assigned partition is read: its dedupe log exists (same partition
        count as the ingest topic) and the local store holds everything in it. Retried until
        it succeeds (the partitions are not read meanwhile, and readiness reports it)."""
        metrics.SUBSCRIBED_TOPICS.set(len(self.ingest.subscribed_topics()))
        if not assigned:
            return
        backoff = 0.5
        while not self.ingest.stopping:
            try:
                await self._prepare_dedupe(assigned)
                return
            except Exception as exc:  # noqa: BLE001 - broker unreachable, topic being created
                log.warning("dedupe log replay failed, retrying", error=f"{type(exc).__name__}: {exc}",
                            backoff_s=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)

    async def _prepare_dedupe(self, assigned: set) -> None:
        from aiokafka import AIOKafkaConsumer

        topics = sorted({tp.topic for tp in assigned})
        log.info("ingest partitions assigned", partitions=len(assigned), topics=",".join(topics))
        await asyncio.to_thread(self._ensure_dedupe_logs, topics)
        if self._replayer is None:
            self._replayer = AIOKafkaConsumer(client_id=f"{self.settings.app_id}-dedupe-replay", group_id=None,
                                              enable_auto_commit=False, **self.settings.aiokafka_config)
            await self._replayer.start()
        started = time.monotonic()
        applied = await replay(self._replayer, self.store, self.ctx.catalog, self.settings.app_id,
                               [(tp.topic, tp.partition) for tp in assigned])
        log.info("dedupe log replayed", records=applied, seconds=round(time.monotonic() - started, 3))

    def _ensure_dedupe_logs(self, ingest_topics: list[str]) -> None:
        """A dedupe log per ingest topic, with its partition count (described, not listed: a
        topic listing is a full metadata request)."""
        logs = {topic: log_topic(self.settings.app_id, topic) for topic in ingest_topics}
        existing = self.admin.partitions_of(logs.values())
        missing = [topic for topic, name in logs.items() if name not in existing]
        if not missing:
            return
        partitions = self.admin.partitions_of(missing)
        configs = log_topic_configs(int(self.settings.dedupe_window_s * 1000))
        for topic in missing:
            self.admin.ensure([logs[topic]], partitions.get(topic), None, configs, listed=False)

    def _partitions_of_new_topic(self, topic: str) -> int:
        return new_topic_partitions(topic, self.settings.topic_partitions, self.settings.office_topic_partitions)

    async def start_batch(self, records) -> Awaitable[asyncio.Future | None]:
        """Plan the batch and send its outputs; returns the awaitable that finishes it (outputs
        acknowledged), which returns the future of its dedupe-log entry (written with the
        entries of the other batches of its interval, then stored). The loop commits after
        that. Ids accepted by a batch still in flight count as seen for the batches after it."""
        started = time.perf_counter()
        now_ms = self.clock()
        messages = [InMessage(r.topic, r.partition, r.offset, r.key, r.value, None, r.timestamp) for r in records]
        store, pending = self.store, self._pending_ids

        def seen_before(msg: InMessage, event_id: str) -> bool:
            return (msg.topic, msg.partition, event_id) in pending or \
                store.seen_before(msg.topic, msg.partition, event_id, now_ms)

        plan = plan_batch(messages, self.ctx, seen_before, now_ms)
        accepted: dict[tuple[str, int], list[str]] = defaultdict(list)
        for decision in plan.decisions:
            if isinstance(decision.outcome, Accepted) and not decision.duplicate:
                accepted[(decision.message.topic, decision.message.partition)].append(decision.outcome.event_id)
        keys = {(t, p, event_id) for (t, p), ids in accepted.items() for event_id in ids}
        pending |= keys
        try:
            deliveries = plan.deliveries
            sent = await self.writer.send(deliveries)
        except BaseException:
            pending -= keys
            raise
        return self._finish_batch(plan, deliveries, sent, accepted, keys, now_ms, started)

    async def _finish_batch(self, plan: BatchPlan, deliveries, sent, accepted, keys, now_ms: int,
                            started: float) -> asyncio.Future | None:
        """Wait for the broker's acknowledgement of every output; returns the future of the
        batch's dedupe-log entry (None if it accepted nothing), which the loop awaits before it
        commits. The batch's ids count as seen (pending) until the store holds them."""
        durable = None
        try:
            await self.writer.acknowledged(deliveries, sent)
            if accepted:
                durable = self.dedupe_log.add(accepted, now_ms)
        finally:
            if durable is None:
                self._pending_ids -= keys
            else:
                durable.add_done_callback(lambda done: self._forget_pending(done, keys))
        for d in plan.decisions:
            self.next_offsets[(d.message.topic, d.message.partition)] = d.message.offset + 1
        metrics.record_batch(plan, self.clock())
        metrics.PROCESSING_SECONDS.observe(time.perf_counter() - started)
        self.counts.add(plan)
        return durable

    def _forget_pending(self, done: asyncio.Future, keys: set) -> None:
        self._pending_ids -= keys
        if not done.cancelled():
            done.exception()  # retrieved: a failed entry is reported by the loop that awaits it

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
        let the ones in flight finish (outputs acknowledged, offsets committed), leave the
        ingest group. A delivery flush backing off on a failing endpoint is interrupted at once
        (its batch is re-read later); anything still running after ``grace_s`` is left to
        Faust's cancellation."""
        self.health.draining = True
        started = time.monotonic()
        log.info("draining before shutdown", batches_in_flight=self.health.inflight)
        deadline = started + grace_s
        stopping = asyncio.ensure_future(self.ingest.stop())
        while not await self.health.wait_idle(0.2):
            for agent in self.delivery_agents:
                if agent.sink.paused or time.monotonic() > deadline:
                    await agent.sink.stop()
            if time.monotonic() > deadline:
                log.warning("batches still in flight after the grace period; they will be re-read",
                            batches_in_flight=self.health.inflight)
                break
        try:
            async with asyncio.timeout(max(1.0, deadline - time.monotonic())):
                await asyncio.shield(stopping)
            if self.delivery_agents:
                async with asyncio.timeout(max(1.0, deadline - time.monotonic())):
                    await self.app.consumer.commit()
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
        if consumer is None:
            return
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

    async def _give_back_heap(self) -> None:
        """gigbridge.heap: RSS follows the memory in use, not RocksDB's churn (in a thread: the
        call takes the allocator's locks, not the GIL)."""
        await asyncio.to_thread(self._trim_heap)

    async def _log_counts(self) -> None:
        c = self.counts
        log.info("counts", received=c.received, valid=c.valid, rejected=c.rejected,
                 duplicates=c.duplicates, dlq=c.dlq, delivered=c.delivered, refused=c.refused,
                 topics=len(self.ingest.subscribed_topics()))
