"""Live cover traffic for ``make run`` (``gigbridge demo``): the :class:`OrderSimulator`'s days
replayed in publishing order, each record released only once the clock has passed the moment
the platform would publish it, so no timestamp is ever ahead of the hub's clock.

The feed starts ``history_days`` CST days back: those days go out as fast as the pacing allows
(the cover stage sees whole days close), then today's traffic trickles out as it happens.
:class:`OrderFeed` is pure (the caller passes the time); :func:`run_order_traffic` is the Kafka edge.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from datetime import date, timedelta
from typing import Callable

from gigbridge.divisions import default_table
from gigbridge.logs import get_logger
from gigbridge.settings import Settings
from gigbridge.simulator.orders import PLATFORMS, OrderSimulator, SimIncident, SimOrder
from schemas.catalog import default_catalog
from schemas.wire import encode
from streams.core.cover.cst import service_date
from streams.core.topics import ingest_topic
from streams.core.validate import INGEST_KEY_FIELD

log = get_logger("gigbridge.simulate.orders")

ORDER_PLATFORMS = tuple(sorted({platform for platform, _ in PLATFORMS}))


class OrderFeed:
    """Days of simulated orders and insured incidents from ``first_day`` on, one at a time."""

    def __init__(self, sim: OrderSimulator, first_day: date) -> None:
        self.sim, self.next_day = sim, first_day
        self._pending: deque[SimOrder | SimIncident] = deque()

    def next_due(self, now_ms: int) -> SimOrder | SimIncident | None:
        """The next record whose publishing time has come, or None (try again later). A day is
        simulated when the previous one is used up, so at most one day is held in memory."""
        if not self._pending:
            self._pending.extend(self.sim.day(self.next_day.isoformat()).timeline())
            self.next_day += timedelta(days=1)
        if self._pending and self._pending[0].publish_at <= now_ms:
            return self._pending.popleft()
        return None


def event_type_of(item: SimOrder | SimIncident) -> str:
    return "orders" if isinstance(item, SimOrder) else "incidents"


def verdict_of(item: SimOrder | SimIncident) -> str:
    """What the hub must make of it: ``valid``, a reason code, ``duplicate``/``late`` (valid orders
    the cover stage treats specially) or ``incident``/``uncovered_incident``."""
    if isinstance(item, SimIncident):
        return "incident" if item.covered else "uncovered_incident"
    return item.expected_reason or item.kind


def run_order_traffic(settings: Settings, *, rate: float, seed: int, history_days: int = 2, workers: int = 30,
                      count: int | None = None, clock: Callable[[], float] = time.time,
                      should_stop: Callable[[], bool] = lambda: False) -> Counter:
    """Produce the feed to ``platform.<id>.orders`` / ``.incidents`` until ``count`` records or
    ``should_stop()``; ``rate`` caps records per second (0: no cap). Returns counts by verdict."""
    from kafka import KafkaProducer

    from gigbridge.simulator.run import ensure_platform_topics
    from streams.loaders.cover import load_rates

    sim = OrderSimulator(default_table(), load_rates(), seed=seed, workers=workers)
    today = date.fromisoformat(service_date(int(clock() * 1000)))
    feed = OrderFeed(sim, today - timedelta(days=history_days))
    catalog = default_catalog()
    schemas = {t: catalog.by_event_type(t).latest for t in ("orders", "incidents")}
    ensure_platform_topics(settings, list(ORDER_PLATFORMS))
    producer = KafkaProducer(acks="all", linger_ms=5, client_id="gigbridge-order-simulator",
                             **settings.kafka_python_config)
    sent: Counter = Counter()
    started = clock()
    try:
        while not should_stop() and (count is None or sum(sent.values()) < count):
            if rate > 0 and sum(sent.values()) >= (clock() - started) * rate:
                time.sleep(min(0.05, 1 / rate))  # pacing, not a wait for a condition
                continue
            item = feed.next_due(int(clock() * 1000))
            if item is None:
                time.sleep(0.5)  # nothing due yet: the next record's time has not come
                continue
            event_type = event_type_of(item)
            producer.send(ingest_topic(item.record["platform_id"], event_type),
                          key=item.record[INGEST_KEY_FIELD[event_type]].encode(),
                          value=encode(schemas[event_type], item.record))
            sent[verdict_of(item)] += 1
    finally:
        producer.flush()
        producer.close()
    log.info("order simulation finished", sent=sum(sent.values()), **dict(sent))
    return sent
