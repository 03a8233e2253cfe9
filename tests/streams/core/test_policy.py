"""streams.core.policy: per-destination re-keying, coarsening, rounding, k-suppression and the YAML book."""

from __future__ import annotations

import copy
import hashlib
import hmac
import re
from decimal import Decimal

import pytest
from hypothesis import given, settings, strategies as st

from streams.core.policy import (
    DEFAULTS, DESTINATION_KINDS, POLICY_LEAVES, DestinationPolicy, SecretSource, apply_policy, policy_for, rekey,
    suppress_cells, suppress_small,
)
from streams.loaders.policy import DEFAULT_POLICY_PATH, load_policies

MASTER = b"0123456789abcdef0123456789abcdef"
SECRETS = SecretSource(MASTER)
HEX64 = re.compile(r"[0-9a-f]{64}")

WORKER = "7b" * 32
ORDER = "c4" * 32
INCIDENT = {
    "event_id": "2f1b6a57-2c1d-4d7e-9a53-0c2a44b1e0aa", "platform_id": "swiftmeal", "occurred_at": 1780271412345,
    "incident_id": "inc-1", "site_id": "swif-00001", "division_code": "440305000000", "category": "FALL",
    "severity": "MINOR", "weather": "RAIN", "worker_ref": WORKER, "order_ref": ORDER, "insured": True,
    "location": {"lat": 22.543210, "lon": 113.934567}, "reported_at": 1780271759999,
    "description": "slipped on wet stairs",
}
HEADCOUNT = {
    "event_id": "0b5e2f7c-1a2b-4c3d-8e9f-001122334455", "platform_id": "cargolink", "occurred_at": 1780271400001,
    "site_id": "carg-00017", "division_code": "110105000000", "period_start": 1780268430000,
    "period_end": 1780271459000, "active_workers": 120, "new_workers": 3,
}
SITE = {
    "event_id": "7d4f7c2e-8a51-4d0b-b6a9-3c1e2f4a5b6c", "platform_id": "swiftmeal", "occurred_at": 1780271400000,
    "site_id": "swif-00002", "action": "OPENED", "site_type": "RIDER_STATION", "division_code": "310101002000",
    "location": {"lat": 31.230416, "lon": 121.473701}, "facilities": ["REST_AREA", "TOILET"], "capacity_workers": 40,
}

OFFICE_A = policy_for("office", "office-440305", SECRETS)
OFFICE_B = policy_for("office", "office-310101", SECRETS)
INSURER = policy_for("insurer", "insurer-44", SECRETS)
MONITORING = policy_for("monitoring", "grafana", SECRETS)
WEBHOOK = policy_for("webhook", "partner-hook", SECRETS)
ALL = [OFFICE_A, OFFICE_B, INSURER, MONITORING, WEBHOOK]


def decimals(x: float) -> int:
    return max(0, -Decimal(repr(x)).as_tuple().exponent)


# --- refs -----------------------------------------------------------------------------------

def test_rekey_is_hmac_sha256_hex():
    secret = b"k" * 32
    assert rekey(WORKER, secret) == hmac.new(secret, WORKER.encode(), hashlib.sha256).hexdigest()
    assert HEX64.fullmatch(rekey(WORKER, secret))


def test_two_offices_get_different_refs_for_the_same_worker():
    a, b = apply_policy(INCIDENT, OFFICE_A), apply_policy(INCIDENT, OFFICE_B)
    assert a["worker_ref"] != b["worker_ref"]
    assert a["order_ref"] != b["order_ref"]
    for out in (a, b):
        assert out["worker_ref"] != WORKER and HEX64.fullmatch(out["worker_ref"])
        assert HEX64.fullmatch(out["order_ref"])


def test_the_same_destination_always_gets_the_same_ref():
    again = policy_for("office", "office-440305", SecretSource(MASTER))  # e.g. after a restart
    first = apply_policy(INCIDENT, OFFICE_A)["worker_ref"]
    assert apply_policy(INCIDENT, OFFICE_A)["worker_ref"] == first
    assert apply_policy(INCIDENT, again)["worker_ref"] == first
    other_event = {**INCIDENT, "event_id": "11111111-2222-4333-8444-555555555555", "order_ref": None}
    assert apply_policy(other_event, OFFICE_A)["worker_ref"] == first
    assert apply_policy(other_event, OFFICE_A)["order_ref"] is None


