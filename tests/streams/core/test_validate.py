"""Business rules of streams.core.validate, one behaviour per test, on plain dicts."""

import copy
import math

import pytest

from streams.core.validate import Rules, check_rules, check_schema

NOW = 1_780_272_000_000  # 2026-06-01T00:00:00Z
KNOWN = {"310101002000", "440305000000"}
exists = KNOWN.__contains__

HEADCOUNT = {
    "event_id": "2f1b6a57-2c1d-4d7e-9a53-0c2a44b1e0aa", "platform_id": "swiftmeal", "occurred_at": NOW - 60_000,
    "site_id": "swif-00001", "division_code": "310101002000",
    "period_start": NOW - 3_600_000, "period_end": NOW, "active_workers": 100, "new_workers": 3,
    "departed_workers": 1, "employed_workers": 20, "non_standard_workers": 50, "independent_workers": 30,
    "insured_workers": 90, "long_hours_workers": 5,
}
INCIDENT = {
    "event_id": "7d4f7c2e-8a51-4d0b-b6a9-3c1e2f4a5b6c", "platform_id": "swiftmeal", "occurred_at": NOW - 600_000,
    "incident_id": "inc-1", "site_id": None, "division_code": "440305000000", "category": "FALL",
    "severity": "MINOR", "weather": "RAIN", "worker_ref": "a" * 64, "order_ref": None, "insured": True,
    "location": {"lat": 22.5, "lon": 113.9}, "reported_at": NOW - 300_000, "description": "slipped on wet stairs",
}


def verdict(event_type, record, **kw):
    r = check_rules(event_type, record, now_ms=NOW, division_exists=exists, **kw)
    return None if r is None else (r.reason, r.field)


def changed(base, **fields):
    record = copy.deepcopy(base)
    record.update(fields)
    return record


def test_valid_events_pass():
    assert verdict("headcounts", HEADCOUNT) is None
    assert verdict("incidents", INCIDENT) is None


@pytest.mark.parametrize("event_id", ["", "not-a-uuid", "2f1b6a57-2c1d-4d7e-9a53-0c2a44b1e0a", "2f1b6a572c1d4d7e9a530c2a44b1e0aa"])
def test_event_id_must_be_uuid(event_id):
    assert verdict("headcounts", changed(HEADCOUNT, event_id=event_id)) == ("invalid_event_id", "event_id")


@pytest.mark.parametrize("platform_id", ["A", "Swiftmeal", "1meal", "x", "a" * 33, "meal_co"])
def test_platform_id_pattern(platform_id):
    assert verdict("headcounts", changed(HEADCOUNT, platform_id=platform_id)) == ("invalid_platform_id", "platform_id")


def test_platform_of_topic_must_match_event():
    assert verdict("headcounts", HEADCOUNT, topic_platform="swiftmeal") is None
    assert verdict("headcounts", HEADCOUNT, topic_platform="cityrun") == ("platform_mismatch", "platform_id")


@pytest.mark.parametrize("code,reason", [
    ("31010100200", "invalid_division_code"), ("3101010020001", "invalid_division_code"),
    ("31010100200x", "invalid_division_code"), ("３１０１０１００２０００", "invalid_division_code"),
    ("999999000000", "unknown_division_code"),
])
def test_division_code(code, reason):
    assert verdict("headcounts", changed(HEADCOUNT, division_code=code)) == (reason, "division_code")


def test_time_window_edges():
    five_min = 5 * 60_000
    assert verdict("incidents", changed(INCIDENT, occurred_at=NOW + five_min)) is None
    assert verdict("incidents", changed(INCIDENT, occurred_at=NOW + five_min + 1)) == ("timestamp_in_future", "occurred_at")
    ninety = 90 * 86_400_000
    assert verdict("incidents", changed(INCIDENT, occurred_at=NOW - ninety)) is None
    assert verdict("incidents", changed(INCIDENT, occurred_at=NOW - ninety - 1)) == ("timestamp_too_old", "occurred_at")
    assert verdict("incidents", changed(INCIDENT, reported_at=NOW + 3_600_000)) == ("timestamp_in_future", "reported_at")


def test_rules_are_tunable():
    tight = Rules(max_future_skew_ms=0)
    assert verdict("incidents", changed(INCIDENT, occurred_at=NOW + 1), rules=tight) == ("timestamp_in_future", "occurred_at")


