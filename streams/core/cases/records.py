"""Validation of ``ConcernCase``, ``CaseEvent`` and ``IncidentAck`` dicts taken alone.

Each check returns the first broken rule as a :class:`streams.core.validate.Rejection` (stable reason
code, field path, value-free message) or None. The record must already fit its Avro schema
(``streams.core.validate.check_schema``). Whether a step is legal for the case's current state is
:mod:`.lifecycle`'s business. Free text (``summary``, ``note``) is limited to 500 characters and
must carry no direct identifier (the project's detector, ``streams.core.pii``).
"""

from __future__ import annotations

from typing import Callable

from streams.core.cases.units import UnitBook
from streams.core.pii import contains_identifier
from streams.core.validate import (
    DEFAULT_RULES, PLATFORM_ID_RE, PSEUDONYM_RE, UUID_RE, Rejection, Rules, division_check, event_id_check,
    time_window_check,
)

MAX_TEXT_CHARS = 500
#: REJECTED reason codes: NOT_OUR_MATTER hands the case to the county government; the others close it.
REJECT_REASONS = ("NOT_OUR_MATTER", "DUPLICATE", "NOT_A_CONCERN")
TARGETED_ACTIONS = ("ASSIGNED", "TRANSFERRED")


def _text(record: dict, name: str) -> Rejection | None:
    text = record.get(name)
    if text is None:
        return None
    if len(text) > MAX_TEXT_CHARS:
        return Rejection("text_too_long", name, f"{name} is limited to {MAX_TEXT_CHARS} characters")
    kind = contains_identifier(text)
    if kind is not None:
        return Rejection("pii_detected", name,
                         f"looks like a {kind.replace('_', ' ')}; cases must carry no direct identifiers")
    return None


def _actor(kind: str, actor_id: str, field: str, units: UnitBook) -> Rejection | None:
    """A platform id for PLATFORM, a known unit id for the others."""
    if kind == "PLATFORM":
        if not PLATFORM_ID_RE.fullmatch(actor_id):
            return Rejection("invalid_platform_id", field, "a platform id must match ^[a-z][a-z0-9-]{1,31}$")
    elif units.get(actor_id) is None:
        return Rejection("unknown_unit", field, "not a unit of deploy/units.yaml")
    return None


def check_concern_case(record: dict, *, now_ms: int, division_exists: Callable[[str], bool], units: UnitBook,
                       topic_platform: str | None = None, rules: Rules = DEFAULT_RULES) -> Rejection | None:
    """Rules of a schema-valid ConcernCase; ``topic_platform``: the platform owning the topic it came on."""
    rejection = _case_id(record) or _actor(record["source_kind"], record["source_id"], "source_id", units)
    if rejection is not None:
        return rejection
    platform = record.get("platform_id")
    if platform is not None and not PLATFORM_ID_RE.fullmatch(platform):
        return Rejection("invalid_platform_id", "platform_id", "platform_id must match ^[a-z][a-z0-9-]{1,31}$")
    if record["source_kind"] == "PLATFORM" and platform != record["source_id"]:
        return Rejection("source_mismatch", "platform_id", "a platform submits cases about itself only")
    if topic_platform is not None and record["source_id"] != topic_platform:
        return Rejection("platform_mismatch", "source_id", "source_id differs from the platform that owns the topic")
    for check in (division_check, time_window_check("submitted_at")):
        rejection = check(record, now_ms, division_exists, None, rules)
        if rejection is not None:
            return rejection
    for name in ("worker_ref", "order_ref"):
        if record.get(name) is not None and not PSEUDONYM_RE.fullmatch(record[name]):
            return Rejection("invalid_pseudonym", name, f"{name} must be null or 64 lowercase hex characters")
    if not record["summary"].strip():
        return Rejection("empty_summary", "summary", "summary must say what the worker asks for")
    return _text(record, "summary")


def _first(*checks: Callable[[], Rejection | None]) -> Rejection | None:
    """The first rejection of ``checks``, run in order and lazily."""
    for check in checks:
        rejection = check()
        if rejection is not None:
            return rejection
    return None


def _target(record: dict, needed: bool, when: str, units: UnitBook) -> Rejection | None:
    target = record.get("target_unit")
    if (target is not None) != needed:
        return Rejection("invalid_target_unit", "target_unit", f"target_unit is set if and only if {when}")
    if target is not None and units.get(target) is None:
        return Rejection("unknown_unit", "target_unit", "not a unit of deploy/units.yaml")
    return None


def _case_id(record: dict) -> Rejection | None:
    if not UUID_RE.fullmatch(record["case_id"]):
        return Rejection("invalid_case_id", "case_id", "case_id must be a UUID (8-4-4-4-12 hex)")
    return None


def _reason_and_score(record: dict) -> Rejection | None:
    action, reason, score = record["action"], record.get("reason_code"), record.get("satisfaction")
    if (reason is not None) != (action == "REJECTED") or (reason is not None and reason not in REJECT_REASONS):
        return Rejection("invalid_reason_code", "reason_code",
                         f"REJECTED needs a reason_code of {REJECT_REASONS}; nothing else has one")
    if (score is not None) != (action == "FEEDBACK") or (score is not None and not 1 <= score <= 5):
        return Rejection("invalid_satisfaction", "satisfaction", "FEEDBACK needs a satisfaction of 1 to 5; nothing else has one")
    return None


def check_case_event(record: dict, *, now_ms: int, units: UnitBook, rules: Rules = DEFAULT_RULES) -> Rejection | None:
    """Rules of a schema-valid CaseEvent taken alone (who may do it when is checked by the lifecycle)."""
    return _first(
        lambda: event_id_check(record, now_ms, None, None, rules),
        lambda: _case_id(record),
        lambda: _actor(record["actor_kind"], record["actor_id"], "actor_id", units),
        lambda: _target(record, record["action"] in TARGETED_ACTIONS, "ASSIGNED or TRANSFERRED", units),
        lambda: _reason_and_score(record),
        lambda: time_window_check("at")(record, now_ms, None, None, rules),
        lambda: _text(record, "note"),
    )


def check_incident_ack(record: dict, *, now_ms: int, units: UnitBook, rules: Rules = DEFAULT_RULES) -> Rejection | None:
    """Rules of a schema-valid IncidentAck taken alone."""
    return _first(
        lambda: event_id_check(record, now_ms, None, None, rules),
        lambda: _actor("PLATFORM", record["platform_id"], "platform_id", units),
        lambda: _actor("UNIT", record["unit_id"], "unit_id", units),
        lambda: _target(record, record["action"] == "REFERRED", "REFERRED", units),
        lambda: time_window_check("at")(record, now_ms, None, None, rules),
        lambda: _text(record, "note"),
    )
