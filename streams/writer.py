"""Writes a batch's output records durably: creates missing topics, sends everything, and
returns only when the broker acknowledged every record (acks=all). Shared by the validation
agent and the HTTP delivery agents, which ack their input only after ``write`` returns."""

from __future__ import annotations

import asyncio

import faust

from gigbridge.logs import get_logger
from gigbridge.topics_admin import TopicAdmin
from streams import metrics
from streams.pipeline import Delivery

log = get_logger("gigbridge.writer")


class Writer:
    def __init__(self, app: faust.App, admin: TopicAdmin) -> None:
        self.app = app
        self.admin = admin
        self.known_topics: set[str] = set()

    async def learn_existing_topics(self) -> None:
        self.known_topics |= await asyncio.to_thread(self.admin.list_topics)

    async def write(self, deliveries: list[Delivery]) -> None:
        await self._ensure_topics(deliveries)
        await self._send_all(deliveries)

    async def _ensure_topics(self, deliveries: list[Delivery]) -> None:
        """Create destination topics on first use (offices and provinces appear as events do)."""
        missing = {d.topic for d in deliveries} - self.known_topics
        if not missing:
            return
        backoff = 0.5
        while True:
            try:
                await asyncio.to_thread(self.admin.ensure, missing)
                break
            except Exception as exc:  # broker unreachable: the batch waits, nothing is acked
                log.warning("topic creation failed, retrying", topics=sorted(missing), error=str(exc))
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
        self.known_topics |= missing

    async def _send_all(self, deliveries: list[Delivery]) -> None:
        """Send all, then wait for every acknowledgement; re-send failures with backoff until
        they succeed (the batch is not acked meanwhile, so a stop just re-delivers it)."""
        pending = deliveries
        backoff = 0.2
        while pending:
            futures = [await self.app.producer.send(d.topic, d.key, d.value, None, None, list(d.headers))
                       for d in pending]
            results = await asyncio.gather(*futures, return_exceptions=True)
            failed = [d for d, r in zip(pending, results) if isinstance(r, BaseException)]
            if failed:
                metrics.DELIVERY_RETRIES.inc()
                error = next(r for r in results if isinstance(r, BaseException))
                log.warning("delivery failed, retrying", failed=len(failed), error=str(error), backoff_s=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
            pending = failed
