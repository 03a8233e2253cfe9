"""Rules shared by the ProtectionMeasure and AlgorithmRuleChange validators."""

from __future__ import annotations

from typing import Callable, Iterable

from streams.core.validate import DIVISION_CODE_RE, Rejection, Rules, event_id_check, platform_check

FIELD = "division_codes"


def run_checks(record: dict, checks: Iterable[Callable], now_ms: int, division_exists: Callable[[str], bool],
               topic_platform: str | None, rules: Rules) -> Rejection | None:
    """The first rejection of ``checks`` (the streams.core.validate signature), or None."""
    for check in checks:
        rejection = check(record, now_ms, division_exists, topic_platform, rules)
        if rejection is not None:
            return rejection
    return None


def division_list_check(r: dict, now_ms: int, exists: Callable[[str], bool], topic_platform, rules) -> Rejection | None:
    """``division_codes``: at least one, each 12 ASCII digits and a known division."""
    codes = r[FIELD]
    if not codes or not all(DIVISION_CODE_RE.fullmatch(code) for code in codes):
        return Rejection("invalid_division_code", FIELD, "division_codes must list at least one code of 12 ASCII digits")
    if not all(exists(code) for code in codes):
        return Rejection("unknown_division_code", FIELD, "every division code must be an NBS 2023 statistical division")
    return None


def text_length_check(field: str, max_chars: int, *, min_chars: int = 0) -> Callable:
    """A check that ``field`` (dotted path into nested records, None allowed) has a sane length."""
    def check(r, now_ms, exists, topic_platform, rules):
        value = r
        for part in field.split("."):
            value = None if value is None else value.get(part)
        if value is not None and not min_chars <= len(value) <= max_chars:
            return Rejection("description_too_long", field, f"{field} has {min_chars} to {max_chars} characters")
        return None
    return check


IDENTITY_CHECKS = (event_id_check, platform_check)
