"""Exact duplicate detection by ``event_id`` inside a time window.

Platforms retry; Kafka redelivers after a crash. The hub drops an event whose ``event_id`` it
has already accepted within ``window_ms`` and counts it. The decision is exact, never
probabilistic: a false positive would silently drop a real injury report.

State lives in any ``MutableMapping[str, int]`` (event_id -> first-seen epoch ms). The worker
passes a Faust table backed by RocksDB (disk, survives restarts, changelogged to Kafka,
co-partitioned with the ingest topics); tests pass a dict.
"""

from __future__ import annotations

from typing import MutableMapping


def is_duplicate(first_seen_ms: int | None, now_ms: int, window_ms: int) -> bool:
    """True when an earlier sighting exists and is still inside the window."""
    return first_seen_ms is not None and now_ms - first_seen_ms < window_ms


class Deduper:
    """Remembers accepted event ids; ``seen_before`` is checked, ``remember`` records.

    Remember only after the event's outcome was produced: if the worker dies in between, the
    redelivered event is processed again (at-least-once) instead of being lost.
    """

    def __init__(self, store: MutableMapping[str, int], window_ms: int) -> None:
        self._store = store
        self.window_ms = window_ms

    def seen_before(self, event_id: str, now_ms: int) -> bool:
        return is_duplicate(self._store.get(event_id), now_ms, self.window_ms)

    def remember(self, event_id: str, now_ms: int) -> None:
        first = self._store.get(event_id)
        if not is_duplicate(first, now_ms, self.window_ms):
            self._store[event_id] = now_ms
