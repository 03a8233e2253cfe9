"""HTTP delivery of routed records to one insurer or office webhook, as a step of the batch
loop (``streams.runtime``): its own consumer group per endpoint, ``<app_id>-deliver-<destination>``.

See ``streams.runtime.delivery`` for the guarantees: the step posts each record through the endpoint's
sink (signed, idempotency key, retried with backoff while the endpoint is down), writes one
receipt or dead letter per record, and its batch is acknowledged only when Kafka acknowledged
those; the checkpoint commits the input offsets after that. A rebalance or shutdown stops the
sink (:meth:`DeliveryStep.interrupt`), which makes a flush stuck on a down endpoint give up
without an outcome: the batch fails and is read again, here or by the partition's next owner.
"""

from __future__ import annotations

import asyncio
from typing import Awaitable, Callable, ContextManager, Mapping

from connectors import metrics as sink_metrics
from connectors.sinks.base import DeadLetter, SinkStopped
from connectors.sinks.http import HttpSink
from gigbridge.logs import get_logger
from gigbridge.settings import Endpoint, Settings
from schemas.catalog import Catalog
from streams.runtime import metrics
from streams.runtime.broker.kafka import KafkaConsumer
from streams.runtime.broker.protocols import Producer, Record
from streams.runtime.delivery import SinkRoute, outcome_delivery, to_sink_record
from streams.core.plan import InMessage
from streams.core.route import Route
from streams.runtime.loop import BatchLoop, LoopConfig

log = get_logger("gigbridge.delivery")


class DeliveryInterrupted(Exception):
    """The sink was stopped (rebalance, shutdown) while the endpoint was failing."""


class DeliveryStep:
    def __init__(self, route: SinkRoute, sink, catalog: Catalog, producer: Producer,
                 protect: Callable[[Route, dict], dict], clock: Callable[[], int],
                 on_outcomes: Callable[[int, int], None] = lambda delivered, refused: None) -> None:
        self.route, self.sink, self.catalog, self.producer, self.clock = route, sink, catalog, producer, clock
        self.on_outcomes = on_outcomes
        policy_route = Route("webhook", route.destination, "")
        # Insurer topics already carry the insurer's policy; webhooks get the stricter webhook one
        # (notices carry no personal data).
        strict = route.kind == "webhook" and not route.notices
        self.protect = (lambda record: protect(policy_route, record)) if strict else (lambda r: r)

    async def start(self, records: list[Record]) -> Awaitable[None]:
        """Post the batch, send its receipts and dead letters; returns their acknowledgement."""
        if self.sink.stopped:
            await self.sink.start()
        outcomes = []
        for r in records:
            item = to_sink_record(InMessage(r.topic, r.partition, r.offset, r.key, r.value), self.catalog, self.protect)
            if isinstance(item, DeadLetter):
                outcomes.append(item)
            else:
                self.sink.add(item)
        try:
            outcomes += await self.sink.flush()
        except SinkStopped as exc:
            self.sink.discard()
            await self.sink.start()
            log.warning("delivery interrupted; batch will be re-read", destination=self.route.destination)
            raise DeliveryInterrupted(self.route.destination) from exc
        now_ms = self.clock()
        deliveries = [outcome_delivery(o, self.route, self.catalog, now_ms) for o in outcomes]
        sent = await self.producer.send(deliveries)
        return self._acknowledged(deliveries, sent, outcomes)

    async def _acknowledged(self, deliveries, sent, outcomes) -> None:
        await self.producer.acknowledged(deliveries, sent)
        sink_metrics.record_outcomes(self.route.destination, outcomes)
        refused = sum(isinstance(o, DeadLetter) for o in outcomes)
        self.on_outcomes(len(outcomes) - refused, refused)
        for o in outcomes:
            if isinstance(o, DeadLetter):
                metrics.DLQ_WRITES.labels(self.route.dlq_topic, o.reason).inc()

    async def interrupt(self, revoked: set) -> None:
        """Before partitions are given up: a flush backing off on a failing endpoint gives up."""
        if revoked and self.sink.pending:
            await self.sink.stop()

    async def close(self) -> None:
        await self.sink.stop()


