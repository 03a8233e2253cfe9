"""Pure validation of gig-platform events: schema fit and business rules.

No Kafka, no Faust, no clock: the caller passes ``now_ms`` and the division table, so every
decision is reproducible and unit-testable. A failed check is returned as data
(:class:`Rejection`), never raised; messages describe what is wrong without quoting the
rejected value (platform payloads may carry personal data by mistake).
"""

from __future__ import annotations

import copy
import math
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable


from schemas.shape import find_problem
from streams.core.pii import find_identifier

EVENT_TYPES = ("sites", "headcounts", "incidents", "orders")
CONTRACT_BY_EVENT_TYPE = {"sites": "site_event", "headcounts": "headcount_report", "incidents": "incident_report",
                          "orders": "order_cover"}
# Copied to the government offices (``streams.core.route``); orders feed only the cover stage
# (docs/cover.md) and are judged by ``streams.core.cover.orders.check_order_cover``, not here.
OFFICE_EVENT_TYPES = ("sites", "headcounts", "incidents")
# The field a platform's record key is taken from on ``platform.<id>.<type>`` (gateway, simulator).
INGEST_KEY_FIELD = {"sites": "site_id", "headcounts": "site_id", "incidents": "incident_id", "orders": "order_ref"}

PLATFORM_ID_RE = re.compile(r"[a-z][a-z0-9-]{1,31}")
DIVISION_CODE_RE = re.compile(r"[0-9]{12}")
PSEUDONYM_RE = re.compile(r"[0-9a-f]{64}")
# Canonical 8-4-4-4-12 hex form; case-insensitive as RFC 9562 allows either.
UUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")

