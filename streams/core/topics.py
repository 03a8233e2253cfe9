"""Topic names of the hub's ingest side and own outputs, in one place (pure).

Ingest: ``platform.<platform_id>.<type>`` (type: sites, headcounts, incidents, orders), written by the
platform; ``platform.<platform_id>.rejected`` carries the hub's rejection records back to it.
Hub outputs: ``hub.validated.<type>`` (every accepted event, unless
``GIGBRIDGE_EMIT_VALIDATED=false``; orders always, the cover stage reads them),
``hub.cover.incidents`` (insured incidents, for the cover stage), ``hub.dlq`` for undecodable bytes. The routed copies go to
``gov.office.*`` and ``gov.insurance.*`` topics, named by ``streams.core.route``; the dedupe logs are
named by ``streams.runtime.dedupe.log``.
"""

from __future__ import annotations

import functools
import re
from typing import NamedTuple

from streams.core.validate import EVENT_TYPES

DLQ_TOPIC = "hub.dlq"
#: Insured incidents for the cover stage, keyed like ``hub.validated.orders`` and with as many
#: partitions (co-partitioned: a platform-province's orders and incidents meet in one partition).
COVER_INCIDENTS_TOPIC = "hub.cover.incidents"
_INGEST_RE = re.compile(r"platform\.([a-z][a-z0-9-]{1,31})\.(sites|headcounts|incidents|orders)")


class IngestTopic(NamedTuple):
    platform_id: str
    event_type: str


@functools.lru_cache(maxsize=4096)  # asked once per message, of a few dozen topics
def parse_ingest_topic(name: str) -> IngestTopic | None:
    """``platform.acme.sites`` -> IngestTopic("acme", "sites"); anything else -> None."""
    match = _INGEST_RE.fullmatch(name)
    return IngestTopic(match[1], match[2]) if match else None


def ingest_topic(platform_id: str, event_type: str) -> str:
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type!r}; expected one of {EVENT_TYPES}")
    return f"platform.{platform_id}.{event_type}"


def rejected_topic(platform_id: str) -> str:
    return f"platform.{platform_id}.rejected"


def validated_topic(event_type: str) -> str:
    return f"hub.validated.{event_type}"


def validated_topics() -> list[str]:
    return [validated_topic(t) for t in EVENT_TYPES]


def is_output_topic(name: str) -> bool:
    """A topic the validation worker or a delivery agent may write to."""
    return name.startswith(("gov.", "hub.")) or (name.startswith("platform.") and name.endswith(_PLATFORM_OUTPUTS))


#: What the hub writes back to a platform: rejections, and the cover stage's statements, gaps and links.
_PLATFORM_OUTPUTS = (".rejected", ".statements", ".cover-gaps", ".cover-links")
