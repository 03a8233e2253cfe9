"""Seeded occupational-injury cover traffic (pure: no Kafka, no clock): orders, incidents, claims.

For one service day (China Standard Time) every simulated worker takes 10 to 40 orders, bunched
around a lunch peak (12:00) and a dinner peak (18:30); each order becomes an ``OrderCover``
priced from the rate table. A configurable share is deliberately wrong, and each wrong order
says what the hub must do with it:

* ``mispriced``: premium off by one fen -> rejected as ``premium_mismatch``;
* ``duplicate``: the same order_ref again under a new event_id -> dropped, counted once;
* ``late``: published hours after the day closed (+ grace) -> an amended day cover (version 2+).

Insured incidents happen during real orders (and, at ``uncovered_share``, name an order that
was never published -> a ``CoverGap``). :mod:`gigbridge.simulator.insurer` answers them with
claim-status updates. The same seed and inputs always give the same traffic.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from dataclasses import dataclass
from datetime import date

from gigbridge.divisions import DivisionTable, Level
from streams.core.cover.cst import day_end_ms, day_start_ms
from streams.core.cover.emits import DEFAULT_GRACE_MS
from streams.core.cover.rates import RateTable

MINUTE = 60_000
HOUR = 60 * MINUTE
#: Provinces the simulated platforms serve, with the industry each platform runs.
PROVINCES = ("31", "44", "11", "51", "33", "32")
PLATFORMS = (("swiftmeal", "INSTANT_DELIVERY"), ("rideon", "RIDE_HAILING"), ("haulnet", "SAME_CITY_FREIGHT"))
#: Minutes from acceptance to the end of the order, by industry.
DURATION_MIN = {"INSTANT_DELIVERY": (12, 50), "RIDE_HAILING": (8, 45), "SAME_CITY_FREIGHT": (30, 150)}
#: Acceptance time of day: (share, mean hour, spread in hours); the rest is spread over 08-22 h.
PEAKS = ((0.38, 12.0, 0.75), (0.38, 18.5, 1.0))


@dataclass(frozen=True, slots=True)
class SimOrder:
    record: dict  # an OrderCover
    kind: str  # valid, mispriced, duplicate, late
    publish_at: int  # when the platform publishes it (epoch ms)
    expected_reason: str | None = None  # the validation verdict the hub must give


@dataclass(frozen=True, slots=True)
class SimIncident:
    record: dict  # an IncidentReport with insured = true
    publish_at: int
    covered: bool  # False: its order was never published, a CoverGap is expected


@dataclass(frozen=True, slots=True)
class SimDay:
    orders: tuple[SimOrder, ...]
    incidents: tuple[SimIncident, ...]

    def timeline(self) -> list[SimOrder | SimIncident]:
        """Orders and incidents in publishing order."""
        return sorted((*self.orders, *self.incidents), key=lambda item: (item.publish_at, item.record["event_id"]))


@dataclass(frozen=True, slots=True)
class _Worker:
    platform_id: str
    industry: str
    ref: str
    division_code: str


class OrderSimulator:
    """Deterministic for a given seed and sequence of :meth:`day` calls."""

    def __init__(self, divisions: DivisionTable, rates: RateTable, seed: int = 42, workers: int = 30,
                 mispriced_share: float = 0.02, duplicate_share: float = 0.01, late_share: float = 0.01,
                 incident_share: float = 0.003, uncovered_share: float = 0.2,
                 grace_ms: int = DEFAULT_GRACE_MS) -> None:
        self.rng = random.Random(seed)
        self.rates = rates
        self.shares = {"mispriced": mispriced_share, "duplicate": duplicate_share, "late": late_share}
        self.incident_share, self.uncovered_share, self.grace_ms = incident_share, uncovered_share, grace_ms
        townships = {p: sorted(c for c in divisions.codes(Level.TOWNSHIP) if c.startswith(p)) for p in PROVINCES}
        self.workers = []
        for i in range(workers):
            platform, industry = PLATFORMS[i % len(PLATFORMS)]
            province = self.rng.choice(PROVINCES)
            division = self.rng.choice(townships[province])
            self.workers.append(_Worker(platform, industry, self._ref(f"worker-{i}"), division))

    def _ref(self, label: str) -> str:
        return hashlib.sha256(f"{label}:{self.rng.getrandbits(64)}".encode()).hexdigest()

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _accepted_at(self, day_start: int) -> int:
        roll, hour = self.rng.random(), None
        for share, mean, spread in PEAKS:
            if roll < share:
                hour = self.rng.gauss(mean, spread)
                break
            roll -= share
        if hour is None:
            hour = self.rng.uniform(8, 22)
        return day_start + int(min(max(hour, 6.0), 23.5) * HOUR) + self.rng.randrange(MINUTE)

    def day(self, service_date: str) -> SimDay:
        """All orders and incidents of one CST service date."""
        date.fromisoformat(service_date)
        start, close = day_start_ms(service_date), day_end_ms(service_date) + self.grace_ms
        orders: list[SimOrder] = []
        incidents: list[SimIncident] = []
        for worker in self.workers:
            for _ in range(self.rng.randint(10, 40)):
                published = self._maybe_broken(self._order(worker, self._accepted_at(start)), close)
                orders += published
                # incidents happen during orders the hub counts in time (a mispriced or late order
                # would make its incident a cover gap for reasons the test of gaps does not expect)
                if published[0].kind == "valid" and self.rng.random() < self.incident_share:
                    incidents.append(self._incident(worker, published[0].record))
        return SimDay(tuple(orders), tuple(incidents))

    def _order(self, worker: _Worker, accepted: int) -> SimOrder:
        low, high = DURATION_MIN[worker.industry]
        ended = accepted + self.rng.randint(low, high) * MINUTE
        cancelled = self.rng.random() < 0.05
        rate = self.rates.rate_in_force(worker.division_code[:2], worker.industry, accepted)
        if rate is None:
            raise ValueError("no premium rate in force for a simulated order: pick a date the rate table covers")
        record = {
            "event_id": self._uuid(), "platform_id": worker.platform_id, "occurred_at": ended,
            "order_ref": self._ref("order"), "worker_ref": worker.ref, "industry": worker.industry,
            "division_code": worker.division_code, "accepted_at": accepted,
            "finished_at": None if cancelled else ended, "cancelled": cancelled,
            "premium_fen": rate.premium_fen, "rate_version": rate.version,
        }
        return SimOrder(record, "valid", ended)

    def _maybe_broken(self, order: SimOrder, close: int) -> list[SimOrder]:
        roll = self.rng.random()
        for kind, share in self.shares.items():
            if roll < share:
                break
            roll -= share
        else:
            return [order]
        if kind == "mispriced":
            record = dict(order.record, premium_fen=order.record["premium_fen"] + 1)
            return [SimOrder(record, "mispriced", order.publish_at, "premium_mismatch")]
        if kind == "duplicate":
            again = dict(order.record, event_id=self._uuid())
            return [order, SimOrder(again, "duplicate", order.publish_at + self.rng.randint(1, 30) * MINUTE)]
        return [SimOrder(order.record, "late", close + self.rng.randint(10, 360) * MINUTE)]

    def _incident(self, worker: _Worker, order: dict) -> SimIncident:
        covered = self.rng.random() >= self.uncovered_share
        occurred = self.rng.randint(order["accepted_at"], order["occurred_at"])
        record = {
            "event_id": self._uuid(), "platform_id": worker.platform_id, "occurred_at": occurred,
            "incident_id": f"inc-{self.rng.getrandbits(48):012x}", "site_id": None,
            "division_code": worker.division_code,
            "category": self.rng.choice(("TRAFFIC_ACCIDENT", "TRAFFIC_ACCIDENT", "FALL", "ASSAULT", "ANIMAL_BITE")),
            "severity": self.rng.choices(("MINOR", "MODERATE", "SEVERE"), (70, 24, 6))[0],
            "weather": self.rng.choice(("CLEAR", "RAIN", "HEAT")), "worker_ref": worker.ref,
            "order_ref": order["order_ref"] if covered else self._ref("unpublished-order"),
            "insured": True, "location": None,
            "reported_at": occurred + self.rng.randint(5, 120) * MINUTE, "description": None,
        }
        return SimIncident(record, record["reported_at"], covered)
