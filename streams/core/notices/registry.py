"""Notices as a state machine over plain data: CAP Alert / Update / Cancel in, WeatherNotice out.

The registry is an immutable mapping ``notice_id -> NoticeState`` plus an index of every CAP
message (sender, identifier) seen. :func:`apply_notice` never mutates its input; it returns the
next registry and what to publish:

* **Alert**: a new notice (``notice_id`` = its CAP identifier, revision 0). The same message
  again (same sender and identifier) is a repeat: nothing changes, nothing is published.
* **Update**: replaces the content of the notice its ``references`` name (revision + 1). A
  province that drops out of the area gets a CANCEL record, so no platform keeps an orphan.
* **Cancel**: lifts the notice (revision + 1, ``expires`` = the cancel's ``sent``); later
  updates of it are refused (``cap-notice-cancelled``).
* An Update/Cancel whose references name no known message is refused (``cap-unknown-reference``).

:func:`weather_notice_records` turns a state into one WeatherNotice record per province.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal, Mapping

from streams.core.notices.cap import CapProblem, Notice
from streams.core.notices.levels import province_of


@dataclass(frozen=True, slots=True)
class NoticeState:
    """The current content of one notice and how it got there."""

    notice_id: str
    current: Notice  # the last message applied
    revision: int
    cancelled: bool
    provinces_published: tuple[str, ...]  # every province a record went to, sorted


@dataclass(frozen=True, slots=True)
class Registry:
    notices: Mapping[str, NoticeState] = field(default_factory=dict)
    seen: Mapping[tuple[str, str], str] = field(default_factory=dict)  # (sender, identifier) -> notice_id


@dataclass(frozen=True, slots=True)
class Applied:
    """``published``: new records; ``repeat``: a message seen before; ``refused``: see ``problem``."""

    kind: Literal["published", "repeat", "refused"]
    registry: Registry
    records: tuple[dict, ...] = ()
    problem: CapProblem | None = None


def apply_notice(registry: Registry, notice: Notice) -> Applied:
    """Apply one parsed CAP message (module docstring); the input registry is left unchanged."""
    key = (notice.sender, notice.identifier)
    if key in registry.seen:
        return Applied("repeat", registry)
    if notice.msg_type == "ALERT":
        state = NoticeState(notice.identifier, notice, 0, False, _provinces(notice))
        return _publish(registry, key, state, dropped=())
    target = next((registry.seen[ref] for ref in notice.referenced_identifiers if ref in registry.seen), None)
    if target is None:
        return Applied("refused", registry, problem=CapProblem(
            "cap-unknown-reference", f"no earlier message named in <references> of this {notice.msg_type.title()} "
                                     "is known"))
    before = registry.notices[target]
    if before.cancelled:
        return Applied("refused", registry, problem=CapProblem(
            "cap-notice-cancelled", "the notice this message refers to was cancelled"))
    cancelled = notice.msg_type == "CANCEL"
    current = replace(notice, expires=notice.sent) if cancelled else notice
    provinces = _provinces(current)
    dropped = tuple(p for p in before.provinces_published if p not in provinces)
    state = NoticeState(target, current, before.revision + 1, cancelled,
                        tuple(sorted(set(before.provinces_published) | set(provinces))))
    return _publish(registry, key, state, dropped)


def _provinces(notice: Notice) -> tuple[str, ...]:
    return tuple(sorted({province_of(code) for code in notice.division_codes}))


def _publish(registry: Registry, key: tuple[str, str], state: NoticeState, dropped: tuple[str, ...]) -> Applied:
    notices = {**registry.notices, state.notice_id: state}
    seen = {**registry.seen, key: state.notice_id}
    records = weather_notice_records(state) + tuple(_dropped_record(state, p) for p in dropped)
    return Applied("published", Registry(notices, seen), records)


def weather_notice_records(state: NoticeState) -> tuple[dict, ...]:
    """One WeatherNotice record (schemas/avro/weather_notice/v1.avsc) per province of the area."""
    n = state.current
    return tuple(_record(state, province, tuple(c for c in n.division_codes if province_of(c) == province))
                 for province in _provinces(n))


def _dropped_record(state: NoticeState, province: str) -> dict:
    record = _record(state, province, ())
    record["msg_type"] = "CANCEL"
    return record


def _record(state: NoticeState, province: str, division_codes: tuple[str, ...]) -> dict:
    n = state.current
    return {
        "notice_id": state.notice_id, "cap_identifier": n.identifier, "cap_sender": n.sender,
        "revision": state.revision, "msg_type": n.msg_type, "warning_type": n.warning_type, "level": n.level,
        "headline": n.headline, "province": province, "division_codes": list(division_codes),
        "onset": n.onset, "expires": n.expires, "sent": n.sent, "references": list(n.references),
    }


def notice_topic(record: dict) -> str:
    """The topic a WeatherNotice record is published on."""
    return f"gov.notices.{record['province']}"
