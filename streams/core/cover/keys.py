"""Where the cover stage's inputs go and how they are keyed (pure).

The cover stage (docs/cover.md) keeps a worker's day and a platform's statement per platform and
province, so both of its inputs carry the record key ``"<platform_id>:<province>"``:

* every accepted order, on ``hub.validated.orders`` (province of the order's division);
* every accepted incident with ``insured = true``, also on ``hub.cover.incidents`` (province of
  the incident's division), the same IncidentReport bytes as ``hub.validated.incidents``.

The two topics have the same partition count and the producer's default partitioner hashes the
key alone, so one platform-province's orders and incidents land in the same partition number of
each topic (co-partitioned) and one cover-stage instance sees both.
"""

from __future__ import annotations

from streams.core.cover.orders import province_of


def cover_key(record: dict) -> bytes:
    """``b"<platform_id>:<province>"`` of an accepted order or incident."""
    return f"{record['platform_id']}:{province_of(record['division_code'])}".encode()


def feeds_cover_stage(event_type: str, record: dict) -> bool:
    """True for an accepted incident the cover stage must check against the orders (insured)."""
    return event_type == "incidents" and bool(record.get("insured"))