LegacyOffsets = Callable[[], Mapping[tuple[str, int], int]]  # (topic, partition) -> committed offset


class AdoptLegacyOffsets:
    """Upgrade path from the Faust delivery agents, which all read in the app's own group
    (``<app_id>``): a partition that this endpoint's group has never committed starts where the
    old group left it. Without this it would start at the earliest offset and post every
    retained record to the endpoint again -- harmless by the idempotency key, but a burst of
    repeats at an insurer. ``read_legacy`` (an admin request, run in a thread) is tried
    ``attempts`` times; if it keeps failing, the partitions start as any new group's would, and
    that is logged. Once read, the old offsets are kept: the new group has its own from then on."""

    def __init__(self, consumer, read_legacy: LegacyOffsets | None, destination: str, attempts: int = 3,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.consumer, self.read_legacy, self.destination = consumer, read_legacy, destination
        self.attempts, self.sleep = attempts, sleep
        self._legacy: Mapping[tuple[str, int], int] | None = None

    async def _read(self) -> Mapping[tuple[str, int], int]:
        for attempt in range(self.attempts):
            try:
                return await asyncio.to_thread(self.read_legacy)
            except Exception as exc:  # noqa: BLE001 - an upgrade aid, never a reason not to deliver
                error = f"{type(exc).__name__}: {exc}"
                if attempt + 1 < self.attempts:
                    await self.sleep(0.5 * 2 ** attempt)
        log.warning("could not read the old delivery group's offsets; new partitions start at the earliest "
                    "offset", destination=self.destination, error=error)
        return {}

    async def __call__(self, assigned: set) -> None:
        if not assigned or self.read_legacy is None:
            return
        if self._legacy is None:
            self._legacy = await self._read()
        adopt = {}
        for tp in assigned:
            offset = self._legacy.get((tp.topic, tp.partition))
            if offset is not None and await self.consumer.committed(tp) is None:
                adopt[tp] = offset
        if adopt:
            for tp, offset in adopt.items():
                self.consumer.seek(tp, offset)
            await self.consumer.commit(adopt)
            log.info("delivery group starts where the old shared group left off", destination=self.destination,
                     partitions=len(adopt))


def delivery_loop(settings: Settings, route: SinkRoute, endpoint: Endpoint, catalog: Catalog, producer: Producer,
                  protect: Callable[[Route, dict], dict], clock: Callable[[], int],
                  on_outcomes: Callable[[int, int], None], batch_scope: Callable[[], ContextManager],
                  consumer=None, sink=None, legacy_offsets: LegacyOffsets | None = None) -> BatchLoop:
    """The loop of one endpoint (not started): one batch at a time, committed after its
    outcomes. ``consumer`` and ``sink`` default to Kafka and the endpoint's HTTP sink;
    ``legacy_offsets`` gives the old shared delivery group's offsets (:class:`AdoptLegacyOffsets`)."""
    if sink is None:
        sink = HttpSink(endpoint.url, endpoint.secret.get_secret_value(), route.destination,
                        on_retry=sink_metrics.on_retry, base_backoff_s=settings.sink_base_backoff_s,
                        max_backoff_s=settings.sink_max_backoff_s, total_timeout_s=settings.sink_timeout_s)
    sink_metrics.track(sink)
    step = DeliveryStep(route, sink, catalog, producer, protect, clock, on_outcomes)
    config = LoopConfig(f"deliver-{route.destination}", topics=route.sources, batch_size=settings.stream_batch_size,
                        batch_timeout_s=settings.stream_batch_timeout_s, pipeline_depth=1)
    group = f"{settings.app_id}-deliver-{route.destination}"
    consumer = consumer or KafkaConsumer(group, dict(settings.aiokafka_config))
    return BatchLoop(config, consumer, step, assigned=AdoptLegacyOffsets(consumer, legacy_offsets, route.destination),
                     interrupt=step.interrupt, batch_scope=batch_scope)
