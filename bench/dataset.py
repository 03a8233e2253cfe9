"""The benchmark's input: seeded simulator traffic (``gigbridge.simulator``: the platform and
event-type mix of ``make run``, ~5 % deliberately broken), encoded to wire bytes once."""

from __future__ import annotations

import time
from dataclasses import dataclass

from gigbridge.divisions import default_table
from gigbridge.simulator.generator import Simulator
from gigbridge.simulator.run import event_bytes
from schemas.catalog import default_catalog
from streams.core.topics import ingest_topic
from streams.core.validate import EVENT_TYPES

PLATFORMS = 3  # the simulator's default (`make run`)
INVALID_SHARE = 0.05


@dataclass(frozen=True, slots=True)
class BenchEvent:
    platform_id: str
    event_type: str
    key: bytes
    value: bytes
    event_id: str | None  # the record's event_id (None for garbage bytes)

    @property
    def topic(self) -> str:
        return ingest_topic(self.platform_id, self.event_type)


class EventSource:
    """Endless seeded traffic; ``take(n)`` returns the next ``n`` events, encoded."""

    def __init__(self, seed: int = 42) -> None:
        self.sim = Simulator(default_table(), seed=seed, platforms=PLATFORMS, invalid_share=INVALID_SHARE)
        self.catalog = default_catalog()

    @property
    def platforms(self) -> list[str]:
        return list(self.sim.platforms)

    def take(self, n: int, now_ms: int | None = None) -> list[BenchEvent]:
        now = now_ms if now_ms is not None else time.time_ns() // 1_000_000
        out = []
        for _ in range(n):
            ev = self.sim.next_event(now)
            event_id = ev.record.get("event_id") if ev.record is not None else None
            out.append(BenchEvent(ev.platform_id, ev.event_type, ev.key.encode(), event_bytes(ev, self.catalog),
                                  event_id if isinstance(event_id, str) else None))
        return out


def ingest_topics(platforms: list[str]) -> list[str]:
    return [ingest_topic(p, t) for p in platforms for t in EVENT_TYPES]


def baseline_topic(hub_topic: str) -> str:
    """The baseline reads a copy of each ingest topic under a name the hub never subscribes to."""
    return "bench.base." + hub_topic.removeprefix("platform.")
