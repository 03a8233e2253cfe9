"""Exact duplicate detection by ``event_id`` inside a time window.

Platforms retry; Kafka redelivers after a crash. The hub drops an event whose ``event_id`` it
has already accepted within ``window_ms`` and counts it. The decision is exact, never
probabilistic: a false positive would silently drop a real injury report.

State: ``streams.runtime.dedupe.store`` (local RocksDB per ingest partition) with its durable copy in
``streams.runtime.dedupe.log`` (Kafka). An id is remembered only after the event's outputs were
acknowledged: if the worker dies in between, the redelivered event is processed again
(at-least-once) instead of being lost.
"""

from __future__ import annotations


def is_duplicate(first_seen_ms: int | None, now_ms: int, window_ms: int) -> bool:
    """True when an earlier sighting exists and is still inside the window."""
    return first_seen_ms is not None and now_ms - first_seen_ms < window_ms
