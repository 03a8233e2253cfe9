"""Which platforms a notice concerns, whether each answered and how fast, and measure validation.

A platform is *concerned* by a WeatherNotice record when one of its open sites lies in the
record's divisions (open sites come in as plain ``(platform_id, division_code)`` pairs, e.g.
from the hub's SiteEvent state). The hub tracks every notice x concerned platform
(:class:`Tracking`): the first valid ProtectionMeasure answers it; an ORANGE or RED notice
without one :attr:`TrackingRules.overdue_after_ms` after it reached that level is OVERDUE.
All functions return new mappings; nothing is mutated.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, Iterable, Mapping

from streams.core.notices.checks import IDENTITY_CHECKS, division_list_check, run_checks, text_length_check
from streams.core.notices.levels import within_any
from streams.core.validate import (
    DEFAULT_RULES,
    MAX_DESCRIPTION_CHARS,
    Rejection,
    Rules,
    identifier_check,
    time_window_check,
)

HOUR_MS = 3_600_000
Key = tuple[str, str]  # (notice_id, platform_id)


@dataclass(frozen=True, slots=True)
class TrackingRules:
    overdue_after_ms: int = 2 * HOUR_MS
    deadline_levels: frozenset[str] = frozenset({"ORANGE", "RED"})


DEFAULT_TRACKING_RULES = TrackingRules()


@dataclass(frozen=True, slots=True)
class Tracking:
    notice_id: str
    platform_id: str
    province: str
    level: str
    notified_at: int
    deadline_from: int | None  # when the notice reached a deadline level (None: it has none)
    answered_at: int | None = None
    measure_event_id: str | None = None
    cancelled_at: int | None = None
    measure_from: int | None = None  # effective_from of the answering measure (injury rates' phase split)


def concerned_platforms(division_codes: Iterable[str], open_sites: Iterable[tuple[str, str]]) -> tuple[str, ...]:
    """Platforms with an open site inside any of ``division_codes``, sorted."""
    area = tuple(division_codes)
    return tuple(sorted({platform for platform, site in open_sites if within_any(site, area)}))


def track_notice(tracks: Mapping[Key, Tracking], record: dict, open_sites: Iterable[tuple[str, str]], now_ms: int,
                 rules: TrackingRules = DEFAULT_TRACKING_RULES) -> dict[Key, Tracking]:
    """Tracks after publishing one WeatherNotice record at ``now_ms``.

    New concerned platforms start AWAITING; an upgrade to a deadline level starts the clock then
    (not at the first, lower-level notification); a CANCEL closes the notice's open tracks in
    the record's province.
    """
    out = dict(tracks)
    notice_id, level = record["notice_id"], record["level"]
    if record["msg_type"] == "CANCEL":
        for key, t in tracks.items():
            if key[0] == notice_id and t.province == record["province"] and t.cancelled_at is None:
                out[key] = replace(t, cancelled_at=now_ms)
        return out
    deadline = level in rules.deadline_levels
    for platform in concerned_platforms(record["division_codes"], open_sites):
        t = out.get((notice_id, platform))
        if t is None:
            out[(notice_id, platform)] = Tracking(notice_id, platform, record["province"], level, now_ms,
                                                  now_ms if deadline else None)
        else:
            out[(notice_id, platform)] = replace(
                t, level=level, deadline_from=t.deadline_from if t.deadline_from is not None or not deadline else now_ms)
    return out


def record_answer(tracks: Mapping[Key, Tracking], measure: dict) -> dict[Key, Tracking]:
    """Tracks after a *valid* ProtectionMeasure: the first one answers its notice x platform."""
    key = (measure["notice_id"], measure["platform_id"])
    t = tracks.get(key)
    if t is None or t.answered_at is not None:
        return dict(tracks)
    return {**tracks, key: replace(t, answered_at=measure["occurred_at"], measure_event_id=measure["event_id"],
                                  measure_from=measure["effective_from"])}


def answer_state(t: Tracking, now_ms: int, rules: TrackingRules = DEFAULT_TRACKING_RULES) -> str:
    """ANSWERED, CANCELLED (lifted before an answer), OVERDUE or AWAITING, as of ``now_ms``
    (an answer or cancel recorded with a later time does not count yet: replays give the same
    states as live processing)."""
    if t.answered_at is not None and t.answered_at <= now_ms:
        return "ANSWERED"
    if t.cancelled_at is not None and t.cancelled_at <= now_ms:
        return "CANCELLED"
    if t.deadline_from is not None and now_ms - t.deadline_from > rules.overdue_after_ms:
        return "OVERDUE"
    return "AWAITING"


def status_record(t: Tracking, now_ms: int, rules: TrackingRules = DEFAULT_TRACKING_RULES) -> dict:
    """The NoticeStatus record (schemas/avro/notice_status/v1.avsc) of one track."""
    state = answer_state(t, now_ms, rules)
    answered_at = t.answered_at if state == "ANSWERED" else None
    return {"notice_id": t.notice_id, "platform_id": t.platform_id, "province": t.province, "level": t.level,
            "state": state, "notified_at": t.notified_at, "answered_at": answered_at,
            "response_ms": None if answered_at is None else answered_at - t.notified_at, "computed_at": now_ms}


def overdue(tracks: Mapping[Key, Tracking], now_ms: int, rules: TrackingRules = DEFAULT_TRACKING_RULES) -> list[Tracking]:
    """Tracks that are OVERDUE at ``now_ms``, by notice then platform (the metric and alert's input)."""
    return [tracks[k] for k in sorted(tracks) if answer_state(tracks[k], now_ms, rules) == "OVERDUE"]


def check_measure(record: dict, *, now_ms: int, division_exists: Callable[[str], bool],
                  notice_areas: Mapping[str, Iterable[str]], topic_platform: str | None = None,
                  rules: Rules = DEFAULT_RULES) -> Rejection | None:
    """Rules of a schema-valid ProtectionMeasure; ``notice_areas`` maps every known notice_id to
    its division codes (all provinces). The first rule broken, or None."""
    rejection = run_checks(record, (*IDENTITY_CHECKS, time_window_check("occurred_at"), division_list_check,
                                    text_length_check("description", MAX_DESCRIPTION_CHARS)),
                           now_ms, division_exists, topic_platform, rules)
    if rejection is not None:
        return rejection
    area = notice_areas.get(record["notice_id"])
    if area is None:
        return Rejection("unknown_notice", "notice_id", "no WeatherNotice has this notice_id")
    area = tuple(area)
    if not all(within_any(code, area) for code in record["division_codes"]):
        return Rejection("division_outside_notice", "division_codes",
                         "every division of a measure must lie inside the notice's area")
    if record["effective_to"] <= record["effective_from"]:
        return Rejection("invalid_period", "effective_to", "effective_to must be after effective_from")
    return identifier_check(record, now_ms, division_exists, topic_platform, rules)