def test_another_master_secret_gives_other_refs():
    other = policy_for("office", "office-440305", SecretSource(b"f" * 32))
    assert apply_policy(INCIDENT, other)["worker_ref"] != apply_policy(INCIDENT, OFFICE_A)["worker_ref"]


def test_insurer_keeps_the_platform_refs():
    out = apply_policy(INCIDENT, INSURER)
    assert out["worker_ref"] == WORKER and out["order_ref"] == ORDER


def test_monitoring_gets_no_refs():
    out = apply_policy(INCIDENT, MONITORING)
    assert out["worker_ref"] is None and out["order_ref"] is None


# --- coordinates and timestamps -------------------------------------------------------------

def test_office_coordinates_on_a_two_decimal_grid():
    loc = apply_policy(INCIDENT, OFFICE_A)["location"]
    assert loc == {"lat": 22.54, "lon": 113.93}
    assert apply_policy(SITE, OFFICE_A)["location"] == {"lat": 31.23, "lon": 121.47}


def test_insurer_coordinates_have_at_most_four_decimals():
    loc = apply_policy(INCIDENT, INSURER)["location"]
    assert loc == {"lat": 22.5432, "lon": 113.9346}
    assert decimals(loc["lat"]) <= 4 and decimals(loc["lon"]) <= 4


def test_monitoring_and_webhook_get_no_coordinates():
    assert apply_policy(INCIDENT, MONITORING)["location"] is None
    assert apply_policy(INCIDENT, WEBHOOK)["location"] is None


def test_missing_location_stays_missing():
    assert apply_policy({**INCIDENT, "location": None}, OFFICE_A)["location"] is None
    assert "location" not in apply_policy(HEADCOUNT, OFFICE_A)


def test_monitoring_timestamps_rounded_down_to_the_minute():
    out = apply_policy(INCIDENT, MONITORING)
    assert out["occurred_at"] == 1780271400000 and out["reported_at"] == 1780271700000
    hc = apply_policy(HEADCOUNT, MONITORING)
    assert (hc["period_start"], hc["period_end"], hc["occurred_at"]) == (1780268400000, 1780271400000, 1780271400000)
    assert hc["active_workers"] == 120  # counts are not timestamps


def test_office_and_insurer_timestamps_untouched():
    for policy in (OFFICE_A, INSURER):
        out = apply_policy(INCIDENT, policy)
        assert out["occurred_at"] == INCIDENT["occurred_at"] and out["reported_at"] == INCIDENT["reported_at"]


def test_other_fields_are_copied_unchanged():
    touched = {"worker_ref", "order_ref", "location", "occurred_at", "reported_at"}
    for policy in ALL:
        out = apply_policy(INCIDENT, policy)
        assert set(out) == set(INCIDENT)
        assert {k: v for k, v in out.items() if k not in touched} == {k: v for k, v in INCIDENT.items() if k not in touched}


@pytest.mark.parametrize("policy", ALL, ids=lambda p: p.kind + ":" + p.name)
@pytest.mark.parametrize("record", [INCIDENT, HEADCOUNT, SITE], ids=["incident", "headcount", "site"])
def test_a_copy_differs_from_its_record_only_in_the_policy_leaves(policy, record):
    # The stream splices these leaves into the record's bytes (schemas.splice) and keeps the rest.
    tops = {path[0] for path in POLICY_LEAVES}
    out = apply_policy(record, policy)
    assert set(out) == set(record)
    assert {k: v for k, v in out.items() if k not in tops} == {k: v for k, v in record.items() if k not in tops}
    for key in tops & set(record):
        if isinstance(record[key], dict) and isinstance(out[key], dict):
            leaves = {path[1] for path in POLICY_LEAVES if len(path) == 2 and path[0] == key}
            assert set(out[key]) == set(record[key])
            assert {k: v for k, v in out[key].items() if k not in leaves} == \
                {k: v for k, v in record[key].items() if k not in leaves}


# --- no mutation ----------------------------------------------------------------------------

