"""The per-event judges of ``POST /v1/events/{type}``: for each type, the topic the accepted
events go to and a function ``(event, now_ms) -> (event id, (key, wire value) or Rejection)``.

Ingest types (sites, headcounts, incidents, orders) are judged by the stream's own
:func:`streams.core.classify.classify_json`; the case streams (cases, case-events) as the case
intake judges ``platform.<id>.cases|case-events`` (:mod:`connectors.gateway.cases`).
"""

from __future__ import annotations

import functools
from typing import Any, Callable

from schemas.wire import EncodeError, encode
from streams.core.classify import Accepted, classify_json
from streams.core.context import Context
from streams.core.topics import ingest_topic
from streams.core.validate import INGEST_KEY_FIELD, Rejection

from .cases import PLATFORM_CASE_STREAMS, judge_platform_case, platform_case_topic

Judged = tuple[str | None, "tuple[bytes | None, bytes] | Rejection"]
Judge = Callable[[dict, int], Judged]


def judge_ingest_event(ctx: Context, platform: str, event_type: str, event: dict, now_ms: int) -> Judged:
    """One event of an ingest type, keyed by its type's key field (as the simulator keys them)."""
    outcome = classify_json(event, event_type, ctx, now_ms, topic_platform=platform)
    if not isinstance(outcome, Accepted):
        return outcome.event_id, outcome.rejection
    try:
        value = encode(outcome.version, outcome.record)
    except EncodeError as exc:  # the checker passed but the encoder did not: still a misfit
        return outcome.event_id, Rejection("schema_violation", exc.field, exc.message)
    key = outcome.record.get(INGEST_KEY_FIELD[event_type])
    return outcome.event_id, (key.encode("utf-8") if isinstance(key, str) else None, value)


def judge_for(gateway: Any, platform: str, event_type: str) -> tuple[str, Judge]:
    """(topic, judge) for ``platform``'s events of ``event_type`` (``gateway``: its rules and units)."""
    if event_type in PLATFORM_CASE_STREAMS:
        return (platform_case_topic(platform, event_type),
                functools.partial(judge_platform_case, gateway.ctx, gateway.units, platform, event_type))
    return ingest_topic(platform, event_type), functools.partial(judge_ingest_event, gateway.ctx, platform, event_type)
