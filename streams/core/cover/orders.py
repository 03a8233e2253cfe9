"""Validation of ``OrderCover`` records (one per order, on ``platform.<id>.orders``).

Same contract as :mod:`streams.core.validate`: the caller passes the clock, the division register
and the rate table; the first broken rule comes back as a :class:`~streams.core.validate.Rejection`
whose message never quotes the value. Rules, in order:

* the generic ones: ``invalid_event_id``, ``invalid_platform_id`` / ``platform_mismatch``,
  ``invalid_division_code`` / ``unknown_division_code``;
* times: ``occurred_at``, ``accepted_at`` and ``finished_at`` at most 5 minutes ahead and at
  most 90 days old (``timestamp_in_future`` / ``timestamp_too_old``);
* the order's life: ``finished_at`` null if and only if ``cancelled`` (``invalid_order_state``),
  ``accepted_at <= finished_at <= occurred_at`` (``invalid_period``), at most 24 hours from
  acceptance to the end (``period_too_long``);
* ``worker_ref`` and ``order_ref`` 64 lowercase hex (``invalid_pseudonym``);
* ``premium_fen`` and ``rate_version`` equal to the rate in force at ``accepted_at`` for the
  order's province and industry (``premium_mismatch``);
* no direct identifier anywhere (``pii_detected``).

A repeated ``order_ref`` (a duplicate premium) is not a validation error: it is dropped and
counted by the stateful stage (:mod:`streams.core.cover.daycover`).
"""

from __future__ import annotations

from typing import Callable

from streams.core.cover.rates import RateTable
from streams.core.validate import (
    COMMON_CHECKS,
    DEFAULT_RULES,
    PSEUDONYM_RE,
    Rejection,
    Rules,
    identifier_check,
    time_window_check,
)

MAX_ORDER_MS = 24 * 3_600_000
# Built once: a check per call would make new closures for every order (the firehose's hot path).
_GENERIC_CHECKS = (*COMMON_CHECKS, time_window_check("occurred_at", "accepted_at"))
_FINISHED_WINDOW = time_window_check("finished_at")


def province_of(division_code: str) -> str:
    """2-digit province code of a 12-digit division code."""
    return division_code[:2]


def check_order_cover(
    record: dict,
    *,
    now_ms: int,
    division_exists: Callable[[str], bool],
    rates: RateTable,
    topic_platform: str | None = None,
    rules: Rules = DEFAULT_RULES,
) -> Rejection | None:
    """Business rules for a schema-valid OrderCover; the first rule broken, or None."""
    for check in _GENERIC_CHECKS:
        rejection = check(record, now_ms, division_exists, topic_platform, rules)
        if rejection is not None:
            return rejection
    for check in (_finished_time, _order_life, _pseudonyms):
        rejection = check(record, now_ms, rules)
        if rejection is not None:
            return rejection
    rejection = _premium(record, rates)
    if rejection is not None:
        return rejection
    return identifier_check(record, now_ms, division_exists, topic_platform, rules)


def _finished_time(r: dict, now_ms: int, rules: Rules) -> Rejection | None:
    if r.get("finished_at") is None:
        return None
    return _FINISHED_WINDOW(r, now_ms, None, None, rules)


def _order_life(r: dict, now_ms: int, rules: Rules) -> Rejection | None:
    finished, cancelled = r.get("finished_at"), r.get("cancelled", False)
    if (finished is None) != bool(cancelled):
        return Rejection("invalid_order_state", "finished_at",
                         "finished_at must be set for a completed order and null for a cancelled one")
    accepted, ended = r["accepted_at"], r["occurred_at"]
    if finished is not None and not accepted <= finished <= ended:
        return Rejection("invalid_period", "finished_at", "finished_at must lie between accepted_at and occurred_at")
    if ended < accepted:
        return Rejection("invalid_period", "occurred_at", "an order cannot end before it was accepted")
    if ended - accepted > MAX_ORDER_MS:
        return Rejection("period_too_long", "occurred_at", "an order lasts at most 24 hours from acceptance")
    return None


def _pseudonyms(r: dict, now_ms: int, rules: Rules) -> Rejection | None:
    for name in ("worker_ref", "order_ref"):
        if not PSEUDONYM_RE.fullmatch(r[name]):
            return Rejection("invalid_pseudonym", name, f"{name} must be 64 lowercase hex characters (HMAC-SHA256)")
    return None


def _premium(r: dict, rates: RateTable) -> Rejection | None:
    rate = rates.rate_in_force(province_of(r["division_code"]), r["industry"], r["accepted_at"])
    if rate is None:
        return Rejection("premium_mismatch", "accepted_at", "no premium rate was in force at accepted_at")
    if r["premium_fen"] != rate.premium_fen:
        return Rejection("premium_mismatch", "premium_fen",
                         "premium_fen differs from the rate in force at accepted_at for this province and industry")
    if r["rate_version"] != rate.version:
        return Rejection("premium_mismatch", "rate_version",
                         "rate_version is not the rate-table version in force at accepted_at")
    return None