@pytest.mark.parametrize("policy", ALL, ids=lambda p: p.kind + ":" + p.name)
@pytest.mark.parametrize("record", [INCIDENT, HEADCOUNT, SITE], ids=["incident", "headcount", "site"])
def test_input_is_never_mutated(policy, record):
    before = copy.deepcopy(record)
    out = apply_policy(record, policy)
    assert record == before
    assert out is not record
    # and the output shares no mutable part with the input
    if isinstance(out.get("location"), dict):
        out["location"]["lat"] = 0.0
    if "facilities" in out:
        out["facilities"].append("X")
    assert record == before


@settings(max_examples=200, derandomize=True)
@given(
    lat=st.floats(-90, 90), lon=st.floats(-180, 180),
    ts=st.integers(0, 4_102_444_800_000), ref=st.from_regex(r"[0-9a-f]{64}", fullmatch=True),
    policy=st.sampled_from(ALL),
)
def test_policy_properties(lat, lon, ts, ref, policy):
    record = {**INCIDENT, "worker_ref": ref, "occurred_at": ts, "location": {"lat": lat, "lon": lon}}
    before = copy.deepcopy(record)
    out = apply_policy(record, policy)
    assert record == before
    if policy.coordinate_decimals is None:
        assert out["location"] is None
    else:
        assert decimals(out["location"]["lat"]) <= policy.coordinate_decimals
        assert abs(out["location"]["lat"] - lat) <= 0.5 * 10 ** -policy.coordinate_decimals + 1e-9
    if policy.timestamp_round_ms:
        assert out["occurred_at"] % policy.timestamp_round_ms == 0
        assert 0 <= ts - out["occurred_at"] < policy.timestamp_round_ms
    if policy.rekey_refs:
        assert HEX64.fullmatch(out["worker_ref"]) and out["worker_ref"] != ref


# --- small counts ---------------------------------------------------------------------------

@pytest.mark.parametrize("count, expected", [(0, 0), (1, None), (2, None), (3, None), (4, None), (5, 5), (6, 6), (1000, 1000)])
def test_suppress_small(count, expected):
    assert suppress_small(count) == expected


def test_suppress_small_with_other_k_and_bad_input():
    assert suppress_small(9, k=10) is None and suppress_small(10, k=10) == 10
    assert suppress_small(1, k=1) == 1
    with pytest.raises(ValueError):
        suppress_small(-1)
    with pytest.raises(ValueError):
        suppress_small(3, k=0)


def test_suppress_cells():
    table = {("440305", "FALL"): 0, ("440305", "TRAFFIC_ACCIDENT"): 1, ("440306", "FALL"): 2,
             ("440306", "HEAT_ILLNESS"): 3, ("310101", "FALL"): 4, ("310101", "ASSAULT"): 5, ("110105", "FALL"): 17}
    out = suppress_cells(table)
    assert out == {("440305", "FALL"): 0, ("440305", "TRAFFIC_ACCIDENT"): None, ("440306", "FALL"): None,
                   ("440306", "HEAT_ILLNESS"): None, ("310101", "FALL"): None, ("310101", "ASSAULT"): 5,
                   ("110105", "FALL"): 17}
    assert table[("440305", "TRAFFIC_ACCIDENT")] == 1  # input untouched
    assert suppress_cells({"a": 3}, k=3) == {"a": 3}


# --- policies, secrets, caps ----------------------------------------------------------------

def test_secret_source_derivation_and_repr():
    expected = hmac.new(MASTER, b"dest:office-440305", hashlib.sha256).digest()
    assert SECRETS.for_destination("office-440305") == expected == OFFICE_A.secret
    assert SecretSource(MASTER.decode()).for_destination("x") == SECRETS.for_destination("x")
    assert "0123456789abcdef" not in repr(SECRETS)
    assert "secret" not in repr(OFFICE_A) and repr(expected) not in repr(OFFICE_A)
    with pytest.raises(ValueError):
        SecretSource(b"short")


def test_secret_source_from_settings():
    class FakeSecret:
        def get_secret_value(self):
            return MASTER.decode()

    class FakeSettings:
        privacy_master_secret = FakeSecret()

    assert SecretSource.from_settings(FakeSettings()).for_destination("a") == SECRETS.for_destination("a")
    with pytest.raises(ValueError, match="GIGBRIDGE_PRIVACY_MASTER_SECRET"):
        SecretSource.from_settings(object())