DAY_MS = 86_400_000
MAX_DESCRIPTION_CHARS = 500
# site_id / incident_id become Kafka record keys; a platform's ids are short, and an unbounded one
# (a 1 MB site_id passed every other rule) makes a record the broker refuses on every retry.
MAX_KEY_ID_CHARS = 128
COUNT_FIELDS = (
    "active_workers", "new_workers", "departed_workers", "employed_workers",
    "non_standard_workers", "independent_workers", "insured_workers", "long_hours_workers",
)


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why an event was refused: a stable reason code, the field path, a value-free message."""

    reason: str
    field: str | None
    message: str


@dataclass(frozen=True, slots=True)
class Rules:
    """Tunable limits of the business rules (defaults are the contract's)."""

    max_future_skew_ms: int = 5 * 60_000
    max_age_ms: int = 90 * DAY_MS
    max_period_ms: int = 31 * DAY_MS


DEFAULT_RULES = Rules()


def check_schema(version: Any, record: Any) -> Rejection | None:
    """Check that a JSON-shaped record fits a contract version (``schemas.catalog.SchemaVersion``:
    its ``parsed`` schema and strict ``checker``): missing and unknown fields, types, int ranges,
    enum symbols. Fields the schema declares with a default are filled in place first, as an
    Avro reader would. Unknown fields are refused so a typo (or a smuggled ``worker_name``) is
    reported instead of silently dropped.
    """
    if not isinstance(record, dict):
        return Rejection("schema_violation", None, "an event must be a JSON object")
    for field in version.parsed["fields"]:
        if field["name"] not in record and "default" in field:
            record[field["name"]] = copy.deepcopy(field["default"])
    problem = find_problem(version.checker, record)
    if problem is not None:
        path, message = problem
        return Rejection("schema_violation", path, message)
    return None


def check_rules(
    event_type: str,
    record: dict,
    *,
    now_ms: int,
    division_exists: Callable[[str], bool],
    topic_platform: str | None = None,
    rules: Rules = DEFAULT_RULES,
) -> Rejection | None:
    """Business rules for a schema-valid event; returns the first rule broken, or None.

    ``topic_platform`` is the platform named by the source topic; an event claiming another
    ``platform_id`` is refused (anti-spoofing). ``None`` skips that check (offline validation).
    """
    for check in _CHECKS[event_type]:
        rejection = check(record, now_ms, division_exists, topic_platform, rules)
        if rejection is not None:
            return rejection
    return None


# --- individual checks (each returns a Rejection or None) -----------------------------------

def _event_id(r, now_ms, exists, topic_platform, rules):
    if not UUID_RE.fullmatch(r["event_id"]):
        return Rejection("invalid_event_id", "event_id", "event_id must be a UUID (8-4-4-4-12 hex)")
    return None


def _platform(r, now_ms, exists, topic_platform, rules):
    if not PLATFORM_ID_RE.fullmatch(r["platform_id"]):
        return Rejection("invalid_platform_id", "platform_id",
                         "platform_id must match ^[a-z][a-z0-9-]{1,31}$")
    if topic_platform is not None and r["platform_id"] != topic_platform:
        return Rejection("platform_mismatch", "platform_id",
                         "platform_id differs from the platform that owns the topic")
    return None


def _division(r, now_ms, exists, topic_platform, rules):
    code = r["division_code"]
    if not DIVISION_CODE_RE.fullmatch(code):
        return Rejection("invalid_division_code", "division_code", "division_code must be 12 ASCII digits")
    if not exists(code):
        return Rejection("unknown_division_code", "division_code",
                         "division_code is not an NBS 2023 statistical division")
    return None


def _time_window(*fields: str):
    def check(r, now_ms, exists, topic_platform, rules):
        for name in fields:
            ts = r[name]
            if ts > now_ms + rules.max_future_skew_ms:
                return Rejection("timestamp_in_future", name,
                                 f"more than {rules.max_future_skew_ms // 1000} s in the future")
            if ts < now_ms - rules.max_age_ms:
                return Rejection("timestamp_too_old", name,
                                 f"older than {rules.max_age_ms // DAY_MS} days")
        return None
    return check


def _location(r, now_ms, exists, topic_platform, rules):
    loc = r.get("location")
    if loc is None:
        return None
    for name, bound in (("lat", 90.0), ("lon", 180.0)):
        value = loc[name]
        if math.isnan(value) or not -bound <= value <= bound:
            return Rejection("invalid_coordinates", f"location.{name}", f"{name} must be within ±{bound:g}")
    return None


def _counts(r, now_ms, exists, topic_platform, rules):
    for name in COUNT_FIELDS:
        value = r.get(name)
        if value is not None and value < 0:
            return Rejection("negative_count", name, "counts cannot be negative")
    active = r["active_workers"]
    if r["employed_workers"] + r["non_standard_workers"] + r["independent_workers"] != active:
        return Rejection("status_sum_mismatch", "active_workers",
                         "employed + non_standard + independent must equal active_workers")
    for name in ("insured_workers", "long_hours_workers"):
        value = r.get(name)
        if value is not None and value > active:
            return Rejection("count_exceeds_active", name, "cannot exceed active_workers")
    return None


def _period(r, now_ms, exists, topic_platform, rules):
    start, end = r["period_start"], r["period_end"]
    if end <= start:
        return Rejection("invalid_period", "period_end", "period_end must be after period_start")
    if end - start > rules.max_period_ms:
        return Rejection("period_too_long", "period_end",
                         f"a period covers at most {rules.max_period_ms // DAY_MS} days")
    return None


def _pseudonyms(r, now_ms, exists, topic_platform, rules):
    if not PSEUDONYM_RE.fullmatch(r["worker_ref"]):
        return Rejection("invalid_pseudonym", "worker_ref",
                         "worker_ref must be 64 lowercase hex characters (HMAC-SHA256)")
    order_ref = r.get("order_ref")
    if order_ref is not None and not PSEUDONYM_RE.fullmatch(order_ref):
        return Rejection("invalid_pseudonym", "order_ref",
                         "order_ref must be null or 64 lowercase hex characters (HMAC-SHA256)")
    return None


def _key_ids(r, now_ms, exists, topic_platform, rules):
    for name in ("site_id", "incident_id"):
        value = r.get(name)
        if value is not None and not 1 <= len(value) <= MAX_KEY_ID_CHARS:
            return Rejection("invalid_key_id", name, f"{name} must have 1 to {MAX_KEY_ID_CHARS} characters")
    return None


def _description(r, now_ms, exists, topic_platform, rules):
    text = r.get("description")
    if text is not None and len(text) > MAX_DESCRIPTION_CHARS:
        return Rejection("description_too_long", "description",
                         f"description is limited to {MAX_DESCRIPTION_CHARS} characters")
    return None


def _identifiers(r, now_ms, exists, topic_platform, rules):
    # Last, so a broken rule keeps its specific reason; any hit rejects the event either way.
    hit = find_identifier(r)
    if hit is not None:
        return Rejection("pii_detected", hit.field,
                         f"looks like a {hit.kind.replace('_', ' ')}; events must carry no direct identifiers")
    return None


_COMMON = (_event_id, _platform, _division, _key_ids)
_CHECKS: dict[str, Iterable] = {
    "sites": (*_COMMON, _time_window("occurred_at"), _location, _identifiers),
    "headcounts": (*_COMMON, _time_window("occurred_at"), _period, _counts, _identifiers),
    "incidents": (*_COMMON, _time_window("occurred_at", "reported_at"), _pseudonyms, _description, _location,
                  _identifiers),
}


# Generic checks shared with the validators of other contracts (streams/core/cover): each has
# the signature check(record, now_ms, division_exists, topic_platform, rules) -> Rejection | None.
COMMON_CHECKS = _COMMON
event_id_check = _event_id
platform_check = _platform
division_check = _division
time_window_check = _time_window
identifier_check = _identifiers
