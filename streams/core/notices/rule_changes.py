"""Validation of ``AlgorithmRuleChange`` records (platform.<id>.algorithm-changes).

Beyond the usual event rules (event_id, platform_id, divisions, published_at not in the future
nor too old, no direct identifiers anywhere -- the project's detector, streams.core.pii):

* ``effective_at`` is at least :attr:`ChangeRules.notice_period_ms` after ``published_at``
  (``notice_period_too_short``), default 7 days;
* a consultation record is present for the areas in :data:`CONSULTATION_REQUIRED`
  (``consultation_missing``); when present it names a party, predates the publication and counts
  comments non-negatively (``invalid_consultation``);
* ``summary`` (plain language for workers) has 1 to 2,000 characters, ``consultation.response``
  at most 2,000 (``description_too_long``); ``change_id`` is 1 to 64 of [A-Za-z0-9-].

Accepted changes go to :data:`REGULATOR_TOPIC` and :data:`PUBLIC_REGISTER_TOPIC` (the worker's
notice flows, ``streams.runtime.notices``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from streams.core.notices.checks import IDENTITY_CHECKS, division_list_check, run_checks, text_length_check
from streams.core.validate import DAY_MS, DEFAULT_RULES, Rejection, Rules, identifier_check, time_window_check

CONSULTATION_REQUIRED = frozenset({"PAY_DISTRIBUTION", "PRICING", "TIME_ESTIMATE", "PENALTY"})
MAX_SUMMARY_CHARS = 2000
CHANGE_ID_RE = re.compile(r"[A-Za-z0-9-]{1,64}")
REGULATOR_TOPIC = "gov.regulator.algorithm-changes"
PUBLIC_REGISTER_TOPIC = "public.algorithm-register"


@dataclass(frozen=True, slots=True)
class ChangeRules:
    notice_period_ms: int = 7 * DAY_MS


DEFAULT_CHANGE_RULES = ChangeRules()


def check_rule_change(record: dict, *, now_ms: int, division_exists: Callable[[str], bool],
                      topic_platform: str | None = None, rules: Rules = DEFAULT_RULES,
                      change_rules: ChangeRules = DEFAULT_CHANGE_RULES) -> Rejection | None:
    """Rules of a schema-valid AlgorithmRuleChange (module docstring); the first broken, or None."""
    rejection = run_checks(record, (*IDENTITY_CHECKS, _change_id, _industries, division_list_check,
                                    time_window_check("occurred_at", "published_at"),
                                    text_length_check("summary", MAX_SUMMARY_CHARS, min_chars=1),
                                    text_length_check("consultation.response", MAX_SUMMARY_CHARS)),
                           now_ms, division_exists, topic_platform, rules)
    if rejection is not None:
        return rejection
    if record["effective_at"] - record["published_at"] < change_rules.notice_period_ms:
        return Rejection("notice_period_too_short", "effective_at",
                         f"effective_at must be at least {change_rules.notice_period_ms // DAY_MS} days "
                         "after published_at")
    rejection = _consultation(record)
    if rejection is not None:
        return rejection
    return identifier_check(record, now_ms, division_exists, topic_platform, rules)


def _change_id(r, now_ms, exists, topic_platform, rules):
    if not CHANGE_ID_RE.fullmatch(r["change_id"]):
        return Rejection("invalid_change_ref", "change_id", "change_id must be 1 to 64 characters of [A-Za-z0-9-]")
    return None


def _industries(r, now_ms, exists, topic_platform, rules):
    if not r["industries"]:
        return Rejection("invalid_industries", "industries", "a change names at least one industry")
    return None


def _consultation(r: dict) -> Rejection | None:
    consultation = r.get("consultation")
    if consultation is None:
        if r["rule_area"] in CONSULTATION_REQUIRED:
            return Rejection("consultation_missing", "consultation",
                             f"a {r['rule_area']} change needs the record of the union / worker consultation")
        return None
    if not consultation["parties"]:
        return Rejection("invalid_consultation", "consultation.parties", "a consultation names who was consulted")
    if consultation["consulted_at"] > r["published_at"]:
        return Rejection("invalid_consultation", "consultation.consulted_at",
                         "the consultation must take place before the change is published")
    if consultation["comments_received"] < 0:
        return Rejection("invalid_consultation", "consultation.comments_received", "comments_received cannot be negative")
    return None
