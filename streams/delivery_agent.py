"""Faust agents that deliver routed records over HTTP (one agent and one sink per endpoint).

See ``streams.delivery`` for the guarantees. A rebalance or shutdown stops the sink, which
makes a flush stuck on a down endpoint give up without an outcome: those events stay unacked
and are read again by whoever owns their partition next.
"""

from __future__ import annotations

from typing import Callable

import faust

from connectors import metrics as sink_metrics
from connectors.sinks.base import DeadLetter, SinkStopped
from connectors.sinks.http import HttpSink
from gigbridge.logs import get_logger
from gigbridge.settings import Endpoint, Settings
from schemas.catalog import Catalog
from streams import metrics
from streams.delivery import SinkRoute, outcome_delivery, to_sink_record
from streams.plan import InMessage
from streams.route import Route
from streams.writer import Writer

log = get_logger("gigbridge.delivery")


class DeliveryAgent:
    def __init__(self, app: faust.App, settings: Settings, route: SinkRoute, endpoint: Endpoint,
                 catalog: Catalog, writer: Writer, protect: Callable[[Route, dict], dict],
                 clock: Callable[[], int], on_outcomes: Callable[[int, int], None] = lambda delivered, refused: None,
                 ) -> None:
        self.route, self.catalog, self.writer, self.clock = route, catalog, writer, clock
        self.on_outcomes = on_outcomes
        self.batch_size, self.batch_timeout_s = settings.stream_batch_size, settings.stream_batch_timeout_s
        policy_route = Route("webhook", route.destination, "")
        # Insurer topics already carry the insurer's policy; webhooks get the stricter webhook one.
        self.protect = (lambda record: protect(policy_route, record)) if route.kind == "webhook" else (lambda r: r)
        self.sink = HttpSink(endpoint.url, endpoint.secret.get_secret_value(), route.destination,
                             on_retry=sink_metrics.on_retry, base_backoff_s=settings.sink_base_backoff_s,
                             max_backoff_s=settings.sink_max_backoff_s, total_timeout_s=settings.sink_timeout_s)
        sink_metrics.track(self.sink)
        topic = app.topic(*route.sources, value_serializer="raw", key_serializer="raw")
        app.agent(topic, name=f"deliver-{route.destination}")(self._agent)
        app.on_partitions_revoked.connect(self._on_revoked)

    async def _on_revoked(self, app, revoked, **kwargs) -> None:  # noqa: ARG002 - signal signature
        # Only a flush in progress (an endpoint that keeps failing) needs interrupting.
        if self.sink.pending and any(tp.topic in self.route.sources for tp in revoked):
            await self.sink.stop()

    async def _agent(self, stream: faust.StreamT) -> None:
        try:
            async for events in stream.noack_take(self.batch_size, within=self.batch_timeout_s):
                await self.handle_batch(stream, events)
        finally:
            await self.sink.stop()

    async def handle_batch(self, stream: faust.StreamT, events) -> None:
        if self.sink.stopped:
            await self.sink.start()
        outcomes = []
        for e in events:
            msg = InMessage(e.message.topic, e.message.partition, e.message.offset, e.message.key, e.message.value, e)
            item = to_sink_record(msg, self.catalog, self.protect)
            if isinstance(item, DeadLetter):
                outcomes.append(item)
            else:
                self.sink.add(item)
        try:
            outcomes += await self.sink.flush()
        except SinkStopped:
            # Rebalance/shutdown while the endpoint was failing: give the batch back unacked.
            self.sink.discard()
            await self.sink.start()
            log.warning("delivery interrupted; batch will be re-read", destination=self.route.destination)
            return
        now_ms = self.clock()
        await self.writer.write([outcome_delivery(o, self.route, self.catalog, now_ms) for o in outcomes])
        sink_metrics.record_outcomes(self.route.destination, outcomes)
        refused = sum(isinstance(o, DeadLetter) for o in outcomes)
        self.on_outcomes(len(outcomes) - refused, refused)
        for o in outcomes:
            if isinstance(o, DeadLetter):
                metrics.DLQ_WRITES.labels(self.route.dlq_topic, o.reason).inc()
        for e in events:
            await stream.ack(e)
