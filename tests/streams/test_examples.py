"""One parametrized test over every contract example: the hub's own validation (the same
``classify_json`` the gateway and CLI use) accepts each valid example and rejects each invalid
one with exactly the reason and field the example declares. Clock: REFERENCE_NOW_MS."""

import copy

import pytest

from gigbridge.divisions import default_table
from schemas.catalog import default_catalog
from schemas.examples import REFERENCE_NOW_MS, load_examples
from streams.classify import Accepted, Rejected, classify_json
from streams.context import Context

EVENT_TYPE = {"site_event": "sites", "headcount_report": "headcounts", "incident_report": "incidents"}
CTX = Context(default_catalog(), default_table().exists)
EXAMPLES = [e for e in load_examples() if e.contract in EVENT_TYPE]


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


def test_every_contract_has_examples():
    assert {e.contract for e in EXAMPLES} == set(EVENT_TYPE)
