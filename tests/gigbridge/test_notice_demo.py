"""The `make run` weather-warning demo: its CAP document passes the hub's own CAP checks, its
sites, headcounts and heat incidents pass validation, and on the real broker it publishes the
warning, incidents before and after the measures, the rule changes (one
refusable) and the answers of the in-time and late platforms, never the silent one's."""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timezone

import pytest

from gigbridge.divisions import default_table
from gigbridge.simulator.notice_demo import (
    DEMO_COUNTIES,
    _headcount,
    _heat_incident,
    _site,
    heat_warning_cap,
    run_notice_demo,
)
from schemas.catalog import default_catalog
from schemas.wire import decode
from streams.context import build_context
from streams.core.classify import Accepted, classify_json
from streams.core.notices.cap import Notice, parse_cap
from streams.loaders.notices import load_cap_schema
from tests.support.kafka_io import hub_settings, onboard, read_all

CATALOG = default_catalog()


def test_demo_warning_is_an_orange_heat_notice_for_the_demo_counties():
    notice = parse_cap(heat_warning_cap("demo-1", datetime.now(timezone.utc), 6, DEMO_COUNTIES),
                       schema=load_cap_schema(), division_exists=default_table().exists)
    assert isinstance(notice, Notice), notice
    assert (notice.warning_type, notice.level) == ("HEAT", "ORANGE")
    assert notice.division_codes == tuple(c + "000000" for c in DEMO_COUNTIES)
    assert notice.expires - notice.onset == 6 * 3_600_000


def test_demo_sites_are_valid_events():
    from gigbridge.settings import Settings

    ctx = build_context(Settings(), validate_only=True)
    site = _site("swiftdash", DEMO_COUNTIES[0], int(time.time() * 1000))
    assert isinstance(classify_json(site, "sites", ctx, int(time.time() * 1000), topic_platform="swiftdash"), Accepted)
    now = int(time.time() * 1000)
    for event_type, record in (("headcounts", _headcount("swiftdash", DEMO_COUNTIES[1], now)),
                               ("incidents", _heat_incident("swiftdash", DEMO_COUNTIES[2], now))):
        outcome = classify_json(record, event_type, ctx, now, topic_platform="swiftdash")
        assert isinstance(outcome, Accepted), outcome


@pytest.mark.kafka
def test_demo_publishes_warning_changes_and_two_answers(kafka):
    run = uuid.uuid4().hex[:6]
    platforms = [f"demo{n}{run}" for n in ("a", "b", "c")]
    for platform in platforms:
        onboard(kafka, platform)
    settings = hub_settings(kafka, notice_overdue_after_s=1.0)
    run_notice_demo(settings, platforms, sleep=lambda seconds: None)

    def values(topic, contract):
        return [decode(CATALOG, r.value, expect_contract=contract).record for r in read_all(kafka, topic)]

    answered = [p for p in platforms if values(f"platform.{p}.measures", "protection_measure")]
    # heat illnesses at every platform's sites during the warning, more after the two measures
    assert [len(read_all(kafka, f"platform.{p}.incidents")) for p in platforms] == [12, 12, 6]
    assert answered == platforms[:2]
    changes = [values(f"platform.{p}.algorithm-changes", "algorithm_rule_change") for p in platforms]
    assert [len(c) for c in changes] == [1, 1, 1]
    assert changes[0][0]["rule_area"] == "PRICING" and changes[0][0]["consultation"] is None
