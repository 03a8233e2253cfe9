"""Ledger traffic of injury-cover orders (issue #20): :class:`OrderTraffic` is a
:class:`tests.support.ledger.Traffic` whose messages are the ``OrderSimulator``'s ``OrderCover``
records (with its mispriced share, which must come back as ``premium_mismatch``, and its
duplicated premiums, new event ids that validation accepts), so :func:`tests.support.ledger.check`
accounts for every order offset: in ``hub.validated.orders``, rejected, or lost."""

from __future__ import annotations

import time
from datetime import date, timedelta
from typing import Iterator

from gigbridge.simulator.orders import PLATFORMS, OrderSimulator, SimOrder
from schemas.wire import encode
from streams.core.cover.cst import service_date
from streams.core.topics import ingest_topic
from streams.loaders.cover import load_rates
from tests.support.ledger import CATALOG, DIVISIONS, Expectation, Traffic


class OrderTraffic(Traffic):
    """Orders of past CST days (the day before yesterday, then earlier ones: every timestamp is
    in the past and within the 90 days validation accepts), moved to this traffic's platforms."""

    def __init__(self, conn, platforms: list[str], seed: int, *, workers: int = 20, **kwargs) -> None:
        super().__init__(conn, platforms, seed, **kwargs)
        self._platform_of = {sim: platforms[i % len(platforms)] for i, (sim, _) in enumerate(PLATFORMS)}
        self._orders = self._simulated_orders(workers)
        self._schema = CATALOG.contract("order_cover").latest

    def _simulated_orders(self, workers: int) -> Iterator[SimOrder]:
        sim = OrderSimulator(DIVISIONS, load_rates(), seed=self.sim_seed, workers=workers)
        day = date.fromisoformat(service_date(int(time.time() * 1000))) - timedelta(days=2)
        while True:
            yield from sim.day(day.isoformat()).orders
            day -= timedelta(days=1)

    def next_sim(self) -> tuple[Expectation, bytes | None, bytes]:
        order = next(self._orders)
        platform = self._platform_of[order.record["platform_id"]]
        record = dict(order.record, platform_id=platform)
        exp = Expectation(next(self._seq), ingest_topic(platform, "orders"), platform, "orders", "valid")
        if order.expected_reason is not None:
            exp.kind, exp.reason, exp.label = "rejected", order.expected_reason, order.kind
        else:
            self._expect_routed(exp, record, order.kind)
        return exp, record["order_ref"].encode(), encode(self._schema, record)
