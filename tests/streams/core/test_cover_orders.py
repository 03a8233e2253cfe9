"""OrderCover rules beyond the examples (which tests/streams/core/test_examples.py runs): the premium
follows the rate in force at accepted_at, the topic owner is enforced, messages quote no value."""

from __future__ import annotations

import copy

from gigbridge.divisions import default_table
from schemas.examples import REFERENCE_NOW_MS, load_examples
from streams.core.cover.cst import day_start_ms
from streams.core.cover.orders import check_order_cover, province_of
from streams.loaders.cover import load_rates

RATES = load_rates()
EXISTS = default_table().exists
LUNCH = next(e.payload for e in load_examples(contract="order_cover", kind="valid") if e.name == "lunch_delivery_shanghai")


def check(record, now_ms=REFERENCE_NOW_MS):
    return check_order_cover(record, now_ms=now_ms, division_exists=EXISTS, rates=RATES, topic_platform="swiftdash")


def test_price_is_taken_at_accepted_at_not_at_the_end():
    # accepted at 23:50 on the last day of 2025-07's validity, finished after the 2026-01 change
    accepted = day_start_ms("2026-01-01") - 10 * 60_000
    order = dict(copy.deepcopy(LUNCH), accepted_at=accepted, finished_at=accepted + 1_800_000,
                 occurred_at=accepted + 1_800_000, rate_version="2025-07", premium_fen=4)
    assert check(order, now_ms=accepted + 86_400_000) is None
    late = dict(order, rate_version="2026-01")
    assert check(late, now_ms=accepted + 86_400_000).field == "rate_version"


def test_topic_platform_is_enforced():
    rejection = check_order_cover(copy.deepcopy(LUNCH), now_ms=REFERENCE_NOW_MS, division_exists=EXISTS,
                                  rates=RATES, topic_platform="cityride")
    assert rejection.reason == "platform_mismatch"


def test_message_never_quotes_the_value():
    order = dict(copy.deepcopy(LUNCH), premium_fen=987654)
    rejection = check(order)
    assert rejection.reason == "premium_mismatch" and "987654" not in rejection.message


def test_province_of():
    assert province_of("440305000000") == "44"