def test_period():
    assert verdict("headcounts", changed(HEADCOUNT, period_end=HEADCOUNT["period_start"])) == ("invalid_period", "period_end")
    start = HEADCOUNT["period_start"]
    assert verdict("headcounts", changed(HEADCOUNT, period_end=start + 31 * 86_400_000)) is None
    assert verdict("headcounts", changed(HEADCOUNT, period_end=start + 31 * 86_400_000 + 1)) == ("period_too_long", "period_end")


def test_counts():
    assert verdict("headcounts", changed(HEADCOUNT, new_workers=-1)) == ("negative_count", "new_workers")
    assert verdict("headcounts", changed(HEADCOUNT, employed_workers=21)) == ("status_sum_mismatch", "active_workers")
    assert verdict("headcounts", changed(HEADCOUNT, insured_workers=101)) == ("count_exceeds_active", "insured_workers")
    assert verdict("headcounts", changed(HEADCOUNT, long_hours_workers=101)) == ("count_exceeds_active", "long_hours_workers")
    assert verdict("headcounts", changed(HEADCOUNT, long_hours_workers=None)) is None


@pytest.mark.parametrize("field,value", [("worker_ref", "A" * 64), ("worker_ref", "a" * 63), ("worker_ref", "g" * 64),
                                         ("order_ref", "b" * 65), ("order_ref", "13800138000")])
def test_pseudonyms(field, value):
    assert verdict("incidents", changed(INCIDENT, **{field: value})) == ("invalid_pseudonym", field)


@pytest.mark.parametrize("field", ["site_id", "incident_id"])
def test_key_ids_are_bounded(field):
    assert verdict("incidents", changed(INCIDENT, **{field: "k" * 128})) is None
    assert verdict("incidents", changed(INCIDENT, **{field: "k" * 129})) == ("invalid_key_id", field)
    assert verdict("incidents", changed(INCIDENT, **{field: ""})) == ("invalid_key_id", field)


def test_description_limit():
    assert verdict("incidents", changed(INCIDENT, description="x" * 500)) is None
    assert verdict("incidents", changed(INCIDENT, description="x" * 501)) == ("description_too_long", "description")


@pytest.mark.parametrize("loc,field", [({"lat": 91.0, "lon": 0.0}, "location.lat"), ({"lat": 0.0, "lon": -180.5}, "location.lon"),
                                       ({"lat": math.nan, "lon": 0.0}, "location.lat")])
def test_coordinates(loc, field):
    assert verdict("incidents", changed(INCIDENT, location=loc)) == ("invalid_coordinates", field)


def test_messages_never_quote_the_value():
    secret = "13800138000"
    r = check_rules("incidents", changed(INCIDENT, order_ref=secret), now_ms=NOW, division_exists=exists)
    assert secret not in r.message


SCHEMA = {"type": "record", "name": "T", "fields": [
    {"name": "a", "type": "int"}, {"name": "tags", "type": {"type": "array", "items": "string"}, "default": []},
    {"name": "loc", "type": ["null", {"type": "record", "name": "G", "fields": [{"name": "lat", "type": "double"}]}], "default": None}]}


def _version(schema):
    from types import SimpleNamespace

    import fastavro

    from schemas.shape import compile_checker

    parsed = fastavro.parse_schema(schema)
    return SimpleNamespace(parsed=parsed, checker=compile_checker(parsed))


def test_schema_fills_defaults_and_accepts():
    record = {"a": 1}
    assert check_schema(_version(SCHEMA), record) is None
    assert record == {"a": 1, "tags": [], "loc": None}


@pytest.mark.parametrize("record,field", [({"tags": []}, "a"), ({"a": "1"}, "a"), ({"a": 1, "worker_name": "x"}, "worker_name"),
                                          ({"a": 1, "loc": {"lat": "north"}}, "loc.lat")])
def test_schema_violations_name_the_field(record, field):
    r = check_schema(_version(SCHEMA), record)
    assert (r.reason, r.field) == ("schema_violation", field)


def test_schema_rejects_non_objects():
    assert check_schema(_version(SCHEMA), [1, 2]).reason == "schema_violation"
