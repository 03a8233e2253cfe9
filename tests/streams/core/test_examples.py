"""One parametrized test over every contract example: the hub's own validation (the same
``classify_json`` the gateway and CLI use; for the cover and notice contracts the pure
validators of ``streams.core.cover`` and ``streams.core.notices``) accepts each valid example
and rejects each invalid one with exactly the reason and field the example declares.
Clock: REFERENCE_NOW_MS."""

import copy

import pytest

from gigbridge.divisions import default_table
from schemas.catalog import default_catalog
from schemas.examples import REFERENCE_NOW_MS, load_examples
from streams.loaders.cases import load_units
from streams.core.classify import Accepted, Rejected, classify_json
from streams.core.context import Context
from streams.core.cases.records import check_case_event, check_concern_case, check_incident_ack
from streams.core.cover.claims import check_claim_status
from streams.core.cover.orders import check_order_cover
from streams.core.notices.rule_changes import check_rule_change
from streams.core.notices.tracking import check_measure
from streams.loaders.cover import load_rates
from streams.core.validate import check_schema

EVENT_TYPE = {"site_event": "sites", "headcount_report": "headcounts", "incident_report": "incidents"}
COVER_CONTRACTS = ("order_cover", "claim_status")
CTX = Context(default_catalog(), default_table().exists)
EXAMPLES = [e for e in load_examples() if e.contract in EVENT_TYPE]
COVER_EXAMPLES = [e for e in load_examples() if e.contract in COVER_CONTRACTS]
RATES = load_rates()
NOTICE_CONTRACTS = ("protection_measure", "algorithm_rule_change")
NOTICE_EXAMPLES = [e for e in load_examples() if e.contract in NOTICE_CONTRACTS]
# Measures answer the notices of the valid WeatherNotice examples.
NOTICE_AREAS = {e.payload["notice_id"]: e.payload["division_codes"]
                for e in load_examples(contract="weather_notice", kind="valid")}
UNITS = load_units()
CASE_CONTRACTS = ("concern_case", "case_event", "incident_ack")
CASE_EXAMPLES = [e for e in load_examples() if e.contract in CASE_CONTRACTS]


@pytest.mark.parametrize("example", [pytest.param(e, id=e.id) for e in EXAMPLES])
def test_example_gets_its_verdict(example):
    payload = copy.deepcopy(example.payload)
    outcome = classify_json(payload, EVENT_TYPE[example.contract], CTX, REFERENCE_NOW_MS,
                            topic_platform=example.payload.get("platform_id"))
    if example.kind == "valid":
        assert isinstance(outcome, Accepted), outcome
    else:
        assert isinstance(outcome, Rejected)
        assert (outcome.rejection.reason, outcome.rejection.field) == (example.reason, example.field)


# Contracts validated by the pure cores (streams.core.cover, .notices, .cases), after the schema.
CORE_RULES = {
    "order_cover": lambda p: check_order_cover(p, now_ms=REFERENCE_NOW_MS, division_exists=CTX.division_exists,
                                               rates=RATES, topic_platform=p["platform_id"]),
    "claim_status": lambda p: check_claim_status(p, now_ms=REFERENCE_NOW_MS),
    "protection_measure": lambda p: check_measure(p, now_ms=REFERENCE_NOW_MS, division_exists=CTX.division_exists,
                                                  notice_areas=NOTICE_AREAS, topic_platform=p["platform_id"]),
    "algorithm_rule_change": lambda p: check_rule_change(p, now_ms=REFERENCE_NOW_MS,
                                                         division_exists=CTX.division_exists,
                                                         topic_platform=p["platform_id"]),
    "concern_case": lambda p: check_concern_case(p, now_ms=REFERENCE_NOW_MS, division_exists=CTX.division_exists,
                                                 units=UNITS, topic_platform=None),
    "case_event": lambda p: check_case_event(p, now_ms=REFERENCE_NOW_MS, units=UNITS),
    "incident_ack": lambda p: check_incident_ack(p, now_ms=REFERENCE_NOW_MS, units=UNITS),
}


@pytest.mark.parametrize("example", [pytest.param(e, id=e.id) for e in COVER_EXAMPLES + NOTICE_EXAMPLES + CASE_EXAMPLES])
def test_core_example_gets_its_verdict(example):
    payload = copy.deepcopy(example.payload)
    rejection = check_schema(CTX.catalog.contract(example.contract).latest, payload)
    if rejection is None:
        rejection = CORE_RULES[example.contract](payload)
    if example.kind == "valid":
        assert rejection is None, rejection
    else:
        assert rejection is not None and (rejection.reason, rejection.field) == (example.reason, example.field)


def test_every_contract_has_examples():
    assert {e.contract for e in EXAMPLES} == set(EVENT_TYPE)
    assert {e.contract for e in COVER_EXAMPLES} == set(COVER_CONTRACTS)
    assert {e.contract for e in NOTICE_EXAMPLES} == set(NOTICE_CONTRACTS)
    assert {e.contract for e in CASE_EXAMPLES} == set(CASE_CONTRACTS)
