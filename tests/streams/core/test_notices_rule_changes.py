"""AlgorithmRuleChange rules beyond the examples: the configurable notice period and which rule
areas need a consultation record."""

from __future__ import annotations

import copy

import pytest

from gigbridge.divisions import default_table
from schemas.examples import REFERENCE_NOW_MS, load_examples
from streams.core.notices.rule_changes import CONSULTATION_REQUIRED, ChangeRules, check_rule_change
from streams.core.validate import DAY_MS

[WITH_CONSULTATION] = [e.payload for e in load_examples(contract="algorithm_rule_change", kind="valid")
                      if e.name == "pay_distribution_with_consultation"]


def check(record, **kw):
    return check_rule_change(record, now_ms=REFERENCE_NOW_MS, division_exists=default_table().exists, **kw)


@pytest.mark.parametrize("area", ["DISPATCH", "PRICING", "PAY_DISTRIBUTION", "TIME_ESTIMATE", "PENALTY", "REST_LIMIT"])
def test_consultation_is_required_exactly_for_pay_pricing_time_and_penalties(area):
    record = dict(copy.deepcopy(WITH_CONSULTATION), rule_area=area, consultation=None)
    rejection = check(record)
    if area in CONSULTATION_REQUIRED:
        assert (rejection.reason, rejection.field) == ("consultation_missing", "consultation")
    else:
        assert rejection is None
    assert CONSULTATION_REQUIRED == {"PAY_DISTRIBUTION", "PRICING", "TIME_ESTIMATE", "PENALTY"}


def test_notice_period_is_configurable():
    record = copy.deepcopy(WITH_CONSULTATION)
    record["effective_at"] = record["published_at"] + 3 * DAY_MS
    assert check(record).reason == "notice_period_too_short"
    assert check(record, change_rules=ChangeRules(notice_period_ms=3 * DAY_MS)) is None
    assert check(record, change_rules=ChangeRules(notice_period_ms=3 * DAY_MS + 1)).reason == "notice_period_too_short"


def test_the_messages_quote_nothing_of_the_summary():
    record = dict(copy.deepcopy(WITH_CONSULTATION), summary="联系 13812345678")
    rejection = check(record)
    assert rejection.reason == "pii_detected" and "13812345678" not in rejection.message
