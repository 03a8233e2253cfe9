"""``make run``'s console demo: its traffic passes the hub's own checks (so it reaches the
console through the worker, as a platform's would), lands in the township of a demo unit, and
the printed tokens are the demo units' tokens in the unit-token setting."""

from __future__ import annotations

import hashlib
import json
import re

from gigbridge.divisions import default_table
from gigbridge.settings import Settings
from gigbridge.simulator.console_demo import (
    DEMO_UNIT_TOKENS,
    TOWNSHIP_CODE,
    login_lines,
    township_records,
    with_demo_tokens,
)
from schemas.catalog import default_catalog
from schemas.wire import check
from streams.core.cases.records import check_incident_ack
from streams.core.validate import check_rules
from streams.loaders.cases import load_units

NOW = 1_780_000_000_000


def test_every_round_passes_the_hubs_checks_and_stays_in_the_township():
    catalog, units = default_catalog(), load_units()
    seen = set()
    for round_no in range(3 * 4 + 1):
        for topic, contract, record in township_records("swiftmeal", round_no, NOW + round_no * 30_000):
            check(catalog.contract(contract).latest, record)  # raises on a misfit
            if contract == "incident_ack":
                assert topic == "gov.units.440305001-gov.incident-acks"
                assert check_incident_ack(record, now_ms=NOW + round_no * 30_000, units=units) is None
            else:
                event_type = topic.rsplit(".", 1)[1]
                assert topic == f"platform.swiftmeal.{event_type}"
                assert check_rules(event_type, record, now_ms=NOW + round_no * 30_000,
                                   division_exists=default_table().exists, topic_platform="swiftmeal") is None
                assert record["division_code"] == TOWNSHIP_CODE
            seen.add((contract, record.get("action")))
    assert {("site_event", "OPENED"), ("site_event", "UPDATED"), ("headcount_report", None),
            ("incident_report", None), ("incident_ack", "RECEIVED")} <= seen


def test_the_printed_tokens_are_the_demo_units_tokens_unless_tokens_are_configured():
    settings = with_demo_tokens(Settings(case_unit_tokens=None))
    # GIGBRIDGE_CASE_UNIT_TOKENS: unit id -> SHA-256 hex digest of its bearer token (gigbridge/settings.py)
    digests = json.loads(settings.case_unit_tokens.get_secret_value())
    lines = login_lines(8123)
    assert lines[0].startswith("office console: http://127.0.0.1:8123/console/")
    for unit, token in DEMO_UNIT_TOKENS.items():
        assert any(re.fullmatch(rf"\s+{re.escape(unit)}\s+{re.escape(token)}", line) for line in lines)
        assert digests[unit] == hashlib.sha256(token.encode()).hexdigest()
    configured = Settings(case_unit_tokens='{"110105-hrss": "' + "0" * 64 + '"}')
    assert with_demo_tokens(configured) is configured
