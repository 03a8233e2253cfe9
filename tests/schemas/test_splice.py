"""schemas.splice: a policy copy's bytes spliced from the original's are the bytes fastavro
writes for the copy, or the splice declines (None) and the caller encodes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from schemas.catalog import default_catalog
from schemas.splice import leaf_kinds, splice
from schemas.wire import encode
from streams.core.policy import POLICY_LEAVES, SecretSource, apply_policy, policy_for

CATALOG = default_catalog()
SECRETS = SecretSource(b"0123456789abcdef0123456789abcdef")
# The stream's destination kinds (monitoring gets aggregates, never a copy of an event).
POLICIES = [policy_for(kind, f"{kind}-1", SECRETS) for kind in ("office", "insurer", "webhook")]

INCIDENT = {
    "event_id": "2f1b6a57-2c1d-4d7e-9a53-0c2a44b1e0aa", "platform_id": "swiftmeal", "occurred_at": 1780271412345,
    "incident_id": "inc-1", "site_id": "swif-00001", "division_code": "440305000000", "category": "FALL",
    "severity": "MINOR", "weather": "RAIN", "worker_ref": "7b" * 32, "order_ref": "c4" * 32, "insured": True,
    "location": {"lat": 22.543210, "lon": 113.934567}, "reported_at": 1780271759999,
    "description": "slipped on wet stairs",
}
SITE = {
    "event_id": "7d4f7c2e-8a51-4d0b-b6a9-3c1e2f4a5b6c", "platform_id": "swiftmeal", "occurred_at": 1780271400000,
    "site_id": "swif-00002", "action": "OPENED", "site_type": "DELIVERY_STATION", "division_code": "310101002000",
    "location": {"lat": 31.230416, "lon": 121.473701}, "facilities": ["REST_AREA", "RESTROOM"], "capacity_workers": 40,
}
VERSION = {"incident": CATALOG.contract("incident_report").latest, "site": CATALOG.contract("site_event").latest}


def spliced(name: str, record: dict, policy) -> tuple[bytes | None, bytes]:
    version = VERSION[name]
    copy = apply_policy(record, policy)
    return splice(encode(version, record), version, record, copy, POLICY_LEAVES), encode(version, copy)


def test_leaf_kinds_reach_into_nullable_records():
    kinds = leaf_kinds(VERSION["incident"])
    assert kinds[("worker_ref",)] == "string" and kinds[("order_ref",)] == "string"
    assert kinds[("location", "lat")] == "double" and kinds[("occurred_at",)] == "long"
    assert ("location",) not in kinds and ("category",) not in kinds  # a record, an enum


@pytest.mark.parametrize("kind", ["office", "insurer"])
@pytest.mark.parametrize("name,record", [("incident", INCIDENT), ("site", SITE)])
def test_office_and_insurer_copies_are_spliced_byte_identical(name, record, kind):
    got, expected = spliced(name, record, policy_for(kind, f"{kind}-44", SECRETS))
    assert got == expected


def test_a_value_set_to_null_is_left_to_the_encoder():
    # webhooks get no coordinates: the location union changes branch, which a splice cannot do
    got, _ = spliced("incident", INCIDENT, policy_for("webhook", "partner-hook", SECRETS))
    assert got is None


def test_a_value_whose_bytes_occur_twice_is_left_to_the_encoder():
    same = {**INCIDENT, "order_ref": INCIDENT["worker_ref"]}  # both refs re-keyed, both bytes equal
    got, _ = spliced("incident", same, policy_for("office", "office-1", SECRETS))
    assert got is None


def test_a_change_outside_the_named_leaves_is_not_looked_at():
    version = VERSION["incident"]
    changed = {**INCIDENT, "worker_ref": "ab" * 32}
    assert splice(encode(version, INCIDENT), version, INCIDENT, changed, (("worker_ref",),)) == encode(version, changed)
    assert splice(encode(version, INCIDENT), version, INCIDENT, changed, (("order_ref",),)) == encode(version, INCIDENT)


@settings(max_examples=300, derandomize=True)
@given(lat=st.floats(-90, 90), lon=st.floats(-180, 180), ts=st.integers(0, 4_102_444_800_000),
       ref=st.from_regex(r"[0-9a-f]{64}", fullmatch=True), order=st.none() | st.from_regex(r"[0-9a-f]{64}", fullmatch=True),
       located=st.booleans(), policy=st.sampled_from(POLICIES))
def test_a_splice_is_the_encoding_of_the_copy_or_declines(lat, lon, ts, ref, order, located, policy):
    record = {**INCIDENT, "worker_ref": ref, "order_ref": order, "occurred_at": ts, "reported_at": ts + 1,
              "location": {"lat": lat, "lon": lon} if located else None}
    got, expected = spliced("incident", record, policy)
    assert got is None or got == expected
    if policy.kind == "office" and order != ref and lat != lon:
        assert got == expected  # distinct refs re-keyed, distinct coordinates rounded: spliced