def test_default_policies():
    assert (OFFICE_A.rekey_refs, OFFICE_A.keep_platform_refs, OFFICE_A.coordinate_decimals, OFFICE_A.timestamp_round_ms) == (True, False, 2, None)
    assert (INSURER.rekey_refs, INSURER.keep_platform_refs, INSURER.coordinate_decimals) == (False, True, 4)
    assert (MONITORING.rekey_refs, MONITORING.keep_platform_refs, MONITORING.coordinate_decimals,
            MONITORING.timestamp_round_ms) == (False, False, None, 60_000)
    assert all(p.k == 5 for p in ALL)
    with pytest.raises(ValueError):
        policy_for("regulator", "x", SECRETS)


@pytest.mark.parametrize("changes", [
    dict(kind="office", coordinate_decimals=3),
    dict(kind="insurer", coordinate_decimals=5),
    dict(kind="office", keep_platform_refs=True, rekey_refs=False),
    dict(kind="insurer", keep_platform_refs=True, rekey_refs=True),
    dict(kind="office", secret=b""),
    dict(kind="monitoring", timestamp_round_ms=0),
    dict(kind="office", k=0),
    dict(kind="office", name=""),
])
def test_caps_cannot_be_exceeded(changes):
    base = dict(name="d", kind="office", rekey_refs=True, keep_platform_refs=False, coordinate_decimals=2,
                timestamp_round_ms=None, secret=b"s" * 32)
    with pytest.raises(ValueError):
        DestinationPolicy(**{**base, **changes})


# --- YAML book ------------------------------------------------------------------------------

def test_deploy_yaml_defaults_match_the_built_in_defaults():
    book = load_policies(DEFAULT_POLICY_PATH, SECRETS)
    assert {k: dict(v) for k, v in book.defaults.items()} == {k: dict(v) for k, v in DEFAULTS.items()}
    for kind in DESTINATION_KINDS:
        assert book.for_destination(kind, "not-declared") == policy_for(kind, "not-declared", SECRETS)


def test_deploy_yaml_overrides():
    book = load_policies(secrets=SECRETS)
    assert book.for_destination("office", "office-440305") == OFFICE_A
    assert book.for_destination("office", "office-310101").coordinate_decimals == 1
    insurer = book.for_destination("insurer", "insurer-44")
    assert insurer.coordinate_decimals == 3 and insurer.keep_platform_refs
    assert apply_policy(INCIDENT, insurer)["location"] == {"lat": 22.543, "lon": 113.935}
    grafana = book.for_destination("monitoring", "grafana")
    assert grafana.timestamp_round_ms == 300_000
    with pytest.raises(ValueError, match="declared as office"):
        book.for_destination("insurer", "office-440305")


def test_book_without_secrets_cannot_rekey():
    book = load_policies()
    assert book.for_destination("insurer", "insurer-44").keep_platform_refs
    with pytest.raises(ValueError, match="secret"):
        book.for_destination("office", "office-440305")
    assert book.with_secrets(SECRETS).for_destination("office", "office-440305") == OFFICE_A


@pytest.mark.parametrize("text, message", [
    ("destinations:\n  a: {kind: office, coordinate_decimals: 4}\n", "coordinate_decimals"),
    ("destinations:\n  a: {kind: office, keep_platform_refs: true, rekey_refs: false}\n", "only insurers"),
    ("destinations:\n  a: {kind: regulator}\n", "kind"),
    ("destinations:\n  a: {kind: office, coords: 2}\n", "unknown setting"),
    ("defaults:\n  monitoring: {coordinate_decimals: 3}\n", "coordinate_decimals"),
    ("defaults:\n  police: {k: 5}\n", "unknown destination kind"),
    ("extra: 1\n", "unknown top-level"),
    ("version: 2\n", "version"),
])
def test_bad_yaml_is_refused_at_load_time(tmp_path, text, message):
    path = tmp_path / "privacy.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        load_policies(path)


def test_yaml_defaults_override_built_ins(tmp_path):
    path = tmp_path / "privacy.yaml"
    path.write_text("defaults:\n  office: {coordinate_decimals: 1, k: 10}\n", encoding="utf-8")
    policy = load_policies(path, SECRETS).for_destination("office", "o")
    assert (policy.coordinate_decimals, policy.k, policy.rekey_refs) == (1, 10, True)
