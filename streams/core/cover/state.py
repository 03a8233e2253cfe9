"""State of the cover aggregation: plain, immutable values in dicts, JSON-serializable.

Kept by the caller (in the runtime: a disk-backed store restored from a changelog when a
partition moves); :mod:`.daycover` and :mod:`.gaps` are the only writers. Each entry is an
immutable value that is replaced, never mutated; :func:`to_plain` / :func:`from_plain` give the
JSON form to persist and restore (a restored state continues exactly where it stopped).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple


class DayKey(NamedTuple):
    """One worker's cover day: platform, 2-digit province, worker_ref, CST service date."""

    platform_id: str
    province: str
    worker_ref: str
    service_date: str


class StatementKey(NamedTuple):
    platform_id: str
    province: str
    service_date: str


@dataclass(frozen=True, slots=True)
class DayCover:
    """One worker-day's totals. Its orders are the ``CoverState.orders`` entries naming it (no
    copy here: a row per worker-day stays a few numbers however many orders it counts)."""

    orders: int
    premium_fen: int
    first_order_at: int
    last_order_at: int
    emitted_version: int = 0  # 0: not emitted yet (the day has not closed + grace)


@dataclass(frozen=True, slots=True)
class Statement:
    """One (platform, province, day)'s totals. ``workers`` is a count, not a set: a worker is new
    to the statement exactly when its :class:`DayKey` is new, so counting new days is exact."""

    orders: int
    premium_fen: int
    workers: int
    emitted_version: int = 0


@dataclass(frozen=True, slots=True)
class OrderSeen:
    """Where an order_ref was counted, and by which event (to tell a replay from a duplicate)."""

    day: DayKey
    event_id: str


@dataclass(frozen=True, slots=True)
class PendingIncident:
    """An insured incident without matching cover yet, re-checked until ``deadline_ms``."""

    record: dict = field(hash=False)
    deadline_ms: int


@dataclass
class CoverState:
    days: dict[DayKey, DayCover] = field(default_factory=dict)
    statements: dict[StatementKey, Statement] = field(default_factory=dict)
    orders: dict[str, OrderSeen] = field(default_factory=dict)
    pending_incidents: dict[str, PendingIncident] = field(default_factory=dict)  # by incident event_id
    decided_incidents: dict[str, str] = field(default_factory=dict)  # incident event_id -> its CST date
    open_days: set[DayKey] = field(default_factory=set)  # not emitted yet
    open_statements: set[StatementKey] = field(default_factory=set)


def to_plain(state: CoverState) -> dict:
    """JSON-ready form of the whole state (sorted, so equal states give equal documents)."""
    return {
        "days": sorted([list(k), d.orders, d.premium_fen, d.first_order_at, d.last_order_at, d.emitted_version]
                       for k, d in state.days.items()),
        "statements": sorted([list(k), s.orders, s.premium_fen, s.workers, s.emitted_version]
                             for k, s in state.statements.items()),
        "orders": sorted([ref, list(o.day), o.event_id] for ref, o in state.orders.items()),
        "pending_incidents": sorted([event_id, p.record, p.deadline_ms]
                                    for event_id, p in state.pending_incidents.items()),
        "decided_incidents": sorted(state.decided_incidents.items()),
    }


def from_plain(doc: dict) -> CoverState:
    """Inverse of :func:`to_plain`."""
    state = CoverState()
    for key, orders, premium, first, last, version in doc["days"]:
        k = DayKey(*key)
        state.days[k] = DayCover(orders, premium, first, last, version)
        if version == 0:
            state.open_days.add(k)
    for key, orders, premium, workers, version in doc["statements"]:
        k = StatementKey(*key)
        state.statements[k] = Statement(orders, premium, workers, version)
        if version == 0:
            state.open_statements.add(k)
    for ref, day, event_id in doc["orders"]:
        state.orders[ref] = OrderSeen(DayKey(*day), event_id)
    for event_id, record, deadline in doc["pending_incidents"]:
        state.pending_incidents[event_id] = PendingIncident(record, deadline)
    state.decided_incidents = dict(doc["decided_incidents"])
    return state
